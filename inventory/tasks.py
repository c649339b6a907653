"""django-q2 entry points. They only call services; every one is idempotent (outbox rows and
ledger references make a repeated run harmless), so a duplicate or replayed task does no harm."""

from __future__ import annotations

from inventory import services


def drain_stock_pushes() -> dict:
    from django.core.cache import cache

    from inventory.services.changes import PUSH_ENQUEUED_KEY

    cache.delete(PUSH_ENQUEUED_KEY)  # changes committed from now on queue the next drain
    result = services.stock_push_drain()
    return {"pushed": len(result.pushed), "failed": len(result.failed), "dropped": len(result.dropped)}


def sweep_stock() -> dict:
    """Periodic safety net: re-push anything left behind, give arrived stock to waiting orders."""
    requested = services.stock_push_sweep()
    allocation = services.allocate_waiting_orders(None)
    return {"repush_requested": requested, "released": allocation.released, "reserved": allocation.reserved}


def allocate_waiting(sku_ids: list[int] | None = None) -> dict:
    allocation = services.allocate_waiting_orders(sku_ids)
    return {"released": allocation.released, "reserved": allocation.reserved}


def reconcile_nightly() -> int:
    return services.reconciliation_run(trigger="schedule").pk
