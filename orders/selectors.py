"""Order reads."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from orders.models import Channel, InboxMessage, Order


def order_list(*, state: str | None = None, channel_id: int | None = None) -> QuerySet[Order]:
    qs = Order.objects.select_related("channel").prefetch_related("lines")
    if state:
        qs = qs.filter(state=state)
    if channel_id:
        qs = qs.filter(channel_id=channel_id)
    return qs


def channel_get_enabled(*, channel_id: int) -> Channel | None:
    return Channel.objects.filter(pk=channel_id, enabled=True).first()


def channel_list_with_health() -> QuerySet[Channel]:
    """Channels annotated with today's order count (local day)."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Channel.objects.annotate(orders_today=Count("orders", filter=Q(orders__received_at__gte=start)))


# ---- webhook inbox -------------------------------------------------------------------------------
def inbox_oldest_undecided_at() -> datetime | None:
    """When the oldest order push still waiting for a drainer was accepted (None: nothing waits)."""
    return InboxMessage.objects.undecided().order_by("pk").values_list("received_at", flat=True).first()


def inbox_backlog() -> int:
    return InboxMessage.objects.undecided().count()
