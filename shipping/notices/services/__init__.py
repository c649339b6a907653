"""Buyer notices and the ship-by clock: the public verbs (split by operation, as in inventory)."""

from shipping.notices.services.sending import (
    DrainResult,
    drain_buyer_notices,
    enqueue_drain,
    notice_mark_sent,
    notice_process,
    notice_retry,
    template_values,
)
from shipping.notices.services.ship_by import ShipByResult, check_ship_by

__all__ = [
    "DrainResult",
    "ShipByResult",
    "check_ship_by",
    "drain_buyer_notices",
    "enqueue_drain",
    "notice_mark_sent",
    "notice_process",
    "notice_retry",
    "template_values",
]
