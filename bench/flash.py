"""Flash-sale ingestion (issue 11): orders/s through the pipeline's single-order path (`ingest_order`)
and batch path (`ingest_orders`, 100 orders a call), on one hot SKU and on 1,000 spread SKUs, with
1/8/32 producer processes, each beside a raw-SQL baseline measured in the same run:

- hot SKU: a raw conditional `UPDATE` of the stock row, one order per transaction;
- spread SKUs: raw-SQL INSERTs of the same orders, lines and reservations, 100 orders per transaction.

It also prints, for the single-order path, the stock-lock hold time per order (from the return of the
statement that takes the stock row to the end of COMMIT, timed in the worker with a connection
execute_wrapper) and the SQL statements per order.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/flash.py \
        [--orders 2000] [--single-orders 500] [--workers 1,8,32] [--batch 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import BenchDatabase, ratio

SPREAD_SKUS = 1000
STOCK = 10**8
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def make_orders(n: int, prefix: str, listings: list[str]):
    """One-line orders (1 unit) over `listings` (platform SKU ids), paid a little apart."""
    from django.utils import timezone

    from orders.channels.base import NormalizedLine, NormalizedOrder

    now = timezone.now()
    orders = []
    for i in range(n):
        psku = listings[i % len(listings)]
        orders.append(
            NormalizedOrder(
                external_id=f"{prefix}{i:07d}",
                platform_status="awaiting_shipment",
                platform_status_raw="WAIT_SELLER_SEND_GOODS",
                buyer_nick=f"fan{prefix}{i}",
                receiver_name="张三",
                receiver_phone=f"139{i:08d}",
                receiver_province="浙江省",
                receiver_city="杭州市",
                receiver_district="西湖区",
                receiver_address=f"文三路 {i} 号",
                lines=[NormalizedLine(f"{prefix}{i}-1", "item", psku, "", "秒杀商品", 1, Decimal("9.90"))],
                goods_amount=Decimal("9.90"),
                paid_amount=Decimal("9.90"),
                created_at=now - timedelta(seconds=60),
                paid_at=now - timedelta(seconds=30) + timedelta(microseconds=i),
                modified_at=now,
            )
        )
    return orders


# ---- what each producer process runs --------------------------------------------------------------
class Probe:
    """Per worker: stock-lock hold times (single path: per order; batch path: per batch) and the SQL
    statements per transaction, measured around the real statements (connection.execute_wrapper)."""

    def __init__(self) -> None:
        self.holds: list[float] = []
        self.before_commit: list[float] = []  # the part of each hold before COMMIT is sent
        self.statements: list[int] = []
        self._count = 0
        self._locked_at: float | None = None
        self._commit_sent: float | None = None

    def watch_commits(self, connection) -> None:
        """Note when COMMIT is sent (Django's commit goes through the wrapper's `_commit`)."""
        commit = connection._commit

        def timed_commit():
            self._commit_sent = time.perf_counter()
            return commit()

        connection._commit = timed_commit

    def __call__(self, execute, sql, params, many, context):
        from django.db import transaction

        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            self._count += 1
        result = execute(sql, params, many, context)
        # the reservation UPDATE, alone or heading a WITH that chains the push outbox upsert to it
        reserves = ("UPDATE inventory_stocklevel", "WITH reserved AS (UPDATE inventory_stocklevel")
        takes_stock = sql.startswith(reserves) or ("FOR UPDATE" in sql and 'FROM "inventory_stocklevel"' in sql)
        if takes_stock and self._locked_at is None:
            self._locked_at = time.perf_counter()
            transaction.on_commit(self._committed)
        return result

    def _committed(self) -> None:
        self.holds.append(time.perf_counter() - self._locked_at)
        self.before_commit.append((self._commit_sent or time.perf_counter()) - self._locked_at)
        self._locked_at = None

    def transaction_done(self) -> None:
        self.statements.append(self._count)
        self._count = 0
        self._locked_at = None


def run_single(channel, orders, probe: Probe) -> None:
    from orders.services import ingest_order

    for incoming in orders:
        ingest_order(channel=channel, incoming=incoming, source="bench")
        probe.transaction_done()


def run_batch(channel, orders, probe: Probe, size: int) -> None:
    from orders.services import IngestItem, ingest_orders

    for start in range(0, len(orders), size):
        chunk = orders[start : start + size]
        outcomes = ingest_orders([IngestItem(channel=channel, incoming=o, source="bench") for o in chunk])
        bad = [o.error for o in outcomes if not o.ok]
        if bad:
            raise RuntimeError(f"batch refused orders: {bad[:3]}")
        probe.transaction_done()


def raw_conditional_update(level_id: int, count: int) -> None:
    """Baseline (a): one order per transaction is one conditional UPDATE of the hot stock row."""
    from django.db import connection, transaction

    for _ in range(count):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE inventory_stocklevel SET reserved = reserved + 1 WHERE id = %s AND on_hand - reserved >= 1",
                [level_id],
            )


def raw_inserts(channel_id: int, orders, level_by_psku: dict[str, tuple[int, int, int]], size: int) -> None:
    """Baseline (b): the same orders, lines and reservations as raw multi-row INSERTs, `size` orders
    per transaction."""
    from django.db import connection, transaction

    for start in range(0, len(orders), size):
        chunk = orders[start : start + size]
        with transaction.atomic(), connection.cursor() as cursor:
            values = ", ".join(
                ["(%s, %s, 'ready', 'awaiting_shipment', '', false, false, %s, '', %s, %s, %s, %s, %s, '', %s, '',"
                 " false, '{}', %s, 0, 0, %s, '[]', '', '', false, %s, %s, %s, '', 0, '[]', '', '{}', '{}', 'bench',"
                 " now(), now())"] * len(chunk)
            )  # fmt: skip
            params: list = []
            for o in chunk:
                params += [
                    channel_id, o.external_id, o.buyer_nick, o.receiver_name, o.receiver_phone, o.receiver_province,
                    o.receiver_city, o.receiver_district, o.receiver_address, o.goods_amount, o.paid_amount,
                    o.created_at, o.paid_at, o.modified_at,
                ]  # fmt: skip
            cursor.execute(
                "INSERT INTO orders_order (channel_id, external_id, state, platform_status, platform_status_raw, "
                "refund_requested, platform_hold, buyer_nick, buyer_id, receiver_name, receiver_phone, "
                "receiver_province, receiver_city, receiver_district, receiver_town, receiver_address, receiver_zip, "
                "receiver_masked, receiver_cipher, goods_amount, postage, discount_amount, paid_amount, coupons, "
                "buyer_message, seller_memo, is_presale, platform_created_at, paid_at, platform_modified_at, lane, "
                "priority, tags, hold_reason, hold_wording, raw_payload, source, received_at, updated_at) "
                f"VALUES {values} ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id, external_id",
                params,
            )
            order_ids = {external_id: pk for pk, external_id in cursor.fetchall()}
            line_values = ", ".join(["(%s, %s, 'item', %s, '', %s, 1, %s, 0, %s, '', 'none')"] * len(chunk))
            params = []
            for o in chunk:
                line = o.lines[0]
                params += [order_ids[o.external_id], line.external_line_id, line.platform_sku_id, line.title,
                           line.unit_price, line.paid_amount]  # fmt: skip
            cursor.execute(
                "INSERT INTO orders_orderline (order_id, external_line_id, platform_item_id, platform_sku_id, "
                "sku_code, title, quantity, unit_price, discount_amount, paid_amount, refund_status, refund_state) "
                f"VALUES {line_values} RETURNING id, order_id",
                params,
            )
            line_ids = {order_id: pk for pk, order_id in cursor.fetchall()}
            reservation_values = ", ".join(["(%s, %s, %s, %s, %s, 1, 'active', now(), now())"] * len(chunk))
            params = []
            for o in chunk:
                level_id, sku_id, warehouse_id = level_by_psku[o.lines[0].platform_sku_id]
                order_id = order_ids[o.external_id]
                params += [order_id, line_ids[order_id], level_id, sku_id, warehouse_id]
            cursor.execute(
                "INSERT INTO inventory_stockreservation (order_id, order_line_id, level_id, sku_id, warehouse_id, "
                f"quantity, state, created_at, updated_at) VALUES {reservation_values}",
                params,
            )


def _worker(kind: str, args: tuple, start_at: float, queue) -> None:
    from django.db import connection

    from orders.inbox import decide_with_async_commit
    from orders.models import Channel

    probe = Probe()
    try:
        # every worker commits as a decider process does (the raw baselines too, so both sides flush
        # or neither does): settings.INGEST_ASYNC_COMMIT
        decide_with_async_commit()
        connection.ensure_connection()
        probe.watch_commits(connection)
        with connection.execute_wrapper(probe):
            if kind in ("single", "batch"):
                channel_id, orders, size = args
                channel = Channel.objects.get(pk=channel_id)
                from rules.engine import get_ruleset

                get_ruleset()  # compile the rules before the clock starts, as a running worker has
                probe.transaction_done()
                probe.statements.clear()
                while time.time() < start_at:
                    time.sleep(0.0005)
                if kind == "single":
                    run_single(channel, orders, probe)
                else:
                    run_batch(channel, orders, probe, size)
            else:
                while time.time() < start_at:
                    time.sleep(0.0005)
                if kind == "raw-update":
                    raw_conditional_update(*args)
                else:
                    raw_inserts(*args)
        queue.put(("ok", list(zip(probe.holds, probe.before_commit, strict=True)), probe.statements))
    except BaseException as exc:  # reported to the parent
        queue.put(("error", repr(exc), [], []))
    finally:
        connection.close()


def in_processes(kind: str, per_worker_args: list[tuple], count: int) -> tuple[float, list[float], list[int]]:
    """Orders/s of `count` orders with one forked process per entry of `per_worker_args`."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # never share a connection across fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.5 + 0.02 * len(per_worker_args)
    processes = [context.Process(target=_worker, args=(kind, a, start_at, queue)) for a in per_worker_args]
    for process in processes:
        process.start()
    results = [queue.get(timeout=1800) for _ in processes]
    ended = time.time()
    for process in processes:
        process.join()
    errors = [r[1] for r in results if r[0] == "error"]
    if errors:
        sys.exit(f"{kind} workers failed: {errors[:3]}")
    holds = [h for r in results for h in r[1]]  # (until COMMIT returned, until COMMIT was sent)
    statements = [s for r in results for s in r[2]]
    return count / (ended - start_at), holds, statements


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders per batch-path scenario and baseline")
    parser.add_argument("--single-orders", type=int, default=500, help="orders per single-order-path scenario")
    parser.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=[1, 8, 32])
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()

    with BenchDatabase():
        from django.conf import settings
        from django.db.models import Sum

        from inventory.models import ChannelListing, ReservationState, Sku, StockLevel, StockReservation, Warehouse
        from orders.models import Channel, Order

        mode = "asynchronous (decider processes)" if settings.INGEST_ASYNC_COMMIT else "synchronous"
        print(f"commit mode of every worker, pipeline and baseline alike: {mode}; INGEST_ASYNC_COMMIT=0 flushes")
        settings.INVENTORY_ENQUEUE_TASKS = False  # no task broker in the bench: the outbox rows are written
        settings.SHIPPING_ENQUEUE_TASKS = False
        warehouse = Warehouse.objects.create(code="FLASH", name="flash")
        skus = Sku.objects.bulk_create(
            [Sku(code=f"FLASH-{n:04d}", name=f"秒杀 {n}") for n in range(SPREAD_SKUS + 1)]
        )  # fmt: skip
        StockLevel.objects.bulk_create([StockLevel(sku=s, warehouse=warehouse, on_hand=STOCK) for s in skus])
        levels = {lv.sku_id: lv for lv in StockLevel.objects.all()}
        hot, spread = skus[0], skus[1:]

        def shop(name: str) -> Channel:
            channel = Channel.objects.create(platform="taobao", name=name, app_key=name, webhook_secret="s")
            ChannelListing.objects.bulk_create(
                [ChannelListing(channel=channel, sku=s, platform_item_id="i", platform_sku_id=s.code) for s in skus]
            )
            return channel

        # one shop listing every SKU once (each order writes one push outbox row per SKU, as in production
        # with one shop); the raw baseline writes into a shop of its own
        pipeline_shop = shop("pipeline")
        raw_shop = Channel.objects.create(platform="taobao", name="raw", app_key="raw", webhook_secret="s")
        level_by_psku = {s.code: (levels[s.pk].pk, s.pk, warehouse.pk) for s in skus}
        rows = []
        single_holds: list[float] = []
        single_statements: list[int] = []
        raw_units = 0
        for shape, listings in (("hot SKU", [hot.code]), (f"{SPREAD_SKUS} SKUs", [s.code for s in spread])):
            for workers in args.workers:
                if shape == "hot SKU":
                    per = [(levels[hot.pk].pk, args.orders // workers) for _ in range(workers)]
                    baseline, _, _ = in_processes("raw-update", per, args.orders // workers * workers)
                    raw_units += args.orders // workers * workers
                    baseline_name = "raw conditional UPDATE, 1 order/txn"
                else:
                    orders = make_orders(args.orders, f"R{workers}-", listings)
                    per = [(raw_shop.pk, orders[i::workers], level_by_psku, args.batch) for i in range(workers)]
                    baseline, _, _ = in_processes("raw-insert", per, args.orders)
                    baseline_name = f"raw INSERTs, {args.batch} orders/txn"
                for path in ("single", "batch"):
                    count = args.single_orders if path == "single" else args.orders
                    prefix = f"{path[0]}{shape[0]}{workers}-"
                    orders = make_orders(count, prefix, listings)
                    per = [(pipeline_shop.pk, orders[i::workers], args.batch) for i in range(workers)]
                    rate, holds, statements = in_processes(path, per, count)
                    if path == "single" and workers == args.workers[0]:
                        single_holds.extend(holds)
                    if path == "single":
                        single_statements.extend(statements)
                    rows.append((shape, workers, path, rate, baseline, baseline_name, holds))
                    decided = Order.objects.filter(channel=pipeline_shop, external_id__startswith=prefix)
                    assert decided.count() == count, decided.count()
                    assert decided.exclude(state="ready").count() == 0, decided.values_list("state", "hold_reason")[:3]

        # consistency: every level's reserved = active pipeline reservations + the raw UPDATE units
        active = StockReservation.objects.filter(state=ReservationState.ACTIVE, order__channel=pipeline_shop)
        by_level = dict(active.values("level_id").annotate(s=Sum("quantity")).values_list("level_id", "s"))
        for level in StockLevel.objects.all():
            expected = by_level.get(level.pk, 0) + (raw_units if level.sku_id == hot.pk else 0)
            assert level.reserved == expected, (level.pk, level.reserved, expected)

        print(
            f"flash-sale ingestion on PostgreSQL: one-line orders, {args.orders} per batch-path scenario and "
            f"baseline, {args.single_orders} per single-path scenario; batch = {args.batch} orders"
        )
        print(
            f"{'shape':<10} {'procs':>5} {'path':<7} {'pipeline':>11} {'baseline':>11}  {'ratio':<16} "
            f"{'lock hold p50/p99':>19}  baseline"
        )
        for shape, workers, path, rate, baseline, baseline_name, holds in rows:
            total = [h for h, _ in holds]
            hold = f"{percentile(total, 0.5) * 1e3:.2f}/{percentile(total, 0.99) * 1e3:.2f} ms" if holds else "-"
            per = "/order" if path == "single" else "/batch"
            print(
                f"{shape:<10} {workers:>5} {path:<7} {rate:>7.0f} o/s {baseline:>7.0f} o/s  "
                f"{ratio(rate, baseline):<16} {hold:>15}{per:<7} {baseline_name}"
            )
        total = [h for h, _ in single_holds]
        before = [b for _, b in single_holds]
        commit = [h - b for h, b in single_holds]
        print(
            f"single-order path, {args.workers[0]} process, {len(single_holds)} orders: stock lock held p50 "
            f"{percentile(total, 0.5) * 1e3:.3f} ms, p99 {percentile(total, 0.99) * 1e3:.3f} ms (from the return of "
            f"the stock statement to the end of COMMIT); of which before COMMIT is sent: p50 "
            f"{percentile(before, 0.5) * 1e3:.3f} ms, p99 {percentile(before, 0.99) * 1e3:.3f} ms; "
            f"COMMIT itself (WAL flush): p50 {percentile(commit, 0.5) * 1e3:.3f} ms, "
            f"p99 {percentile(commit, 0.99) * 1e3:.3f} ms"
        )
        print(
            f"statements per order on the single-order path: mean {statistics.mean(single_statements):.2f}, "
            f"max {max(single_statements)} (BEGIN/COMMIT not counted; {len(single_statements)} orders)"
        )
        print("consistent: every level's reserved = its active reservations (+ the raw UPDATE units on the hot SKU)")
        print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
