"""Orders with the same two SKUs in opposite line order, placed concurrently many times on
PostgreSQL: the pk-ordered locks (inventory.locks) mean no transaction ever waits in a cycle."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from conftest import postgres_only
from inventory.models import ReservationState, StockLevel, StockReservation
from inventory.tests.concurrency import run_in_processes
from inventory.tests.factories import make_channel, make_sku, make_warehouse, stock

WORKERS = 16
ORDERS_PER_WORKER = 8


@postgres_only
@pytest.mark.parametrize("path", ["single", "batch"])  # ingest_order per order, or ingest_orders per worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keep seeded rules data
def test_opposite_line_order_never_deadlocks_and_never_oversells(path):
    a, b = make_sku("PAIR-A"), make_sku("PAIR-B")
    wh1, wh2 = make_warehouse("W1", priority=1), make_warehouse("W2", priority=2)
    for sku in (a, b):
        stock(sku, wh1, 40)
        stock(sku, wh2, 30)
    channel_ids = [make_channel("taobao").pk, make_channel("jd").pk]

    def place(worker: int) -> int:
        from inventory.tests.factories import incoming_order
        from orders.models import Channel
        from orders.services import IngestItem, ingest_order, ingest_orders

        channel = Channel.objects.get(pk=channel_ids[worker % 2])
        items = []
        for n in range(ORDERS_PER_WORKER):
            pair = [("", "PAIR-A", 1), ("", "PAIR-B", 1)]
            lines = pair if (worker + n) % 2 else pair[::-1]
            items.append(IngestItem(channel=channel, incoming=incoming_order(f"D{worker}-{n}", lines), source="test"))
        if path == "single":
            for item in items:
                ingest_order(channel=item.channel, incoming=item.incoming, source=item.source)
            return ORDERS_PER_WORKER
        # two batches per worker, so batches of different workers overlap in time and in stock rows
        outcomes = ingest_orders(items[: ORDERS_PER_WORKER // 2]) + ingest_orders(items[ORDERS_PER_WORKER // 2 :])
        assert all(outcome.ok for outcome in outcomes), [outcome.error for outcome in outcomes]
        return len(outcomes)

    assert sum(run_in_processes(place, WORKERS)) == WORKERS * ORDERS_PER_WORKER  # no DeadlockDetected

    active = StockReservation.objects.filter(state=ReservationState.ACTIVE)
    # 128 orders want one A and one B each; 70 of each exist: exactly 70 orders hold both.
    assert active.values("order_id").distinct().count() == 70
    for sku in (a, b):
        assert active.filter(sku=sku).aggregate(s=Sum("quantity"))["s"] == 70
    for level in StockLevel.objects.all():
        assert level.reserved == level.on_hand
