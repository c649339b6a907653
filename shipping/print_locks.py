"""Locking querysets of printing. Lock order: orders (orders.locks) -> parcels -> print batch, each by pk."""

from __future__ import annotations

from shipping.models import PrintBatch, PrintBatchState, Shipment


def unbatched_shipments_for_update(*, shipment_ids: list[int]) -> list[Shipment]:
    """The given parcels that are still outside any batch, locked in pk order (a concurrent fill that
    got there first leaves them out)."""
    return list(
        Shipment.objects.select_for_update(of=("self",)).filter(pk__in=shipment_ids, batch__isnull=True).order_by("pk")
    )


def shipment_for_update(*, shipment_id: int) -> Shipment | None:
    return Shipment.objects.select_for_update(of=("self",)).filter(pk=shipment_id).first()


def open_batch_for_update(*, account_id: int, lane: str) -> PrintBatch | None:
    """The newest open batch of an account and lane, to add parcels to."""
    return (
        PrintBatch.objects.select_for_update()
        .filter(account_id=account_id, lane=lane, state=PrintBatchState.OPEN)
        .order_by("-pk")
        .first()
    )


def batch_for_update(*, batch_id: int) -> PrintBatch:
    return PrintBatch.objects.select_for_update().get(pk=batch_id)
