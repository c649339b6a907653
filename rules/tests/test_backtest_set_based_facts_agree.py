"""The set-based backtest (values() rows in chunks, memoised facts, one grouped mergeable query per
chunk, the blacklist loaded once) matches exactly the orders that evaluating each rule live on each
order instance matches: every seeded rule and rules mixing SQL, Python and set-based facts."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from orders.models import Order
from orders.tests.factories import make_channel
from rules import backtest, facts
from rules.engine import compile_rule, load_blacklist
from rules.facts import FactContext
from rules.models import BlacklistEntry, InterceptRule
from rules.tests.factories import bulk_orders, make_rule

pytestmark = pytest.mark.django_db

MIXED = {
    "mergeable or blacklisted (ANY: all Python)": (
        [("open_orders_same_receiver", "gte", "2"), ("buyer_blacklisted", "is_true", ""), ("line_count", "gte", "3")],
        "any",
    ),
    "two other open orders, paid, on taobao (ALL: SQL pre-filter, grouped counts)": (
        [("open_orders_same_receiver", "gte", "2"), ("payment_state", "eq", "paid"), ("platform", "eq", "taobao")],
        "all",
    ),
    "no other open order (NOT EXISTS)": ([("open_orders_same_receiver", "eq", "0")], "all"),
    "receiver invalid or many coupons (ANY)": (
        [("receiver_valid", "is_false", ""), ("stacked_coupon_count", "gte", "2"), ("sku_codes", "any_empty", "")],
        "any",
    ),
    "lines in Python (ANY with a Python fact)": (
        [("total_quantity", "between", "7, 9"), ("phone_valid", "is_false", ""), ("sku_codes", "contains", "SKU-4")],
        "any",
    ),
}


@pytest.fixture
def varied_orders():
    """3,000 orders on two platforms: open and shipped, masked receivers, repeated buyers and addresses."""
    taobao = make_channel(platform="taobao")
    jd = make_channel(platform="jd")
    bulk_orders(taobao, 2000, seed=11)
    bulk_orders(jd, 1000, seed=12)
    ids = list(Order.objects.order_by("pk").values_list("pk", flat=True))
    Order.objects.filter(pk__in=ids[::5]).update(state="shipped")
    Order.objects.filter(pk__in=ids[1::7]).update(state="on_hold")
    Order.objects.filter(pk__in=ids[2::11]).update(receiver_masked=True)
    # A buyer across both platforms: mergeable per platform only.
    Order.objects.filter(pk__in=ids[3::97]).update(buyer_nick="nick-both", receiver_name="王五")
    # A repeat buyer to one address on both platforms (some of the orders shipped, some open).
    Order.objects.filter(pk__in=ids[4::50]).update(
        buyer_nick="nick-repeat", receiver_name="赵六", receiver_phone="13812345678", receiver_address="文三路1号"
    )
    for kind, value in (("buyer_nick", "NICK17 "), ("phone", "+86 139 1234 5678"), ("address", "南京路100")):
        BlacklistEntry.objects.create(kind=kind, value=value)
    return Order.objects.all()


def live_matches(rule: InterceptRule, orders, now) -> set[int]:
    compiled = compile_rule(rule, list(rule.conditions.order_by("position")))
    blacklist = load_blacklist()
    return {
        order.pk
        for order in orders.select_related("channel").prefetch_related("lines")
        if compiled.matches(FactContext(order=order, now=now, blacklist=blacklist))
    }


def test_every_seeded_rule_and_mixed_rules_match_exactly_what_live_evaluation_matches(varied_orders, monkeypatch):
    monkeypatch.setattr(backtest, "PYTHON_CHUNK", 700)  # several chunks; lines and groups cross them
    monkeypatch.setattr(backtest, "SQL_CHUNK", 900)
    now = timezone.now()
    rules = list(InterceptRule.objects.filter(code__isnull=False).order_by("position"))
    assert {r.code for r in rules} >= {"mergeable", "blacklisted_buyer", "address_invalid", "promotion_lane"}
    for name, (conditions, combinator) in MIXED.items():
        rules.append(make_rule(*conditions, combinator=combinator, name=name))
    methods = set()
    for rule in rules:
        found = backtest.match_window(rule, varied_orders, now=now)
        live = live_matches(rule, varied_orders, now)
        assert found.total_orders == 3000
        assert 0 < len(live) < 3000, rule.name  # a meaningful rule on this data: some match, some don't
        assert found.ids == live, (rule.name, len(found.ids ^ live))
        assert [pk for pk, _c, _e in found.matched] == sorted(live)
        methods.add(found.method)
    assert methods == {"sql", "sql+python", "python"}


def test_the_mergeable_check_costs_one_query_per_chunk(varied_orders, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(backtest, "SQL_CHUNK", 1000)
    seeded = InterceptRule.objects.get(code="mergeable")  # "> 0": one EXISTS per chunk
    with django_assert_max_num_queries(5 + 3):
        found = backtest.match_window(seeded, varied_orders)
    assert found.method == "sql"
    assert found.ids == live_matches(seeded, varied_orders, timezone.now())


def test_a_mergeable_count_costs_one_grouped_query_per_chunk(varied_orders, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(backtest, "PYTHON_CHUNK", 1000)
    rule = make_rule(("open_orders_same_receiver", "gte", "2"), name="two others")
    chunks = 3  # 3,000 consecutive primary keys
    # window stats, conditions, exception type, channels, blacklist; per chunk: rows + one grouped query
    with django_assert_max_num_queries(5 + 2 * chunks):
        found = backtest.match_window(rule, varied_orders)
    assert found.method == "python"
    assert found.ids == live_matches(rule, varied_orders, timezone.now())


@pytest.mark.parametrize("pairs_per_read", [7, 5000], ids=["many reads", "one read"])
def test_a_mergeable_count_read_by_buyer_and_phone_pairs_counts_what_the_per_order_read_counts(
    varied_orders, monkeypatch, pairs_per_read
):
    """The grouped read narrows by (buyer, phone) pairs, in as many reads as the pairs need."""
    monkeypatch.setattr(facts, "PAIRS_PER_READ", pairs_per_read)
    monkeypatch.setattr(backtest, "PYTHON_CHUNK", 1000)
    rule = make_rule(("open_orders_same_receiver", "gte", "2"), name="two others")
    found = backtest.match_window(rule, varied_orders)
    assert found.method == "python"
    live = live_matches(rule, varied_orders, timezone.now())
    assert 0 < len(live) < 3000
    assert found.ids == live


def test_phone_validity_decided_in_the_database_agrees_with_phonenumbers(channel):
    """Plain mobile numbers are checked by the CN metadata's patterns as SQL regexes; odd shapes in Python."""
    rng = random.Random(3)
    phones = [f"1{rng.randrange(3 * 10**9, 10 * 10**9):010d}"[:11] for _ in range(1500)]
    phones += [f"1{rng.randrange(10**10):010d}" for _ in range(300)]  # 10x–19x, 179 included
    phones += ["179" + f"{rng.randrange(10**8):08d}" for _ in range(50)]
    phones += [
        " 13812345678",
        "+8613812345678",
        "13800000000-1234",
        "0571-88886666",
        "12345",
        "",
        "１３８１２３４５６７８",
    ]
    Order.objects.bulk_create(
        Order(
            channel=channel,
            external_id=f"P{i}",
            state="ready",
            platform_status="awaiting_shipment",
            receiver_phone=phone,
            receiver_masked=i % 13 == 0,
        )
        for i, phone in enumerate(phones)
    )
    for operator in ("is_true", "is_false"):
        rule = make_rule(("phone_valid", operator, ""), name=f"phone {operator}")
        found = backtest.match_window(rule, Order.objects.all())
        live = live_matches(rule, Order.objects.all(), timezone.now())
        assert found.method == "sql"
        assert 0 < len(live) < len(phones)
        assert found.ids == live, sorted(
            Order.objects.filter(pk__in=found.ids ^ live).values_list("receiver_phone", flat=True)
        )[:10]
