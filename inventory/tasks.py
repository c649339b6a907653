"""django-q2 entry points. They only call services; every one is idempotent (outbox rows and
ledger references make a repeated run harmless), so a duplicate or replayed task does no harm."""

from __future__ import annotations

from inventory import services

DRAIN_BATCH_SIZE = 200
DRAIN_BATCHES = 10


def drain_stock_pushes() -> dict:
    from django.core.cache import cache

    from inventory.services.changes import PUSH_ENQUEUED_KEY

    cache.delete(PUSH_ENQUEUED_KEY)  # changes committed from now on queue the next drain
    totals = {"pushed": 0, "failed": 0, "dropped": 0}
    for _ in range(DRAIN_BATCHES):  # bounded: a task never runs long; the schedule continues
        result = services.stock_push_drain(limit=DRAIN_BATCH_SIZE)
        totals["pushed"] += len(result.pushed)
        totals["failed"] += len(result.failed)
        totals["dropped"] += len(result.dropped)
        if len(result.pushed) + len(result.failed) + len(result.dropped) < DRAIN_BATCH_SIZE:
            break
    return totals


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
