"""Every locking queryset of the shipping app. Lock order everywhere: order → lines → stock rows →
shipments, each by primary key; callers lock the orders (orders.locks) before asking for these."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from shipping.models import (
    Carrier,
    OutboxState,
    PrintBatch,
    PrintBatchState,
    Return,
    ScannerDevice,
    Shipment,
    TrackingSubscription,
    WaybillAccount,
    WriteBack,
)


def carriers_for_update() -> list[Carrier]:
    """Every carrier row, pk order: a platform's carrier list rewrites their codes in one go."""
    return list(Carrier.objects.select_for_update().order_by("pk"))


def shipments_for_update(*, shipment_ids: Iterable[int]) -> list[Shipment]:
    """Parcels locked in pk order; their carrier and account are read alongside, not locked."""
    return list(
        Shipment.objects.select_for_update(of=("self",))
        .select_related("carrier", "account", "channel")
        .filter(pk__in=sorted(set(shipment_ids)))
        .order_by("pk")
    )


def shipment_for_update(*, shipment_id: int) -> Shipment:
    return (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("carrier", "account", "channel")
        .get(pk=shipment_id)
    )


def account_for_update(*, account_id: int) -> WaybillAccount:
    return (
        WaybillAccount.objects.select_for_update(of=("self",)).select_related("channel", "carrier").get(pk=account_id)
    )


def device_for_update(*, device_id: int) -> ScannerDevice:
    return ScannerDevice.objects.select_for_update().get(pk=device_id)


# ---- printing ----------------------------------------------------------------------------------
def unbatched_shipments_for_update(*, shipment_ids: Iterable[int]) -> list[Shipment]:
    """The given parcels still outside any print batch, locked in pk order (a concurrent fill that got
    there first leaves them out)."""
    return list(
        Shipment.objects.select_for_update(of=("self",))
        .filter(pk__in=sorted(set(shipment_ids)), batch__isnull=True)
        .order_by("pk")
    )


def open_batch_for_update(*, account_id: int, lane: str) -> PrintBatch | None:
    """The newest open batch of an account and lane, to add parcels to (after the parcels' locks)."""
    return (
        PrintBatch.objects.select_for_update()
        .filter(account_id=account_id, lane=lane, state=PrintBatchState.OPEN)
        .order_by("-pk")
        .first()
    )


def batch_for_update(*, batch_id: int) -> PrintBatch:
    return PrintBatch.objects.select_for_update().get(pk=batch_id)


# ---- returns -------------------------------------------------------------------------------------
def return_for_update(*, return_id: int) -> Return:
    """A return row, after its order's lock (order → return → stock rows)."""
    return Return.objects.select_for_update(of=("self",)).select_related("order").get(pk=return_id)


# ---- write-backs ---------------------------------------------------------------------------------
def due_write_backs_skip_locked(*, due: Q, limit: int) -> list[tuple[int, int]]:
    """(pk, order_id) of up to `limit` due rows no other drain holds, oldest due first: the claim's
    first look. Rows another worker locked are skipped, never waited for."""
    return list(
        WriteBack.objects.select_for_update(skip_locked=True)
        .filter(due)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "order_id")[:limit]
    )


def pending_write_backs_of_orders_skip_locked(*, order_ids: Iterable[int]) -> list[tuple[int, int, object]]:
    """(pk, order_id, claimed_until) of the pending rows of these orders that no other drain holds,
    locked in pk order: an order is claimed with all its rows or left to the worker holding one."""
    return list(
        WriteBack.objects.select_for_update(skip_locked=True)
        .filter(order_id__in=sorted(set(order_ids)), state=OutboxState.PENDING)
        .order_by("pk")
        .values_list("pk", "order_id", "claimed_until")
    )


def write_back_for_update(*, write_back_id: int) -> WriteBack:
    """One write-back row (after its order's lock); its parcel is read alongside, not locked."""
    return WriteBack.objects.select_for_update(of=("self",)).select_related("shipment").get(pk=write_back_id)


def write_backs_for_update(*, write_back_ids: Iterable[int] = (), shipment_id: int | None = None) -> list[WriteBack]:
    """Write-back rows by id or of one parcel, locked in pk order (after their orders' locks)."""
    rows = WriteBack.objects.select_for_update()
    rows = rows.filter(shipment_id=shipment_id) if shipment_id is not None else rows.filter(pk__in=set(write_back_ids))
    return list(rows.order_by("pk"))


# ---- tracking subscriptions ----------------------------------------------------------------------
def tracking_subscription_for_update(
    *,
    subscription_id: int | None = None,
    shipment_id: int | None = None,
    extra: Q | None = None,
    skip_locked: bool = False,
) -> TrackingSubscription | None:
    """One subscription row (by id or by parcel), its parcel and carrier read alongside, not locked;
    with `skip_locked`, None when another worker holds it (a drain or check moves on)."""
    rows = TrackingSubscription.objects.select_for_update(of=("self",), skip_locked=skip_locked).select_related(
        "shipment", "shipment__carrier"
    )
    rows = rows.filter(pk=subscription_id) if subscription_id is not None else rows.filter(shipment_id=shipment_id)
    if extra is not None:
        rows = rows.filter(extra)
    return rows.order_by("pk").first()
