"""Stock writes. Placeholder contract until the inventory issue lands: nothing is tracked yet.

The pipeline (orders.services) calls exactly these functions; their signatures are the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orders.models import Order


@dataclass
class ReservationOutcome:
    """What reserving an order's stock achieved.

    is_complete: every line is reserved (or needs no stock).
    can_wait: the lines that are short are all on presale, so the order may wait (awaiting_stock).
    """

    is_complete: bool
    can_wait: bool = False
    unmatched_lines: list[int] = field(default_factory=list)  # OrderLine ids whose platform SKU maps to no Sku
    short_lines: list[dict] = field(default_factory=list)  # {"line_id", "sku_code", "requested", "available"}


def reserve_for_order(*, order: Order) -> ReservationOutcome:
    return ReservationOutcome(is_complete=True)


def release_for_order(*, order: Order) -> None:
    return None
