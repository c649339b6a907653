"""The figures of the admin index dashboard: throughput over the last 14 days by channel, what is
late, who holds the open exceptions, and the queues behind the warehouse and the platforms.

Reads only, each a grouped query over an indexed column bounded to the window. The shipped figures
of a closed day never change (a day's ship events are all in), so each closed day is computed once and
kept in the cache; so is each settled hour of today (a busy day holds as many orders as a quiet week), and
only the hours since are read live, which keeps the page fast at a million orders and on a flash-sale day."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Count, F, Func, IntegerField, Min, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from orders.models import Channel, Lane, Order, OrderEvent, OrderState
from rules.labels import group_label

WINDOW_DAYS = 14
#: the seed's yardstick: an order ships within its channel's window (ship_by, 4 h by default)
SLA_HOURS = 4
#: closed days are kept this long; a day leaves the 14-day window long before it would expire
CLOSED_DAY_CACHE_SECONDS = 16 * 24 * 3600
#: an hour of today is cached once it ended this long ago (every order and ship event in it has committed)
HOUR_SETTLED_AFTER = dt.timedelta(minutes=5)
HOUR_CACHE_SECONDS = 26 * 3600
_CACHE_VERSION = 1


class MinutesBetween(Func):
    """Whole minutes from `start` to `end`, computed by the database (grouped on, never fetched row by row)."""

    output_field = IntegerField()
    arity = 2
    arg_joiner = " - "
    template = "FLOOR(EXTRACT(EPOCH FROM (%(expressions)s)) / 60)"

    def __init__(self, start, end) -> None:
        super().__init__(end, start)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="CAST(ROUND((julianday(%(expressions)s)) * 1440, 6) AS INTEGER)",  # julianday is a float
            arg_joiner=") - julianday(",
            **extra_context,
        )


@dataclass
class Throughput:
    """Orders in, orders shipped, and how long paid → shipped took (a histogram in whole minutes)."""

    orders_in: int = 0
    shipped: int = 0
    shipped_in_time: int = 0
    minutes: Counter = field(default_factory=Counter)

    def add(self, other: Throughput) -> None:
        self.orders_in += other.orders_in
        self.shipped += other.shipped
        self.shipped_in_time += other.shipped_in_time
        self.minutes.update(other.minutes)
        self.__dict__.pop("_cumulative", None)

    @cached_property
    def _cumulative(self) -> tuple[list[int], list[int]]:
        """Minutes in order and the running count up to each: sorted once, however often asked."""
        minutes = sorted(self.minutes)
        running, seen = [], 0
        for minute in minutes:
            seen += self.minutes[minute]
            running.append(seen)
        return minutes, running

    @property
    def sla_share(self) -> float | None:
        """Share of shipped orders that left before their ship-by time (None: nothing shipped)."""
        return self.shipped_in_time / self.shipped if self.shipped else None

    def percentile(self, share: float) -> int | None:
        """Paid → shipped minutes at `share` (0.5 = median) of the shipped orders with a paid time."""
        minutes, running = self._cumulative
        if not minutes:
            return None
        index = bisect_left(running, share * running[-1])
        return minutes[min(index, len(minutes) - 1)]

    @property
    def p50(self) -> int | None:
        return self.percentile(0.5)

    @property
    def p90(self) -> int | None:
        return self.percentile(0.9)


@dataclass
class ChannelThroughput:
    channel: Channel
    today: Throughput
    window: Throughput


@dataclass
class DayThroughput:
    day: dt.date
    start: dt.datetime
    end: dt.datetime
    figures: Throughput


@dataclass
class Dashboard:
    now: dt.datetime
    days: list[DayThroughput]
    channels: list[ChannelThroughput]
    today: Throughput
    window: Throughput
    overdue: int
    at_risk: int
    deadlines_by_channel: list
    exceptions_by_type: list[dict]
    exceptions_by_person: list[dict]
    open_exceptions: int
    my_open_exceptions: int
    print_queue_by_lane: list[dict]
    write_backs_pending: int
    write_backs_failed: list[dict]
    push_failures: int
    presale_skus: int
    last_reconciliation: object | None
    open_alerts: int
    failing_channels: int

    @property
    def print_queue_total(self) -> int:
        return sum(row["count"] for row in self.print_queue_by_lane)

    @property
    def write_backs_dead_letters(self) -> int:
        return sum(row["count"] for row in self.write_backs_failed if row["failure"] == "dead_letter")


def _day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


def _throughput_by_day_and_channel(
    start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> dict[dt.date, dict[int, Throughput]]:
    """Two grouped reads over [start, end): orders in by received_at, ship events by their time."""
    figures: dict[dt.date, dict[int, Throughput]] = defaultdict(lambda: defaultdict(Throughput))
    received = (
        Order.objects.filter(received_at__gte=start, received_at__lt=end)
        .annotate(day=TruncDate("received_at", tzinfo=tz))
        .values_list("day", "channel_id")
        .annotate(n=Count("*"))  # COUNT(*), not COUNT(id): answered from the (received_at, channel) index
        .order_by()
    )
    for day, channel_id, n in received:
        figures[day][channel_id].orders_in += n
    in_time = Q(order__ship_by__isnull=True) | Q(at__lte=F("order__ship_by"))
    shipped = (
        OrderEvent.objects.filter(kind="ship", at__gte=start, at__lt=end)
        .annotate(day=TruncDate("at", tzinfo=tz), minutes=MinutesBetween(F("order__paid_at"), F("at")))
        .values_list("day", "order__channel_id", "minutes")
        .annotate(n=Count("id"), in_time=Count("id", filter=in_time))
        .order_by()
    )
    for day, channel_id, minutes, n, shipped_in_time in shipped:
        row = figures[day][channel_id]
        row.shipped += n
        row.shipped_in_time += shipped_in_time
        if minutes is not None and minutes >= 0:  # no paid time, or paid after the scan: no lead time
            row.minutes[int(minutes)] += n
    return figures


def _closed_day(day: dt.date, tz: ZoneInfo) -> dict[int, Throughput]:
    """A finished day's figures per channel, from the cache or computed once and kept."""
    key = f"orderhub:dashboard:day:{_CACHE_VERSION}:{tz.key}:{day.isoformat()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    start, end = _day_bounds(day, tz)
    figures = dict(_throughput_by_day_and_channel(start, end, tz).get(day, {}))
    cache.set(key, figures, CLOSED_DAY_CACHE_SECONDS)
    return figures


def _today(now: dt.datetime, tz: ZoneInfo) -> dict[int, Throughput]:
    """Today's figures per channel: its settled hours from the cache (each computed once), the rest live."""
    today = now.astimezone(tz).date()
    start, end = _day_bounds(today, tz)
    hours = []
    hour = start.astimezone(dt.UTC)
    while hour + dt.timedelta(hours=1) <= min(end, now - HOUR_SETTLED_AFTER):
        hours.append(hour)
        hour += dt.timedelta(hours=1)
    keys = {h: f"orderhub:dashboard:hour:{_CACHE_VERSION}:{tz.key}:{h.isoformat()}" for h in hours}
    cached = cache.get_many(list(keys.values()))
    figures: dict[int, Throughput] = defaultdict(Throughput)
    fresh = {}
    for h in hours:
        hour_figures = cached.get(keys[h])
        if hour_figures is None:
            hour_figures = dict(_throughput_by_day_and_channel(h, h + dt.timedelta(hours=1), tz).get(today, {}))
            fresh[keys[h]] = hour_figures
        for channel_id, row in hour_figures.items():
            figures[channel_id].add(row)
    if fresh:
        cache.set_many(fresh, HOUR_CACHE_SECONDS)
    for channel_id, row in _throughput_by_day_and_channel(hour, end, tz).get(today, {}).items():
        figures[channel_id].add(row)
    return dict(figures)


def throughput_days(*, now: dt.datetime | None = None, days: int = WINDOW_DAYS) -> list[tuple[dt.date, dict]]:
    """The last `days` local days (today last), each {channel_id: Throughput}."""
    now = now or timezone.now()
    tz = ZoneInfo(timezone.get_current_timezone_name())
    today = now.astimezone(tz).date()
    result = []
    for offset in range(days - 1, 0, -1):
        day = today - dt.timedelta(days=offset)
        result.append((day, _closed_day(day, tz)))
    result.append((today, _today(now, tz)))
    return result


def _exceptions(limit: int = 12) -> tuple[list[dict], list[dict], int]:
    from rules.models import ExceptionTask, ExceptionType, TaskState

    open_tasks = ExceptionTask.objects.filter(state=TaskState.OPEN).order_by()
    by_type_rows = list(
        open_tasks.values("exception_type").annotate(n=Count("id"), oldest=Min("created_at")).order_by("oldest")
    )
    types = ExceptionType.objects.in_bulk([row["exception_type"] for row in by_type_rows])
    by_type = [
        {"type": types[row["exception_type"]], "count": row["n"], "oldest": row["oldest"]}
        for row in by_type_rows
        if row["exception_type"] in types
    ]
    by_person_rows = list(
        open_tasks.values("assignee_user", "assignee_user__username", "assignee_group", "assignee_group__name")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by("oldest")[:limit]
    )
    by_person = [
        {
            "user_id": row["assignee_user"],
            "group_id": row["assignee_group"] if row["assignee_user"] is None else None,
            "name": row["assignee_user__username"] or group_label(row["assignee_group__name"] or ""),
            "count": row["n"],
            "oldest": row["oldest"],
        }
        for row in by_person_rows
    ]
    return by_type, by_person, sum(row["count"] for row in by_type)


def _print_queue_by_lane() -> list[dict]:
    counts = dict(Order.objects.filter(state=OrderState.READY).values_list("lane").annotate(n=Count("lane")).order_by())
    return [{"lane": value, "label": label, "count": counts.get(value, 0)} for value, label in Lane.choices]


def _write_backs() -> tuple[int, list[dict]]:
    from shipping.models import OutboxState, WriteBack, WriteBackFailure

    rows = dict(
        WriteBack.objects.filter(state__in=[OutboxState.PENDING, OutboxState.FAILED])
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    failed = dict(
        WriteBack.objects.filter(state=OutboxState.FAILED).values_list("failure").annotate(n=Count("id")).order_by()
    )
    failures = [
        {"failure": value, "label": label, "count": failed.get(value, 0)} for value, label in WriteBackFailure.choices
    ]
    return rows.get(OutboxState.PENDING, 0), failures


def _deadlines(now: dt.datetime, within: dt.timedelta = dt.timedelta(hours=1)) -> list:
    """Per channel with any: orders past their ship-by time and with less than `within` left (as
    shipping.notices.selectors.ship_by_counts_by_channel, counted from the (state, ship_by, channel)
    index alone)."""
    from shipping.notices.selectors import ChannelDeadlines

    rows = list(
        Order.objects.awaiting_shipment()
        .filter(ship_by__lt=now + within)
        .values_list("channel")
        .annotate(  # counted on ship_by, a column of the index (COUNT(id) would read every row)
            overdue=Count("ship_by", filter=Q(ship_by__lt=now)), at_risk=Count("ship_by", filter=Q(ship_by__gte=now))
        )
        .order_by("channel")
    )
    channels = Channel.objects.in_bulk([row[0] for row in rows])
    return [
        ChannelDeadlines(channel=channels[pk], overdue=overdue, at_risk=at_risk)
        for pk, overdue, at_risk in rows
        if pk in channels
    ]


def dashboard(*, user, now: dt.datetime | None = None) -> Dashboard:
    """Everything the admin index shows, in one call (about 15 small queries)."""
    from inventory.models import ChannelListing, ReconciliationRun, Sku
    from orders.models import Alert
    from rules.models import ExceptionTask

    now = now or timezone.now()
    tz = ZoneInfo(timezone.get_current_timezone_name())
    days = throughput_days(now=now)
    channels = list(Channel.objects.order_by("id"))
    per_channel = {c.pk: ChannelThroughput(channel=c, today=Throughput(), window=Throughput()) for c in channels}
    day_rows, today_total, window_total = [], Throughput(), Throughput()
    for day, figures in days:
        total = Throughput()
        for channel_id, row in figures.items():
            total.add(row)
            if channel_id in per_channel:
                per_channel[channel_id].window.add(row)
                if day == days[-1][0]:
                    per_channel[channel_id].today.add(row)
        start, end = _day_bounds(day, tz)
        day_rows.append(DayThroughput(day=day, start=start, end=end, figures=total))
        window_total.add(total)
    today_total.add(day_rows[-1].figures)
    deadline_rows = _deadlines(now)
    by_type, by_person, open_exceptions = _exceptions()
    pending, failed = _write_backs()
    return Dashboard(
        now=now,
        days=day_rows,
        channels=[
            row
            for row in per_channel.values()
            if row.window.orders_in or row.window.shipped or row.channel.pk in {d.channel.pk for d in deadline_rows}
        ],
        today=today_total,
        window=window_total,
        overdue=sum(row.overdue for row in deadline_rows),
        at_risk=sum(row.at_risk for row in deadline_rows),
        deadlines_by_channel=deadline_rows,
        exceptions_by_type=by_type,
        exceptions_by_person=by_person,
        open_exceptions=open_exceptions,
        my_open_exceptions=ExceptionTask.objects.open().for_user(user).count(),
        print_queue_by_lane=_print_queue_by_lane(),
        write_backs_pending=pending,
        write_backs_failed=failed,
        push_failures=ChannelListing.objects.filter(push_failures__gt=0).count(),
        presale_skus=Sku.objects.filter(on_presale=True).count(),
        last_reconciliation=ReconciliationRun.objects.order_by("-id").first(),
        open_alerts=Alert.objects.filter(resolved_at__isnull=True).count(),
        failing_channels=Channel.objects.filter(enabled=True, consecutive_pull_failures__gt=0).count(),
    )
