"""A refund requested (or completed) on the platform for a line that already left opens one return
(RMA) expecting exactly the units that shipped; an unshipped line opens none; a withdrawn request
cancels a return that has received nothing; repeated changes never open a second one."""

from __future__ import annotations

import pytest

from orders.models import LineRefundState
from shipping.models import Return, ReturnSource, ReturnState
from shipping.services.returns import NUMBER_ALPHABET, NUMBER_PREFIX
from shipping.tests.conftest import ingest
from shipping.tests.return_factories import refund_changes, shipped_order

pytestmark = pytest.mark.django_db


def test_a_refund_requested_on_a_shipped_line_opens_a_return_for_the_shipped_units(shop, scanner, warehouse):
    _device, client = scanner
    channel = shop("manual")
    order, parcel = shipped_order(channel, client, lines=[("SKU-TEE-L", 2), ("SKU-MUG-1", 1)])
    tee, mug = order.lines.order_by("pk")

    refund_changes(tee, LineRefundState.REQUESTED)

    rma = Return.objects.get()
    assert (rma.order, rma.source, rma.state, rma.warehouse) == (order, ReturnSource.PLATFORM, "expected", warehouse)
    assert rma.number.startswith(NUMBER_PREFIX) and len(rma.number) == 11
    assert set(rma.number[3:]) <= set(NUMBER_ALPHABET)  # barcode-friendly: upper case, no I/L/O/U
    assert [(i.order_line, i.sku.code, i.expected_quantity) for i in rma.items.all()] == [(tee, "SKU-TEE-L", 2)]
    assert rma.history.count() == 1 and rma.items.get().history.count() == 1

    # the refund completing, or the same change again, opens nothing more
    refund_changes(tee, LineRefundState.REFUNDED)
    refund_changes(tee, LineRefundState.REFUNDED)
    assert Return.objects.count() == 1
    # another line of the same order gets its own return (a platform after-sale is per line)
    refund_changes(mug, LineRefundState.REFUNDED)
    assert sorted(Return.objects.values_list("items__order_line", "items__expected_quantity")) == sorted(
        [(tee.pk, 2), (mug.pk, 1)]
    )
    assert parcel.state == "shipped"


def test_a_line_that_never_shipped_opens_no_return(shop, scanner, warehouse):
    channel = shop("manual")
    order = ingest(channel, lines=[("SKU-CAP-9", 1)])
    assert order.state == "ready"
    refund_changes(order.lines.get(), LineRefundState.REQUESTED)
    assert not Return.objects.exists()


def test_a_withdrawn_request_cancels_the_return_that_received_nothing(shop, scanner, warehouse):
    _device, client = scanner
    order, _parcel = shipped_order(shop("manual"), client, lines=[("SKU-CAP-9", 3)])
    line = order.lines.get()
    refund_changes(line, LineRefundState.REQUESTED)
    rma = Return.objects.get()

    refund_changes(line, LineRefundState.NONE, raw="CLOSED")

    rma.refresh_from_db()
    assert rma.state == ReturnState.CANCELLED and rma.closed_at is not None
    assert rma.history.first().state == ReturnState.CANCELLED  # audited
    # asked again later: a fresh return expects the units again
    refund_changes(line, LineRefundState.REQUESTED)
    fresh = Return.objects.exclude(pk=rma.pk).get()
    assert fresh.state == ReturnState.EXPECTED and fresh.items.get().expected_quantity == 3


def test_an_admin_opened_return_stays_when_the_platform_request_is_withdrawn(shop, scanner, warehouse):
    """Ops opened it deliberately (the buyer sent the goods anyway): only they close or cancel it."""
    from shipping import services

    _device, client = scanner
    order, _parcel = shipped_order(shop("manual"), client, lines=[("SKU-CAP-9", 1)])
    line = order.lines.get()
    rma = services.return_open(order_id=order.pk, quantities={line.pk: 1}, actor=None, platform_refund_id="RF-9")
    refund_changes(line, LineRefundState.REQUESTED)  # the line is covered: nothing new
    refund_changes(line, LineRefundState.NONE)
    assert list(Return.objects.values_list("pk", "state", "platform_refund_id")) == [(rma.pk, "expected", "RF-9")]
