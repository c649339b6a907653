"""Stock reservations per second through `inventory.services.reserve_for_order()` (one transaction
per order: lock the order, lock the stock rows in pk order, write the reservation, the level and the
push outbox rows) beside a raw-SQL conditional UPDATE baseline in the same run (PostgreSQL):

    UPDATE inventory_stocklevel SET reserved = reserved + n WHERE sku_id = … AND warehouse_id = …
                                                           AND on_hand - reserved >= n

Two shapes, each with 1, 8 and 32 worker processes: every order on one hot SKU (all writers queue
on one row), and orders spread over 10,000 SKUs (writers rarely meet).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oh_inventory .venv/bin/python bench/inventory_reserve.py
    options: --reservations 1200 (per scenario) --skus 10000 --workers 1,8,32
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import BenchDatabase, ratio

HUGE = 1_000_000_000


def build_world(n_skus: int):
    from django.conf import settings

    from inventory.models import ChannelListing, Sku, StockLevel, Warehouse
    from orders.models import Channel

    settings.INVENTORY_ENQUEUE_TASKS = False  # no broker in the benchmark; the outbox rows are still written
    channel = Channel.objects.create(platform="taobao", name="bench shop")
    warehouse = Warehouse.objects.create(code="BENCH", name="bench", priority=1)
    codes = ["HOT"] + [f"S{i:05d}" for i in range(n_skus)]
    Sku.objects.bulk_create([Sku(code=code, name=f"商品{code}") for code in codes], batch_size=2000)
    skus = list(Sku.objects.order_by("pk"))
    StockLevel.objects.bulk_create(
        [StockLevel(sku=sku, warehouse=warehouse, on_hand=HUGE) for sku in skus], batch_size=2000
    )
    ChannelListing.objects.bulk_create(
        [ChannelListing(channel=channel, sku=sku, platform_item_id=f"i{sku.pk}", platform_sku_id="") for sku in skus],
        batch_size=2000,
    )
    return channel, warehouse, skus


def make_orders(channel, codes: list[str], prefix: str) -> list[int]:
    """Orders with one line each (quantity 1), created in bulk: only the reservation is timed."""
    from decimal import Decimal

    from orders.models import Order, OrderLine, OrderState

    orders = Order.objects.bulk_create(
        [
            Order(
                channel=channel, external_id=f"{prefix}{i}", state=OrderState.NEW, platform_status="awaiting_shipment"
            )
            for i in range(len(codes))
        ],
        batch_size=2000,
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(order=o, sku_code=code, quantity=1, unit_price=Decimal("1"), external_line_id="1")
            for o, code in zip(orders, codes, strict=True)
        ],
        batch_size=2000,
    )
    return [o.pk for o in orders]


def _run_workers(work, chunks: list[list]) -> float:
    """Run work(chunk) in one forked process per chunk, all released together; return items/s."""
    from django.db import connections

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(chunks) + 1)
    connections.close_all()

    def child(chunk):
        code = 0
        try:
            barrier.wait()
            work(chunk)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            connections.close_all()
            import os

            os._exit(code)

    processes = [ctx.Process(target=child, args=(chunk,)) for chunk in chunks]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    if any(process.exitcode for process in processes):
        sys.exit("a worker failed")
    return sum(len(chunk) for chunk in chunks) / elapsed


def reserve_orders(order_ids: list[int]) -> None:
    from django.db import transaction

    from inventory.services import reserve_for_order
    from orders import locks

    for order_id in order_ids:
        with transaction.atomic():
            outcome = reserve_for_order(order=locks.order_for_update(order_id=order_id))
            assert outcome.is_complete


def raw_updates(pairs: list[tuple[int, int]]) -> None:
    from django.db import connection, transaction

    sql = (
        "UPDATE inventory_stocklevel SET reserved = reserved + %s "
        "WHERE sku_id = %s AND warehouse_id = %s AND on_hand - reserved >= %s"
    )
    for sku_id, warehouse_id in pairs:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [1, sku_id, warehouse_id, 1])
            assert cursor.rowcount == 1


def split(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


def check_consistency() -> None:
    from django.db.models import Sum

    from inventory.models import ReservationState, StockLevel, StockReservation

    reserved = StockLevel.objects.aggregate(s=Sum("reserved"))["s"] or 0
    active = StockReservation.objects.filter(state=ReservationState.ACTIVE).aggregate(s=Sum("quantity"))["s"] or 0
    return reserved, active


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reservations", type=int, default=1200, help="reservations per scenario")
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    rng = random.Random(args.seed)

    with BenchDatabase():
        started = time.perf_counter()
        channel, warehouse, skus = build_world(args.skus)
        hot, spread = skus[0], skus[1:]
        print(f"set-up: {len(skus)} SKUs with stock and a listing each ({time.perf_counter() - started:.1f} s)")
        print(f"{args.reservations} reservations per scenario, one order (1 line, qty 1) per reservation\n")
        print(f"{'shape':<12}{'workers':>8}{'reserve_for_order/s':>22}{'raw UPDATE/s':>15}  ratio")
        results = []
        for shape in ("hot SKU", "10k SKUs"):
            for n in workers:
                picks = [hot] * args.reservations if shape == "hot SKU" else rng.choices(spread, k=args.reservations)
                order_ids = make_orders(channel, [s.code for s in picks], prefix=f"{shape[:3]}-{n}-")
                orm = _run_workers(reserve_orders, split(order_ids, n))
                sql = _run_workers(raw_updates, split([(s.pk, warehouse.pk) for s in picks], n))
                results.append((shape, n, orm, sql))
                print(f"{shape:<12}{n:>8}{orm:>22.0f}{sql:>15.0f}  {ratio(orm, sql)}", flush=True)
        reserved, active = check_consistency()
        baseline_units = args.reservations * len(workers) * 2
        assert reserved - baseline_units == active, (reserved, active)
        print(f"\nconsistent: StockLevel.reserved = active reservations ({active}) + raw baseline units")
        print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
