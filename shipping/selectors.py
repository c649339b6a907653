"""Shipping reads: which parcels carry what, finding a parcel from a scanned code, the packing slip's
order barcode, the account a channel ships with, what the scanner is told."""

from __future__ import annotations

import re
from collections import defaultdict

from django.db.models import Q, QuerySet, Sum

from shipping.models import Shipment, ShipmentLine, ShipmentState, WaybillAccount

#: packing-slip barcode of an order (Code128): "OH" + the order's id. Printed on the slip by the print
#: module, scanned by the PDA to find a manual-channel parcel that has no platform number yet.
ORDER_BARCODE_PREFIX = "OH"
_ORDER_BARCODE = re.compile(rf"^{ORDER_BARCODE_PREFIX}(\d{{1,12}})$")
LIVE = ~Q(state=ShipmentState.VOIDED)


def order_barcode(*, order_id: int) -> str:
    return f"{ORDER_BARCODE_PREFIX}{order_id}"


def order_id_from_barcode(code: str) -> int | None:
    match = _ORDER_BARCODE.match(code.strip().upper())
    return int(match.group(1)) if match else None


def live_shipments(*, order_id: int) -> QuerySet[Shipment]:
    """An order's parcels that count (not voided), in pk order."""
    return Shipment.objects.filter(LIVE, lines__order_id=order_id).distinct().order_by("pk")


def order_ids_in_shipments(*, shipment_ids: list[int]) -> list[int]:
    return sorted(
        set(ShipmentLine.objects.filter(shipment_id__in=shipment_ids).values_list("order_id", flat=True).distinct())
    )


def parcelled_quantities(*, order_ids: list[int]) -> dict[int, int]:
    """OrderLine id -> units already in live parcels."""
    rows = (
        ShipmentLine.objects.filter(order_id__in=order_ids, shipment__state__in=_live_states())
        .values("order_line_id")
        .annotate(total=Sum("quantity"))
    )
    return {row["order_line_id"]: row["total"] for row in rows}


def _live_states() -> list[str]:
    return [state for state in ShipmentState.values if state != ShipmentState.VOIDED]


def shipment_for_code(*, code: str) -> Shipment | None:
    """The live parcel with this tracking number (or parent number), else a voided one with this
    number; None when nothing matches."""
    code = code.strip()
    if not code:
        return None
    matching = (
        Shipment.objects.filter(Q(tracking_number=code) | Q(parent_tracking_number=code))
        .select_related("carrier", "channel")
        .order_by("pk")
    )
    # a live parcel first; a voided label still answers (so the scanner can say it was voided)
    return matching.filter(LIVE).first() or matching.filter(tracking_number=code).first()


def shipments_for_order_barcode(*, code: str) -> list[Shipment]:
    """Live parcels of the order named by a packing-slip barcode (empty when it names none)."""
    order_id = order_id_from_barcode(code)
    if order_id is None:
        return []
    return list(live_shipments(order_id=order_id).select_related("carrier", "channel"))


def default_account(*, channel_id: int, carrier_id: int | None = None) -> WaybillAccount | None:
    """The account a channel's parcels are numbered with: the first enabled one (of that carrier)."""
    accounts = WaybillAccount.objects.filter(channel_id=channel_id, enabled=True, carrier__enabled=True)
    if carrier_id is not None:
        accounts = accounts.filter(carrier_id=carrier_id)
    return accounts.select_related("carrier", "channel").order_by("pk").first()


def expected_items(*, shipment: Shipment) -> dict[int, int]:
    """Sku id -> units the parcel must contain, for the item check (扫描验货)."""
    from inventory.selectors import sku_ids_for_lines

    lines = list(shipment.lines.select_related("order_line", "order"))
    expected: dict[int, int] = defaultdict(int)
    by_channel: dict[int, list] = defaultdict(list)
    for line in lines:
        by_channel[line.order.channel_id].append(line)
    for channel_id, parcel_lines in by_channel.items():
        mapping = sku_ids_for_lines(channel_id=channel_id, lines=[pl.order_line for pl in parcel_lines])
        for pl in parcel_lines:
            sku_id = mapping.get(pl.order_line_id)
            if sku_id is not None:
                expected[sku_id] += pl.quantity
    return dict(expected)


def shipment_summary(*, shipment: Shipment) -> dict:
    """What the scanner shows after a scan: the parcel and each order it carries, with states."""
    from orders.models import Order

    order_ids = sorted(set(shipment.lines.values_list("order_id", flat=True)))
    orders = Order.objects.filter(pk__in=order_ids).order_by("pk")
    return {
        "parcel": {
            "id": shipment.pk,
            "parcel_key": shipment.parcel_key,
            "carrier": shipment.carrier.code,
            "tracking_number": shipment.tracking_number,
            "parent_tracking_number": shipment.parent_tracking_number,
            "state": shipment.state,
        },
        "orders": [{"id": o.pk, "external_id": o.external_id, "state": o.state} for o in orders],
    }


# ---- waybill sheets: naming an order, a shop and a carrier the way people write them -------------
#: short names people write for a carrier (sheets from carriers and warehouses), beyond the carrier's
#: code, its name, each word of its name and its platform codes
CARRIER_ALIASES = {
    "顺丰": "SF",
    "顺丰快递": "SF",
    "中通": "ZTO",
    "圆通": "YTO",
    "圆通快递": "YTO",
    "申通": "STO",
    "韵达": "YUNDA",
    "京东": "JD",
    "京东快递": "JD",
    "邮政ems": "EMS",
    "极兔": "JT",
    "极兔快递": "JT",
    "j&t express": "JT",
    "百世": "BEST",
    "百世汇通": "BEST",
    "德邦": "DEPPON",
    "德邦物流": "DEPPON",
}


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def carriers_named(text: str) -> list:
    """The enabled carriers `text` names (code, full name, one word of the name, a platform code or a
    known short name, case-insensitive). More than one means the text is ambiguous."""
    from shipping.models import Carrier

    wanted = _norm(text)
    if not wanted:
        return []
    carriers = list(Carrier.objects.filter(enabled=True).order_by("pk"))
    alias = CARRIER_ALIASES.get(wanted)
    exact = [c for c in carriers if wanted in (_norm(c.code), _norm(c.name)) or (alias and c.code == alias)]
    if exact:
        return exact
    return [
        c
        for c in carriers
        if wanted in {_norm(word) for word in c.name.split()}
        or wanted in {_norm(code) for code in (c.platform_codes or {}).values()}
    ]


def channels_named(text: str) -> list:
    """Shops `text` names: the shop's name, its id, or its platform (taobao, 淘宝 …)."""
    from orders.models import Channel, Platform

    wanted = _norm(text)
    if not wanted:
        return []
    channels = list(Channel.objects.order_by("pk"))
    by_name = [c for c in channels if _norm(c.name) == wanted or str(c.pk) == wanted]
    if by_name:
        return by_name
    from django.utils import translation

    with translation.override("zh-hans"):
        chinese = {value: str(label) for value, label in Platform.choices}
    platforms = {
        value for value, label in Platform.choices if wanted in (_norm(value), _norm(str(label)), _norm(chinese[value]))
    }
    return [c for c in channels if c.platform in platforms]


def orders_for_ref(*, ref: str, channels: list | None = None) -> list:
    """Orders a sheet's order reference names: OrderHub's id (the packing slip's "OH123", or the bare
    number) or the platform order id, limited to `channels` when the row names a shop. More than one
    order means the reference is ambiguous."""
    from orders.models import Order

    ref = str(ref).strip()
    if not ref:
        return []
    queryset = Order.objects.select_related("channel").order_by("pk")
    if channels is not None:
        queryset = queryset.filter(channel__in=channels)
    own_id = order_id_from_barcode(ref)
    if own_id is not None:
        return list(queryset.filter(pk=own_id))
    found = list(queryset.filter(external_id=ref))
    if ref.isdigit() and len(ref) <= 12:
        found += [o for o in queryset.filter(pk=int(ref)) if o not in found]
    return found
