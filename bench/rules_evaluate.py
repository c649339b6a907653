"""Benchmark: evaluating 100 active rules per order, against a raw-SQL baseline measured in the same run.

    python bench/rules_evaluate.py [--orders 2000] [--rules 100]

Sets Django up itself and works in a throw-away test database (the configured DATABASE_URL's test
database: SQLite by default, PostgreSQL when DATABASE_URL points there). Three numbers per order:

- engine: `rules.engine.run_rules` on the compiled rule set (what `evaluate()` spends deciding), facts
  memoised per order, lines prefetched;
- evaluate(): the whole `rules.engine.evaluate` in a rolled-back transaction (version check, hits
  bulk-inserted, task sync): what ingestion pays;
- SQL baseline: the same 100 rules' conditions compiled to SQL (rules.conditions.sql_condition) and
  evaluated as ONE query per order over the same rows (100 CASE columns, WHERE id = …).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import BooleanField, Case, Value, When  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

# name -> (operator, candidate values): SQL-capable facts only, so the baseline can run every rule
CONDITION_POOL = [
    ("paid_amount", "gte", ["50", "100", "200", "300", "450"]),
    ("paid_amount", "lt", ["20", "40", "80"]),
    ("goods_amount", "between", ["100, 200", "50, 400", "250, 500"]),
    ("discount_ratio", "gt", ["0.2", "0.35", "0.5", "0.6"]),
    ("payment_state", "eq", ["paid", "partial", "unpaid"]),
    ("line_count", "gte", ["2", "3"]),
    ("total_quantity", "gt", ["3", "5", "8"]),
    ("receiver_province", "in", ["浙江省, 上海市", "广东, 江苏省", "火星省"]),
    ("receiver_city", "eq", ["杭州市", "深圳市", "苏州市"]),
    ("buyer_message", "contains", ["顺丰", "sf", "周末"]),
    ("has_seller_memo", "is_true", [""]),
    ("address_has_test_words", "is_true", [""]),
    ("refund_requested", "is_true", [""]),
    ("is_presale", "is_false", [""]),
    ("receiver_complete", "is_false", [""]),
    ("platform_status", "in", ["unpaid", "awaiting_shipment, hold"]),
    ("sku_codes", "in", ["SKU-1", "SKU-2, SKU-4", "SKU-3"]),
]


def make_rules(count: int, rng: random.Random):
    from rules.models import InterceptRule, RuleCondition

    for i in range(count):
        rule = InterceptRule.objects.create(
            name=f"bench rule {i}",
            position=1000 + i,
            combinator=rng.choice(["all", "all", "any"]),
            action="tag",
            tag=f"b{i}",
            rollout_percent=rng.choice([100, 100, 100, 50, 10]),
        )
        for row, (field, operator, values) in enumerate(rng.sample(CONDITION_POOL, rng.randint(1, 3))):
            RuleCondition.objects.create(
                rule=rule, position=row, field=field, operator=operator, value=rng.choice(values)
            )
    # the seeded built-in rules use Python-only facts and a per-order query (mergeable): keep the
    # benchmark to the 100 generated rules so the baseline evaluates exactly the same conditions
    InterceptRule.objects.filter(code__isnull=False).update(enabled=False)
    from rules.models import RulesetVersion

    RulesetVersion.bump()


def sql_baseline_queryset():
    from orders.models import Order
    from rules.backtest import rule_sql
    from rules.models import InterceptRule

    annotations, columns = {}, {}
    for rule in InterceptRule.objects.filter(enabled=True).prefetch_related("conditions").order_by("position"):
        compiled = rule_sql(list(rule.conditions.all()), match_all=rule.combinator == "all")
        assert compiled is not None and compiled.complete, rule.name
        annotations.update(compiled.annotations)
        columns[f"r{rule.pk}"] = Case(
            When(compiled.q, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
    return Order.objects.annotate(**annotations).annotate(**columns).values(*columns), len(columns)


def timed(fn, items) -> tuple[float, list[float]]:
    samples = []
    start = time.perf_counter()
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - t0)
    return time.perf_counter() - start, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--rules", type=int, default=100)
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def run(args) -> None:
    from inventory.services import ReservationOutcome
    from orders.models import Channel, Order
    from rules.engine import evaluate, get_ruleset, run_rules
    from rules.facts import FactContext
    from rules.tests.factories import bulk_orders

    rng = random.Random(42)
    channel = Channel.objects.create(platform="taobao", name="bench shop")
    bulk_orders(channel, args.orders, seed=42)
    make_rules(args.rules, rng)
    ruleset = get_ruleset()
    assert len(ruleset.rules) == args.rules, len(ruleset.rules)
    orders = list(Order.objects.select_related("channel").prefetch_related("lines").order_by("pk"))
    now = timezone.now()

    # 1. the engine deciding (pure evaluation of 100 compiled rules)
    matches = 0

    def engine(order):
        nonlocal matches
        ctx = FactContext(order=order, now=now, blacklist=ruleset.blacklist, lines=list(order.lines.all()))
        matches += len(run_rules(ruleset, ctx).matches)

    engine(orders[0])  # warm-up
    matches = 0
    engine_total, engine_samples = timed(engine, orders)

    # 2. the whole evaluate() with its writes, rolled back
    complete = ReservationOutcome(is_complete=True)

    def full(order):
        with transaction.atomic():
            evaluate(order=order, reservation=complete, trigger="bench", changes=set())
            transaction.set_rollback(True)

    sample = orders[: min(len(orders), 500)]
    full_total, _full_samples = timed(full, sample)

    # 3. SQL baseline: the same conditions as one query per order over the same rows
    qs, ncols = sql_baseline_queryset()
    sql_matches = 0

    def sql(order):
        nonlocal sql_matches
        row = qs.filter(pk=order.pk).first()
        sql_matches += sum(1 for v in row.values() if v)

    sql(orders[0])
    sql_matches = 0
    sql_total, sql_samples = timed(sql, orders)

    n = len(orders)
    per_engine = engine_total / n * 1e6
    per_full = full_total / len(sample) * 1e6
    per_sql = sql_total / n * 1e6
    vendor = connection.vendor
    print(f"database: {vendor}   orders: {n}   active rules: {len(ruleset.rules)} (SQL columns: {ncols})")
    print(f"rule matches: engine {matches}, SQL baseline {sql_matches} (gray-release shadow hits count as matches)")
    print(f"{'':32}{'per order':>12}{'median':>12}{'p99':>12}")
    for label, per, samples in (
        ("engine run_rules (100 rules)", per_engine, engine_samples),
        ("SQL baseline (1 query/order)", per_sql, sql_samples),
    ):
        ordered = sorted(samples)
        p99 = ordered[int(len(ordered) * 0.99) - 1] * 1e6
        print(f"{label:32}{per:>10.1f}µs{statistics.median(samples) * 1e6:>10.1f}µs{p99:>10.1f}µs")
    print(f"{'evaluate() incl. hit writes':32}{per_full:>10.1f}µs   (over {len(sample)} orders, rolled back)")
    print(
        f"ratio SQL baseline / engine: {per_sql / per_engine:.1f}x   (engine under 1 ms per order: {per_engine < 1000})"
    )


if __name__ == "__main__":
    main()
