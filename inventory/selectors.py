"""Stock reads: line → SKU mapping, availability, waiting demand, listings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import connection
from django.db.models import F, Q, QuerySet, Sum

from inventory.models import ChannelListing, ReservationState, Sku, StockLevel, StockReservation


def sku_ids_for_lines(*, channel_id: int, lines: Iterable) -> dict[int, int]:
    """OrderLine id -> Sku id. A line maps by its channel's listing (platform SKU id), else by its
    merchant code (OrderLine.sku_code == Sku.code). Lines missing from the result are unmatched."""
    lines = list(lines)
    platform_ids = {line.platform_sku_id for line in lines if line.platform_sku_id}
    by_platform: dict[str, int] = {}
    if platform_ids:
        for platform_sku_id, sku_id in ChannelListing.objects.filter(
            channel_id=channel_id, platform_sku_id__in=platform_ids
        ).values_list("platform_sku_id", "sku_id"):
            by_platform.setdefault(platform_sku_id, sku_id)
    codes = {line.sku_code for line in lines if line.sku_code and line.platform_sku_id not in by_platform}
    by_code = dict(Sku.objects.filter(code__in=codes).values_list("code", "pk")) if codes else {}
    result: dict[int, int] = {}
    for line in lines:
        sku_id = by_platform.get(line.platform_sku_id) if line.platform_sku_id else None
        if sku_id is None and line.sku_code:
            sku_id = by_code.get(line.sku_code)
        if sku_id is not None:
            result[line.pk] = sku_id
    return result


def stock_for_lines(*, channel_id: int, lines: Iterable) -> tuple[dict[int, int], list[StockLevel]]:
    """`sku_ids_for_lines()` and the stock levels of those SKUs (with warehouse and SKU, pk order, not
    locked), in one query when every line maps by its listing and its SKU has stock rows (the usual
    case: the pipeline's snapshot). Other lines take the two reads of `sku_ids_for_lines()`."""
    lines = list(lines)
    platform_ids = {line.platform_sku_id for line in lines if line.platform_sku_id}
    levels: dict[int, StockLevel] = {}
    by_platform: dict[str, int] = {}
    if platform_ids:
        listed = (
            StockLevel.objects.select_related("warehouse", "sku")
            .filter(sku__listings__channel_id=channel_id, sku__listings__platform_sku_id__in=platform_ids)
            .annotate(listed_as=F("sku__listings__platform_sku_id"))
            .order_by("pk")
        )
        for level in listed:
            levels.setdefault(level.pk, level)
            by_platform.setdefault(level.listed_as, level.sku_id)
    mapping = {line.pk: by_platform[line.platform_sku_id] for line in lines if line.platform_sku_id in by_platform}
    rest = [line for line in lines if line.pk not in mapping]
    if rest:
        mapping.update(sku_ids_for_lines(channel_id=channel_id, lines=rest))
        missing = set(mapping.values()) - {level.sku_id for level in levels.values()}
        if missing:
            for level in StockLevel.objects.select_related("warehouse", "sku").filter(sku_id__in=sorted(missing)):
                levels.setdefault(level.pk, level)
    return mapping, sorted(levels.values(), key=lambda level: level.pk)


def lines_with_held_quantity(*, order_id: int):
    """An order's lines (pk order), each with `held`: units already reserved or shipped for it."""
    from django.db.models.functions import Coalesce

    from orders.models import OrderLine

    held = Sum(
        "stock_reservations__quantity",
        filter=Q(stock_reservations__state__in=[ReservationState.ACTIVE, ReservationState.COMMITTED]),
    )
    return OrderLine.objects.filter(order_id=order_id).annotate(held=Coalesce(held, 0)).order_by("pk")


def line_ships(line) -> bool:
    """Whether an order line still needs stock: it carries units and is not refunded (a line the
    platform refunded or closed before shipment is never reserved, picked or parcelled)."""
    from orders.models import LineRefundState

    return line.quantity > 0 and line.refund_state != LineRefundState.REFUNDED


def units_still_needed(*, order_id: int) -> dict[int, int]:
    """OrderLine id -> units its active reservations should still cover: the line's quantity (none
    for a refunded line) less what already shipped (committed reservations)."""
    committed = dict(
        StockReservation.objects.filter(order_id=order_id, state=ReservationState.COMMITTED)
        .values("order_line_id")
        .annotate(total=Sum("quantity"))
        .values_list("order_line_id", "total")
    )
    return {
        line.pk: (line.quantity if line_ships(line) else 0) - committed.get(line.pk, 0)
        for line in lines_with_held_quantity(order_id=order_id)
    }


def available_by_sku(*, sku_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Available units (on hand − reserved) per SKU over active warehouses."""
    qs = StockLevel.objects.filter(warehouse__active=True)
    if sku_ids is not None:
        qs = qs.filter(sku_id__in=list(sku_ids))
    rows = qs.values("sku_id").annotate(total=Sum(F("on_hand") - F("reserved")))
    return {row["sku_id"]: row["total"] or 0 for row in rows}


def waiting_units_by_sku(*, sku_ids: Iterable[int]) -> dict[int, int]:
    """Units ordered in awaiting_stock orders that hold no reservation yet (presale demand)."""
    from orders.models import OrderLine, OrderState

    sku_ids = list(sku_ids)
    listings = ChannelListing.objects.filter(sku_id__in=sku_ids).exclude(platform_sku_id="")
    codes = dict(Sku.objects.filter(pk__in=sku_ids).values_list("code", "pk"))
    by_platform = {(c, p): s for c, p, s in listings.values_list("channel_id", "platform_sku_id", "sku_id")}
    from orders.models import LineRefundState

    lines = (
        OrderLine.objects.filter(order__state=OrderState.AWAITING_STOCK)
        .exclude(refund_state=LineRefundState.REFUNDED)
        .filter(Q(sku_code__in=list(codes)) | Q(platform_sku_id__in=[p for _, p in by_platform]))
        .exclude(stock_reservations__state=ReservationState.ACTIVE)
        .values_list("order__channel_id", "platform_sku_id", "sku_code", "quantity")
    )
    result: dict[int, int] = defaultdict(int)
    for channel_id, platform_sku_id, sku_code, quantity in lines:
        sku_id = by_platform.get((channel_id, platform_sku_id)) or codes.get(sku_code)
        if sku_id is not None:
            result[sku_id] += quantity
    return dict(result)


def active_reserved_by_level() -> dict[int, int]:
    rows = (
        StockReservation.objects.filter(state=ReservationState.ACTIVE)
        .values("level_id")
        .annotate(total=Sum("quantity"))
    )
    return {row["level_id"]: row["total"] for row in rows}


def stock_level_list(*, sku_code: str | None = None, warehouse_code: str | None = None) -> QuerySet[StockLevel]:
    qs = StockLevel.objects.select_related("sku", "warehouse").order_by("sku__code", "warehouse__priority")
    if sku_code:
        qs = qs.filter(sku__code=sku_code)
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    return qs


def listings_for_skus(*, sku_ids: Iterable[int]) -> QuerySet[ChannelListing]:
    return ChannelListing.objects.filter(sku_id__in=list(sku_ids)).select_related("channel", "sku")


def movement_sources() -> list[str]:
    """The distinct sources in the stock ledger, for the admin's filter. A "loose index scan" over
    the (source, reference) unique index: one index probe per distinct source, where
    `SELECT DISTINCT source` reads every movement (the ledger grows by millions of rows)."""
    sql = """
        WITH RECURSIVE sources(source) AS (
            SELECT MIN(source) FROM inventory_stockmovement
            UNION ALL
            SELECT (SELECT MIN(source) FROM inventory_stockmovement WHERE source > sources.source)
            FROM sources WHERE sources.source IS NOT NULL
        )
        SELECT source FROM sources WHERE source IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]
