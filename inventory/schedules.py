"""django-q2 schedules of the inventory app, registered by an idempotent function (not a data
migration: the lead's demo command and deployments call it, and editing a schedule in code then
re-running it updates the row). Keyed by name; calling it twice changes nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone

SCHEDULES = {
    "inventory: drain stock pushes": {"func": "inventory.tasks.drain_stock_pushes", "minutes": 1},
    "inventory: sweep (re-push, allocate waiting orders)": {"func": "inventory.tasks.sweep_stock", "minutes": 10},
    "inventory: nightly reconciliation": {"func": "inventory.tasks.reconcile_nightly", "daily_at": time(3, 0)},
}


def _next_daily(at: time) -> datetime:
    now = timezone.localtime()
    run = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


def ensure_schedules() -> list[str]:
    """Create or update the inventory schedules; returns their names."""
    from django_q.models import Schedule

    for name, spec in SCHEDULES.items():
        if "daily_at" in spec:
            defaults = {"func": spec["func"], "schedule_type": Schedule.DAILY}
            schedule = Schedule.objects.filter(name=name).first()
            if schedule is None:
                Schedule.objects.create(name=name, next_run=_next_daily(spec["daily_at"]), repeats=-1, **defaults)
            else:
                Schedule.objects.filter(pk=schedule.pk).update(**defaults)
        else:
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
