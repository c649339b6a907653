"""Cross-app reads for the ops summary on the admin index."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from orders.models import AWAITING_SHIPMENT_STATES, Alert, Channel, Order


@dataclass
class OpsSummary:
    #: orders per open state (AWAITING_SHIPMENT_STATES); closed states are not counted here
    by_state: dict[str, int]
    overdue: int
    at_risk: int
    received_today: int
    my_open_exceptions: int
    open_exceptions: int
    open_alerts: int
    failing_channels: int
    #: per channel with any: orders past their ship-by time and with less than 1 h left (shipping.notices.selectors)
    deadlines_by_channel: list


def ops_summary(*, user) -> OpsSummary:
    from rules.models import ExceptionTask, TaskState
    from shipping.notices.selectors import ship_by_counts_by_channel

    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    # open states only: an index range scan over the orders still in the warehouse's hands; the
    # closed states (shipped, delivered, …) grow without bound and the page does not show them
    counts = dict(
        Order.objects.filter(state__in=AWAITING_SHIPMENT_STATES).values_list("state").annotate(n=Count("*")).order_by()
    )
    open_tasks = ExceptionTask.objects.filter(state=TaskState.OPEN)
    mine = open_tasks.filter(assignee_user=user) | open_tasks.filter(assignee_group__in=user.groups.all())
    return OpsSummary(
        by_state={state: counts.get(state, 0) for state in AWAITING_SHIPMENT_STATES},
        overdue=Order.objects.overdue().count(),
        at_risk=Order.objects.at_risk().count(),
        received_today=Order.objects.filter(received_at__gte=start_of_day).count(),
        my_open_exceptions=mine.distinct().count(),
        open_exceptions=open_tasks.count(),
        open_alerts=Alert.objects.filter(resolved_at__isnull=True).count(),
        failing_channels=Channel.objects.filter(enabled=True, consecutive_pull_failures__gt=0).count(),
        deadlines_by_channel=ship_by_counts_by_channel(),
    )
