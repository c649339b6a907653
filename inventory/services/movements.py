"""Warehouse movements (WMS events, stocktakes, corrections) and what follows stock arriving."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from inventory import locks, texts
from inventory.errors import MovementConflict, MovementInvalid
from inventory.models import (
    QUANTITY_MAX,
    ChannelListing,
    EventKind,
    InventoryEvent,
    MovementKind,
    ReservationState,
    Sku,
    StockLevel,
    StockMovement,
    StockReservation,
    Warehouse,
)
from inventory.services.changes import stock_changed
from inventory.services.reservation import release_reservations
from orders import texts as orders_texts
from orders.texts import Wording

logger = logging.getLogger(__name__)

POSITIVE_KINDS = {MovementKind.INBOUND, MovementKind.OUTBOUND, MovementKind.RETURN}
STOCK_HOLD_MARKER = "out_of_stock"
STOCK_HOLD_CODE = "hold.stock_count_below_reservations"  # the hold reason's code (orders.texts)


@dataclass
class MovementResult:
    movement: StockMovement
    created: bool
    level: StockLevel | None = None
    released_order_ids: list[int] = field(default_factory=list)


def record_movement(
    *,
    warehouse_code: str,
    sku_code: str,
    kind: str,
    quantity: int,
    reference: str,
    source: str = "wms",
    actor=None,
    note: str | Wording = "",
) -> MovementResult:
    """Record one movement, exactly once per (source, reference), in its own transaction.

    inbound/outbound/return: quantity > 0; adjustment: signed, ≠ 0; count: the counted figure ≥ 0.
    Replaying a reference returns the stored movement (created=False); reusing it for other data
    raises MovementConflict. Nothing is written when MovementInvalid is raised."""
    try:
        with transaction.atomic(durable=True):
            return movement_record_in_transaction(
                warehouse_code=warehouse_code,
                sku_code=sku_code,
                kind=kind,
                quantity=quantity,
                reference=reference,
                source=source,
                actor=actor,
                note=note,
            )
    except IntegrityError:
        # A concurrent duplicate on another SKU/warehouse won the unique (source, reference).
        stored = StockMovement.objects.filter(source=source, reference=reference).first()
        if stored is None:
            raise
        _check_replay(stored, warehouse_code=warehouse_code, sku_code=sku_code, kind=kind, quantity=quantity)
        return MovementResult(movement=stored, created=False)


def movement_record_in_transaction(
    *,
    warehouse_code: str,
    sku_code: str,
    kind: str,
    quantity: int,
    reference: str,
    source: str = "wms",
    actor=None,
    note: str | Wording = "",
    ledger_only: bool = False,
    order_id: int | None = None,
) -> MovementResult:
    """The body of record_movement, for callers that own the transaction (stocktake import,
    reconciliation corrections, a received return). Must run inside an atomic block. `order_id`:
    the order the movement belongs to (a return), shown in the ledger."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("movement_record_in_transaction needs an atomic block")
    errors: dict[str, list[str]] = {}
    warehouse = Warehouse.objects.filter(code=warehouse_code).first()
    sku = Sku.objects.filter(code=sku_code).first()
    if warehouse is None:
        errors["warehouse"] = [_("Unknown warehouse %(code)r.") % {"code": warehouse_code}]
    if sku is None:
        errors["sku"] = [_("Unknown SKU %(code)r.") % {"code": sku_code}]
    if kind not in MovementKind.values:
        errors["kind"] = [
            _("Unknown kind %(kind)r; one of %(kinds)s.") % {"kind": kind, "kinds": ", ".join(MovementKind.values)}
        ]
    elif kind in POSITIVE_KINDS and quantity <= 0:
        errors["quantity"] = [_("%(kind)s needs a quantity above zero.") % {"kind": MovementKind(kind).label}]
    elif kind == MovementKind.ADJUSTMENT and quantity == 0 and not ledger_only:
        errors["quantity"] = [_("An adjustment cannot be zero.")]
    elif kind == MovementKind.COUNT and quantity < 0:
        errors["quantity"] = [_("A counted quantity cannot be negative.")]
    if "quantity" not in errors and abs(quantity) > QUANTITY_MAX:
        errors["quantity"] = [_("At most %(max)s units in one movement.") % {"max": QUANTITY_MAX}]
    if not reference:
        errors["reference"] = [_("A reference is required (it makes the movement idempotent).")]
    if errors:
        raise MovementInvalid(errors)

    # Lock every level of the SKU (pk order), then look for a replay: a concurrent duplicate
    # waits on the lock and then sees the committed row.
    StockLevel.objects.bulk_create([StockLevel(sku=sku, warehouse=warehouse)], ignore_conflicts=True)
    levels = locks.stock_levels_for_update(sku_ids=[sku.pk])
    stored = StockMovement.objects.filter(source=source, reference=reference).first()
    if stored is not None:
        _check_replay(stored, warehouse_code=warehouse_code, sku_code=sku_code, kind=kind, quantity=quantity)
        return MovementResult(movement=stored, created=False, level=_level(levels, warehouse.pk))
    level = _level(levels, warehouse.pk)

    counted = None
    delta = quantity
    if kind == MovementKind.OUTBOUND:
        delta = -quantity
    elif kind == MovementKind.COUNT:
        counted = quantity
        delta = quantity - level.on_hand
    flag: Wording | None = None
    released_orders: list[int] = []
    if ledger_only:
        new_on_hand = level.on_hand
    else:
        new_on_hand = level.on_hand + delta
        if kind == MovementKind.COUNT and new_on_hand < level.reserved:
            released_orders = _release_newest(level=level, levels=levels, down_to=new_on_hand)
            flag = orders_texts.wording(
                "stock.count_below_reserved",
                counted=counted,
                reserved=level.reserved + _released_units(level),
                orders=", ".join(str(order_id) for order_id in released_orders),
            )
        elif new_on_hand > QUANTITY_MAX:
            errors["quantity"] = [
                _("%(on_hand)s on hand at %(warehouse)s plus %(delta)s exceeds the %(max)s units a level can hold.")
                % {"on_hand": level.on_hand, "warehouse": warehouse.code, "delta": delta, "max": QUANTITY_MAX}
            ]
            raise MovementInvalid(errors)
        elif new_on_hand < level.reserved:
            errors["quantity"] = [
                _("Only %(available)s available at %(warehouse)s (%(on_hand)s on hand, %(reserved)s reserved).")
                % {
                    "available": level.on_hand - level.reserved,
                    "warehouse": warehouse.code,
                    "on_hand": level.on_hand,
                    "reserved": level.reserved,
                }
            ]
            raise MovementInvalid(errors)
    note, wording = texts.stored(note)
    movement = StockMovement.objects.create(
        warehouse=warehouse,
        sku=sku,
        kind=kind,
        quantity=delta,
        counted=counted,
        balance_after=new_on_hand,
        source=source,
        reference=reference,
        order_id=order_id,
        actor=actor,
        note=note,
        wording=wording,
        flagged=flag is not None,
        flag_reason=orders_texts.english(flag) if flag else "",
        flag_wording=flag or {},
        ledger_only=ledger_only,
    )
    if new_on_hand != level.on_hand:
        StockLevel.objects.filter(pk=level.pk).update(on_hand=new_on_hand, reserved=level.reserved)
        level.on_hand = new_on_hand
    if flag is not None:
        _flag_count(sku=sku, warehouse=warehouse, movement=movement, order_ids=released_orders)
    if (delta and not ledger_only) or released_orders:
        available = {sku.pk: sum(lv.on_hand - lv.reserved for lv in levels if lv.warehouse.active)}
        stock_changed(available=available, increased=delta > 0, skus={sku.pk: _level(levels, warehouse.pk).sku})
    return MovementResult(movement=movement, created=True, level=level, released_order_ids=released_orders)


def _level(levels: list[StockLevel], warehouse_id: int) -> StockLevel:
    return next(level for level in levels if level.warehouse_id == warehouse_id)


def _check_replay(stored: StockMovement, *, warehouse_code: str, sku_code: str, kind: str, quantity: int) -> None:
    asked = quantity if kind != MovementKind.OUTBOUND else -quantity
    same = (
        stored.warehouse.code == warehouse_code
        and stored.sku.code == sku_code
        and stored.kind == kind
        and (stored.counted == quantity if kind == MovementKind.COUNT else stored.quantity == asked)
    )
    if not same:
        raise MovementConflict(reference=stored.reference, movement_id=stored.pk)


def _released_units(level: StockLevel) -> int:
    return getattr(level, "_released_units", 0)


def _release_newest(*, level: StockLevel, levels: list[StockLevel], down_to: int) -> list[int]:
    """A count below what is reserved: the newest reservations at this level give way until the
    reservations fit what is there. Their orders lose that reservation (reserve_for_order will top
    it up when stock arrives); ops get a flagged movement, an event and an alert."""
    candidates = list(
        StockReservation.objects.filter(level=level, state=ReservationState.ACTIVE)
        .order_by("-created_at", "-pk")
        .values_list("pk", "order_id", "quantity")
    )
    chosen, order_ids, reserved = [], [], level.reserved
    for pk, order_id, qty in candidates:
        if reserved <= down_to:
            break
        chosen.append(pk)
        reserved -= qty
        if order_id not in order_ids:
            order_ids.append(order_id)
    reservations = locks.reservations_for_update(reservation_ids=chosen)
    before = level.reserved
    release_reservations(levels=levels, reservations=reservations)
    level._released_units = before - level.reserved
    return order_ids


def _flag_count(*, sku: Sku, warehouse: Warehouse, movement: StockMovement, order_ids: list[int]) -> None:
    from orders.models import AlertSeverity
    from orders.services import alert_raise
    from orders.texts import wording

    InventoryEvent.objects.create(
        kind=EventKind.COUNT_BELOW_RESERVED,
        sku=sku,
        message=movement.flag_reason,
        data={
            "movement_id": movement.pk,
            "warehouse": warehouse.code,
            "order_ids": order_ids,
            "wording": movement.flag_wording,
        },
    )
    alert_raise(
        key=f"inventory:count_below_reserved:{sku.code}:{warehouse.code}",
        source="inventory",
        message=wording(
            "alert.stock_movement_flagged", sku=sku.code, warehouse=warehouse.code, reason=movement.flag_wording
        ),
        severity=AlertSeverity.CRITICAL,
    )
    transaction.on_commit(lambda: _hold_orders_short_after_count(order_ids))


def _stock_hold_reason():
    """Shown in the reader's language; the stored text keeps the `out_of_stock` marker searches use."""
    from orders.texts import wording

    return {**wording(STOCK_HOLD_CODE), "english": f"{STOCK_HOLD_MARKER}: stock count below reservations"}


def _hold_orders_short_after_count(order_ids: list[int]) -> None:
    """After the count commits (never under stock locks: orders lock first), put affected orders
    that were ready back on hold as out_of_stock, then try to reserve them again from other stock."""
    from orders.errors import OrderError
    from orders.models import Order, OrderState
    from orders.services import order_hold

    for order_id in order_ids:
        state = Order.objects.filter(pk=order_id).values_list("state", flat=True).first()
        if state in (OrderState.NEW, OrderState.READY):
            try:
                order_hold(order_id=order_id, actor=None, reason=_stock_hold_reason())
            except OrderError:
                logger.warning("could not hold order %s after a short count", order_id, exc_info=True)
    allocate_waiting_orders(order_ids=order_ids)


# ---- stock arrived: waiting orders first -------------------------------------------------
@dataclass
class AllocationResult:
    released: list[int] = field(default_factory=list)  # awaiting_stock orders now ready
    reserved: list[int] = field(default_factory=list)  # on_hold out_of_stock orders now reserved
    still_waiting: list[int] = field(default_factory=list)


def waiting_orders(*, sku_ids: list[int] | None = None, order_ids: list[int] | None = None):
    """Orders waiting for stock, oldest paid first: awaiting_stock, and on_hold orders held for
    stock (an open out_of_stock exception task of the rules app, or a hold reason that says so)
    that hold no active reservation yet."""
    from django.apps import apps

    from orders.models import Order, OrderLine, OrderState

    held_for_stock = Q(hold_reason__icontains=STOCK_HOLD_MARKER) | Q(hold_wording__code=STOCK_HOLD_CODE)
    if apps.is_installed("rules"):  # read-only look at the rules app's to-do list
        held_for_stock |= Q(exception_tasks__state="open", exception_tasks__exception_type__code=STOCK_HOLD_MARKER)
    qs = Order.objects.filter(
        pk__in=Order.objects.filter(
            Q(state=OrderState.AWAITING_STOCK) | (Q(state=OrderState.ON_HOLD) & held_for_stock)
        ).values("pk")
    )
    qs = qs.exclude(state=OrderState.ON_HOLD, stock_reservations__state=ReservationState.ACTIVE)
    if order_ids is not None:
        qs = qs.filter(pk__in=order_ids)
    if sku_ids is not None:
        codes = list(Sku.objects.filter(pk__in=sku_ids).values_list("code", flat=True))
        platform_ids = list(
            ChannelListing.objects.filter(sku_id__in=sku_ids)
            .exclude(platform_sku_id="")
            .values_list("platform_sku_id", flat=True)
        )
        lines = OrderLine.objects.filter(Q(sku_code__in=codes) | Q(platform_sku_id__in=platform_ids))
        qs = qs.filter(pk__in=lines.values("order_id"))
    return qs.order_by(F("paid_at").asc(nulls_last=True), "pk").values_list("pk", "state")


def allocate_waiting_orders(
    sku_ids: list[int] | None = None, *, order_ids: list[int] | None = None
) -> AllocationResult:
    """Stock arrived (inbound, return, release, count up): reserve waiting orders, oldest paid first,
    each in its own transaction (order lock first, then stock rows).

    awaiting_stock orders are released to the print queue (orders.services.order_release).
    on_hold orders held *for stock* are only reserved, never released: the hold may carry other
    reasons, so ops release them, and find their stock ready. Greedy: an order that does not fit
    is skipped and a younger, smaller one may take the stock (documented in docs/inventory.md)."""
    from orders.errors import OrderError
    from orders.models import OrderState
    from orders.services import order_release
    from orders.texts import wording

    result = AllocationResult()
    for order_id, state in list(waiting_orders(sku_ids=sku_ids, order_ids=order_ids)):
        if state == OrderState.AWAITING_STOCK:
            try:
                order_release(order_id=order_id, actor=None, note=wording("order.stock_arrived"))
            except OrderError:
                result.still_waiting.append(order_id)
            else:
                result.released.append(order_id)
        elif reserve_held_order(order_id=order_id):
            result.reserved.append(order_id)
        else:
            result.still_waiting.append(order_id)
    return result


@transaction.atomic(durable=True)
def reserve_held_order(*, order_id: int) -> bool:
    from inventory.services.reservation import reserve_for_order
    from orders import locks as order_locks
    from orders.models import OrderState

    order = order_locks.order_for_update(order_id=order_id)
    if order.state != OrderState.ON_HOLD:
        return False
    return reserve_for_order(order=order).is_complete
