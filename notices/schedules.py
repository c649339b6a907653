"""django-q2 schedules of the notices app, registered by an idempotent function (called by the demo
and by deployments through notices.services.ensure_schedules); keyed by name."""

from __future__ import annotations

SCHEDULES = {
    "notices: buyer-notice sweep (send due, settle unknown outcomes)": {
        "func": "notices.tasks.drain_buyer_notices",
        "minutes": 1,
    },
    "notices: ship-by clock (late orders: alert, delayed notice)": {
        "func": "notices.tasks.check_ship_by",
        "minutes": 5,
    },
}


def ensure_schedules() -> list[str]:
    """Create or update the notices schedules; returns their names."""
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
