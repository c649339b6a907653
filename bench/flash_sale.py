"""Flash sale over HTTP (issue 11): signed orders for ONE SKU posted by concurrent clients to gunicorn,
decided by drainer processes through the webhook inbox, beside a raw-SQL baseline of the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/flash_sale.py \
        [--orders 20000] [--stock 10000] [--clients 32] [--web-workers 3] [--threads 4] [--drainers 2]

Prints: reserved (must equal the stock), held out of stock (the rest), the ledger = levels check, the
number of 5xx, webhook latency p50/p99, acceptance → decision latency p50/p99 (the inbox row's
`received_at` to its `decided_at`, written when the drainer's batch is decided), and the raw
conditional UPDATE rate on a stock row measured in the same run, with the ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, BenchDatabase, ratio

SKU = "FLASH-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def flash_bodies(count: int) -> list[bytes]:
    """`count` one-line Taobao orders, one unit of the flash SKU each, distinct buyers."""
    from orders.channels.fakes import generate_orders

    bodies = []
    for n, native in enumerate(generate_orders("taobao", count, seed=11, exception_rate=0)):
        line = native["orders"]["order"][0]
        line.update(outer_sku_id=SKU, outer_iid=SKU, num=1, title="限时秒杀 · 示例商品")
        native["orders"]["order"] = [line]
        native["tid_str"] = native["tid"] = f"88{n:010d}"
        line["oid_str"] = line["oid"] = f"88{n:010d}1"
        bodies.append(json.dumps(native, ensure_ascii=False).encode())
    return bodies


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{what} did not listen on {port}")


def warm_up(port: int, connections: int) -> None:
    """Health checks on as many parallel connections as the server has threads, so no worker is still
    importing Django when the sale starts."""

    def ping() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(3):
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=ping) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def post_all(port: int, path: str, secret: str, bodies: list[bytes], clients: int):
    """Every body POSTed once by `clients` threads on keep-alive connections; returns (status, seconds)."""
    from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature

    results: list[tuple[int, float] | None] = [None] * len(bodies)
    cursor = iter(range(len(bodies)))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            body = bodies[index]
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=stamp, body=body),
            }
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                status = 599  # the connection failed: counted with the 5xx
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            results[index] = (status, time.perf_counter() - started)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def report_webhook(results: list[tuple[int, float]], posted: float) -> None:
    statuses = [status for status, _seconds in results]
    latencies = [seconds * 1000 for _status, seconds in results]
    print(f"answers: {dict(sorted((s, statuses.count(s)) for s in set(statuses)))}   5xx: "
          f"{sum(s >= 500 for s in statuses)}")  # fmt: skip
    print(f"webhook latency: p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms "
          f"(target p99 < 100 ms); accepted {len(results) / posted:.0f}/s over {posted:.1f} s", flush=True)  # fmt: skip


def raw_conditional_updates(connection, level_id: int, attempts: int) -> tuple[float, int]:
    """The floor: one autocommitted conditional UPDATE of one stock row per order, as fast as one
    connection goes; returns (statements/s, units reserved)."""
    reserved = 0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for _ in range(attempts):
            cursor.execute(
                "UPDATE inventory_stocklevel SET reserved = reserved + 1 WHERE id = %s AND on_hand - reserved >= 1",
                [level_id],
            )
            reserved += cursor.rowcount
    return attempts / (time.perf_counter() - started), reserved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--stock", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--drainers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--drain-timeout", type=float, default=3600, help="seconds to wait for the decisions")
    args = parser.parse_args()

    with BenchDatabase() as db:
        from django.db import connection
        from django.db.models import Count, Sum

        from inventory.models import StockLevel, StockMovement, StockReservation
        from inventory.services import record_movement
        from inventory.tests.factories import make_sku, make_warehouse
        from orders.models import InboxMessage, Order
        from orders.tests.factories import make_channel

        make_warehouse("FLASH")
        for code in (SKU, "RAW-BASELINE"):
            make_sku(code, name="限时秒杀")
            record_movement(
                warehouse_code="FLASH", sku_code=code, kind="inbound", quantity=args.stock, reference=f"bench-{code}"
            )
        channel = make_channel(platform="taobao")
        bodies = flash_bodies(args.orders)
        connection.close()
        print(f"flash sale over HTTP on PostgreSQL: {args.orders} signed orders for one SKU (stock {args.stock})")
        print(
            f"{args.clients} clients -> gunicorn {args.web_workers} workers × {args.threads} threads (gthread); "
            f"{args.drainers} drainers, batch {args.batch}",
            flush=True,
        )

        env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)},
            "DATABASE_URL": db.url(),
            "DATABASE_CONN_MAX_AGE": "600",  # as in production: a connection per worker thread, kept
            "DEBUG": "0",
            "SECRET_KEY": "bench-flash-sale",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",  # plain HTTP on the loopback
            "WEBHOOK_INBOX": "1",
            "LOG_LEVEL": "WARNING",
        }
        port = free_port()
        log = open(ROOT / "bench" / "flash-sale-server.log", "w")  # noqa: SIM115 — closed at the end
        web = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "orderhub.wsgi", "-b", f"127.0.0.1:{port}",
                "-w", str(args.web_workers), "-k", "gthread", "--threads", str(args.threads),
                "--keep-alive", "30", "--timeout", "120", "--log-level", "warning", "--preload",
            ],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        drainers = [
            subprocess.Popen(
                [sys.executable, "manage.py", "drain_inbox", "--batch", str(args.batch)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            for _ in range(args.drainers)
        ]
        try:
            wait_for_port(port, web, "gunicorn")
            warm_up(port, args.web_workers * args.threads)
            for drainer in drainers:  # each has imported Django and listens before the sale starts
                if not drainer.stdout.readline():
                    sys.exit("a drainer did not start (see bench/flash-sale-server.log)")
            started = time.perf_counter()
            results = post_all(
                port, f"/api/v1/channels/{channel.pk}/webhook", channel.webhook_secret, bodies, args.clients
            )
            posted = time.perf_counter() - started
            report_webhook(results, posted)
            deadline = time.monotonic() + args.drain_timeout
            while InboxMessage.objects.undecided().exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            decided_all = time.perf_counter() - started
        finally:
            for process in [web, *drainers]:
                process.send_signal(signal.SIGTERM)
            for process in [web, *drainers]:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
            log.close()

        level = StockLevel.objects.get(sku__code=SKU)
        reserved = StockReservation.objects.filter(sku__code=SKU, state="active").aggregate(q=Sum("quantity"))["q"] or 0
        states = dict(Order.objects.values_list("state").annotate(n=Count("pk")))
        held_out_of_stock = Order.objects.filter(state="on_hold", hold_reason__startswith="out_of_stock").count()
        ledger = StockMovement.objects.filter(sku__code=SKU).aggregate(q=Sum("quantity"))["q"]
        decisions = [
            (decided - received).total_seconds() * 1000
            for received, decided in InboxMessage.objects.filter(decided_at__isnull=False).values_list(
                "received_at", "decided_at"
            )
        ]
        outcomes = dict(InboxMessage.objects.values_list("outcome").annotate(n=Count("pk")))
        raw_level = StockLevel.objects.get(sku__code="RAW-BASELINE")
        raw_rate, raw_reserved = raw_conditional_updates(connection, raw_level.pk, args.orders)

        print("results:")
        print(f"inbox outcomes: {outcomes}   order states: {states}")
        print(f"reserved: {reserved} (level {level.reserved}; expected {min(args.stock, args.orders)})")
        print(f"held out of stock (on hold, out_of_stock task): {held_out_of_stock} "
              f"(expected {max(0, args.orders - args.stock)})")  # fmt: skip
        print(
            f"ledger = levels: {ledger == level.on_hand and reserved == level.reserved} "
            f"(movements {ledger} = on hand {level.on_hand}; "
            f"active reservations {reserved} = reserved {level.reserved})"
        )
        report_webhook(results, posted)
        print(
            f"accepted -> decided: p50 {percentile(decisions, 50):.0f} ms, p99 {percentile(decisions, 99):.0f} ms "
            f"(target p99 < 1000 ms); all {len(decisions)} decided {decided_all:.1f} s after the first request"
        )
        undecided = InboxMessage.objects.undecided().count()
        if undecided:
            print(
                f"NOT FINISHED: {undecided} messages still undecided after --drain-timeout {args.drain_timeout:.0f} s"
            )
        decided_rate = len(decisions) / decided_all
        print(f"decided end to end: {decided_rate:.0f} orders/s")
        print(f"raw conditional UPDATE of one stock row (autocommit, 1 connection): {raw_rate:.0f}/s "
              f"({raw_reserved} reserved)")  # fmt: skip
        print(f"ratio decided orders/s to raw UPDATE/s: {ratio(decided_rate, raw_rate)}")


if __name__ == "__main__":
    main()
