"""16 real processes order the same SKU from four channels through orders.services.ingest_order.

PostgreSQL: the StockLevel row locks (inventory.locks, pk order) serialize the reservations.
SQLite: IMMEDIATE transactions serialize the writers. Both must reserve exactly the stock there is.
"""

from __future__ import annotations

import pytest
from django.db.models import Sum

from inventory.models import ReservationState, StockLevel, StockMovement, StockReservation
from inventory.tests.concurrency import run_in_processes
from inventory.tests.factories import make_channel, make_listing, make_sku, make_warehouse, stock

WORKERS = 16
ORDERS_PER_WORKER = 3


def _assert_ledger_matches_levels() -> None:
    for level in StockLevel.objects.all():
        ledger = StockMovement.objects.filter(sku=level.sku, warehouse=level.warehouse).aggregate(s=Sum("quantity"))
        assert ledger["s"] == level.on_hand
        assert 0 <= level.reserved <= level.on_hand


@pytest.mark.parametrize("path", ["single", "batch"])  # ingest_order per order, or ingest_orders per worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keep seeded rules data
def test_sixteen_processes_on_four_channels_reserve_exactly_the_25_in_stock(path):
    sku = make_sku("HOT-1", safety_stock=0)
    near, far = make_warehouse("SH", priority=1), make_warehouse("GZ", priority=2)
    stock(sku, near, 15)
    stock(sku, far, 10)
    channels = [make_channel(p) for p in ("taobao", "jd", "pdd", "douyin")]
    listing_ids = {
        ch.pk: make_listing(ch, sku, platform_sku_id=f"{ch.platform}-hot").platform_sku_id for ch in channels
    }
    channel_ids = [ch.pk for ch in channels]

    def place(worker: int) -> list[tuple[int, bool]]:
        from inventory.tests.factories import incoming_order
        from orders.models import Channel
        from orders.services import IngestItem, ingest_order, ingest_orders

        items = []
        for n in range(ORDERS_PER_WORKER):
            channel = Channel.objects.get(pk=channel_ids[(worker + n) % len(channel_ids)])
            incoming = incoming_order(f"W{worker}-{n}", [(listing_ids[channel.pk], "", 1)])
            items.append(IngestItem(channel=channel, incoming=incoming, source="test"))
        if path == "single":
            orders = [ingest_order(channel=i.channel, incoming=i.incoming, source=i.source).order for i in items]
        else:
            outcomes = ingest_orders(items)
            assert all(outcome.ok for outcome in outcomes), [outcome.error for outcome in outcomes]
            orders = [outcome.result.order for outcome in outcomes]
        return [(order.pk, order.state) for order in orders]

    results = run_in_processes(place, WORKERS)
    order_ids = [pk for placed in results for pk, _ in placed]
    assert len(order_ids) == WORKERS * ORDERS_PER_WORKER
    states = [state for placed in results for _, state in placed]
    # The rules engine routes what the reservation reports: 25 ready, the rest held as out_of_stock.
    assert states.count("ready") == 25
    assert states.count("on_hold") == WORKERS * ORDERS_PER_WORKER - 25

    active = StockReservation.objects.filter(state=ReservationState.ACTIVE)
    assert active.aggregate(s=Sum("quantity"))["s"] == 25
    reserved_orders = set(active.values_list("order_id", flat=True))
    assert len(reserved_orders) == 25  # one unit each: 25 orders complete, 23 hold nothing
    assert not StockReservation.objects.exclude(order_id__in=reserved_orders).exists()
    from orders.models import Order as OrderModel

    assert set(OrderModel.objects.filter(state="ready").values_list("pk", flat=True)) == reserved_orders
    held = OrderModel.objects.filter(state="on_hold")
    assert all(reason.startswith("out_of_stock") for reason in held.values_list("hold_reason", flat=True))
    totals = StockLevel.objects.aggregate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
    assert totals == {"on_hand": 25, "reserved": 25}
    assert StockLevel.objects.get(warehouse=near).reserved == 15  # priority warehouse emptied first
    _assert_ledger_matches_levels()

    # The orders left without stock are reported short (the rules engine holds them): re-asking is
    # idempotent for the reserved ones and still short for the rest.
    from inventory import services
    from inventory.services import reserve_for_order
    from orders.models import Order

    for order in Order.objects.filter(pk__in=order_ids):
        outcome = reserve_for_order(order=order)
        assert outcome.is_complete == (order.pk in reserved_orders)
        if not outcome.is_complete:
            assert outcome.short_lines[0]["available"] == 0
    assert StockLevel.objects.aggregate(s=Sum("reserved"))["s"] == 25
    assert services.reconciliation_run().diff_count == 0  # ledger, levels and reservations agree
