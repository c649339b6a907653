"""Order reads."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import Channel, Order, OrderState


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


#: what an order in each state waits for, in the words its summary shows
WAITING_FOR = {
    OrderState.NEW: _("the checks (rules, stock)"),
    OrderState.READY: _("printing: it is in the print queue"),
    OrderState.ON_HOLD: _("a person to clear its hold"),
    OrderState.AWAITING_STOCK: _("stock to arrive"),
    OrderState.PRINTED: _("the outbound scan"),
    OrderState.PARTIALLY_SHIPPED: _("the rest of its parcels to leave"),
    OrderState.SHIPPED: _("delivery"),
    OrderState.DELIVERED: _("nothing: delivered"),
    OrderState.RETURNED: _("nothing: returned"),
    OrderState.CANCELLED: _("nothing: cancelled"),
}


@dataclass
class OrderSummary:
    """The top of the order page: where the order stands, what it waits for, who has it, by when."""

    order: Order
    waiting_for: str
    open_tasks: list
    tasks: list
    parcels: list


def order_summary(*, order: Order) -> OrderSummary:
    """Three reads: the order's exception tasks (open first), its parcels, nothing else."""
    from rules.models import ExceptionTask, TaskState
    from shipping.models import Shipment

    tasks = list(
        ExceptionTask.objects.filter(order=order)
        .select_related("exception_type", "assignee_user", "assignee_group", "resolved_by")
        .order_by("-state", "due_at", "id")  # "open" sorts after "resolved": reversed
    )
    open_tasks = [task for task in tasks if task.state == TaskState.OPEN]
    waiting_for = str(WAITING_FOR.get(order.state, ""))
    if order.platform_hold:
        waiting_for = str(_("the platform to lift its hold"))
    elif open_tasks:
        waiting_for = str(_("a person to resolve: %(types)s")) % {
            "types": ", ".join(str(task.exception_type.name) for task in open_tasks)
        }
    parcels = list(Shipment.objects.filter(lines__order=order).select_related("carrier").distinct().order_by("id"))
    return OrderSummary(order=order, waiting_for=waiting_for, open_tasks=open_tasks, tasks=tasks, parcels=parcels)
