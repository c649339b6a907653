"""Reconciliation also proves that no active reservation belongs to a refunded line of an open order
(a cancelled order's are reported as closed_order), and offers the release as an audited correction."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from inventory import services
from inventory.models import (
    DiffKind,
    EventKind,
    InventoryEvent,
    ReservationState,
    StockLevel,
    StockMovement,
    StockReservation,
)
from inventory.tests.factories import ingest, make_channel, make_sku, make_warehouse, stock
from orders.models import LineRefundState, OrderLine

pytestmark = pytest.mark.django_db


def test_a_reservation_left_on_a_refunded_line_is_found_and_released(django_user_model):
    warehouse = make_warehouse("RF")
    stock(make_sku("RF-TEE"), warehouse, 10)
    stock(make_sku("RF-SOCK"), warehouse, 10)
    channel = make_channel("taobao")
    order = ingest(channel, "RF-1", [("", "RF-TEE", 2), ("", "RF-SOCK", 1)])
    assert order.state == "ready"
    assert services.reconciliation_run(trigger="test").diff_count == 0
    # a refund stored around the pipeline (as before lines followed the platform): the stock stayed held
    OrderLine.objects.filter(order=order, sku_code="RF-SOCK").update(
        refund_state=LineRefundState.REFUNDED, refund_status="SUCCESS"
    )

    run = services.reconciliation_run(trigger="test")
    (diff,) = run.diffs.all()
    assert (diff.kind, diff.order_id, diff.sku.code, diff.expected, diff.actual) == (
        DiffKind.REFUNDED_LINE,
        order.pk,
        "RF-SOCK",
        0,
        1,
    )
    assert "RF-SOCK" in diff.note

    user = django_user_model.objects.create_user("ops-rf")
    services.reconciliation_correct(diff_ids=[diff.pk], actor=user)
    diff.refresh_from_db()
    assert diff.corrected_by == user and diff.corrected_at is not None
    assert InventoryEvent.objects.filter(kind=EventKind.CORRECTION, data__diff_id=diff.pk).exists()
    held = StockReservation.objects.filter(order=order, state=ReservationState.ACTIVE)
    assert list(held.values_list("order_line__sku_code", "quantity")) == [("RF-TEE", 2)]
    assert StockLevel.objects.get(sku__code="RF-SOCK").reserved == 0
    for level in StockLevel.objects.all():  # the ledger never moved: a release changes no stock on hand
        ledger = StockMovement.objects.filter(sku=level.sku, warehouse=level.warehouse).aggregate(s=Sum("quantity"))
        assert ledger["s"] == level.on_hand == 10
    assert services.reconciliation_run(trigger="test").diff_count == 0
