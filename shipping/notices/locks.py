"""Every locking queryset of buyer notices (shipping.notices). A notice is locked on its own (never with its order):
the drain holds it only to claim it and to record an answer, never across a gateway call."""

from __future__ import annotations

from shipping.models import BuyerNotice


def notice_for_update(*, notice_id: int, skip_locked: bool = False) -> BuyerNotice | None:
    """The notice with its order, parcel and template read alongside; None when another worker holds
    it (skip_locked) or it is gone. SQLite ignores the lock: its IMMEDIATE transactions serialise."""
    return (
        BuyerNotice.objects.select_for_update(of=("self",), skip_locked=skip_locked)
        .select_related("order", "order__channel", "shipment", "shipment__carrier", "shipment__account", "template")
        .filter(pk=notice_id)
        .first()
    )
