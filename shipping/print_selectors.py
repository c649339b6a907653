"""Reads for printing: which print component a batch talks to, the label each parcel sends to it,
and the rows of the batch's pick list and packing slips (documents.py draws them)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from inventory.models import ReservationState, StockReservation
from orderhub.masking import receiver_for
from orders.models import Order
from shipping import selectors
from shipping.documents import PackingSlip, PickRow, SlipLine
from shipping.models import PrintBatch, PrintRecord, Shipment, ShipmentLine, ShipmentState

#: the local print component each platform's e-waybills print through (shared/channels/shipping.md §2);
#: the manual channel has none (the carrier's own software prints its labels)
COMPONENT_BY_PLATFORM = {
    "taobao": "cainiao",
    "tmall": "cainiao",
    "pdd": "pdd",
    "jd": "jd",
    "douyin": "douyin",
    "kuaishou": "kuaishou",
}


def print_component(*, platform: str) -> tuple[str | None, str]:
    """(component name, WebSocket address) for a platform's labels; the address comes from the
    PRINT_COMPONENT_URLS setting (environment-overridable), so a station or a test can move it."""
    component = COMPONENT_BY_PLATFORM.get(platform)
    if component is None:
        return None, ""
    return component, settings.PRINT_COMPONENT_URLS[component]


def order_ref(order: Order) -> str:
    """How people read an order: its platform and the platform's order id."""
    return f"{order.channel.platform.upper()}-{order.external_id}"


def order_barcode(order: Order) -> str:
    """The packing slip's Code128 value: the one the outbound scan accepts (shipping.selectors)."""
    return selectors.order_barcode(order_id=order.pk)


def batch_shipments(*, batch: PrintBatch) -> QuerySet[Shipment]:
    """The batch's live parcels (voided ones are replaced and never print), with their lines and orders."""
    return (
        Shipment.objects.filter(batch=batch)
        .exclude(state=ShipmentState.VOIDED)
        .select_related("carrier", "account", "channel")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=ShipmentLine.objects.select_related("order__channel", "order_line").order_by(
                    "order_id", "order_line_id"
                ),
            )
        )
        .order_by("pk")
    )


def _orders_of(shipment: Shipment) -> list[Order]:
    seen: dict[int, Order] = {}
    for line in shipment.lines.all():
        seen.setdefault(line.order_id, line.order)
    return list(seen.values())


def custom_area(*, shipment: Shipment) -> dict[str, Any]:
    """The merchant's custom area printed under the platform's label: the items and the buyer's
    message, in plain data for the custom-area template."""
    orders = _orders_of(shipment)
    return {
        "orders": [order_ref(order) for order in orders],
        "items": [
            {"sku": line.order_line.sku_code, "title": line.order_line.title, "quantity": line.quantity}
            for line in shipment.lines.all()
        ],
        "buyer_message": " / ".join(order.buyer_message for order in orders if order.buyer_message),
        "seller_memo": " / ".join(order.seller_memo for order in orders if order.seller_memo),
    }


def label(*, shipment: Shipment) -> dict[str, Any]:
    """What the print page sends to the component for one parcel: one document whose id is the
    waybill number, the platform's encrypted print data as issued, and the custom area."""
    account = shipment.account
    return {
        "shipment": shipment.pk,
        "tracking_number": shipment.tracking_number,
        "printable": bool(shipment.tracking_number and shipment.print_data),
        "print_data": shipment.print_data,
        "template_url": account.template_url if account else "",
        "custom_area": {
            "template_url": account.custom_area_template_url if account else "",
            "data": custom_area(shipment=shipment),
        },
    }


def pick_rows(*, batch: PrintBatch) -> list[PickRow]:
    """One row per order line the batch's parcels carry, with the warehouse its stock is reserved in."""
    lines = [line for shipment in batch_shipments(batch=batch) for line in shipment.lines.all()]
    locations = _reserved_warehouses(order_line_ids=[line.order_line_id for line in lines])
    return [
        PickRow(
            sku_code=line.order_line.sku_code or line.order_line.platform_sku_id,
            title=line.order_line.title,
            quantity=line.quantity,
            location=locations.get(line.order_line_id, ""),
            order_ref=order_ref(line.order),
        )
        for line in lines
    ]


def _reserved_warehouses(*, order_line_ids: list[int]) -> dict[int, str]:
    found: dict[int, set[str]] = defaultdict(set)
    reservations = StockReservation.objects.filter(
        order_line_id__in=order_line_ids, state__in=[ReservationState.ACTIVE, ReservationState.COMMITTED]
    ).values_list("order_line_id", "warehouse__code")
    for line_id, code in reservations:
        found[line_id].add(code)
    return {line_id: "/".join(sorted(codes)) for line_id, codes in found.items()}


def packing_slips(*, batch: PrintBatch, viewer: Any = None) -> list[PackingSlip]:
    """One slip per order in the batch, with what of it travels in this batch's parcels. The
    receiver is masked unless `viewer` may see receiver details (orderhub.masking)."""
    lines_by_order: dict[int, list[ShipmentLine]] = defaultdict(list)
    numbers_by_order: dict[int, list[str]] = defaultdict(list)
    orders: dict[int, Order] = {}
    for shipment in batch_shipments(batch=batch):
        for line in shipment.lines.all():
            orders.setdefault(line.order_id, line.order)
            lines_by_order[line.order_id].append(line)
            number = shipment.tracking_number
            if number and number not in numbers_by_order[line.order_id]:
                numbers_by_order[line.order_id].append(number)
    slips = []
    for order_id in sorted(orders):
        order = orders[order_id]
        receiver = " ".join(
            str(receiver_for(viewer, name, getattr(order, name)))
            for name in (
                "receiver_name",
                "receiver_province",
                "receiver_city",
                "receiver_district",
                "receiver_address",
            )
            if getattr(order, name)
        )
        slips.append(
            PackingSlip(
                order_ref=order_ref(order),
                barcode_value=order_barcode(order),
                shop=order.channel.name,
                receiver=receiver,
                buyer_message=order.buyer_message,
                tracking_numbers=numbers_by_order[order_id],
                lines=[
                    SlipLine(
                        sku_code=line.order_line.sku_code or line.order_line.platform_sku_id,
                        title=line.order_line.title,
                        quantity=line.quantity,
                    )
                    for line in lines_by_order[order_id]
                ],
            )
        )
    return slips


def last_print_records(*, shipment_ids: list[int]) -> dict[int, PrintRecord]:
    """Each parcel's latest print result, for the print page's "print result" column after a reload."""
    latest: dict[int, PrintRecord] = {}
    for record in PrintRecord.objects.filter(shipment_id__in=shipment_ids).select_related("actor").order_by("pk"):
        latest[record.shipment_id] = record
    return latest
