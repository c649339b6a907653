"""Stock writes. The ingestion pipeline (orders.services) calls reserve_for_order / release_for_order
inside its transaction; the shipping app will call commit_for_order / restock_for_order; the WMS
API calls record_movement. Split by operation; this package re-exports the public verbs."""

from inventory.schedules import ensure_schedules
from inventory.services.changes import request_pushes, sku_settings_changed, stock_changed, sync_presale
from inventory.services.movements import (
    AllocationResult,
    MovementResult,
    allocate_waiting_orders,
    movement_record_in_transaction,
    record_movement,
    reserve_held_order,
    waiting_orders,
)
from inventory.services.push import (
    DrainResult,
    backoff,
    expected_quantities,
    push_quantity,
    stock_push_drain,
    stock_push_request,
    stock_push_sweep,
)
from inventory.services.quarantine import quarantine_record_in_transaction
from inventory.services.reconciliation import reconciliation_correct, reconciliation_run
from inventory.services.reservation import (
    ReservationOutcome,
    commit_for_lines,
    commit_for_order,
    release_beyond_need,
    release_for_order,
    release_reservations,
    reserve_for_order,
    restock_for_order,
)

__all__ = [
    "AllocationResult",
    "DrainResult",
    "MovementResult",
    "ReservationOutcome",
    "allocate_waiting_orders",
    "backoff",
    "commit_for_lines",
    "commit_for_order",
    "ensure_schedules",
    "expected_quantities",
    "movement_record_in_transaction",
    "push_quantity",
    "quarantine_record_in_transaction",
    "reconciliation_correct",
    "reconciliation_run",
    "record_movement",
    "release_beyond_need",
    "release_for_order",
    "release_reservations",
    "request_pushes",
    "reserve_for_order",
    "reserve_held_order",
    "restock_for_order",
    "sku_settings_changed",
    "stock_changed",
    "stock_push_drain",
    "stock_push_request",
    "stock_push_sweep",
    "sync_presale",
    "waiting_orders",
]
