"""django-q2 entry points of the shipping app. They only call services and are idempotent: a parcel
is made once per order unit, a number once per parcel key, and a buyer notice is claimed under its row
lock and never sent twice, so a replayed task adds nothing."""

from __future__ import annotations

from django.core.cache import cache

PRINT_QUEUE_ENQUEUED_KEY = "shipping:enqueued:print-queue"
NOTICE_DRAIN_ENQUEUED_KEY = "shipping:enqueued:notice-drain"


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


def drain_buyer_notices() -> dict:
    """Send due buyer notices and settle unknown outcomes (after a scan, and every minute as a sweep)."""
    from shipping.notices import services

    cache.delete(NOTICE_DRAIN_ENQUEUED_KEY)
    result = services.drain_buyer_notices()
    return {k: v for k, v in vars(result).items() if k != "outcomes"}


def check_ship_by() -> dict:
    """Late orders: one alert per channel, one delayed notice per order."""
    from shipping.notices import services

    return vars(services.check_ship_by())
