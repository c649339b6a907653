"""django-q2 entry points of the shipping app. They only call services and are idempotent: a parcel
is made once per order unit, a number once per parcel key, so a replayed task adds nothing."""

from __future__ import annotations

from django.core.cache import cache

PRINT_QUEUE_ENQUEUED_KEY = "shipping:enqueued:print-queue"


def drain_write_backs() -> dict:
    """Write back every due parcel (after a scan, and the sweep schedule for leases a dead worker left)."""
    from shipping.services import writeback

    cache.delete(writeback.ENQUEUED_KEY)  # rows written from now on queue the next run
    report = writeback.write_backs_drain()
    return {
        "claimed": report.claimed,
        "done": len(report.done),
        "retrying": len(report.retrying),
        "failed": len(report.failed),
        "deferred": len(report.deferred),
    }


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
