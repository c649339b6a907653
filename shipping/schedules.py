"""django-q2 schedules of the shipping app, registered by an idempotent function (called by the demo
and by deployments through shipping.services.ensure_schedules); keyed by name."""

from __future__ import annotations

SCHEDULES = {
    "shipping: print queue (parcels, print batches, numbers)": {
        "func": "shipping.tasks.fill_print_queue",
        "minutes": 1,
    },
    "shipping: tracking subscriptions (sweep)": {"func": "shipping.tasks.drain_tracking_subscriptions", "minutes": 5},
    "shipping: tracking poll (lost callbacks)": {"func": "shipping.tasks.poll_tracking", "minutes": 60},
    "shipping: no pickup check": {"func": "shipping.tasks.check_no_pickup", "minutes": 30},
    # the sweep: rows due again (backoff over, or a lease a dead worker left has run out)
    "shipping: write-back sweep": {
        "func": "shipping.tasks.drain_write_backs",
        "minutes": 1,
    },
    "shipping: buyer-notice sweep (send due, settle unknown outcomes)": {
        "func": "shipping.tasks.drain_buyer_notices",
        "minutes": 1,
    },
    "shipping: ship-by clock (late orders: alert, delayed notice)": {
        "func": "shipping.tasks.check_ship_by",
        "minutes": 5,
    },
}


def ensure_schedules() -> list[str]:
    """Create or update the shipping schedules; returns their names."""
    from django_q.models import Schedule

    for name, spec in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": spec["func"],
                "schedule_type": Schedule.MINUTES,
                "minutes": spec["minutes"],
                "repeats": -1,
            },
        )
    return list(SCHEDULES)
