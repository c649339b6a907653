"""Reads for buyer notices: notices due for the drain, the ship-by clock's counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from orders.models import Channel, Order
from shipping.models import BuyerNotice, BuyerNoticeState


def due_notice_ids(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Pending notices to send and sending ones whose outcome is due for a lookup, oldest first."""
    now = now or timezone.now()
    return list(
        BuyerNotice.objects.filter(
            state__in=(BuyerNoticeState.PENDING, BuyerNoticeState.SENDING), next_attempt_at__lte=now
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass(frozen=True)
class ChannelDeadlines:
    channel: Channel
    overdue: int
    at_risk: int


def ship_by_counts_by_channel(
    *, now: datetime | None = None, within: timedelta = timedelta(hours=1)
) -> list[ChannelDeadlines]:
    """Per channel with any: orders past their ship-by time and orders with less than `within` left
    (partially shipped orders included, as in Order.objects.overdue())."""
    now = now or timezone.now()
    rows = (
        Order.objects.awaiting_shipment()
        .filter(ship_by__lt=now + within)
        .values("channel")
        .annotate(overdue=Count("pk", filter=Q(ship_by__lt=now)), at_risk=Count("pk", filter=Q(ship_by__gte=now)))
        .order_by("channel")
    )
    counts = {row["channel"]: row for row in rows}
    channels = Channel.objects.in_bulk(list(counts))
    return [
        ChannelDeadlines(channel=channels[pk], overdue=row["overdue"], at_risk=row["at_risk"])
        for pk, row in counts.items()
        if pk in channels
    ]
