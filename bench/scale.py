"""Admin lists, searches and pages, and the API order list, at a million orders (issue 15).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_search_m DATABASE_CONN_MAX_AGE=60 \
        .venv/bin/python bench/scale.py --reuse \
        [--runs 7] [--movements 300000]

Without `--reuse` it builds the million-order database first (bench/million.py's `build()`, into the
database DATABASE_URL names, which must not hold orders). With `--reuse` it migrates that database
(your branch's migrations on top of a copy: `createdb -T bench_million …`) and measures it as it is.
Never point it at `bench_million` itself: it adds a bench user and, with `--movements`, stock
movements when the ledger holds fewer.

Per item it requests the page in this process with Django's test Client (so the time is server
time: middleware, views, queries, templates; no network), once to warm up, then `--runs` times, and
prints the median and the slowest run (wall time), the median CPU time of this process (the Python
side; on a shared machine wall time also counts waiting for a CPU), the number of SQL queries the
page ran, and beside it the median of a raw-SQL baseline doing the same lookup (the rows one page
shows) in the same run. DATABASE_CONN_MAX_AGE=60 keeps the connection, as under gunicorn.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import million

LIMIT_MS = 300


@dataclass
class Item:
    name: str
    url: str
    params: dict
    baseline_sql: str | None = None
    baseline_params: tuple = ()
    viewer: bool = False
    expect: str | None = None  # text the answer must contain (the order a search should find)


def _median_ms(call: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Median and slowest wall time, and median CPU time of this process (the Python side of the
    request: on a machine shared with other work, wall time also counts waiting for a CPU)."""
    call()  # warm-up: caches, prepared plans, compiled templates
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(times), max(times), statistics.median(cpu)


def _sample(cursor, sql: str, params: tuple = ()) -> tuple:
    cursor.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        sys.exit(f"the database lacks rows for: {sql}")
    return row


def _fill_movements(connection, wanted: int) -> None:
    """A ledger of `wanted` stock movements (set-based), when it holds fewer: the million database
    writes none, and the stock movement list is one of the pages measured."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inventory_stockmovement")
        have = cursor.fetchone()[0]
        if have >= wanted:
            return
        print(f"writing {wanted - have:,} stock movements …", flush=True)
        cursor.execute(
            """
            INSERT INTO inventory_stockmovement
                (warehouse_id, sku_id, kind, quantity, counted, balance_after, reference, note, source,
                 flagged, flag_reason, flag_wording, wording, ledger_only, at, order_id, actor_id)
            SELECT w.id, s.ids[1 + g %% array_length(s.ids, 1)], 'outbound', -1, NULL, 100, 'bench ' || g, '', 'bench',
                   g %% 97 = 0, '', '{}', '{}', false, now() - interval '30 days' * (%s - g) / %s, NULL, NULL
            FROM generate_series(1, %s) g,
                 (SELECT min(id) AS id FROM inventory_warehouse) w,
                 (SELECT array_agg(id) AS ids FROM inventory_sku) s
            """,
            [wanted - have, wanted - have, wanted - have],
        )
        cursor.execute("ANALYZE inventory_stockmovement")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="measure the database as built (migrated first)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--movements", type=int, default=300_000, help="stock movements the ledger should hold")
    args = parser.parse_args()

    million.setup_django()
    logging.disable(logging.INFO)  # django-axes logs every bench sign-in
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from orders.models import AWAITING_SHIPMENT_STATES

    if connection.vendor != "postgresql":
        sys.exit("bench/scale.py needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_NAME_m")
    if connection.settings_dict["NAME"] == "bench_million":
        sys.exit("measure a copy (createdb -T bench_million …), never bench_million itself")
    if args.reuse:
        call_command("migrate", verbosity=0, interactive=False)
    else:
        million.build()
    _fill_movements(connection, args.movements)

    with connection.cursor() as cursor:
        orders = _sample(cursor, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'orders_order'")[0]
        # the busiest channel, and the quietest one (its orders are rare among the newest)
        cursor.execute("SELECT channel_id FROM orders_order GROUP BY 1 ORDER BY count(*) DESC")
        busy = [row[0] for row in cursor.fetchall()]
        channel_id, quiet_id = busy[0], busy[-1]
        # a shipped order with a parcel: every key of it is searched for
        _order_id, external_id, nick, phone, tracking = _sample(
            cursor,
            """SELECT o.id, o.external_id, o.buyer_nick, o.receiver_phone, s.tracking_number
               FROM orders_order o JOIN shipping_shipmentline l ON l.order_id = o.id
               JOIN shipping_shipment s ON s.id = l.shipment_id
               WHERE o.receiver_phone <> '' AND o.buyer_nick <> '' AND s.tracking_number <> ''
               ORDER BY o.id LIMIT 1 OFFSET 400000""",
        )
    boss, _ = User.objects.get_or_create(username="scale-bench", defaults={"is_staff": True, "is_superuser": True})
    viewer, _ = User.objects.get_or_create(username="scale-bench-viewer", defaults={"is_staff": True})
    viewer.groups.add(Group.objects.get(name="viewer"))
    partial = nick[1:-1] if len(nick) > 4 else nick
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    columns = "o.*, c.*"
    join = "orders_order o JOIN orders_channel c ON c.id = o.channel_id"
    page = f"SELECT {columns} FROM {join} %s ORDER BY o.received_at DESC, o.id DESC LIMIT 50"
    open_states = [str(s) for s in AWAITING_SHIPMENT_STATES]
    items = [
        Item("order list, unfiltered", "/admin/orders/order/", {}, page % ""),
        Item(
            "order list, by channel",
            "/admin/orders/order/",
            {"channel__id__exact": channel_id},
            page % "WHERE o.channel_id = %s",
            (channel_id,),
        ),
        Item(
            "order list, by the quietest channel",
            "/admin/orders/order/",
            {"channel__id__exact": quiet_id},
            page % "WHERE o.channel_id = %s",
            (quiet_id,),
        ),
        Item(
            "order list, by state (on hold)",
            "/admin/orders/order/",
            {"state__exact": "on_hold"},
            page % "WHERE o.state = 'on_hold'",
        ),
        Item(
            "order list, channel + last 7 days",
            "/admin/orders/order/",
            {"channel__id__exact": channel_id, "received": "7d"},
            page % "WHERE o.channel_id = %s AND o.received_at >= now() - interval '7 days'",
            (channel_id,),
        ),
        Item(
            "search: receiver phone",
            "/admin/orders/order/",
            {"q": phone},
            page % "WHERE o.receiver_phone = %s",
            (phone,),
            expect=external_id,
        ),
        Item(
            "search: receiver phone (viewer, masked)",
            "/admin/orders/order/",
            {"q": phone},
            page % "WHERE o.receiver_phone LIKE %s",
            (phone[:3] + "%" + phone[-4:],),
            viewer=True,
            expect=external_id,
        ),
        Item(
            "search: platform order id",
            "/admin/orders/order/",
            {"q": external_id},
            page % "WHERE o.external_id = %s",
            (external_id,),
            expect=external_id,
        ),
        Item(
            "search: buyer nick",
            "/admin/orders/order/",
            {"q": nick},
            page % "WHERE o.buyer_nick = %s",
            (nick,),
            expect=external_id,
        ),
        Item(
            f"search: part of a buyer nick ({partial!r})",
            "/admin/orders/order/",
            {"q": partial},
            page % "WHERE upper(o.buyer_nick) LIKE upper(%s)",
            (f"%{partial}%",),
        ),
        Item(
            "search: tracking number",
            "/admin/orders/order/",
            {"q": tracking},
            page % "WHERE o.id IN (SELECT l.order_id FROM shipping_shipmentline l JOIN shipping_shipment s "
            "ON s.id = l.shipment_id WHERE s.tracking_number = %s)",
            (tracking,),
            expect=external_id,
        ),
        Item(
            "channel list (orders today)",
            "/admin/orders/channel/",
            {},
            "SELECT c.id, (SELECT count(*) FROM orders_order o WHERE o.channel_id = c.id AND o.received_at >= %s) "
            "FROM orders_channel c ORDER BY c.id",
            (start_of_day,),
        ),
        Item(
            "admin index (ops summary)",
            "/admin/",
            {},
            "SELECT state, count(*) FROM orders_order WHERE state = ANY(%s) GROUP BY state",
            (open_states,),
        ),
        Item(
            "stock movement list",
            "/admin/inventory/stockmovement/",
            {},
            "SELECT m.*, s.*, w.* FROM inventory_stockmovement m JOIN inventory_sku s ON s.id = m.sku_id "
            "JOIN inventory_warehouse w ON w.id = m.warehouse_id ORDER BY m.id DESC LIMIT 100",
        ),
        Item(
            "API order list",
            "/api/v1/orders/",
            {},
            "SELECT * FROM orders_order ORDER BY id DESC LIMIT 50",
        ),
        Item(
            "API order list, by receiver phone",
            "/api/v1/orders/",
            {"receiver_phone": phone},
            "SELECT * FROM orders_order WHERE receiver_phone = %s ORDER BY id DESC LIMIT 50",
            (phone,),
            expect=external_id,
        ),
        Item(
            "API order list, by tracking number",
            "/api/v1/orders/",
            {"tracking_number": tracking},
            None,
            expect=external_id,
        ),
    ]

    clients = {False: Client(HTTP_HOST="127.0.0.1"), True: Client(HTTP_HOST="127.0.0.1")}
    clients[False].force_login(boss)
    clients[True].force_login(viewer)

    print(f"orders (planner estimate): {orders:,}   runs per item: {args.runs}   median server time, ms")
    print("load average at start: {:.1f} {:.1f} {:.1f} (2 vCPUs)".format(*os.getloadavg()))
    header = f"{'item':<44} {'median':>8} {'max':>8} {'cpu':>7} {'queries':>8} {'raw SQL':>8} {'ratio':>7}"
    print(f"{header}  < {LIMIT_MS} ms")
    all_fast = True
    for item in items:
        client = clients[item.viewer]

        def request(item=item, client=client):
            response = client.get(item.url, item.params)
            if response.status_code != 200:
                sys.exit(f"{item.name}: HTTP {response.status_code}")
            return response

        body = request().content.decode()
        if item.expect and item.expect not in body:
            sys.exit(f"{item.name}: the answer lacks {item.expect}")
        connection.queries_log.clear()  # the debug log is capped: count from empty
        with CaptureQueriesContext(connection) as queries:
            request()
        median, slowest, cpu = _median_ms(request, args.runs)
        baseline = ""
        ratio = ""
        if item.baseline_sql:

            def raw(item=item):
                with connection.cursor() as cursor:
                    cursor.execute(item.baseline_sql, item.baseline_params)
                    cursor.fetchall()

            raw_median, _, _ = _median_ms(raw, args.runs)
            baseline = f"{raw_median:8.1f}"
            ratio = f"{median / raw_median:6.1f}×" if raw_median else ""
        fast = median < LIMIT_MS
        all_fast &= fast
        print(
            f"{item.name:<44} {median:8.1f} {slowest:8.1f} {cpu:7.1f} {len(queries):>8} {baseline:>8} {ratio:>7}  "
            f"{'yes' if fast else 'NO'}"
        )
    print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print(f"every item under {LIMIT_MS} ms median: {all_fast}")


if __name__ == "__main__":
    main()
