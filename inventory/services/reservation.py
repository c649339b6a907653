"""Reserve an order's stock at creation, release it on cancel, commit it on the outbound scan,
put it back on a return. Called inside the caller's transaction with the order already locked
(orders.services), so the lock order is always: order → stock levels (by pk) → reservations."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F

from inventory import locks, selectors, texts
from inventory.models import MovementKind, ReservationState, Sku, StockLevel, StockMovement, StockReservation
from inventory.services.changes import stock_changed
from orders.texts import Wording, wording

if TYPE_CHECKING:
    from orders.models import Order


@dataclass
class ReservationOutcome:
    """What reserving an order's stock achieved.

    is_complete: every line is reserved (or needs no stock).
    can_wait: the lines that are short are all on presale, so the order may wait (awaiting_stock).
    """

    is_complete: bool
    can_wait: bool = False
    unmatched_lines: list[int] = field(default_factory=list)  # OrderLine ids whose platform SKU maps to no Sku
    short_lines: list[dict] = field(default_factory=list)  # {"line_id", "sku_code", "requested", "available"}
    reservation_ids: list[int] = field(default_factory=list)  # reservations made by this call


def _levels_by_sku(levels: list[StockLevel]) -> dict[int, list[StockLevel]]:
    grouped: dict[int, list[StockLevel]] = defaultdict(list)
    for level in levels:
        if level.warehouse.active:
            grouped[level.sku_id].append(level)
    for rows in grouped.values():
        rows.sort(key=lambda lv: (lv.warehouse.priority, lv.warehouse_id))
    return grouped


def _plan(
    needs: list[tuple[int, int, int]], levels: list[StockLevel], free: dict[int, int] | None = None
) -> list[tuple[int, StockLevel, int]] | None:
    """needs: (line id, sku id, quantity). Returns (line id, level, quantity) picks or None if short.
    `free`: level pk -> units free, when not the levels' own on_hand − reserved (what the earlier
    orders of a batch left); not changed here.

    One warehouse for the whole order when one can (by priority), else per line the first
    warehouse that holds the whole line, else the line is split across warehouses by priority."""
    by_sku = _levels_by_sku(levels)
    free = dict(free) if free is not None else {lv.pk: lv.on_hand - lv.reserved for lv in levels}
    warehouses = sorted({(lv.warehouse.priority, lv.warehouse_id) for lv in levels if lv.warehouse.active})
    for _, warehouse_id in warehouses:
        demand: dict[int, int] = defaultdict(int)
        for _, sku_id, qty in needs:
            demand[sku_id] += qty
        picks_by_sku = {
            sku_id: next((lv for lv in by_sku.get(sku_id, []) if lv.warehouse_id == warehouse_id), None)
            for sku_id in demand
        }
        if all(lv is not None and free[lv.pk] >= demand[sku_id] for sku_id, lv in picks_by_sku.items()):
            return [(line_id, picks_by_sku[sku_id], qty) for line_id, sku_id, qty in needs]
    picks: list[tuple[int, StockLevel, int]] = []
    for line_id, sku_id, qty in needs:
        candidates = by_sku.get(sku_id, [])
        whole = next((lv for lv in candidates if free[lv.pk] >= qty), None)
        if whole is not None:
            free[whole.pk] -= qty
            picks.append((line_id, whole, qty))
            continue
        left = qty
        for lv in candidates:
            take = min(left, free[lv.pk])
            if take > 0:
                free[lv.pk] -= take
                picks.append((line_id, lv, take))
                left -= take
            if left == 0:
                break
        if left:
            return None
    return picks


@transaction.atomic(savepoint=False)
def reserve_for_order(*, order: Order) -> ReservationOutcome:
    """Reserve every line of a (locked) order, all or nothing. Idempotent: what is already
    reserved for a line counts, so an order with its reservations in place returns complete."""
    lines = [line for line in selectors.lines_with_held_quantity(order_id=order.pk) if selectors.line_ships(line)]
    mapping = selectors.sku_ids_for_lines(channel_id=order.channel_id, lines=lines)
    unmatched = [line.pk for line in lines if line.pk not in mapping]
    if unmatched:
        return ReservationOutcome(is_complete=False, can_wait=False, unmatched_lines=unmatched)
    needs = [(line.pk, mapping[line.pk], line.quantity - line.held) for line in lines]
    needs = [need for need in needs if need[2] > 0]
    if not needs:
        return ReservationOutcome(is_complete=True)

    levels = locks.stock_levels_for_update(sku_ids={sku_id for _, sku_id, _ in needs})
    picks = _plan(needs, levels)
    if picks is None:
        return _short_outcome(needs=needs, levels=levels, lines=lines)

    reservations = [
        StockReservation(
            order_id=order.pk,
            order_line_id=line_id,
            level=level,
            sku_id=level.sku_id,
            warehouse_id=level.warehouse_id,
            quantity=qty,
        )
        for line_id, level, qty in picks
    ]
    StockReservation.objects.bulk_create(reservations)
    per_level: dict[int, int] = defaultdict(int)
    for _, level, qty in picks:
        per_level[level.pk] += qty
    for level in levels:
        if level.pk in per_level:
            StockLevel.objects.filter(pk=level.pk).update(reserved=F("reserved") + per_level[level.pk])
            level.reserved += per_level[level.pk]
    stock_changed(available=_available(levels), skus={level.sku_id: level.sku for level in levels})
    return ReservationOutcome(is_complete=True, reservation_ids=[r.pk for r in reservations if r.pk])


def _short_outcome(*, needs, levels: list[StockLevel], lines) -> ReservationOutcome:
    available = _available(levels)
    demand: dict[int, int] = defaultdict(int)
    for _, sku_id, qty in needs:
        demand[sku_id] += qty
    short_skus = {sku_id for sku_id, qty in demand.items() if available.get(sku_id, 0) < qty}
    if not short_skus:  # enough in total, but not placeable (inactive warehouses): treat all as short
        short_skus = set(demand)
    skus = Sku.objects.in_bulk(list(short_skus))
    line_by_id = {line.pk: line for line in lines}
    short_lines = [
        {
            "line_id": line_id,
            "sku_code": skus[sku_id].code,
            "requested": line_by_id[line_id].quantity,
            "available": max(available.get(sku_id, 0), 0),
        }
        for line_id, sku_id, _ in needs
        if sku_id in short_skus
    ]
    can_wait = all(skus[s].presale_allowed or skus[s].on_presale for s in short_skus)
    return ReservationOutcome(is_complete=False, can_wait=can_wait, short_lines=short_lines)


def _available(levels: list[StockLevel]) -> dict[int, int]:
    result: dict[int, int] = defaultdict(int)
    for level in levels:
        result[level.sku_id] += (level.on_hand - level.reserved) if level.warehouse.active else 0
    return dict(result)


def _locked_active(order_id: int) -> tuple[list[StockLevel], list[StockReservation]]:
    """Levels, then the order's active reservations: the same order as every other path."""
    sku_ids = set(
        StockReservation.objects.filter(order_id=order_id, state=ReservationState.ACTIVE).values_list(
            "sku_id", flat=True
        )
    )
    if not sku_ids:
        return [], []
    levels = locks.stock_levels_for_update(sku_ids=sku_ids)
    return levels, locks.active_reservations_for_update(order_id=order_id)


@transaction.atomic(savepoint=False)
def release_for_order(*, order: Order) -> int:
    """Cancel/refund: give back what a (locked) order holds. Returns units released."""
    levels, reservations = _locked_active(order.pk)
    if not reservations:
        return 0
    released = release_reservations(levels=levels, reservations=reservations)
    stock_changed(available=_available(levels), increased=True, skus={lv.sku_id: lv.sku for lv in levels})
    return released


@transaction.atomic(savepoint=False)
def release_beyond_need(*, order: Order) -> int:
    """Give back what a (locked) order holds beyond what its lines still need: the whole active
    reservation of a refunded line, the excess of a line whose quantity the platform lowered. Units
    already shipped (committed) stay as they are: after shipment a refund is a return. A reservation
    only partly given back is split, the released part kept as its own row (audit), so active
    reservations always equal `reserved`. Nothing moves on hand, so the ledger is untouched.
    Returns the units released."""
    levels, reservations = _locked_active(order.pk)
    if not reservations:
        return 0
    left = selectors.units_still_needed(order_id=order.pk)
    released: list[StockReservation] = []
    for reservation in reservations:  # pk order: the oldest reservation of a line is kept first
        keep = min(max(left.get(reservation.order_line_id, 0), 0), reservation.quantity)
        left[reservation.order_line_id] = left.get(reservation.order_line_id, 0) - keep
        excess = reservation.quantity - keep
        if excess == 0:
            continue
        if keep == 0:
            released.append(reservation)
            continue
        StockReservation.objects.filter(pk=reservation.pk).update(quantity=keep)
        released.append(
            StockReservation.objects.create(
                order_id=order.pk,
                order_line_id=reservation.order_line_id,
                level_id=reservation.level_id,
                sku_id=reservation.sku_id,
                warehouse_id=reservation.warehouse_id,
                quantity=excess,
            )
        )
    if not released:
        return 0
    units = release_reservations(levels=levels, reservations=released)
    stock_changed(available=_available(levels), increased=True, skus={lv.sku_id: lv.sku for lv in levels})
    return units


def release_reservations(*, levels: list[StockLevel], reservations: list[StockReservation]) -> int:
    """Release locked reservations against their locked levels (no follow-up; callers do that)."""
    per_level: dict[int, int] = defaultdict(int)
    for reservation in reservations:
        per_level[reservation.level_id] += reservation.quantity
    StockReservation.objects.filter(pk__in=[r.pk for r in reservations]).update(state=ReservationState.RELEASED)
    for level in levels:
        if level.pk in per_level:
            StockLevel.objects.filter(pk=level.pk).update(reserved=F("reserved") - per_level[level.pk])
            level.reserved -= per_level[level.pk]
    return sum(per_level.values())


@transaction.atomic(savepoint=False)
def commit_for_order(*, order: Order, actor=None) -> int:
    """Outbound scan (for the shipping app): on hand and reserved both drop, one outbound ledger
    row per reservation. Available stock does not change, so nothing is pushed."""
    levels, reservations = _locked_active(order.pk)
    if not reservations:
        return 0
    StockReservation.objects.filter(pk__in=[r.pk for r in reservations]).update(state=ReservationState.COMMITTED)
    note = wording("stock.outbound_scan", order=order.pk)
    return _book_outbound(order.pk, levels, reservations, actor=actor, note=note)


@transaction.atomic(savepoint=False)
def commit_for_lines(*, order: Order, quantities: dict[int, int], actor=None, note: str | Wording = "") -> int:
    """Outbound scan of one parcel: commit only the units it carries (OrderLine id -> quantity) of a
    (locked) order. A reservation larger than what leaves is split: the shipped part becomes its own
    committed reservation (so a later return restocks exactly it), the rest stays active. One outbound
    ledger row per committed part, referenced by its reservation, so the ledger always equals the levels.
    Returns the units committed; a line without enough active reservation commits what it holds."""
    wanted = {line_id: qty for line_id, qty in quantities.items() if qty > 0}
    if not wanted:
        return 0
    levels, reservations = _locked_active(order.pk)
    committed: list[StockReservation] = []
    for reservation in reservations:
        left = wanted.get(reservation.order_line_id, 0)
        if left <= 0:
            continue
        take = min(left, reservation.quantity)
        wanted[reservation.order_line_id] = left - take
        if take == reservation.quantity:
            StockReservation.objects.filter(pk=reservation.pk).update(state=ReservationState.COMMITTED)
            committed.append(reservation)
            continue
        StockReservation.objects.filter(pk=reservation.pk).update(quantity=F("quantity") - take)
        committed.append(
            StockReservation.objects.create(
                order_id=order.pk,
                order_line_id=reservation.order_line_id,
                level_id=reservation.level_id,
                sku_id=reservation.sku_id,
                warehouse_id=reservation.warehouse_id,
                quantity=take,
                state=ReservationState.COMMITTED,
            )
        )
    if not committed:
        return 0
    note = note or wording("stock.outbound_scan", order=order.pk)
    return _book_outbound(order.pk, levels, committed, actor=actor, note=note)


def _book_outbound(
    order_id: int, levels: list[StockLevel], committed: list[StockReservation], *, actor, note: str | Wording
) -> int:
    """The stock side of committed reservations: on hand and reserved drop on their (locked) levels,
    one outbound ledger row each, referenced by the reservation so a replay cannot book it twice."""
    by_pk = {level.pk: level for level in levels}
    note, coded = texts.stored(note)
    movements = []
    for reservation in committed:
        level = by_pk[reservation.level_id]
        level.on_hand -= reservation.quantity
        level.reserved -= reservation.quantity
        movements.append(
            StockMovement(
                warehouse_id=level.warehouse_id,
                sku_id=level.sku_id,
                kind=MovementKind.OUTBOUND,
                quantity=-reservation.quantity,
                balance_after=level.on_hand,
                source="order",
                reference=f"commit:{reservation.pk}",
                order_id=order_id,
                actor=actor,
                note=note,
                wording=coded,
            )
        )
    StockMovement.objects.bulk_create(movements)
    touched = {r.level_id for r in committed}
    for level in levels:
        if level.pk in touched:
            StockLevel.objects.filter(pk=level.pk).update(on_hand=level.on_hand, reserved=level.reserved)
    return sum(r.quantity for r in committed)


@transaction.atomic(savepoint=False)
def restock_for_order(*, order: Order, actor=None) -> int:
    """A returned parcel: its shipped units go back on hand where they left, one return row each.
    Idempotent by reference (return:<reservation id>)."""
    committed = list(
        StockReservation.objects.filter(order_id=order.pk, state=ReservationState.COMMITTED).order_by("pk")
    )
    done = set(
        StockMovement.objects.filter(source="order", reference__in=[f"return:{r.pk}" for r in committed]).values_list(
            "reference", flat=True
        )
    )
    todo = [r for r in committed if f"return:{r.pk}" not in done]
    if not todo:
        return 0
    levels = locks.stock_levels_for_update(sku_ids={r.sku_id for r in todo})
    by_pk = {level.pk: level for level in levels}
    note, coded = texts.stored(wording("stock.return_of_order", order=order.pk))
    movements = []
    for reservation in todo:
        level = by_pk[reservation.level_id]
        level.on_hand += reservation.quantity
        movements.append(
            StockMovement(
                warehouse_id=level.warehouse_id,
                sku_id=level.sku_id,
                kind=MovementKind.RETURN,
                quantity=reservation.quantity,
                balance_after=level.on_hand,
                source="order",
                reference=f"return:{reservation.pk}",
                order_id=order.pk,
                actor=actor,
                note=note,
                wording=coded,
            )
        )
    StockMovement.objects.bulk_create(movements)
    for level in levels:
        if level.pk in {r.level_id for r in todo}:
            StockLevel.objects.filter(pk=level.pk).update(on_hand=level.on_hand)
    stock_changed(available=_available(levels), increased=True)
    return sum(r.quantity for r in todo)
