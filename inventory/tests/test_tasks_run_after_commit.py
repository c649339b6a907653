"""The wiring after commit: a movement queues the push drain and the allocation of waiting orders
as django-q2 tasks (run here in django-q2's sync mode), which push to the emulator and release the
waiting order; a short count puts a ready order back on hold and re-offers it stock."""

from __future__ import annotations

import pytest
from django_q.conf import Conf

from inventory import services
from inventory.models import ReservationState, StockReservation
from inventory.tests.factories import ingest, make_listing, make_sku, make_warehouse, route, stock
from orders.models import Order, OrderState


@pytest.fixture
def tasks_inline(settings, monkeypatch):
    settings.INVENTORY_ENQUEUE_TASKS = True
    monkeypatch.setattr(Conf, "SYNC", True)


def test_a_movement_queues_the_push_and_the_release_of_waiting_orders(
    tasks_inline, emulated_channel, emulator, django_capture_on_commit_callbacks
):
    make_warehouse("SH")
    sku = make_sku("TASK-1", presale_allowed=True)
    channel = emulated_channel("taobao")
    make_listing(channel, sku, "555", platform_item_id="444")
    order = ingest(channel, "T-1", [("555", "", 2)])
    route(order, OrderState.AWAITING_STOCK)

    with django_capture_on_commit_callbacks(execute=True):
        services.record_movement(warehouse_code="SH", sku_code="TASK-1", kind="inbound", quantity=5, reference="G-1")

    assert Order.objects.get(pk=order.pk).state == OrderState.READY
    assert StockReservation.objects.get(order=order).state == ReservationState.ACTIVE
    # Two drains ran: after the movement (5) and after the release's reservation (3).
    assert sku.listings.get().last_pushed_quantity == 3
    assert [u["quantity"] for u in emulator.stock_updates] == [5, 3]


def test_a_short_count_holds_the_ready_order_and_offers_it_other_stock(
    tasks_inline, channel, django_capture_on_commit_callbacks
):
    near, far = make_warehouse("NEAR", priority=1), make_warehouse("FAR", priority=2)
    sku = make_sku("COUNT-1")
    stock(sku, near, 3)
    order = ingest(channel, "C-1", [("", "COUNT-1", 3)])
    route(order, OrderState.READY)
    assert Order.objects.get(pk=order.pk).state == OrderState.READY
    stock(sku, far, 5)

    with django_capture_on_commit_callbacks(execute=True):
        result = services.record_movement(
            warehouse_code="NEAR", sku_code="COUNT-1", kind="count", quantity=1, reference="CNT-1"
        )
    assert result.movement.flagged and result.released_order_ids == [order.pk]
    order.refresh_from_db()
    assert order.state == OrderState.ON_HOLD and "out_of_stock" in order.hold_reason
    held = StockReservation.objects.filter(order=order, state=ReservationState.ACTIVE)
    assert list(held.values_list("warehouse__code", "quantity")) == [("FAR", 3)]  # ready for ops to release
