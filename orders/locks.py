"""Every locking queryset of the orders app. Lock order everywhere: order → lines → stock rows by pk."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.models import Channel, Order


def order_for_update(*, order_id: int) -> Order:
    return Order.objects.select_for_update().select_related("channel").get(pk=order_id)


def order_by_external_id_for_update(*, channel_id: int, external_id: str) -> Order | None:
    return (
        Order.objects.select_for_update()
        .select_related("channel")
        .filter(channel_id=channel_id, external_id=external_id)
        .first()
    )


def orders_for_update(*, order_ids: list[int]) -> QuerySet[Order]:
    return Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk")


def channel_for_update(*, channel_id: int) -> Channel:
    return Channel.objects.select_for_update().get(pk=channel_id)
