"""A bad rule is refused on save with a form error naming the row; every change is in the history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rules.models import ExceptionType, InterceptRule, RuleCondition

pytestmark = pytest.mark.django_db


def rule_post(conditions, **overrides):
    data = {
        "name": "贵重订单人工审核",
        "description": "",
        "position": "200",
        "enabled": "on",
        "combinator": "all",
        "action": "hold",
        "exception_type": str(ExceptionType.objects.get(code="price_abnormal").pk),
        "lane": "",
        "tag": "",
        "set_priority": "",
        "assign_user": "",
        "assign_group": "",
        "due_minutes": "",
        "skip_lanes": "",
        "mode": "active",
        "rollout_percent": "100",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_until_0": "",
        "valid_until_1": "",
        "conditions-TOTAL_FORMS": str(len(conditions)),
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "1",
        "conditions-MAX_NUM_FORMS": "1000",
    }
    for i, (field, operator, value) in enumerate(conditions):
        data[f"conditions-{i}-position"] = str(i)
        data[f"conditions-{i}-field"] = field
        data[f"conditions-{i}-operator"] = operator
        data[f"conditions-{i}-value"] = value
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "bad_row,expected",
    [
        (("buyer_message", "regex", "(顺丰|SF"), "Invalid regular expression"),
        (("buyer_message", "regex", "a" * 201), "at most 200 characters"),
        (("paid_amount", "gte", "one hundred"), "is not a number"),
        (("paid_amount", "contains", "100"), "does not fit the field"),
        (("refund_requested", "is_true", "yes"), "takes no value"),
        (("payment_state", "eq", "maybe"), "is not one of"),
        (("no_such_fact", "eq", "1"), "no_such_fact"),
        (("paid_amount", "between", "500, 100"), "must not exceed"),
    ],
    ids=[
        "invalid-regex",
        "regex-too-long",
        "wrong-type",
        "operator-for-field",
        "no-value",
        "bad-choice",
        "unknown-field",
        "between-order",
    ],
)
def test_bad_rule_is_refused_with_a_message_naming_the_row(admin_client, bad_row, expected):
    before = InterceptRule.objects.count()
    response = admin_client.post(
        reverse("admin:rules_interceptrule_add"),
        rule_post([("paid_amount", "gte", "1000"), bad_row]),
    )
    assert response.status_code == 200  # the form again, not a redirect
    html = response.content.decode()
    assert expected in html
    assert "Condition row 2" in html
    assert InterceptRule.objects.count() == before


def test_rule_without_conditions_is_refused(admin_client):
    response = admin_client.post(reverse("admin:rules_interceptrule_add"), rule_post([]))
    assert response.status_code == 200
    assert "needs at least one condition" in response.content.decode()


def test_hold_rule_without_exception_type_is_refused(admin_client):
    response = admin_client.post(
        reverse("admin:rules_interceptrule_add"),
        rule_post([("paid_amount", "gte", "1000")], exception_type=""),
    )
    assert response.status_code == 200
    assert "needs the exception type" in response.content.decode()


def test_good_rule_saves_and_its_changes_are_in_history_with_who_and_when(admin_client):
    response = admin_client.post(
        reverse("admin:rules_interceptrule_add"),
        rule_post([("paid_amount", "gte", "1000"), ("buyer_message", "regex", r"发票|invoice")]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = InterceptRule.objects.get(name="贵重订单人工审核")
    conditions = list(rule.conditions.order_by("position"))
    assert [(c.field, c.operator) for c in conditions] == [("paid_amount", "gte"), ("buyer_message", "regex")]

    change = rule_post(
        [("paid_amount", "gte", "2000"), ("buyer_message", "regex", r"发票|invoice")], rollout_percent="20"
    )
    change.update(
        {
            "conditions-INITIAL_FORMS": "2",
            "conditions-0-id": str(conditions[0].pk),
            "conditions-0-rule": str(rule.pk),
            "conditions-1-id": str(conditions[1].pk),
            "conditions-1-rule": str(rule.pk),
        }
    )
    response = admin_client.post(reverse("admin:rules_interceptrule_change", args=[rule.pk]), change)
    assert response.status_code == 302, response.content.decode()[:3000]

    rule.refresh_from_db()
    assert rule.rollout_percent == 20
    history = list(rule.history.order_by("history_id"))
    assert [h.history_type for h in history] == ["+", "~"]
    assert [h.rollout_percent for h in history] == [100, 20]
    assert all(h.history_user == admin_client.user and h.history_date for h in history)
    assert history[1].version > history[0].version
    cond_history = RuleCondition.history.filter(id=conditions[0].pk).order_by("history_id")
    assert [h.value for h in cond_history] == ["1000", "2000"]
    assert cond_history.last().history_user == admin_client.user
    # the history page of the rule lists the change
    page = admin_client.get(reverse("admin:rules_interceptrule_history", args=[rule.pk]))
    assert page.status_code == 200


def test_rule_admin_shows_enforced_and_shadow_hit_counts(admin_client, ingest):
    from rules.tests.factories import make_rule

    rule = make_rule(("paid_amount", "gte", "0"), action="tag", tag="x", rollout_percent=50)
    for _ in range(20):
        ingest()
    page = admin_client.get(reverse("admin:rules_interceptrule_change", args=[rule.pk])).content.decode()
    from rules.selectors import rule_hit_counts

    counts = rule_hit_counts(rule_id=rule.pk)
    assert counts["enforced"] + counts["shadow"] == 20
    assert f"{counts['enforced']} / {counts['shadow']}" in page
    listing = admin_client.get(reverse("admin:rules_interceptrule_changelist")).content.decode()
    assert "column-shadow_hits" in listing and "column-enforced_hits" in listing


def test_seeded_rules_and_their_creation_are_in_history():
    rule = InterceptRule.objects.get(code="price_abnormal")
    assert rule.history.filter(history_type="+").exists()
    assert rule.skip_lane_list == ["promotion"]
    # the 12 built-in types, and 4 that shipping raises by code after a parcel left
    post_shipment = ["write_back_refused", "platform_order_closed", "tracking_problem", "no_pickup"]
    assert ExceptionType.objects.exclude(code__in=post_shipment).count() == 12
    for code in post_shipment:
        etype = ExceptionType.objects.get(code=code)
        assert etype.is_system and not etype.auto_clear and etype.default_group is not None
        assert etype.history.filter(history_type="+").exists()


def test_rules_admin_pages_render(admin_client, ingest):
    from rules.models import BlacklistEntry, ExceptionTask, RuleHit

    ingest(buyer_message="请发顺丰")
    BlacklistEntry.objects.create(kind="phone", value="13800000001")
    task = ExceptionTask.objects.get()
    rule = InterceptRule.objects.get(code="remark_review")
    urls = [
        reverse("admin:rules_interceptrule_changelist"),
        reverse("admin:rules_interceptrule_add"),
        reverse("admin:rules_interceptrule_change", args=[rule.pk]),
        reverse("admin:rules_interceptrule_history", args=[rule.pk]),
        reverse("admin:rules_rulehit_changelist"),
        reverse("admin:rules_rulehit_change", args=[RuleHit.objects.first().pk]),
        reverse("admin:rules_exceptiontask_changelist"),
        reverse("admin:rules_exceptiontask_changelist") + "?due=overdue",
        reverse("admin:rules_exceptiontask_change", args=[task.pk]),
        reverse("admin:rules_exceptiontask_history", args=[task.pk]),
        reverse("admin:rules_exceptiontype_changelist"),
        reverse("admin:rules_blacklistentry_changelist"),
        reverse("admin:rules_blacklistentry_add"),
        reverse("admin:rules_exceptiontask_mine"),
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
