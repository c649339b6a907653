"""django-q2 entry points of the shipping app. They only call services and are idempotent: a parcel
is made once per order unit, a number once per parcel key, so a replayed task adds nothing."""

from __future__ import annotations

from django.core.cache import cache

PRINT_QUEUE_ENQUEUED_KEY = "shipping:enqueued:print-queue"


def fill_print_queue() -> dict:
    """Ready orders into parcels, print batches and numbers (schedule, and after orders become ready)."""
    from shipping import services

    cache.delete(PRINT_QUEUE_ENQUEUED_KEY)  # orders ready from now on queue the next run
    result = services.print_queue_fill()
    return {
        "parcels_created": result.parcels_created,
        "parcels_batched": result.batched.parcels,
        "batches": result.batched.batches,
        "numbered": result.numbered,
        "failed": result.failed,
    }


def give_back_number(shipment_id: int) -> bool:
    """The e-waybill number of a parcel voided by a refund goes back to the platform (idempotent)."""
    from shipping.services.parcels import parcel_number_give_back

    return parcel_number_give_back(shipment_id=shipment_id)
