"""django-q2 entry points of the notices app. They only call services and are idempotent: a notice
is claimed under its row lock and never sent twice, so a replayed task sends nothing new."""

from __future__ import annotations

from django.core.cache import cache

DRAIN_ENQUEUED_KEY = "notices:enqueued:drain"


def drain_buyer_notices() -> dict:
    """Send due notices and settle unknown outcomes (after a scan, and every minute as a sweep)."""
    from notices import services

    cache.delete(DRAIN_ENQUEUED_KEY)
    result = services.drain_buyer_notices()
    return {k: v for k, v in vars(result).items() if k != "outcomes"}


def check_ship_by() -> dict:
    """Late orders: one alert per channel, one delayed notice per order."""
    from notices import services

    return vars(services.check_ship_by())
