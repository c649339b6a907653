"""Every locking queryset of the shipping app. Lock order everywhere: order → lines → stock rows →
shipments, each by primary key; callers lock the orders (orders.locks) before asking for these."""

from __future__ import annotations

from collections.abc import Iterable

from shipping.models import Carrier, PrintBatch, PrintBatchState, Return, ScannerDevice, Shipment, WaybillAccount


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
