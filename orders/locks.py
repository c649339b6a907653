"""Every locking queryset of the orders app. Lock order everywhere: order → lines → stock rows by pk.

Only the order row is locked (`of=("self",)`): joining the channel must not lock the channel row,
or every ingestion of one shop would queue behind the others."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from orders.models import Alert, Channel, InboxMessage, Order, QuarantinedMessage


def order_for_update(*, order_id: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("channel").get(pk=order_id)


def order_by_external_id_for_update(*, channel_id: int, external_id: str) -> Order | None:
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(channel_id=channel_id, external_id=external_id)
        .first()
    )


def orders_for_update(*, order_ids: list[int]) -> QuerySet[Order]:
    return Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk")


def channel_for_update(*, channel_id: int) -> Channel:
    return Channel.objects.select_for_update().get(pk=channel_id)


def open_alert_for_update(*, key: str) -> Alert | None:
    return Alert.objects.select_for_update().filter(key=key, resolved_at__isnull=True).order_by("pk").first()


def quarantine_for_update(*, message_id: int) -> QuarantinedMessage:
    return QuarantinedMessage.objects.select_for_update(of=("self",)).get(pk=message_id)


def unresolved_quarantine_for_update(*, channel_id: int, payload_sha256: str) -> QuarantinedMessage | None:
    return (
        QuarantinedMessage.objects.select_for_update()
        .filter(channel_id=channel_id, payload_sha256=payload_sha256, resolved_at__isnull=True)
        .order_by("pk")
        .first()
    )


def inbox_claimable_for_update(*, now: datetime, limit: int) -> list[int]:
    """Ids of the oldest undecided inbox messages nobody holds: `FOR UPDATE SKIP LOCKED`, so drainers
    on several machines each take a different batch instead of queueing behind one another (SQLite
    ignores it; there the IMMEDIATE transaction lets one claimer in at a time)."""
    return list(
        InboxMessage.objects.select_for_update(skip_locked=True)
        .filter(decided_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
