"""Ingestion throughput: orders/s through `ingest_order()` and through the HTTP webhook, beside a
raw-SQL insert of the same rows measured in the same run (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/ingest.py [--orders 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, BenchDatabase, ratio


def make_orders(n: int, prefix: str):
    from orders.tests.factories import make_incoming

    return [make_incoming(external_id=f"{prefix}{i:07d}", buyer_nick=f"bench{i % 500}") for i in range(n)]


def raw_sql_baseline(connection, channel_id: int, orders) -> float:
    """The same rows, one transaction per order, as plain INSERTs: the floor any pipeline pays."""
    from django.db import transaction

    order_sql = (
        "INSERT INTO orders_order (channel_id, external_id, state, platform_status, platform_status_raw, "
        "refund_requested, platform_hold, buyer_nick, buyer_id, receiver_name, receiver_phone, receiver_province, "
        "receiver_city, receiver_district, receiver_town, receiver_address, receiver_zip, receiver_masked, "
        "receiver_cipher, goods_amount, postage, discount_amount, paid_amount, coupons, buyer_message, seller_memo, "
        "is_presale, paid_at, platform_modified_at, lane, priority, tags, hold_reason, hold_wording, raw_payload, "
        "source, received_at, updated_at) "
        "VALUES (%s, %s, 'ready', %s, %s, false, false, %s, '', %s, %s, %s, %s, %s, '', "
        "%s, '', false, '{}', %s, 0, 0, %s, '[]', '', '', false, %s, %s, '', 0, '[]', '', '{}', '{}', 'bench', now(), "
        "now()) ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id"
    )
    line_sql = (
        "INSERT INTO orders_orderline (order_id, external_line_id, platform_item_id, platform_sku_id, sku_code, "
        "title, quantity, unit_price, discount_amount, paid_amount, refund_status) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, '')"
    )
    started = time.perf_counter()
    for o in orders:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                order_sql,
                [
                    channel_id, o.external_id, o.platform_status, o.platform_status_raw, o.buyer_nick,
                    o.receiver_name, o.receiver_phone, o.receiver_province, o.receiver_city, o.receiver_district,
                    o.receiver_address, o.goods_amount, o.paid_amount, o.paid_at, o.modified_at,
                ],
            )  # fmt: skip
            order_id = cursor.fetchone()[0]
            cursor.executemany(
                line_sql,
                [
                    (order_id, ln.external_line_id, ln.platform_item_id, ln.platform_sku_id, ln.sku_code, ln.title,
                     ln.quantity, ln.unit_price, ln.paid_amount)
                    for ln in o.lines
                ],
            )  # fmt: skip
    return len(orders) / (time.perf_counter() - started)


def pipeline(channel, orders) -> float:
    from orders.services import ingest_order

    started = time.perf_counter()
    for incoming in orders:
        ingest_order(channel=channel, incoming=incoming, source="bench")
    return len(orders) / (time.perf_counter() - started)


def _worker(kind: str, channel_id: int, orders, start_at: float) -> None:
    from django.db import connection

    from orders.models import Channel

    channel = Channel.objects.get(pk=channel_id)
    while time.time() < start_at:
        time.sleep(0.001)
    if kind == "raw":
        raw_sql_baseline(connection, channel_id, orders)
    else:
        pipeline(channel, orders)
    connection.close()


def in_processes(kind: str, channel_id: int, orders, workers: int) -> float:
    """Orders/s with `workers` processes (like web/worker processes) sharing the database."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # never share a connection across fork
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 0.5
    slices = [orders[i::workers] for i in range(workers)]
    processes = [context.Process(target=_worker, args=(kind, channel_id, part, start_at)) for part in slices]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    if any(p.exitcode for p in processes):
        sys.exit(f"a {kind} worker failed")
    return len(orders) / (time.time() - start_at)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(db: BenchDatabase, channel, n: int, concurrency: int) -> float:
    """Signed native payloads through the real webhook of a running web server."""
    import requests

    from orders.channels.fakes import generate_orders
    from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature

    natives = generate_orders(channel.platform, n, seed=7, exception_rate=0.1)
    bodies = [json.dumps(native, ensure_ascii=False).encode() for native in natives]
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db.url(), "DEBUG": "0", "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING"}
    env["SECURE_SSL_REDIRECT"] = "0"  # plain HTTP on the loopback (production redirects to HTTPS)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(ROOT / "bench" / "ingest-server.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}/api/v1/channels/{channel.pk}/webhook"
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)

        def send(body: bytes) -> int:
            stamp = str(int(time.time()))
            signature = webhook_signature(secret=channel.webhook_secret, timestamp=stamp, body=body)
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature}
            return requests.post(url, data=body, headers=headers, timeout=30).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            codes = list(pool.map(send, bodies))
        rate = n / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=10)
    bad = [c for c in codes if c != 202]
    if bad:
        sys.exit(f"{len(bad)} webhook calls failed: {sorted(set(bad))}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--http-orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=[1, 4])
    args = parser.parse_args()

    with BenchDatabase() as db:
        from inventory.services import record_movement
        from inventory.tests.factories import make_sku, make_warehouse
        from orders.models import Order
        from orders.tests.factories import make_channel

        # The orders' SKU is stocked, so they take the common path: reserved, checked, ready to print.
        make_warehouse("BENCH")
        make_sku("SKU-TEA-250", name="西湖龙井 250g")
        record_movement(
            warehouse_code="BENCH", sku_code="SKU-TEA-250", kind="inbound", quantity=10**7, reference="bench"
        )
        rows = []
        for workers in args.workers:
            raw_channel, pipe_channel = make_channel(), make_channel()
            orders = make_orders(args.orders, f"W{workers}-")
            baseline = in_processes("raw", raw_channel.pk, orders, workers)
            through_pipeline = in_processes("pipeline", pipe_channel.pk, orders, workers)
            assert Order.objects.filter(channel=pipe_channel).count() == args.orders
            rows.append((workers, baseline, through_pipeline))
        http_channel = make_channel(platform="taobao")
        through_http = http(db, http_channel, args.http_orders, args.concurrency)
        assert Order.objects.filter(channel=http_channel).count() == args.http_orders

        print(f"ingestion on PostgreSQL: {args.orders} orders per run, one transaction per order")
        print(f"{'processes':>9}  {'raw SQL INSERTs':>16}  {'ingest_order()':>15}  ratio")
        for workers, baseline, through_pipeline in rows:
            print(
                f"{workers:>9}  {baseline:>10.0f} ord/s  {through_pipeline:>9.0f} ord/s  "
                f"{ratio(through_pipeline, baseline)}"
            )
        best = max(b for _, b, _ in rows)
        print(
            f"HTTP webhook, {args.concurrency} clients -> 1 threaded server: {through_http:.0f} ord/s  "
            f"({ratio(through_http, best)} of the best raw SQL run)"
        )


if __name__ == "__main__":
    main()
