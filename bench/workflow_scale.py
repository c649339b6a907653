"""The workflow page at a million orders: the whole admin page (figures, SVG, template) against the bare
grouped SQL that answers the same questions, measured in the same run (PostgreSQL only).

    createdb -h 127.0.0.1 -U postgres -T bench_million wt_workflow_m      # a copy of the shared database
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_workflow_m .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_workflow_m .venv/bin/python bench/workflow_scale.py

The database must hold the million orders already (bench/million.py builds them; `--build` runs it on an
empty database). The script only adds a superuser `bench-workflow` to sign the page in; it never writes
orders; it runs the workflow rollup job (orders.workflow_services.flow_rollup, scheduled every ten
minutes in production) once or twice as setup, timed apart (`--rebuild-rollup` empties it first to time
its first run over all history, `--no-rollup` skips it). Timings are medians of `--runs` requests after
one warm-up request (no cache of the page's figures: every run asks the database again).

Lines:
- page GET /admin/orders/workflow/?days=N: Django's test client as a superuser, end to end;
- raw SQL baseline: the grouped statements a hand-written report would run for the main figures, on
  the same indexes and the same hourly rollup as the page (received per channel and state changes per
  kind, and per lane into and out of "ready": the rollup's whole hours plus the rows outside them;
  hits per rule, waiting per state and lane with the oldest, open to-dos per type): one cursor, no
  ORM, no medians, no rules or SVG. The ratio is what the page costs on top of those questions;
- raw SQL from the events alone: the same questions without the rollup (the baseline before it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 300

#: the same questions from the events and orders themselves (the page before the rollup)
EVENTS_SQL = [
    """SELECT channel_id, count(*) FROM orders_order
       WHERE received_at >= now() - make_interval(days => %(days)s) GROUP BY channel_id""",
    """SELECT rule_id, enforced, count(DISTINCT order_id) FROM rules_rulehit
       WHERE at >= now() - make_interval(days => %(days)s) GROUP BY rule_id, enforced""",
    """SELECT state, lane, count(*), min(state_changed_at) FROM orders_order
       WHERE state IN ('new', 'on_hold', 'awaiting_stock', 'ready', 'printed', 'partially_shipped', 'shipped')
       GROUP BY state, lane""",
    """SELECT kind, from_state, count(*) FROM orders_orderevent
       WHERE at >= now() - make_interval(days => %(days)s) AND to_state <> '' AND kind <> 'received'
       GROUP BY kind, from_state""",
    """SELECT e.kind, e.from_state, o.lane, count(*)
       FROM orders_orderevent e JOIN orders_order o ON o.id = e.order_id
       WHERE e.at >= now() - make_interval(days => %(days)s) AND e.to_state <> '' AND e.kind <> 'received'
         AND (e.kind IN ('accept', 'release') OR e.from_state = 'ready')
       GROUP BY e.kind, e.from_state, o.lane""",
    """SELECT exception_type_id, count(*), min(created_at), count(*) FILTER (WHERE due_at < now())
       FROM rules_exceptiontask WHERE state = 'open' GROUP BY exception_type_id""",
]

#: the changes counted live, in [start, a) and [b, stop): one index range each
_LIVE_MOVES = """
    SELECT kind, from_state, '' AS lane, count(*) FROM orders_orderevent
     WHERE at >= %(lo)s AND at < %(hi)s AND to_state <> '' AND kind <> 'received'
       AND NOT (kind IN ('accept', 'release') OR from_state = 'ready')
     GROUP BY kind, from_state
    UNION ALL
    SELECT e.kind, e.from_state, o.lane, count(*)
      FROM orders_orderevent e JOIN orders_order o ON o.id = e.order_id
     WHERE e.at >= %(lo)s AND e.at < %(hi)s AND e.to_state <> '' AND e.kind <> 'received'
       AND (e.kind IN ('accept', 'release') OR e.from_state = 'ready')
     GROUP BY e.kind, e.from_state, o.lane"""
#: the same questions as the page asks them: received per channel and state changes from the hourly
#: rollup (orders_flowhour) for the whole hours it covers, [a, b), and from the rows for the rest
ROLLUP_SQL = [
    """SELECT channel_pk, sum(count) FROM orders_flowhour
        WHERE kind = 'received' AND bucket >= %(a)s AND bucket < %(b)s GROUP BY channel_pk
       UNION ALL
       SELECT channel_id, count(*) FROM orders_order WHERE received_at >= %(start)s AND received_at < %(a)s
        GROUP BY channel_id
       UNION ALL
       SELECT channel_id, count(*) FROM orders_order WHERE received_at >= %(b)s AND received_at < %(stop)s
        GROUP BY channel_id""",
    EVENTS_SQL[1],
    EVENTS_SQL[2],
    """SELECT kind, from_state, lane, sum(count) FROM orders_flowhour
        WHERE kind <> 'received' AND bucket >= %(a)s AND bucket < %(b)s GROUP BY kind, from_state, lane"""
    + "\n UNION ALL"
    + _LIVE_MOVES.replace("%(lo)s", "%(start)s").replace("%(hi)s", "%(a)s")
    + "\n UNION ALL"
    + _LIVE_MOVES.replace("%(lo)s", "%(b)s").replace("%(hi)s", "%(stop)s"),
    EVENTS_SQL[5],
]


def rollup_bounds(cursor, days: int) -> dict:
    """The hours the rollup covers inside the period, [a, b), as the page computes them; a = b = stop
    when it covers none (everything is counted live)."""
    from datetime import UTC, datetime, timedelta

    stop = datetime.now(UTC)
    start = stop - timedelta(days=days)
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    if first_hour < start:
        first_hour += timedelta(hours=1)
    cursor.execute("SELECT since, upto FROM orders_flowrollupmark WHERE id = 1")
    mark = cursor.fetchone()
    a, b = (max(mark[0], first_hour), min(mark[1], stop)) if mark else (stop, stop)
    if a >= b:
        a = b = stop
    return {"days": days, "start": start, "stop": stop, "a": a, "b": b}


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
    import django

    django.setup()


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up: connections, caches, compiled templates
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def run_rollup(*, rebuild: bool) -> None:
    """Setup: the scheduled job once (the first run counts all history), then once more as it runs
    every ten minutes; timed apart from the page."""
    from orders.models import FlowHour, FlowRollupMark
    from orders.workflow_services import flow_rollup

    if rebuild:
        FlowHour.objects.all().delete()
        FlowRollupMark.objects.all().delete()
    for label in ("rollup job, first run" if rebuild else "rollup job", "rollup job, next run"):
        start = time.perf_counter()
        result = flow_rollup()
        ms = (time.perf_counter() - start) * 1000
        print(f"{label}: {ms:.0f} ms, hours {result['from']} – {result['upto']}, {result['rows']:,} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--days", type=int, nargs="*", default=[1, 7, 30])
    parser.add_argument("--build", action="store_true", help="run bench/million.py's build() on an empty database")
    parser.add_argument(
        "--rebuild-rollup", action="store_true", help="empty the hourly rollup first: time the job's first run"
    )
    parser.add_argument("--no-rollup", action="store_true", help="do not run the rollup job (the page counts live)")
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import override_settings

    if connection.vendor != "postgresql":
        sys.exit("needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_workflow_m")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order")
        orders = cursor.fetchone()[0]
    if orders < 900_000:
        if not args.build:
            sys.exit(f"{orders} orders: build the million first (bench/million.py, or --build)")
        sys.path.insert(0, str(ROOT / "bench"))
        from million import build

        build()
    user = get_user_model().objects.filter(username="bench-workflow").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-workflow", "bench@example.com", "bench-pass-2026")
    client = Client()
    client.force_login(user)
    if not args.no_rollup:
        run_rollup(rebuild=args.rebuild_rollup)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order")
        orders = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM orders_orderevent")
        events = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM rules_exceptiontask WHERE state = 'open'")
        open_tasks = cursor.fetchone()[0]
    load = os.getloadavg()
    print(
        f"database: {settings.DATABASES['default']['NAME']}   orders: {orders:,}   events: {events:,}   "
        f"open to-dos: {open_tasks:,}   cpus: {os.cpu_count()}   load average: {load[0]:.1f} {load[1]:.1f}"
    )
    print(f"{'':44}{'median':>10}{'min':>10}{'max':>10}   queries")
    for days in args.days:
        url = f"/admin/orders/workflow/?days={days}"

        def page(url=url) -> None:
            response = client.get(url)
            assert response.status_code == 200, response.status_code
            assert b"<svg" in response.content

        def baseline(days=days) -> None:
            with connection.cursor() as cursor:
                params = rollup_bounds(cursor, days)
                for sql in ROLLUP_SQL:
                    cursor.execute(sql, params)
                    cursor.fetchall()

        def from_events(days=days) -> None:
            with connection.cursor() as cursor:
                for sql in EVENTS_SQL:
                    cursor.execute(sql, {"days": days})
                    cursor.fetchall()

        with override_settings(DEBUG=True):
            reset_queries()
            page()
            queries = len(connection.queries)
        page_ms = timed(page, args.runs)
        base_ms = timed(baseline, args.runs)
        events_ms = timed(from_events, args.runs)
        page_median, base_median = statistics.median(page_ms), statistics.median(base_ms)
        print(
            f"page, last {days:>2} day(s){'':21}{page_median:>8.1f}ms{min(page_ms):>8.1f}ms{max(page_ms):>8.1f}ms"
            f"   {queries}"
        )
        print(
            f"raw SQL baseline, last {days:>2} day(s){'':11}{base_median:>8.1f}ms{min(base_ms):>8.1f}ms"
            f"{max(base_ms):>8.1f}ms   {len(ROLLUP_SQL) + 1}"
        )
        print(
            f"  raw SQL from the events alone{'':12}{statistics.median(events_ms):>8.1f}ms{min(events_ms):>8.1f}ms"
            f"{max(events_ms):>8.1f}ms   {len(EVENTS_SQL)}"
        )
        verdict = "yes" if page_median < BUDGET_MS else "NO"
        print(f"  ratio page / baseline: {page_median / base_median:.2f}x   under {BUDGET_MS} ms: {verdict}")


if __name__ == "__main__":
    main()
