"""django-q2 entry points of the shipping app. They only call services and are idempotent: a parcel
is made once per order unit, a number once per parcel key, and a buyer notice is claimed under its row
lock and never sent twice, so a replayed task adds nothing."""

from __future__ import annotations

from django.core.cache import cache

PRINT_QUEUE_ENQUEUED_KEY = "shipping:enqueued:print-queue"
NOTICE_DRAIN_ENQUEUED_KEY = "shipping:enqueued:notice-drain"


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


def drain_tracking_subscriptions() -> dict:
    """Subscribe shipped parcels with the tracking service (after each scan, and the sweep schedule)."""
    from shipping import services

    report = services.tracking_subscriptions_drain()
    return {
        "subscribed": len(report.subscribed),
        "retrying": len(report.retrying),
        "failed": len(report.failed),
        "waiting": report.waiting,
    }


def poll_tracking() -> dict:
    """The polling fallback: query parcels whose last tracking update is stale (lost callbacks)."""
    from shipping import services

    report = services.tracking_poll()
    return {"polled": len(report.polled), "delivered": len(report.delivered), "errors": len(report.errors)}


def check_no_pickup() -> dict:
    """Raise `no_pickup` on orders whose parcel has not moved since it was scanned out."""
    from shipping import services

    return {"flagged": len(services.tracking_check_no_pickup())}


def give_back_number(shipment_id: int) -> bool:
    """The e-waybill number of a parcel voided by a refund goes back to the platform (idempotent)."""
    from shipping.services.parcels import parcel_number_give_back

    return parcel_number_give_back(shipment_id=shipment_id)


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
