"""The ops console at a million orders: server time and query count of the pages ops open all day,
each beside a raw-SQL baseline (the rows the page shows, read by hand-written SQL) measured in the same
run, with the ratio. Target: each page under 300 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_dash_m REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/console.py [--runs 7] [--build]

Reuses the database DATABASE_URL names (a copy of `bench_million`, migrated to this branch); with
`--build` it fills it first with bench/million.py (1,000,000 orders, 2 M lines, 2 M events, 10,000
open tasks). Pages are requested in-process through Django's test client as a logged-in superuser, so
"server time" is the whole view: middleware, queries, template. Nothing is written but a session and
the dashboard's cached closed days (the first, cold dashboard is reported on its own line)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

TARGET_MS = 300


def _timed(call, runs: int) -> tuple[float, int]:
    """Median milliseconds over `runs` calls, and the query count of the last one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        queries = len(captured.captured_queries)
    return statistics.median(times), queries


def _sql(statements: list[tuple[str, list]]):
    from django.db import connection

    def run() -> None:
        with connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                cursor.fetchall()

    return run


def _page(client, url: str):
    def get() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")

    return get


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--build", action="store_true", help="fill the database with bench/million.py first")
    args = parser.parse_args()

    import million

    million.setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    if connection.vendor != "postgresql":
        sys.exit("bench/console.py needs PostgreSQL (a copy of bench_million): see its docstring")
    if args.build:
        million.build()
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:  # what autovacuum does after a bulk load: index-only scans need it
        cursor.execute("VACUUM (ANALYZE) orders_order, orders_orderevent, rules_exceptiontask")
    from orders.models import Order, OrderState
    from rules.models import ExceptionTask, TaskState

    orders = Order.objects.count()
    open_tasks = ExceptionTask.objects.filter(state=TaskState.OPEN).count()
    user, _created = get_user_model().objects.get_or_create(
        username="bench-console", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    held = ExceptionTask.objects.filter(state=TaskState.OPEN).order_by("-id").values_list("order_id", flat=True)[0]
    channel_id = Order.objects.order_by("-id").values_list("channel_id", flat=True)[0]
    today = timezone.localdate().isoformat()
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    window_start = start_of_day - timezone.timedelta(days=13)

    orders_url = reverse("admin:orders_order_changelist")
    pages = [
        (
            "dashboard (admin index)",
            "/admin/",
            [
                (
                    "SELECT (received_at AT TIME ZONE %s)::date, channel_id, count(*) FROM orders_order "
                    "WHERE received_at >= %s GROUP BY 1, 2",
                    [settings.TIME_ZONE, window_start],
                ),
                (
                    "SELECT o.channel_id, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY e.at - o.paid_at), "
                    "count(*) FILTER (WHERE e.at <= o.ship_by) FROM orders_orderevent e "
                    "JOIN orders_order o ON o.id = e.order_id WHERE e.kind = 'ship' AND e.at >= %s GROUP BY 1",
                    [start_of_day],
                ),
                (
                    "SELECT channel_id, count(*) FROM orders_order WHERE state IN ('new', 'ready', 'on_hold', "
                    "'awaiting_stock', 'printed', 'partially_shipped') AND ship_by < now() + interval '1 hour' "
                    "GROUP BY 1",
                    [],
                ),
                (
                    "SELECT exception_type_id, assignee_user_id, count(*), min(created_at) FROM rules_exceptiontask "
                    "WHERE state = 'open' GROUP BY 1, 2",
                    [],
                ),
                ("SELECT lane, count(*) FROM orders_order WHERE state = 'ready' GROUP BY 1", []),
                ("SELECT state, failure, count(*) FROM shipping_writeback WHERE state <> 'done' GROUP BY 1, 2", []),
            ],
        ),
        (
            "order list, unfiltered",
            orders_url,
            [
                ("SELECT count(*) FROM orders_order", []),
                (
                    "SELECT o.*, c.name FROM orders_order o JOIN orders_channel c ON c.id = o.channel_id "
                    "ORDER BY o.id DESC LIMIT 100",
                    [],
                ),
            ],
        ),
        (
            "order list, on hold on one channel",
            f"{orders_url}?state__exact={OrderState.ON_HOLD}&channel__id__exact={channel_id}",
            [
                ("SELECT count(*) FROM orders_order WHERE state = 'on_hold' AND channel_id = %s", [channel_id]),
                (
                    "SELECT o.*, c.name FROM orders_order o JOIN orders_channel c ON c.id = o.channel_id "
                    "WHERE o.state = 'on_hold' AND o.channel_id = %s ORDER BY o.id DESC LIMIT 100",
                    [channel_id],
                ),
            ],
        ),
        (
            "order list, shipped today (dashboard link)",
            f"{orders_url}?shipped_on={today}",
            [
                (
                    "SELECT count(*) FROM orders_order WHERE id IN (SELECT order_id FROM orders_orderevent "
                    "WHERE kind = 'ship' AND at >= %s)",
                    [start_of_day],
                ),
                (
                    "SELECT o.*, c.name FROM orders_order o JOIN orders_channel c ON c.id = o.channel_id "
                    "WHERE o.id IN (SELECT order_id FROM orders_orderevent WHERE kind = 'ship' AND at >= %s) "
                    "ORDER BY o.id DESC LIMIT 100",
                    [start_of_day],
                ),
            ],
        ),
        (
            "order page (held, open exception)",
            reverse("admin:orders_order_change", args=[held]),
            [
                ("SELECT * FROM orders_order WHERE id = %s", [held]),
                ("SELECT * FROM orders_orderline WHERE order_id = %s", [held]),
                ("SELECT * FROM orders_orderevent WHERE order_id = %s ORDER BY id DESC", [held]),
                ("SELECT * FROM rules_exceptiontask WHERE order_id = %s", [held]),
                (
                    "SELECT s.* FROM shipping_shipment s JOIN shipping_shipmentline l ON l.shipment_id = s.id "
                    "WHERE l.order_id = %s",
                    [held],
                ),
            ],
        ),
    ]
    try:
        workbench = reverse("admin:rules_exceptiontask_mine")
    except NoReverseMatch:
        workbench = None
        print("workbench: no URL named admin:rules_exceptiontask_mine on this branch, not measured")
    if workbench:
        pages.append(
            (
                "exception workbench",
                workbench,
                [
                    ("SELECT count(*) FROM rules_exceptiontask WHERE state = 'open'", []),
                    ("SELECT * FROM rules_exceptiontask WHERE state = 'open' ORDER BY due_at, id LIMIT 100", []),
                ],
            )
        )

    print(f"database: {connection.settings_dict['NAME']}   orders: {orders:,}   open exception tasks: {open_tasks:,}")
    print(f"runs per page: {args.runs} (median)   target: < {TARGET_MS} ms server time")
    cache.clear()
    cold, cold_queries = _timed(_page(client, "/admin/"), 1)
    print(f"dashboard, cold cache (closed days computed once, then kept): {cold:,.0f} ms, {cold_queries} queries")
    print(f"{'page':44} {'server ms':>10} {'queries':>8} {'SQL ms':>8}  ratio")
    failures = []
    for name, url, baseline in pages:
        _page(client, url)()  # warm: connection, templates, the dashboard's closed days
        page_ms, queries = _timed(_page(client, url), args.runs)
        sql_ms, _count = _timed(_sql(baseline), args.runs)
        ratio = page_ms / sql_ms if sql_ms else float("nan")
        flag = "" if page_ms < TARGET_MS else "  ← over target"
        print(f"{name:44} {page_ms:>10,.1f} {queries:>8} {sql_ms:>8,.1f}  {ratio:.2f}× baseline{flag}")
        if page_ms >= TARGET_MS:
            failures.append(name)
    print("all pages under target" if not failures else f"over target: {', '.join(failures)}")


if __name__ == "__main__":
    main()
