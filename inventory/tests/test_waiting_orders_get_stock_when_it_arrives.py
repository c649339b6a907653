"""Stock arrives → waiting orders are reserved, oldest paid first: awaiting_stock orders are
released to the print queue; on_hold out_of_stock orders are only reserved (ops release them)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import ReservationState, Sku, StockReservation
from inventory.tests.factories import incoming_order, make_channel, make_sku, make_warehouse, route
from orders.models import Order, OrderState
from orders.services import ingest_order


@pytest.fixture
def empty_sku(db):
    make_warehouse("SH")
    make_sku("WAIT-1", presale_allowed=True)
    return make_channel()


def _waiting(channel, external_id: str, quantity: int, paid_minutes_ago: int, route_to: str, reason: str = ""):
    incoming = incoming_order(external_id, [("", "WAIT-1", quantity)])
    incoming.paid_at = timezone.now() - timedelta(minutes=paid_minutes_ago)
    order = ingest_order(channel=channel, incoming=incoming, source="test").order
    route(order, route_to, reason)  # what the rules engine decides for a short reservation
    return Order.objects.get(pk=order.pk)


def test_arriving_stock_goes_to_the_oldest_paid_waiting_orders_first(empty_sku):
    channel = empty_sku
    young = _waiting(channel, "Y", 2, paid_minutes_ago=5, route_to=OrderState.AWAITING_STOCK)
    old = _waiting(channel, "O", 2, paid_minutes_ago=50, route_to=OrderState.AWAITING_STOCK)
    held = _waiting(channel, "H", 1, paid_minutes_ago=30, route_to=OrderState.ON_HOLD, reason="out_of_stock")
    other_hold = _waiting(channel, "X", 1, paid_minutes_ago=40, route_to=OrderState.ON_HOLD, reason="address_missing")
    assert old.state == OrderState.AWAITING_STOCK and held.state == OrderState.ON_HOLD

    services.record_movement(warehouse_code="SH", sku_code="WAIT-1", kind="inbound", quantity=3, reference="G-1")
    result = services.allocate_waiting_orders([Sku.objects.get(code="WAIT-1").pk])

    assert result.released == [old.pk]  # paid 50 min ago
    assert result.reserved == [held.pk]  # reserved, still on hold for ops to release
    assert result.still_waiting == [young.pk]  # needs 2, 0 left
    states = dict(Order.objects.values_list("pk", "state"))
    assert states[old.pk] == OrderState.READY
    assert states[held.pk] == OrderState.ON_HOLD
    assert states[young.pk] == OrderState.AWAITING_STOCK
    assert states[other_hold.pk] == OrderState.ON_HOLD
    assert not StockReservation.objects.filter(order=other_hold).exists()
    active = StockReservation.objects.filter(state=ReservationState.ACTIVE)
    assert sorted(active.values_list("order_id", flat=True)) == sorted([old.pk, held.pk])

    # The reserved hold is not taken again; the young order gets the next delivery.
    services.record_movement(warehouse_code="SH", sku_code="WAIT-1", kind="inbound", quantity=2, reference="G-2")
    result = services.allocate_waiting_orders(None)
    assert result.released == [young.pk] and result.reserved == []


def test_an_order_held_by_the_rules_for_stock_and_another_reason_is_reserved_not_released(empty_sku):
    """Short + no presale → the rules engine opens out_of_stock; an address problem holds it too.
    Stock arriving reserves it (ready for ops), the address task keeps it on hold."""
    from inventory.models import Sku

    Sku.objects.filter(code="WAIT-1").update(presale_allowed=False)
    channel = empty_sku
    incoming = incoming_order("R-1", [("", "WAIT-1", 1)])
    incoming.receiver_address = ""  # address_missing as well
    order = ingest_order(channel=channel, incoming=incoming, source="test").order
    assert order.state == OrderState.ON_HOLD
    codes = set(order.exception_tasks.filter(state="open").values_list("exception_type__code", flat=True))
    assert codes == {"address_missing", "out_of_stock"}

    services.record_movement(warehouse_code="SH", sku_code="WAIT-1", kind="inbound", quantity=1, reference="G-1")
    assert services.allocate_waiting_orders(None).reserved == [order.pk]
    assert Order.objects.get(pk=order.pk).state == OrderState.ON_HOLD
    assert StockReservation.objects.get(order=order).state == ReservationState.ACTIVE
