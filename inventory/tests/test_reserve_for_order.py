"""Reservation at order creation: mapping, warehouse choice, all or none, idempotency, outcomes."""

from __future__ import annotations

import pytest
from django.db import transaction

from inventory import services
from inventory.models import ReservationState, StockLevel, StockReservation
from inventory.tests.factories import ingest, make_channel, make_listing, make_sku, make_warehouse, stock
from orders import locks as order_locks


@pytest.fixture
def world(db):
    channel = make_channel()
    near, far = make_warehouse("NEAR", priority=1), make_warehouse("FAR", priority=5)
    a, b = make_sku("A"), make_sku("B", presale_allowed=True)
    return channel, near, far, a, b


def _reserve(order):
    with transaction.atomic():
        return services.reserve_for_order(order=order_locks.order_for_update(order_id=order.pk))


def _held(order) -> list[tuple[str, str, int]]:
    return sorted(
        StockReservation.objects.filter(order=order, state=ReservationState.ACTIVE).values_list(
            "sku__code", "warehouse__code", "quantity"
        )
    )


def test_lines_map_by_channel_listing_first_then_by_merchant_code(world):
    channel, near, _, a, b = world
    stock(a, near, 5)
    stock(b, near, 5)
    make_listing(channel, b, "plat-77")
    other = make_channel("jd")
    make_listing(other, a, "plat-88")  # another channel's id does not map here
    order = ingest(channel, "M-1", [("plat-77", "A", 1), ("plat-88", "A", 2), ("zzz", "", 1)])
    outcome = _reserve(order)
    assert not outcome.is_complete and not outcome.can_wait
    assert outcome.unmatched_lines == [order.lines.order_by("pk").last().pk]
    assert _held(order) == []  # all or none


def test_one_warehouse_for_the_whole_order_when_one_can_by_priority(world):
    channel, near, far, a, b = world
    stock(a, near, 5)
    stock(b, near, 1)
    stock(a, far, 5)
    stock(b, far, 5)
    order = ingest(channel, "W-1", [("", "A", 2), ("", "B", 2)])
    assert _held(order) == [("A", "FAR", 2), ("B", "FAR", 2)]


def test_a_line_splits_across_warehouses_when_no_single_one_holds_it(world):
    channel, near, far, a, _ = world
    stock(a, near, 3)
    stock(a, far, 4)
    order = ingest(channel, "S-1", [("", "A", 6)])
    assert _held(order) == [("A", "FAR", 3), ("A", "NEAR", 3)]


def test_all_or_none_and_short_lines_say_what_is_missing(world):
    channel, near, _, a, b = world
    stock(a, near, 10)
    stock(b, near, 1)
    order = ingest(channel, "N-1", [("", "A", 2), ("", "B", 3)])
    outcome = _reserve(order)
    assert not outcome.is_complete
    assert outcome.can_wait  # the only short SKU (B) allows presale
    assert outcome.short_lines == [
        {"line_id": order.lines.get(sku_code="B").pk, "sku_code": "B", "requested": 3, "available": 1}
    ]
    assert _held(order) == []
    assert StockLevel.objects.get(sku=a).reserved == 0


def test_short_without_presale_cannot_wait(world):
    channel, near, _, a, _ = world
    stock(a, near, 1)
    outcome = _reserve(ingest(channel, "N-2", [("", "A", 2)]))
    assert not outcome.is_complete and not outcome.can_wait


def test_reserving_twice_is_idempotent(world):
    channel, near, _, a, _ = world
    stock(a, near, 5)
    order = ingest(channel, "I-1", [("", "A", 2)])
    assert _reserve(order).is_complete
    assert _reserve(order).is_complete
    assert StockLevel.objects.get(sku=a).reserved == 2
    assert StockReservation.objects.filter(order=order).count() == 1


def test_release_commit_and_restock_move_stock_and_write_the_ledger(world):
    channel, near, _, a, _ = world
    stock(a, near, 5)
    order = ingest(channel, "L-1", [("", "A", 2)])
    level = StockLevel.objects.get(sku=a)
    assert (level.on_hand, level.reserved) == (5, 2)
    with transaction.atomic():
        assert services.commit_for_order(order=order_locks.order_for_update(order_id=order.pk)) == 2
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (3, 0)
    assert level.sku.movements.filter(kind="outbound", quantity=-2, order=order).exists()
    with transaction.atomic():
        assert services.restock_for_order(order=order) == 2
        assert services.restock_for_order(order=order) == 0  # idempotent by reference
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (5, 0)

    cancelled = ingest(channel, "L-2", [("", "A", 4)])
    from orders.services import order_cancel

    order_cancel(order_id=cancelled.pk, actor=None, note="buyer cancelled")
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (5, 0)
    assert _held(cancelled) == []
