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


def cpu_seconds_by_kind(web_pid: int, drainer_pids: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each kind of process of the sale, read from /proc
    (Linux; empty elsewhere): the gunicorn workers, the drainers, this bench client, every PostgreSQL
    process of the host and the Redis server (with REDIS_URL; the bench assumes a machine otherwise
    idle)."""
    if not os.path.isdir("/proc"):
        return {}
    ticks = os.sysconf("SC_CLK_TCK")
    totals = {"web": 0.0, "drainers": 0.0, "client": 0.0, "postgres": 0.0, "redis": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                comm, rest = stat.read().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        pid, parent, used = int(entry), int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks
        if pid == web_pid or parent == web_pid:
            totals["web"] += used
        elif pid in drainer_pids:
            totals["drainers"] += used
        elif pid == os.getpid():
            totals["client"] += used
        elif (name := comm.split("(", 1)[1]).startswith("postgres"):
            totals["postgres"] += used
        elif name.startswith("redis-server"):
            totals["redis"] += used
    if not os.environ.get("REDIS_URL"):
        del totals["redis"]  # a Redis server the sale does not use is not its cost
    return totals


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
    """Every body POSTed once by `clients` concurrent keep-alive connections from one asyncio loop (a
    thread per connection would spend the bench's CPU on the GIL, which the server needs); returns
    (status, seconds, send time) per body."""
    import asyncio

    from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature

    results: list[tuple[int, float, float] | None] = [None] * len(bodies)
    cursor = iter(range(len(bodies)))

    def request(body: bytes) -> bytes:
        stamp = str(int(time.time()))
        signature = webhook_signature(secret=secret, timestamp=stamp, body=body)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{TIMESTAMP_HEADER}: {stamp}\r\n{SIGNATURE_HEADER}: {signature}\r\n\r\n"
        )
        return head.encode() + body

    async def answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await reader.readexactly(length)
        return status, close

    async def client() -> None:
        reader = writer = None
        for index in cursor:
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request(bodies[index]))
                status, close = await asyncio.wait_for(answer(reader), 60)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                status, close = 599, True  # the connection failed: counted with the 5xx
            results[index] = (status, time.perf_counter() - started, started)
            if close and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    async def sale() -> None:
        await asyncio.gather(*(client() for _ in range(clients)))

    asyncio.run(sale())
    return results


def report_webhook(results: list[tuple[int, float, float]], posted: float) -> None:
    statuses = [status for status, _seconds, _sent in results]
    latencies = [seconds * 1000 for _status, seconds, _sent in results]
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
    parser.add_argument("--worker-class", default="gthread", help="gunicorn's worker class (-k)")
    parser.add_argument("--keep-alive", type=int, default=30, help="gunicorn's keep-alive seconds (0: none)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--history", type=int, default=20000, help="shipped orders the shop has before the sale (analyzed)"
    )
    parser.add_argument(
        "--worker-connections", type=int, help="connections per gunicorn worker (default: clients / workers, up)"
    )
    parser.add_argument(
        "--web-nice", type=int, default=5, help="gunicorn's nice level: drainers first when the CPUs are full"
    )
    parser.add_argument("--drain-timeout", type=float, default=3600, help="seconds to wait for the decisions")
    parser.add_argument(
        "--latencies", type=Path, help="write each push's send time and latency (s, ms) to this CSV file"
    )
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
        if args.history:  # a shop's past orders, shipped: a realistic table size and planner statistics
            from rules.tests.factories import bulk_orders

            bulk_orders(make_channel(platform="jd"), args.history, seed=5)
            Order.objects.update(state="shipped")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
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
            "DATABASE_CONN_HEALTH_CHECKS": "0",  # a webhook tier's setting (README): no SELECT 1 per push
            "DEBUG": "0",
            "SECRET_KEY": "bench-flash-sale",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",  # plain HTTP on the loopback
            "WEBHOOK_INBOX": "1",
            "LOG_LEVEL": "WARNING",
        }
        # keep-alive connections stay with the worker that accepted them: without a cap, one worker takes
        # most of the 32 and its clients wait while the others idle (measured: medians 20 vs 145 ms)
        worker_connections = args.worker_connections or -(-args.clients // args.web_workers)
        port = free_port()
        log = open(ROOT / "bench" / "flash-sale-server.log", "w")  # noqa: SIM115 — closed at the end
        web = subprocess.Popen(
            [
                *(["nice", "-n", str(args.web_nice)] if args.web_nice else []),
                sys.executable, "-m", "gunicorn", "orderhub.wsgi", "-b", f"127.0.0.1:{port}",
                "-w", str(args.web_workers), "-k", args.worker_class, "--threads", str(args.threads),
                "--worker-connections", str(worker_connections),
                "--keep-alive", str(args.keep_alive), "--timeout", "120", "--log-level", "warning", "--preload",
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
            cpu_before = cpu_seconds_by_kind(web.pid, [drainer.pid for drainer in drainers])
            started = time.perf_counter()
            results = post_all(
                port, f"/api/v1/channels/{channel.pk}/webhook", channel.webhook_secret, bodies, args.clients
            )
            posted = time.perf_counter() - started
            report_webhook(results, posted)
            if args.latencies:
                first = min(sent for _status, _seconds, sent in results)
                args.latencies.write_text(
                    "".join(f"{sent - first:.4f},{seconds * 1000:.2f}\n" for _status, seconds, sent in results)
                )
            deadline = time.monotonic() + args.drain_timeout
            while InboxMessage.objects.undecided().exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            decided_all = time.perf_counter() - started
            cpu_after = cpu_seconds_by_kind(web.pid, [drainer.pid for drainer in drainers])
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
        states = dict(Order.objects.filter(channel=channel).values_list("state").annotate(n=Count("pk")))
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
        batches = InboxMessage.objects.filter(decided_at__isnull=False).values("decided_at").distinct().count()
        print(f"drained in {batches} batches: {len(decisions) / max(batches, 1):.0f} messages per batch on average")
        decided_rate = len(decisions) / decided_all
        print(f"decided end to end: {decided_rate:.0f} orders/s")
        if cpu_after:
            used = {kind: cpu_after[kind] - cpu_before[kind] for kind in cpu_after}
            print(
                "CPU per order, from the first push to the last decision: "
                + ", ".join(f"{kind} {seconds * 1000 / args.orders:.2f} ms" for kind, seconds in used.items())
                + f"; all {sum(used.values()) * 1000 / args.orders:.2f} ms ({sum(used.values()) / decided_all:.2f} "
                f"CPUs busy of {os.cpu_count()})"
            )
        print(f"raw conditional UPDATE of one stock row (autocommit, 1 connection): {raw_rate:.0f}/s "
              f"({raw_reserved} reserved)")  # fmt: skip
        print(f"ratio decided orders/s to raw UPDATE/s: {ratio(decided_rate, raw_rate)}")


if __name__ == "__main__":
    main()
