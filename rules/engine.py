"""The rule engine's contract with the ingestion pipeline.

Placeholder until the rules issue lands: only the two most basic system checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inventory.services import ReservationOutcome
    from orders.models import Order


@dataclass
class Decision:
    """Where an order goes. route: 'ready' | 'on_hold' | 'awaiting_stock'.

    release: for an order already on hold, whether the decision may release it automatically.
    """

    route: str
    lane: str = ""
    exception_types: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    priority: int | None = None
    reasons: list[str] = field(default_factory=list)
    release: bool = False


def evaluate(
    *,
    order: Order,
    reservation: ReservationOutcome | None = None,
    trigger: str = "ingest",
    changes: set[str] | None = None,
) -> Decision:
    held: list[str] = []
    if not (order.receiver_name and order.receiver_phone and order.receiver_address):
        held.append("address_missing")
    if order.platform_status == "unpaid" or not order.paid_at:
        held.append("payment_pending")
    if held:
        return Decision(route="on_hold", exception_types=held, reasons=held)
    return Decision(route="ready", lane=order.lane)
