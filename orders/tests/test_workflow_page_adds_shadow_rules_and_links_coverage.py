"""From the workflow page: "add a rule / a lane" opens the rule form already in shadow mode; a shadow
rule's box and panel show how many of last week's orders would take its path (one SQL count when its
conditions compile to SQL, else the rule's own predicates over a sample) and link to its backtest; the
coverage review and the rules that matched nothing are one click away. Stage limits refuse bad input
with field errors. The page answers in the reader's language."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from orders.models import StageLimit
from orders.services import ingest_order
from orders.tests.factories import make_channel
from orders.workflow_selectors import rule_preview
from rules.tests.factories import make_rule
from shipping.tests.factories import incoming, make_stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(client, settings):
    settings.INVENTORY_ENQUEUE_TASKS = False
    settings.NOTICE_ENQUEUE_TASKS = False
    client.force_login(User.objects.create_superuser("lead"))
    return client


def test_adding_a_rule_or_a_lane_from_the_page_starts_it_in_shadow_mode(lead):
    page = lead.get(reverse("admin:orders_workflow"), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    links = {name: page.context[name] for name in ("add_rule_url", "add_lane_url")}
    assert all("mode=shadow" in url for url in links.values()) and "action=lane" in links["add_lane_url"]
    form = lead.get(links["add_lane_url"]).context["adminform"].form
    assert form.initial["mode"] == "shadow" and form.initial["action"] == "lane"
    assert form.initial["lane"] == "promotion"
    assert reverse("admin:rules_interceptrule_coverage") in page.content.decode()


def test_a_shadow_rule_shows_last_weeks_preview_and_links_its_backtest(lead):
    make_stock("SKU-TEE-L", quantity=50)
    channel = make_channel()
    for amount in (1, 1, 6):
        ingest_order(channel=channel, incoming=incoming(lines=[("SKU-TEE-L", amount)]), source="test")
    sql_rule = make_rule(("paid_amount", "gte", "50"), name="big (SQL)", mode="shadow")
    python_rule = make_rule(("phone_valid", "is_true", ""), name="valid phone (Python)", mode="shadow")
    assert rule_preview(rule=sql_rule) == {"matched": 1, "would_act": 1, "total": 3, "sampled": False}
    assert rule_preview(rule=python_rule)["matched"] == 3  # every receiver phone is a valid mobile
    unmatched = make_rule(("buyer_nick", "eq", "nobody"), name="never matches")

    page = lead.get(reverse("admin:orders_workflow"), HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert "last week: 1 of 3 orders would take this path" in text
    assert reverse("admin:rules_interceptrule_backtest", args=[sql_rule.pk]) in text
    assert unmatched.name in [box.title for box in page.context["unmatched_rules"]]


def test_the_page_speaks_chinese(lead):
    make_rule(("paid_amount", "gte", "50"), name="大额订单", mode="shadow")
    lead.cookies["django_language"] = "zh-hans"
    text = lead.get(reverse("admin:orders_workflow")).content.decode()
    assert "订单工作流" in text and "规则（按执行顺序）" in text and "影子" in text
    assert "Rules, in the order they run" not in text


def test_stage_limits_refuse_a_missing_limit_and_an_unknown_lane(lead):
    url = reverse("admin:orders_stagelimit_add")
    answer = lead.post(url, {"stage": "printed", "lane": "presale", "limit_minutes": "", "enabled": "on"})
    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors == {"limit_minutes": ["This stage needs a limit in minutes."]}
    answer = lead.post(url, {"stage": "printed", "lane": "mars", "limit_minutes": "5", "enabled": "on"})
    assert "lane" in answer.context["adminform"].form.errors
    # on hold may leave it empty (the to-do's due time); a lane limit beside the all-lanes one is fine
    assert (
        lead.post(url, {"stage": "ready", "lane": "promotion", "limit_minutes": "30", "enabled": "on"}).status_code
        == 302
    )
    assert StageLimit.objects.filter(stage="ready", lane="promotion", limit_minutes=30).exists()
    # a second limit for the same stage and lane is a form error, not a crash
    answer = lead.post(url, {"stage": "ready", "lane": "promotion", "limit_minutes": "40", "enabled": "on"})
    assert answer.status_code == 200 and answer.context["adminform"].form.errors
