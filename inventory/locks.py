"""Every locking queryset of the inventory app, and nowhere else a `select_for_update`.

Lock order everywhere: order → lines → stock rows by primary key. Each helper takes its rows in
primary-key order, so two transactions that need overlapping rows queue up instead of deadlocking.
On SQLite `select_for_update` is a no-op: writers are serialized by IMMEDIATE transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from inventory.models import ReconciliationDiff, ReservationState, StockLevel, StockPush, StockReservation


def stock_levels_for_update(*, sku_ids: Iterable[int]) -> list[StockLevel]:
    """All levels (every warehouse) of these SKUs, locked in pk order, with their warehouse and SKU
    read alongside (not locked: FOR UPDATE OF the level rows only)."""
    return list(
        StockLevel.objects.select_for_update(of=("self",))
        .select_related("warehouse", "sku")
        .filter(sku_id__in=sorted(set(sku_ids)))
        .order_by("pk")
    )


def stock_level_for_update(*, sku_id: int, warehouse_id: int) -> StockLevel | None:
    return (
        StockLevel.objects.select_for_update().filter(sku_id=sku_id, warehouse_id=warehouse_id).order_by("pk").first()
    )


def active_reservations_for_update(*, order_id: int) -> list[StockReservation]:
    """An order's active reservations (called with the order already locked)."""
    return list(
        StockReservation.objects.select_for_update()
        .filter(order_id=order_id, state=ReservationState.ACTIVE)
        .order_by("pk")
    )


def reservations_for_update(*, reservation_ids: Iterable[int]) -> list[StockReservation]:
    return list(StockReservation.objects.select_for_update().filter(pk__in=sorted(set(reservation_ids))).order_by("pk"))


def due_pushes_for_update(*, now: datetime, limit: int) -> list[StockPush]:
    """Due outbox rows no other drain holds: skip_locked lets several workers drain side by side."""
    return list(
        StockPush.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("listing", "listing__channel", "listing__sku")
        .filter(next_attempt_at__lte=now)
        .order_by("pk")[:limit]
    )


def push_for_update(*, push_id: int) -> StockPush | None:
    return StockPush.objects.select_for_update().filter(pk=push_id).order_by("pk").first()


def diffs_for_update(*, diff_ids: Iterable[int]) -> list[ReconciliationDiff]:
    return list(
        ReconciliationDiff.objects.select_for_update(of=("self",))
        .select_related("sku", "warehouse", "listing")
        .filter(pk__in=sorted(set(diff_ids)), corrected_at__isnull=True)
        .order_by("pk")
    )
