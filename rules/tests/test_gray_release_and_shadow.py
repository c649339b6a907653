"""Gray release acts on a stable share of orders; shadow rules and out-of-rollout hits change nothing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from orders.models import Order
from rules.engine import CompiledRuleset, compile_rule, rollout_bucket, run_rules
from rules.facts import Blacklist, FactContext
from rules.models import ExceptionTask, RuleHit
from rules.tests.conftest import open_types, reload
from rules.tests.factories import make_rule

pytestmark = pytest.mark.django_db


def _only(rule) -> CompiledRuleset:
    compiled = compile_rule(rule, list(rule.conditions.all()))
    return CompiledRuleset(
        token="t", version=1, lane_rules=(), other_rules=(compiled,), blacklist=Blacklist(), types={}
    )


def _enforced_ids(ruleset, orders, now) -> set[str]:
    enforced = set()
    for order in orders:
        outcome = run_rules(ruleset, FactContext(order=order, now=now), record_facts=False)
        assert len(outcome.matches) == 1  # it matches every order: hit recorded either way
        if outcome.matches[0].enforced:
            enforced.add(order.external_id)
    return enforced


def test_gray_release_at_10_percent_acts_on_10_percent_of_5000_orders_and_the_same_ones(channel):
    rule = make_rule(("paid_amount", "gte", "0"), rollout_percent=10)
    orders = [Order(channel_id=channel.pk, external_id=f"G{i:05d}") for i in range(5000)]
    now = timezone.now()
    first = _enforced_ids(_only(rule), orders, now)
    assert 400 <= len(first) <= 600  # 10% ± 2%
    # same answer on a fresh compile, in another order of evaluation, and by the documented hash
    again = _enforced_ids(_only(rule), list(reversed(orders)), now)
    assert again == first
    by_hash = {
        o.external_id
        for o in orders
        if rollout_bucket(channel_id=channel.pk, external_id=o.external_id, rule_id=rule.pk) < 10
    }
    assert by_hash == first


def test_rollout_picks_different_orders_for_different_rules(channel):
    a = make_rule(("paid_amount", "gte", "0"), rollout_percent=10)
    b = make_rule(("paid_amount", "gte", "0"), rollout_percent=10)
    orders = [Order(channel_id=channel.pk, external_id=f"G{i:05d}") for i in range(2000)]
    now = timezone.now()
    assert _enforced_ids(_only(a), orders, now) != _enforced_ids(_only(b), orders, now)


def test_gray_release_through_ingest_tags_only_the_rollout_share(ingest, channel):
    rule = make_rule(("paid_amount", "gte", "0"), action="tag", tag="gray", rollout_percent=10)
    orders = [ingest() for _ in range(150)]
    expected = {
        o.pk for o in orders if rollout_bucket(channel_id=channel.pk, external_id=o.external_id, rule_id=rule.pk) < 10
    }
    tagged = {o.pk for o in Order.objects.filter(pk__in=[o.pk for o in orders]) if "gray" in o.tags}
    assert tagged == expected
    hits = RuleHit.objects.filter(rule=rule)
    assert hits.count() == 150  # every order matched: enforced inside the rollout, shadow outside
    assert set(hits.filter(enforced=True).values_list("order_id", flat=True)) == expected
    assert not hits.filter(enforced=False, in_rollout=True).exists()


def test_shadow_rules_never_change_an_orders_state(ingest):
    hold = make_rule(("paid_amount", "gte", "0"), mode="shadow", exception_type="price_abnormal")
    lane = make_rule(("paid_amount", "gte", "0"), action="lane", lane="priority", mode="shadow")
    prio = make_rule(("paid_amount", "gte", "0"), action="priority", set_priority=9, mode="shadow")
    orders = [reload(ingest()) for _ in range(30)]
    held = reload(ingest(refund_requested=True))
    for order in orders:
        assert (order.state, order.lane, order.priority, order.tags) == ("ready", "", 0, [])
        assert open_types(order) == []
    assert open_types(held) == ["refund_requested"]  # the shadow price rule added nothing
    for rule in (hold, lane, prio):
        hits = RuleHit.objects.filter(rule=rule)
        assert hits.count() == 31
        assert not hits.filter(enforced=True).exists()
        assert set(hits.values_list("mode", flat=True)) == {"shadow"}
    assert not ExceptionTask.objects.filter(rule=hold).exists()


def test_rule_outside_its_validity_window_does_nothing(ingest):
    now = timezone.now()
    make_rule(("paid_amount", "gte", "0"), valid_from=now + timezone.timedelta(days=1), exception_type="price_abnormal")
    make_rule(("paid_amount", "gte", "0"), valid_until=now - timezone.timedelta(days=1), exception_type="mergeable")
    assert ingest().state == "ready"


def test_hit_records_rule_version_and_the_facts_it_saw(ingest):
    rule = make_rule(("paid_amount", "gte", "100"), ("receiver_province", "eq", "浙江省"), action="tag", tag="zj")
    rule.rollout_percent = 100
    rule.save()
    order = ingest()
    hit = RuleHit.objects.get(rule=rule, order=order)
    rule.refresh_from_db()
    assert hit.enforced and hit.rule_version == rule.version
    assert hit.facts == {"paid_amount": "150.00", "receiver_province": "浙江省"}
    assert "zj" in reload(order).tags
