"""Reserve the stock of many new orders at once, holding the stock rows as briefly as possible.

The ingestion pipeline (orders.services.ingest_orders) plans every order of a batch against a
*snapshot* of the stock levels read without a lock, decides and writes everything else, and only
then, as its last statements before COMMIT, confirms the plan under the stock row locks:

- `allocation_plan()` allocates in Python, oldest-paid order first, against the snapshot;
- `reservations_write()` inserts the planned reservations (before any stock lock: rows nobody else
  sees until COMMIT);
- `allocation_confirm()` takes the stock rows and reserves: one conditional `UPDATE … WHERE
  on_hand - reserved >= n` when the batch touches one stock row (the UPDATE is the lock), else
  every row of the batch locked once in pk order (inventory.locks) and one UPDATE for all; on
  PostgreSQL that UPDATE also upserts the push outbox rows, so it is the last statement. When the
  snapshot no longer holds (stock moved in between) it raises `PlanOutdated` and the caller decides
  the batch again with the rows locked first (`lock_first=True`): never an oversell, never a
  decision taken on stale stock.

A plan that leaves an order short is confirmed under the lock as well: `allocation_confirm()` locks
every stock row of the batch's SKUs (pk order) and keeps the plan only when the locked rows are the
snapshot's rows with the same free units and warehouse status, the inputs that decide the allocation
(so planning on the locked rows would give the same plan); else PlanOutdated. "Out of stock" is thus
decided on stock that holds at COMMIT, and a sold-out SKU's orders are still inserted once, decided.
Lock order stays order → stock rows by pk (the orders are inserted, hence locked, first).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection

from inventory import locks
from inventory.models import Sku, StockLevel, StockReservation
from inventory.services.changes import (
    enqueue_push_drain,
    presale_switch_due,
    push_request_sql,
    request_pushes,
    sync_presale,
)
from inventory.services.reservation import ReservationOutcome, _available, _plan


class PlanOutdated(Exception):
    """The stock snapshot a batch was planned on no longer holds under the lock: decide it again."""


@dataclass
class OrderNeeds:
    """What one new order asks of the stock: its key (the caller's), its lines as (line id, sku id,
    units), the line ids that map to no SKU, and its paid time (allocation order)."""

    key: int
    needs: list[tuple[int, int, int]]
    unmatched: list[int] = field(default_factory=list)
    requested: dict[int, int] = field(default_factory=dict)  # line id -> units ordered (for short notes)


@dataclass
class AllocationPlan:
    """The planned picks of a batch and the stock rows (snapshot or locked) they were planned on."""

    levels: list[StockLevel]
    locked: bool
    sku_ids: frozenset[int] = frozenset()  # every SKU the orders ask for (some may have no stock row)
    outcomes: dict[int, ReservationOutcome] = field(default_factory=dict)
    picks: dict[int, list[tuple[int, StockLevel, int]]] = field(default_factory=dict)  # key -> picks

    @property
    def short(self) -> bool:
        return any(not outcome.is_complete and not outcome.unmatched_lines for outcome in self.outcomes.values())

    def per_level(self) -> dict[int, int]:
        units: dict[int, int] = defaultdict(int)
        for picks in self.picks.values():
            for _line_id, level, qty in picks:
                units[level.pk] += qty
        return dict(units)


def stock_snapshot(*, sku_ids: Iterable[int], lock: bool) -> list[StockLevel]:
    """The levels of these SKUs (with warehouse and SKU), read plainly or locked in pk order."""
    sku_ids = sorted(set(sku_ids))
    if not sku_ids:
        return []
    if lock:
        return locks.stock_levels_for_update(sku_ids=sku_ids)
    return list(StockLevel.objects.select_related("warehouse", "sku").filter(sku_id__in=sku_ids).order_by("pk"))


def allocation_plan(*, orders: Sequence[OrderNeeds], levels: list[StockLevel], locked: bool) -> AllocationPlan:
    """Allocate `orders` (already sorted oldest-paid first) against `levels`, each order all or nothing,
    with the warehouse choice of `reserve_for_order` (one warehouse for the whole order when one can)."""
    sku_ids = frozenset(sku_id for order in orders for _line_id, sku_id, _units in order.needs)
    plan = AllocationPlan(levels=levels, locked=locked, sku_ids=sku_ids)
    free = {level.pk: level.on_hand - level.reserved for level in levels}
    by_sku: dict[int, list[StockLevel]] = defaultdict(list)
    for level in levels:
        by_sku[level.sku_id].append(level)
    for order in orders:
        if order.unmatched:
            plan.outcomes[order.key] = ReservationOutcome(
                is_complete=False, can_wait=False, unmatched_lines=list(order.unmatched)
            )
            continue
        if not order.needs:
            plan.outcomes[order.key] = ReservationOutcome(is_complete=True)
            continue
        relevant = [level for sku_id in sorted({n[1] for n in order.needs}) for level in by_sku.get(sku_id, [])]
        picks = _plan(order.needs, relevant, {level.pk: free[level.pk] for level in relevant})  # _plan copies it
        if picks is None:
            plan.outcomes[order.key] = _short(order=order, levels=levels, free=free)
            continue
        for _line_id, level, qty in picks:
            free[level.pk] -= qty
        plan.picks[order.key] = picks
        plan.outcomes[order.key] = ReservationOutcome(is_complete=True)
    return plan


def _short(*, order: OrderNeeds, levels: list[StockLevel], free: dict[int, int]) -> ReservationOutcome:
    """The outcome of an order the stock cannot cover, as `reserve_for_order` reports it."""
    available: dict[int, int] = defaultdict(int)
    skus: dict[int, Sku] = {}
    for level in levels:
        skus[level.sku_id] = level.sku
        if level.warehouse.active:
            available[level.sku_id] += free[level.pk]
    demand: dict[int, int] = defaultdict(int)
    for _, sku_id, qty in order.needs:
        demand[sku_id] += qty
    short_skus = {sku_id for sku_id, qty in demand.items() if available.get(sku_id, 0) < qty} or set(demand)
    if short_skus - set(skus):  # a SKU without any stock row yet
        skus.update(Sku.objects.in_bulk(list(short_skus - set(skus))))
    short_lines = [
        {
            "line_id": line_id,
            "sku_code": skus[sku_id].code if sku_id in skus else "",
            "requested": order.requested.get(line_id, qty),
            "available": max(available.get(sku_id, 0), 0),
        }
        for line_id, sku_id, qty in order.needs
        if sku_id in short_skus
    ]
    can_wait = all(s in skus and (skus[s].presale_allowed or skus[s].on_presale) for s in short_skus)
    return ReservationOutcome(is_complete=False, can_wait=can_wait, short_lines=short_lines)


def reservations_write(*, plan: AllocationPlan, order_ids: dict[int, int]) -> list:
    """One INSERT for every planned reservation of the batch (order_ids: plan key -> Order id); returns
    the rows written (`orders.intake.NewRow`s with their pks: nothing reads them back as instances)."""
    from orders.intake import NewRow, bulk_insert

    reservations = [
        NewRow(
            order_id=order_ids[key],
            order_line_id=line_id,
            level_id=level.pk,
            sku_id=level.sku_id,
            warehouse_id=level.warehouse_id,
            quantity=qty,
        )
        for key, picks in plan.picks.items()
        for line_id, level, qty in picks
    ]
    bulk_insert(StockReservation, reservations)
    by_order: dict[int, list[int]] = defaultdict(list)  # one pass: a scan per order was quadratic in the batch
    for reservation in reservations:
        if reservation.pk:
            by_order[reservation.order_id].append(reservation.pk)
    for key, outcome in plan.outcomes.items():
        outcome.reservation_ids = by_order.get(order_ids[key], [])
    return reservations


def allocation_confirm(*, plan: AllocationPlan) -> None:
    """The locked section, last in the transaction: reserve the planned units on the stock rows.

    What follows every stock change (inventory.changes) is arranged so nothing but the reservation
    runs under the lock: on PostgreSQL the push outbox upsert is chained to the reservation UPDATE in
    the same statement (it reads the UPDATE's RETURNING, so it runs only when the reservation holds,
    and after the stock row is taken: the lock order levels → push rows stays); the presale switch is
    decided in Python from the snapshot and the UPDATE's RETURNING, and touches the database only when
    a SKU actually switches. The drain nudge is registered before the lock. SQLite (one writer at a
    time) sends the upsert as its own statement.
    A snapshot plan that leaves an order short locks every stock row of its SKUs and must find them as
    the snapshot had them (`_confirm_short`).
    Raises PlanOutdated when a snapshot plan no longer fits (nothing of it is then kept by the caller)."""
    units = plan.per_level()
    confirmed = _confirm_short(plan) if plan.short and not plan.locked else None
    if not units:
        return
    enqueue_push_drain()
    by_pk = {level.pk: level for level in plan.levels}
    skus = {by_pk[pk].sku_id for pk in units}
    chained = connection.vendor == "postgresql"
    if confirmed is None and not plan.locked and len(units) == 1:
        [(level_pk, qty)] = units.items()
        available_after = _reserve_one(level_pk=level_pk, units=qty, chain_pushes=chained)
        if available_after is None:
            raise PlanOutdated(level_pk)
        level = by_pk[level_pk]
        level.reserved = level.on_hand - available_after
    else:
        levels = confirmed if confirmed is not None else plan.levels
        if confirmed is None and not plan.locked:
            levels = locks.stock_levels_for_update(sku_ids={lv.sku_id for lv in plan.levels})
        for level in levels:
            if level.pk in units and level.on_hand - level.reserved < units[level.pk]:
                raise PlanOutdated(level.pk)
        _reserve_many(units, sku_ids=skus, chain_pushes=chained)
        for level in levels:
            level.reserved += units.get(level.pk, 0)
        by_pk = {level.pk: level for level in levels}
    if not chained:
        request_pushes(sku_ids=skus)
    touched = [level for level in by_pk.values() if level.sku_id in skus]
    available = _available(touched)
    sku_rows = {lv.sku_id: lv.sku for lv in touched}
    if presale_switch_due(available=available, skus=sku_rows):  # rare: the SKU crosses its safety stock
        sync_presale(available=available, skus=sku_rows)


def _confirm_short(plan: AllocationPlan) -> list[StockLevel]:
    """Lock the stock rows of every SKU of a short snapshot plan (pk order) and return them, or raise
    PlanOutdated unless they are the snapshot's rows with the same free units and warehouse status:
    what `allocation_plan` decides on, so the locked rows would give the same plan, shortages included.
    Why: "out of stock" must hold at COMMIT, as a reservation must."""
    locked = locks.stock_levels_for_update(sku_ids=plan.sku_ids)
    if _allocation_inputs(locked) != _allocation_inputs(plan.levels):
        raise PlanOutdated(sorted(level.pk for level in locked))
    return locked


def _allocation_inputs(levels: Iterable[StockLevel]) -> dict[int, tuple[int, int, bool]]:
    return {level.pk: (level.sku_id, level.on_hand - level.reserved, level.warehouse.active) for level in levels}


def _reserve_one(*, level_pk: int, units: int, chain_pushes: bool) -> int | None:
    """The conditional reservation on one stock row; the UPDATE takes the row lock. Returns what is
    left available on the row, or None when it no longer holds `units`. With `chain_pushes` the
    SKU's push outbox rows are upserted by the same statement, after the row is taken."""
    table = StockLevel._meta.db_table
    update = (
        f"UPDATE {table} SET reserved = reserved + %s WHERE id = %s AND on_hand - reserved >= %s "  # noqa: S608
        "RETURNING sku_id, on_hand - reserved AS available"
    )
    params: list = [units, level_pk, units]
    if chain_pushes:
        push, head = push_request_sql(join="INNER JOIN reserved r ON r.sku_id = l.sku_id ", where=[])
        sql = f"WITH reserved AS ({update}), pushed AS ({push} RETURNING 1) SELECT sku_id, available FROM reserved"  # noqa: S608
        params += head
    else:
        sql = update
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[1]


def _reserve_many(units: dict[int, int], *, sku_ids: set[int], chain_pushes: bool) -> None:
    """One UPDATE for every (already locked) stock row of the batch; with `chain_pushes` the push
    outbox rows of their SKUs (`sku_ids`) are upserted by the same statement. The rows are locked
    already (pk order), so the upsert needs no input from the UPDATE to keep the lock order."""
    pks = sorted(units)
    cases = " ".join("WHEN %s THEN %s" for _ in pks)
    table = StockLevel._meta.db_table
    update = (
        f"UPDATE {table} SET reserved = reserved + CASE id {cases} ELSE 0 END "  # noqa: S608
        f"WHERE id IN ({', '.join(['%s'] * len(pks))})"
    )
    params: list = []
    for pk in pks:
        params += [pk, units[pk]]
    params += pks
    if chain_pushes:
        skus = sorted(sku_ids)
        push, head = push_request_sql(join="", where=[f"l.sku_id IN ({', '.join(['%s'] * len(skus))})"])
        sql = f"WITH reserved AS ({update}) {push}"
        params += [*head, *skus]
    else:
        sql = update
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
