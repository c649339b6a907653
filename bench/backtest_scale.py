"""Backtest of every seeded rule over a million orders, beside a raw-SQL baseline on the same rows.

    createdb -h 127.0.0.1 -U postgres -T bench_million wt_backtest_m      # a copy: never bench_million
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_backtest_m python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_backtest_m python bench/backtest_scale.py [--rules code,…]

Unlike the other benches this one works on the database DATABASE_URL names (it needs the million
orders that bench/million.py builds); it writes one BacktestRun row per rule there, nothing else.
Each rule runs as the worker runs it (`services.backtest_execute`: chunks, progress writes, cancel
checks, the stored result) over every order in the database. The baseline, in the same run:

- a rule that compiles to SQL: its compiled condition (`rules.backtest.rule_sql`, the per-order
  correlated subquery for the mergeable check) as one raw query over the same rows;
- a rule with Python-only facts: one raw query reading the columns those facts read for the same
  rows (the floor of any evaluation that leaves the database).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default="", help="comma-separated rule codes (default: every seeded rule)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the raw-SQL baselines")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Max, Min
    from django.test.utils import CaptureQueriesContext

    from orders.models import Order
    from rules import services
    from rules.backtest import orders_in_period, plan_rule, rule_sql
    from rules.models import BacktestState, InterceptRule

    if connection.vendor != "postgresql":
        sys.exit("this benchmark needs PostgreSQL with the million orders (see the docstring)")
    span = Order.objects.aggregate(lo=Min("received_at"), hi=Max("received_at"), n=Max("pk"))
    since, until = span["lo"], span["hi"] + timedelta(seconds=1)
    total = orders_in_period(since=since, until=until).count()
    load = os.getloadavg()
    print(f"database: {connection.settings_dict['NAME']}   orders: {total:,}   {since:%Y-%m-%d} – {until:%Y-%m-%d}")
    print(
        f"machine: {platform.machine()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    rules = InterceptRule.objects.filter(code__isnull=False).order_by("position")
    if args.rules:
        rules = rules.filter(code__in=[c.strip() for c in args.rules.split(",")])
    header = f"{'rule':<20} {'method':<11} {'matched':>9} {'backtest':>9} {'queries':>7} "
    header += f"{'baseline':>9} {'ratio':>8}  <10s"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for rule in rules:
        run = services.backtest_start(rule_id=rule.pk, since=since, until=until, enqueue=False)
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            run = services.backtest_execute(run_id=run.pk)
            seconds = time.perf_counter() - started
        if run.state != BacktestState.DONE:
            print(f"{rule.code:<20} {run.state}: {run.error}")
            continue
        worst = max(worst, seconds)
        baseline = None if args.no_baseline else _baseline(rule, since, until, plan_rule, rule_sql, orders_in_period)
        ratio = f"{seconds / baseline:.2f}x" if baseline else "n/a"
        base = f"{baseline:.2f}s" if baseline else "n/a"
        print(
            f"{rule.code:<20} {run.method:<11} {run.matched_count:>9,} {seconds:>8.2f}s {len(queries):>7} "
            f"{base:>9} {ratio:>8}  {'yes' if seconds < GOAL_SECONDS else 'NO'}"
        )
    print(f"slowest backtest: {worst:.2f} s (goal: every seeded rule under {GOAL_SECONDS:.0f} s)")


def _baseline(rule, since, until, plan_rule, rule_sql, orders_in_period) -> float:
    """Seconds of the raw-SQL baseline for `rule` over the same rows (see the module docstring)."""
    from django.db import connection

    window = orders_in_period(since=since, until=until)
    conditions = sorted(rule.conditions.all(), key=lambda c: (c.position, c.pk))
    sql = rule_sql(conditions, match_all=rule.combinator == "all")
    if sql is not None and sql.complete:
        query = window.annotate(**sql.annotations).filter(sql.q).values_list("pk", "channel_id", "external_id")
    else:
        plan = plan_rule(rule)
        query = window.values_list(*plan.columns)
    raw, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(raw, params)
        cursor.fetchall()
        return time.perf_counter() - started


if __name__ == "__main__":
    main()
