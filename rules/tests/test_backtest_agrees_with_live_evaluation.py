"""A backtest over 10,000 stored orders agrees, order for order, with evaluating the rule live on each."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from orders.models import Order
from rules.backtest import backtest_rule, match_rule, orders_in_window
from rules.engine import compile_rule, get_ruleset
from rules.facts import FactContext
from rules.tests.factories import bulk_orders, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def ten_thousand_orders(channel):
    bulk_orders(channel, 10_000)
    return Order.objects.all()


def live_matches(rule, orders, now) -> set[int]:
    compiled = compile_rule(rule, list(rule.conditions.order_by("position")))
    blacklist = get_ruleset().blacklist
    return {
        order.pk
        for order in orders.select_related("channel").prefetch_related("lines").iterator(chunk_size=2000)
        if compiled.matches(FactContext(order=order, now=now, blacklist=blacklist))
    }


RULES = {
    "sql": {
        "conditions": [
            ("paid_amount", "gte", "80"),
            ("discount_ratio", "lt", "0.3"),
            ("receiver_province", "in", "浙江省, 上海市, 广东"),
            ("line_count", "gte", "2"),
            ("payment_state", "eq", "paid"),
            ("sku_codes", "in", "SKU-1, SKU-3"),
            ("has_seller_memo", "is_false", ""),
            ("address_has_test_words", "is_false", ""),
        ],
        "combinator": "all",
    },
    "sql-any": {
        "conditions": [
            ("discount_ratio", "gt", "0.5"),
            ("payment_state", "eq", "partial"),
            ("receiver_complete", "is_false", ""),
            ("total_quantity", "between", "9, 12"),
            ("sku_codes", "any_empty", ""),
            ("buyer_message", "contains", "sf"),
        ],
        "combinator": "any",
    },
    # Python-only facts of a few columns: evaluated once per distinct value, then run as SQL
    "sql-distinct": {
        "conditions": [
            ("receiver_phone", "startswith", "13"),
            ("phone_valid", "is_true", ""),
            ("stacked_coupon_count", "gte", "1"),
            ("province_recognised", "is_true", ""),
        ],
        "combinator": "all",
    },
    "sql+python": {
        "conditions": [("buyer_message", "regex", r"顺丰|SF\b"), ("paid_amount", "gte", "50")],
        "combinator": "all",
    },
    "python": {
        "conditions": [
            ("buyer_message", "regex", r"顺丰|SF\b"),
            ("receiver_valid", "is_false", ""),
            ("coupon_count", "gte", "3"),
        ],
        "combinator": "any",
    },
}


def test_backtest_of_10000_orders_agrees_order_for_order_with_live_evaluation(ten_thousand_orders):
    now = timezone.now()
    window = orders_in_window(days=1, now=now)
    assert window.count() == 10_000
    for name, spec in RULES.items():
        rule = make_rule(*spec["conditions"], combinator=spec["combinator"], name=name)
        matched, method = match_rule(rule, window, now=now, progress=False)
        assert method == name.removesuffix("-any").removesuffix("-distinct")
        live = live_matches(rule, window, now)
        assert 0 < len(live) < 10_000, name  # a meaningful rule: some orders match, some don't
        assert matched == live, (name, len(matched ^ live))


def test_backtest_reports_held_sample_and_difference_from_current_rule_set(ingest, channel):
    # Three orders held by the built-in remark rule, one clean order.
    held = [ingest(buyer_message="请发顺丰") for _ in range(3)]
    clean = ingest(paid_amount=ingest().paid_amount)
    remark = __import__("rules.models", fromlist=["InterceptRule"]).InterceptRule.objects.get(code="remark_review")
    # Edit the rule in a draft copy: only messages mentioning 顺丰 on orders over 1000 yuan.
    draft = make_rule(
        ("buyer_message", "contains", "顺丰"),
        ("paid_amount", "gte", "1000"),
        exception_type="remark_review",
        enabled=False,
        name="draft",
    )
    result = backtest_rule(rule=draft, days=1)
    assert result.total_orders == 5
    assert result.matched == set()
    assert result.held_now == {o.pk for o in held}
    assert result.no_longer_held == set()  # the other (live) rule still holds them
    # Backtesting the live rule itself: it explains the holds; nothing new.
    result = backtest_rule(rule=remark, days=1)
    assert result.matched == {o.pk for o in held}
    assert [o.pk for o in result.sample] == sorted(o.pk for o in held)
    assert result.newly_held == set() and result.no_longer_held == set()
    # A broader draft newly holds the clean orders.
    broad = make_rule(("paid_amount", "gte", "1"), exception_type="price_abnormal", enabled=False, name="broad")
    result = backtest_rule(rule=broad, days=1)
    assert clean.pk in result.newly_held
    assert result.method == "sql"


def test_backtest_rule_command_prints_counts(ten_thousand_orders, capsys):
    rule = make_rule(*RULES["sql"]["conditions"], name="cmd")
    call_command("backtest_rule", str(rule.pk), "--days", "3", "--no-progress")
    out = capsys.readouterr().out
    assert "Orders in the last 3 days: 10000" in out
    assert "evaluated by sql" in out
    assert "Matched:" in out


def test_backtest_admin_button_opens_the_period_form(admin_client, ingest):
    from django.urls import reverse

    ingest(buyer_message="请发顺丰")
    rule = make_rule(("has_buyer_message", "is_true", ""), name="msg", enabled=False)
    page = admin_client.get(reverse("admin:rules_interceptrule_backtest", args=[rule.pk]) + "?days=30")
    assert page.status_code == 200
    form = page.context["form"]
    assert (form.initial["until"] - form.initial["since"]).days == 29
    assert "Start backtest" in page.content.decode()
    change = admin_client.get(reverse("admin:rules_interceptrule_change", args=[rule.pk])).content.decode()
    assert reverse("admin:rules_interceptrule_backtest", args=[rule.pk]) in change
