"""The stranded-order guard (issue 13): orders sitting in a non-terminal stage longer than its limit
(orders.StageLimit, editable in the admin) raise one alert per stuck path — a state and lane, a to-do
list, or shipped-but-not-written-back — naming the path and the count; the alert clears itself on the
first check that finds the path moving again. Set-based: one grouped query per kind of stage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from orders import locks
from orders.models import Alert, AlertSeverity, FlowRollupMark, Lane, Order, OrderEvent, OrderState, StageLimit
from orders.services import alert_raise, alert_resolve
from orders.workflow_selectors import Limits, hour_start, stage_limits

ALERT_PREFIX = "workflow:stranded:"
ALERT_SOURCE = "workflow"
#: states whose orders wait on OrderHub's own flow (on hold is checked by its to-dos' due times)
TIMED_STATES = (
    OrderState.NEW,
    OrderState.AWAITING_STOCK,
    OrderState.READY,
    OrderState.PRINTED,
    OrderState.PARTIALLY_SHIPPED,
)


@dataclass(frozen=True)
class StuckPath:
    key: str
    name: str
    count: int
    limit: timedelta | None
    list_url: str


def stranded_paths(*, now: datetime | None = None, limits: Limits | None = None) -> list[StuckPath]:
    """Every path with orders waiting past its limit, now."""
    now = now or timezone.now()
    limits = limits or stage_limits()
    return [
        *_stuck_states(now=now, limits=limits),
        *_stuck_todo_lists(now=now, limits=limits),
        *_stuck_write_backs(now=now, limits=limits),
    ]


@transaction.atomic
def stranded_orders_check(*, now: datetime | None = None) -> dict[str, int]:
    """Raise (or bump) one alert per stuck path; resolve the alerts of paths that moved. Idempotent:
    a second run at the same moment raises nothing new and resolves nothing more."""
    now = now or timezone.now()
    stuck = stranded_paths(now=now)
    for path in stuck:
        limit = _duration(path.limit) if path.limit is not None else _("its to-do's due time")
        alert_raise(
            key=ALERT_PREFIX + path.key,
            source=ALERT_SOURCE,
            severity=AlertSeverity.WARNING,
            message=_("Stranded orders: %(count)s in “%(path)s” for longer than %(limit)s. List: %(url)s")
            % {"count": path.count, "path": path.name, "limit": limit, "url": path.list_url},
        )
    keys = {ALERT_PREFIX + path.key for path in stuck}
    moved = 0
    for key in Alert.objects.filter(key__startswith=ALERT_PREFIX, resolved_at__isnull=True).values_list(
        "key", flat=True
    ):
        if key not in keys:
            moved += alert_resolve(key=key)
    return {"stuck_paths": len(stuck), "stuck_orders": sum(p.count for p in stuck), "cleared": moved}


def _lane_label(lane: str) -> str:
    return str(Lane(lane).label) if lane in Lane.values else lane


def _duration(value: timedelta) -> str:
    from orders.workflow_diagram import duration

    return duration(value)


def _orders_url(**params) -> str:
    return reverse("admin:orders_order_changelist") + "?" + urlencode(params)


def _stuck_states(*, now: datetime, limits: Limits) -> list[StuckPath]:
    groups = (
        Order.objects.filter(state__in=TIMED_STATES)
        .values("state", "lane")
        .annotate(oldest=Min("state_changed_at"))
        .order_by("state", "lane")
    )
    stuck = []
    for group in groups:
        state, lane = group["state"], group["lane"]
        has_limit, limit = limits.for_stage(state, lane)
        if not has_limit or limit is None or group["oldest"] >= now - limit:
            continue
        count = Order.objects.filter(state=state, lane=lane, state_changed_at__lt=now - limit).count()
        stuck.append(
            StuckPath(
                key=f"{state}:{lane or 'normal'}",
                name=f"{OrderState(state).label} · {_lane_label(lane)}",
                count=count,
                limit=limit,
                list_url=_orders_url(state=state, lane__exact=lane),
            )
        )
    return stuck


def _stuck_todo_lists(*, now: datetime, limits: Limits) -> list[StuckPath]:
    """On hold: per exception type, orders whose open to-do is past its due time (or the limit)."""
    from rules.models import ExceptionTask, ExceptionType, TaskState

    has_limit, limit = limits.for_stage(StageLimit.Stage.ON_HOLD)
    if not has_limit:
        return []
    late = Q(due_at__lt=now) if limit is None else Q(created_at__lt=now - limit)
    rows = (
        ExceptionTask.objects.filter(late, state=TaskState.OPEN, order__state=OrderState.ON_HOLD)
        .values("exception_type_id")
        .annotate(n=Count("order_id", distinct=True))
        .order_by("exception_type_id")
    )
    names = dict(ExceptionType.objects.values_list("pk", "name"))
    codes = dict(ExceptionType.objects.values_list("pk", "code"))
    changelist = reverse("admin:rules_exceptiontask_changelist")
    return [
        StuckPath(
            key=f"on_hold:{codes[row['exception_type_id']]}",
            name=_("On hold · to-do: %(type)s") % {"type": names[row["exception_type_id"]]},
            count=row["n"],
            limit=limit,
            list_url=changelist
            + "?"
            + urlencode({"state": TaskState.OPEN, "exception_type__id__exact": row["exception_type_id"]}),
        )
        for row in rows
    ]


def _stuck_write_backs(*, now: datetime, limits: Limits) -> list[StuckPath]:
    """Shipped but the platform not told: write-backs still pending past the limit."""
    from shipping.models import OutboxState, WriteBack

    has_limit, limit = limits.for_stage(StageLimit.Stage.SHIPPED_NO_WRITE_BACK)
    if not has_limit or limit is None:
        return []
    count = (
        WriteBack.objects.filter(state=OutboxState.PENDING, created_at__lt=now - limit)
        .values("order_id")
        .distinct()
        .order_by()
        .count()
    )
    if not count:
        return []
    return [
        StuckPath(
            key="shipped:no_write_back",
            name=str(StageLimit.Stage.SHIPPED_NO_WRITE_BACK.label),
            count=count,
            limit=limit,
            list_url=reverse("admin:shipping_writeback_changelist") + "?" + urlencode({"state__exact": "pending"}),
        )
    ]


# ---- the workflow page's hourly rollup ---------------------------------------------------------------
#: every run counts these closed hours again (replacing their rows), so events and orders committed
#: late (a long transaction stamps `at` when it starts) are still counted
ROLLUP_RECOUNT = timedelta(hours=2)


def flow_rollup(*, now: datetime | None = None) -> dict:
    """Re-aggregate the workflow page's figures per closed UTC hour into FlowHour (schedule "orders:
    workflow rollup"): the first run counts all history, later runs the hours since the last run plus
    the ROLLUP_RECOUNT before it, replacing their rows in one transaction — idempotent, and safe to run
    twice at once (the mark row is locked, its first insert too). Reads the events and orders in
    bulk, never locks them."""
    from orders.models import FlowHour
    from orders.workflow_selectors import flow_counts, hour_start

    upto = hour_start(now or timezone.now())
    with transaction.atomic():
        mark = locks.flow_rollup_mark_for_update()
        if mark is None:
            mark = _first_mark(upto=upto)
        start = max(mark.since, min(mark.upto, upto) - ROLLUP_RECOUNT)
        counts = flow_counts(start=start, end=upto, by_hour=True)
        deleted, _rows = FlowHour.objects.filter(bucket__gte=start, bucket__lt=upto).delete()
        FlowHour.objects.bulk_create(
            FlowHour(bucket=hour, kind=kind, from_state=from_state, lane=lane, channel_pk=channel, count=n)
            for (hour, kind, from_state, lane, channel), n in counts.items()
            if n
        )
        mark.upto = max(mark.upto, upto)
        mark.save(update_fields=["upto"])
    return {"from": start.isoformat(), "upto": upto.isoformat(), "rows": len(counts), "replaced": deleted}


def _first_mark(*, upto: datetime) -> FlowRollupMark:
    """The mark of a first run, inserted and locked. Two first runs at once both find no mark: the
    insert skips a row another run has inserted (ON CONFLICT DO NOTHING; on PostgreSQL it waits for
    that run to commit or roll back), then the lock reads whichever row is there, so the later run
    carries on from the first one's mark instead of failing on the duplicate key."""
    earliest = [
        at
        for at in (
            Order.objects.aggregate(at=Min("received_at"))["at"],
            OrderEvent.objects.exclude(kind="received").aggregate(at=Min("at"))["at"],
        )
        if at is not None
    ]
    since = hour_start(min(earliest)) if earliest else upto
    FlowRollupMark.objects.bulk_create([FlowRollupMark(pk=1, since=since, upto=since)], ignore_conflicts=True)
    return locks.flow_rollup_mark_for_update()
