"""Reads for returns (RMA): what of an order line left the warehouse, what is already expected back,
and the answer a receiving scan shows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Sum

from shipping.models import OPEN_RETURN_STATES, Return, ReturnItem, ReturnState, ShipmentLine, ShipmentState

#: parcels whose goods left the warehouse: only their lines can come back
LEFT_STATES = (ShipmentState.SHIPPED, ShipmentState.DELIVERED)


def shipped_quantities(*, order_line_ids: Iterable[int]) -> dict[int, int]:
    """OrderLine id -> units that left in shipped or delivered parcels (lines never shipped: absent)."""
    rows = (
        ShipmentLine.objects.filter(order_line_id__in=list(order_line_ids), shipment__state__in=LEFT_STATES)
        .values("order_line_id")
        .annotate(units=Sum("quantity"))
    )
    return {row["order_line_id"]: row["units"] for row in rows if row["units"]}


def expected_back(*, order_line_ids: Iterable[int]) -> dict[int, int]:
    """OrderLine id -> units already covered by returns that are not cancelled: what is still expected
    in open returns, plus what closed or received returns actually got back."""
    covered: dict[int, int] = defaultdict(int)
    items = ReturnItem.objects.filter(order_line_id__in=list(order_line_ids)).exclude(rma__state=ReturnState.CANCELLED)
    for line_id, state, expected, resellable, damaged in items.values_list(
        "order_line_id", "rma__state", "expected_quantity", "received_resellable", "received_damaged"
    ):
        covered[line_id] += expected if state in OPEN_RETURN_STATES else resellable + damaged
    return dict(covered)


def returned_quantities(*, order_id: int) -> dict[int, int]:
    """OrderLine id -> units of the order received back (either condition), over all its returns."""
    rows = (
        ReturnItem.objects.filter(rma__order_id=order_id)
        .values("order_line_id")
        .annotate(resellable=Sum("received_resellable"), damaged=Sum("received_damaged"))
    )
    return {row["order_line_id"]: (row["resellable"] or 0) + (row["damaged"] or 0) for row in rows}


def open_returns_of_line(*, order_line_id: int) -> list[Return]:
    return list(Return.objects.filter(items__order_line_id=order_line_id, state__in=OPEN_RETURN_STATES).order_by("pk"))


def return_summary(*, rma: Return) -> dict:
    """What the scanner (and the admin) shows after receiving: the return, its order, each item."""
    items = rma.items.select_related("sku", "order_line").order_by("pk")
    return {
        "reference": rma.number,
        "state": rma.state,
        "order": {"id": rma.order_id, "external_id": rma.order.external_id, "state": rma.order.state},
        "items": [
            {
                "id": item.pk,
                "sku": item.sku.code if item.sku_id else item.order_line.sku_code,
                "expected": item.expected_quantity,
                "resellable": item.received_resellable,
                "damaged": item.received_damaged,
            }
            for item in items
        ],
    }
