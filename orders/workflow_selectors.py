"""The order flow as one graph with live figures: channels → intake checks → rules in priority order →
to-do lists, awaiting stock, lanes → print → scan → write-back → delivered (issue 13).

Every figure is a grouped query (no per-order Python): orders received per channel, rule hits per rule,
open tasks per exception type, orders waiting per state and lane (index order_state_lane_since), state
changes per (kind, from state, lane) in the period, write-backs waiting. Orders received and state
changes come from the hourly rollup (FlowHour) for the hours it covers and from the rows for the rest
(`period_flow`): the page stays fast at a million orders whether or not the job ran. The graph is data
(`Workflow`: boxes and edges); orders/workflow_diagram.py draws it.

What an edge counts (orders in the period, each counted once per edge):
- channel → intake: orders received; intake → rule: orders the rule matched (its hits);
- rule → to-do list / lane: orders the rule acted on (enforced hits); a shadow match is a dashed edge;
- intake → to-do list: to-dos raised by a system check (no rule); to-do list → on hold: to-dos raised;
- state → state: the state changes recorded as order events (accept, hold, release, print, ship, …);
- shipped → write-back: write-backs written; write-back → delivered: orders delivered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import Trunc
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from orders.models import Channel, Lane, Order, OrderEvent, OrderState, StageLimit

#: periods the page offers (days); the default is the last day
PERIOD_DAYS = (1, 7, 30)
#: orders of last week a shadow rule's preview evaluates in Python when its conditions are not all SQL
PREVIEW_SAMPLE = 2000
PREVIEW_CACHE_SECONDS = 600

WAIT_STATES = (
    OrderState.NEW,
    OrderState.ON_HOLD,
    OrderState.AWAITING_STOCK,
    OrderState.READY,
    OrderState.PRINTED,
    OrderState.PARTIALLY_SHIPPED,
    OrderState.SHIPPED,
)


@dataclass
class Figures:
    """A box's live numbers: orders that took it in the period, orders there now and how long they wait."""

    took: int = 0
    waiting: int = 0
    median_wait: timedelta | None = None
    oldest_wait: timedelta | None = None
    limit: timedelta | None = None
    #: waiting past the stage's limit (the stranded-order guard alerts on these)
    stranded: int = 0


@dataclass
class Box:
    key: str
    column: int
    title: str
    lines: list[str] = field(default_factory=list)
    figures: Figures = field(default_factory=Figures)
    url: str = ""
    #: receives orders but nothing drains it and no one is assigned
    dead_end: bool = False
    shadow: bool = False
    terminal: bool = False
    #: where "waiting" links to (the list of the orders or to-dos waiting here)
    list_url: str = ""

    @property
    def red(self) -> bool:
        return self.figures.stranded > 0


@dataclass
class Edge:
    source: str
    target: str
    count: int
    shadow: bool = False


@dataclass
class Workflow:
    start: datetime
    end: datetime
    days: int
    boxes: list[Box]
    edges: list[Edge]

    def box(self, key: str) -> Box:
        return next(b for b in self.boxes if b.key == key)

    def edge_count(self, source: str, target: str, *, shadow: bool = False) -> int:
        return sum(e.count for e in self.edges if e.source == source and e.target == target and e.shadow == shadow)

    @property
    def red_boxes(self) -> list[Box]:
        return [b for b in self.boxes if b.red]

    @property
    def dead_ends(self) -> list[Box]:
        return [b for b in self.boxes if b.dead_end]


# ---- stage limits ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """The enabled limits: per (stage, lane), falling back to the stage's all-lanes row."""

    rows: dict[tuple[str, str], int | None]

    def for_stage(self, stage: str, lane: str = "") -> tuple[bool, timedelta | None]:
        """(has a limit, its length); on hold with an empty limit: (True, None) = the to-do's due time."""
        for key in ((stage, lane), (stage, "")):
            if key in self.rows:
                minutes = self.rows[key]
                return True, None if minutes is None else timedelta(minutes=minutes)
        return False, None


def stage_limits() -> Limits:
    rows = StageLimit.objects.filter(enabled=True).values_list("stage", "lane", "limit_minutes")
    return Limits(rows={(stage, lane): minutes for stage, lane, minutes in rows})


# ---- waits ----------------------------------------------------------------------------------------
def _median(queryset: QuerySet, field_name: str, count: int) -> datetime | None:
    """The middle value of `field_name` over `count` rows: one index-ordered OFFSET query (portable,
    and an index range scan where the index leads with the filter's columns)."""
    if not count:
        return None
    return queryset.order_by(field_name).values_list(field_name, flat=True)[count // 2]


def _wait(now: datetime, since: datetime | None) -> timedelta | None:
    return None if since is None else max(now - since, timedelta(0))


def waiting_orders(*, now: datetime, limits: Limits) -> dict[tuple[str, str], Figures]:
    """(state, lane) → orders there now, median and oldest wait, and how many wait past the limit."""
    rows = (
        Order.objects.filter(state__in=WAIT_STATES)
        .values("state", "lane")
        .annotate(n=Count("*"), oldest=Min("state_changed_at"))
        .order_by()
    )
    result: dict[tuple[str, str], Figures] = {}
    for row in rows:
        state, lane = row["state"], row["lane"]
        here = Order.objects.filter(state=state, lane=lane)
        has_limit, limit = limits.for_stage(state, lane)
        stranded = 0
        if has_limit and limit is not None and state != OrderState.SHIPPED:
            stranded = here.filter(state_changed_at__lt=now - limit).count()
        result[(state, lane)] = Figures(
            waiting=row["n"],
            median_wait=_wait(now, _median(here, "state_changed_at", row["n"])),
            oldest_wait=_wait(now, row["oldest"]),
            limit=limit,
            stranded=stranded,
        )
    return result


def _merge(figures: list[Figures]) -> Figures:
    """Several (state, lane) groups drawn as one box: sums, the oldest, the largest group's median."""
    if not figures:
        return Figures()
    biggest = max(figures, key=lambda f: f.waiting)
    oldest = [f.oldest_wait for f in figures if f.oldest_wait is not None]
    return Figures(
        waiting=sum(f.waiting for f in figures),
        median_wait=biggest.median_wait,
        oldest_wait=max(oldest) if oldest else None,
        limit=biggest.limit,
        stranded=sum(f.stranded for f in figures),
    )


def open_tasks_by_type(*, now: datetime, limits: Limits) -> dict[int, dict]:
    """Exception type id → open to-dos, waits, overdue/stranded and unassigned counts."""
    from rules.models import ExceptionTask, TaskState

    has_limit, limit = limits.for_stage(StageLimit.Stage.ON_HOLD)
    late = Q(due_at__lt=now) if limit is None else Q(created_at__lt=now - limit)
    rows = (
        ExceptionTask.objects.filter(state=TaskState.OPEN)
        .values("exception_type_id")
        .annotate(
            n=Count("id"),
            oldest=Min("created_at"),
            stranded=Count("id", filter=late),
            unassigned=Count("id", filter=Q(assignee_user__isnull=True, assignee_group__isnull=True)),
        )
        .order_by()
    )
    result = {}
    for row in rows:
        here = ExceptionTask.objects.filter(state=TaskState.OPEN, exception_type_id=row["exception_type_id"])
        result[row["exception_type_id"]] = {
            "figures": Figures(
                waiting=row["n"],
                median_wait=_wait(now, _median(here, "created_at", row["n"])),
                oldest_wait=_wait(now, row["oldest"]),
                limit=limit,
                stranded=row["stranded"] if has_limit else 0,
            ),
            "unassigned": row["unassigned"],
        }
    return result


# ---- the graph ------------------------------------------------------------------------------------
def _lane_label(lane: str) -> str:
    return str(Lane(lane).label) if lane in Lane.values else lane


def _state_label(state: str) -> str:
    return str(OrderState(state).label)


def describe_conditions(rule) -> list[str]:
    """A rule's condition rows in words, in the reader's language."""
    from rules.conditions import NO_VALUE_OPERATORS, OPERATORS
    from rules.facts import FACTS

    words = []
    for condition in sorted(rule.conditions.all(), key=lambda c: (c.position, c.pk)):
        fact = FACTS.get(condition.field)
        label = str(fact.label) if fact else condition.field
        operator = str(OPERATORS.get(condition.operator, condition.operator))
        value = "" if condition.operator in NO_VALUE_OPERATORS else f" {condition.value}"
        words.append(f"{label} {operator}{value}")
    return words


def _rule_lines(rule) -> list[str]:
    joiner = _(" and ") if rule.combinator == "all" else _(" or ")
    conditions = joiner.join(describe_conditions(rule)) or _("(no conditions: matches every order)")
    mode = _("shadow") if rule.mode == "shadow" else _("enforced")
    lines = [conditions, _("%(mode)s · rollout %(percent)s%%") % {"mode": mode, "percent": rule.rollout_percent}]
    if rule.skip_lane_list:
        lines.append(_("not in lanes: %(lanes)s") % {"lanes": ", ".join(_lane_label(x) for x in rule.skip_lane_list)})
    if rule.action == "tag":
        lines.append(_("adds tag “%(tag)s”") % {"tag": rule.tag})
    elif rule.action == "priority":
        lines.append(_("sets priority %(priority)s") % {"priority": rule.set_priority})
    return lines


def _rule_target(rule) -> str | None:
    if rule.action == "hold" and rule.exception_type_id:
        return f"todo:{rule.exception_type_id}"
    if rule.action == "lane":
        return f"ready:{rule.lane}"
    return None


def _changelist(name: str, **params) -> str:
    from urllib.parse import urlencode

    return reverse(f"admin:{name}_changelist") + ("?" + urlencode(params) if params else "")


def workflow(*, days: int = 1, now: datetime | None = None, with_previews: bool = True) -> Workflow:
    """The whole flow with figures for the last `days` days (waiting figures are always "now")."""
    from rules.models import ExceptionTask, ExceptionType, InterceptRule, RuleHit
    from shipping.models import OutboxState, WaybillAccount, WriteBack

    now = now or timezone.now()
    start = now - timedelta(days=days)
    limits = stage_limits()
    boxes: list[Box] = []
    edges: list[Edge] = []
    waiting = waiting_orders(now=now, limits=limits)

    # 0 channels → 1 intake -------------------------------------------------------------------------
    flow = period_flow(start=start, now=now)
    received = {channel: n for (kind, _f, _l, channel), n in flow.items() if kind == RECEIVED and n}
    channels = Channel.objects.filter(Q(enabled=True) | Q(pk__in=list(received))).order_by("pk")
    for channel in channels:
        boxes.append(
            Box(
                key=f"channel:{channel.pk}",
                column=0,
                title=channel.name,
                lines=[str(channel.get_platform_display())],
                figures=Figures(took=received.get(channel.pk, 0)),
                url=reverse("admin:orders_channel_change", args=[channel.pk]),
            )
        )
        edges.append(Edge(f"channel:{channel.pk}", "intake", received.get(channel.pk, 0)))
    intake = _merge([f for (state, _lane), f in waiting.items() if state == OrderState.NEW])
    intake.took = sum(received.values())
    boxes.append(
        Box(
            key="intake",
            column=1,
            title=_("Order arrives: stock and checks"),
            lines=[_("stock reserved, rules run")],
            figures=intake,
            list_url=_changelist("orders_order", state=OrderState.NEW),
        )
    )

    # 2 rules in the order they run: lane rules first, then by position ------------------------------
    rules = list(
        InterceptRule.objects.filter(enabled=True)
        .select_related("exception_type", "assign_group", "assign_user")
        .prefetch_related("conditions")
    )
    rules.sort(key=lambda r: (r.action != "lane", r.position, r.pk))
    hits = {
        (row["rule_id"], row["enforced"]): row["n"]
        for row in RuleHit.objects.filter(at__gte=start, at__lt=now)
        .values("rule_id", "enforced")
        .annotate(n=Count("order_id", distinct=True))
        .order_by()
    }
    for rule in rules:
        enforced, shadow = hits.get((rule.pk, True), 0), hits.get((rule.pk, False), 0)
        lines = _rule_lines(rule)
        if shadow:
            lines.append(_("shadow matches: %(count)s") % {"count": shadow})
        box = Box(
            key=f"rule:{rule.pk}",
            column=2,
            title=rule.name,
            lines=lines,
            figures=Figures(took=enforced),
            url=reverse("admin:rules_interceptrule_change", args=[rule.pk]),
            shadow=rule.mode == "shadow",
        )
        if with_previews and rule.mode == "shadow":
            preview = rule_preview(rule=rule, now=now)
            box.lines.append(
                _("last week: %(count)s of %(total)s orders would take this path%(sampled)s")
                % {
                    "count": preview["would_act"],
                    "total": preview["total"],
                    "sampled": _(" (estimated from a sample)") if preview["sampled"] else "",
                }
            )
        boxes.append(box)
        edges.append(Edge("intake", box.key, enforced + shadow, shadow=rule.mode == "shadow"))
        target = _rule_target(rule)
        if target:
            if enforced:
                edges.append(Edge(box.key, target, enforced))
            if shadow:
                edges.append(Edge(box.key, target, shadow, shadow=True))

    # 3 to-do lists per exception type -----------------------------------------------------------------
    open_tasks = open_tasks_by_type(now=now, limits=limits)
    raised = defaultdict(int)
    system_raised = defaultdict(int)
    for row in (
        ExceptionTask.objects.filter(created_at__gte=start, created_at__lt=now)
        .values("exception_type_id", "rule_id")
        .annotate(n=Count("order_id", distinct=True))
        .order_by()
    ):
        raised[row["exception_type_id"]] += row["n"]
        if row["rule_id"] is None:
            system_raised[row["exception_type_id"]] += row["n"]
    ruled_types = {rule.exception_type_id for rule in rules if rule.action == "hold"}
    shown_types = ruled_types | set(open_tasks) | set(raised)
    rules_by_type = defaultdict(list)
    for rule in rules:
        if rule.action == "hold":
            rules_by_type[rule.exception_type_id].append(rule)
    for exception_type in ExceptionType.objects.filter(pk__in=shown_types).select_related("default_group"):
        tasks = open_tasks.get(exception_type.pk, {"figures": Figures(), "unassigned": 0})
        figures = tasks["figures"]
        figures.took = raised.get(exception_type.pk, 0)
        groups = {str(r.assign_group) for r in rules_by_type[exception_type.pk] if r.assign_group_id}
        groups |= {str(r.assign_user) for r in rules_by_type[exception_type.pk] if r.assign_user_id}
        if exception_type.default_group_id:
            groups.add(str(exception_type.default_group))
        lines = [_("assigned to: %(who)s") % {"who": ", ".join(sorted(groups)) or _("no one")}]
        if tasks["unassigned"]:
            lines.append(_("unassigned to-dos: %(count)s") % {"count": tasks["unassigned"]})
        receives = figures.waiting > 0 or figures.took > 0
        nobody = (figures.waiting > 0 and tasks["unassigned"] == figures.waiting) or (
            figures.waiting == 0 and not groups
        )
        boxes.append(
            Box(
                key=f"todo:{exception_type.pk}",
                column=3,
                title=_("To-do: %(type)s") % {"type": exception_type.label},
                lines=lines,
                figures=figures,
                url=reverse("admin:rules_exceptiontype_change", args=[exception_type.pk]),
                dead_end=receives and nobody,
                list_url=_changelist("rules_exceptiontask", state="open", exception_type__id__exact=exception_type.pk),
            )
        )
        if system_raised.get(exception_type.pk):
            edges.append(Edge("intake", f"todo:{exception_type.pk}", system_raised[exception_type.pk]))
        if figures.took:
            edges.append(Edge(f"todo:{exception_type.pk}", "state:on_hold", figures.took))

    # state changes in the period: (kind, from state, lane) → orders ----------------------------------
    moves = state_changes(flow=flow)

    def moved(kind: str, from_state: str | None = None, lane: str | None = None) -> int:
        """State changes of one kind in the period (from one state, in one lane: the lane is known
        for the changes into and out of "ready", which are the ones drawn per lane)."""
        table = moves["by_lane"] if lane is not None else moves["all"]
        return sum(
            n
            for (k, f, lane_), n in table.items()
            if k == kind and (from_state is None or f == from_state) and (lane is None or lane_ == lane)
        )

    # 4 on hold, awaiting stock, ready per lane ------------------------------------------------------
    on_hold = _merge([f for (s, _l), f in waiting.items() if s == OrderState.ON_HOLD])
    on_hold.took = moved("hold")
    on_hold.stranded = sum(t["figures"].stranded for t in open_tasks.values())
    boxes.append(
        Box(
            key="state:on_hold",
            column=4,
            title=_state_label(OrderState.ON_HOLD),
            lines=[_("released when its to-dos are resolved")],
            figures=on_hold,
            list_url=_changelist("orders_order", state=OrderState.ON_HOLD),
        )
    )
    awaiting = _merge([f for (s, _l), f in waiting.items() if s == OrderState.AWAITING_STOCK])
    awaiting.took = moved("wait_for_stock")
    boxes.append(
        Box(
            key="state:awaiting_stock",
            column=4,
            title=_state_label(OrderState.AWAITING_STOCK),
            lines=[_("released when stock arrives")],
            figures=awaiting,
            list_url=_changelist("orders_order", state=OrderState.AWAITING_STOCK),
        )
    )
    if moved("wait_for_stock", OrderState.NEW):
        edges.append(Edge("intake", "state:awaiting_stock", moved("wait_for_stock", OrderState.NEW)))
    if moved("wait_for_stock", OrderState.ON_HOLD):
        edges.append(Edge("state:on_hold", "state:awaiting_stock", moved("wait_for_stock", OrderState.ON_HOLD)))

    lane_targets = {rule.lane for rule in rules if rule.action == "lane"}
    lanes = [Lane.NORMAL, *sorted({lane for (_s, lane) in waiting if lane} | lane_targets | _event_lanes(moves))]
    ready_drains = _ready_drains(WaybillAccount)
    for lane in dict.fromkeys(lanes):
        figures = waiting.get((OrderState.READY, lane), Figures())
        figures.took = moved("accept", lane=lane) + moved("release", lane=lane)
        out = moved("mark_printed", OrderState.READY, lane) + moved("ship", OrderState.READY, lane)
        out += moved("cancel", OrderState.READY, lane) + moved("hold", OrderState.READY, lane)
        undrained = ready_drains.get(lane, 0)
        key = f"ready:{lane}"
        lines = [_("lane: %(lane)s") % {"lane": _lane_label(lane)}]
        if undrained:
            lines.append(
                _("no print queue for %(count)s of them (shop without a waybill account)") % {"count": undrained}
            )
        boxes.append(
            Box(
                key=key,
                column=5,
                title=_("Ready to print · %(lane)s") % {"lane": _lane_label(lane)},
                lines=lines,
                figures=figures,
                dead_end=figures.waiting > 0 and undrained == figures.waiting and out == 0,
                list_url=_changelist("orders_order", state=OrderState.READY, lane__exact=lane),
            )
        )
        for source, kind, from_state in (
            ("intake", "accept", OrderState.NEW),
            ("state:on_hold", "release", OrderState.ON_HOLD),
            ("state:awaiting_stock", "release", OrderState.AWAITING_STOCK),
        ):
            if moved(kind, from_state, lane):
                edges.append(Edge(source, key, moved(kind, from_state, lane)))
        if moved("mark_printed", OrderState.READY, lane):
            edges.append(Edge(key, "state:printed", moved("mark_printed", OrderState.READY, lane)))
        if moved("ship", OrderState.READY, lane):
            edges.append(Edge(key, "state:shipped", moved("ship", OrderState.READY, lane)))

    # 6 printed → 7 shipped → 8 write-back → 9 delivered; cancelled ---------------------------------
    printed = _merge([f for (s, _l), f in waiting.items() if s == OrderState.PRINTED])
    printed.took = moved("mark_printed")
    boxes.append(
        Box(
            key="state:printed",
            column=6,
            title=_("Print batches: printed"),
            lines=[_("waiting for the outbound scan")],
            figures=printed,
            url=_changelist("shipping_printbatch"),
            list_url=_changelist("orders_order", state=OrderState.PRINTED),
        )
    )
    partially = _merge([f for (s, _l), f in waiting.items() if s == OrderState.PARTIALLY_SHIPPED])
    partially.took = moved("ship_partially")
    shipped = _merge([f for (s, _l), f in waiting.items() if s == OrderState.SHIPPED])
    shipped.stranded = 0
    shipped.took = moved("ship")
    boxes.append(
        Box(
            key="state:shipped",
            column=7,
            title=_("Parcels scanned: shipped"),
            lines=[
                _("partially shipped: %(count)s waiting") % {"count": partially.waiting},
                _("waiting for delivery"),
            ],
            figures=Figures(
                took=shipped.took + partially.took,
                waiting=shipped.waiting + partially.waiting,
                median_wait=shipped.median_wait,
                oldest_wait=max([w for w in (shipped.oldest_wait, partially.oldest_wait) if w], default=None),
                stranded=partially.stranded,
                limit=partially.limit,
            ),
            url=_changelist("shipping_shipment"),
            list_url=_changelist("orders_order", state=OrderState.SHIPPED),
        )
    )
    shipped_in = moved("ship", OrderState.PRINTED) + moved("ship_partially", OrderState.PRINTED)
    if shipped_in:
        edges.append(Edge("state:printed", "state:shipped", shipped_in))

    write_backs = _write_back_figures(
        WriteBack, OutboxState, shipped_in=moved("ship") + moved("ship_partially"), now=now, limits=limits
    )
    boxes.append(
        Box(
            key="write_back",
            column=8,
            title=_("Write-back to the platform"),
            lines=[_("failed, for a person: %(count)s") % {"count": write_backs.pop("failed")}],
            figures=write_backs.pop("figures"),
            url=_changelist("shipping_writeback"),
            list_url=_changelist("shipping_writeback", state__exact=OutboxState.PENDING),
        )
    )
    if boxes[-1].figures.took:
        edges.append(Edge("state:shipped", "write_back", boxes[-1].figures.took))
    delivered = moved("mark_delivered")
    boxes.append(
        Box(
            key="state:delivered",
            column=9,
            title=_state_label(OrderState.DELIVERED),
            figures=Figures(took=delivered),
            terminal=True,
        )
    )
    if delivered:
        edges.append(Edge("write_back", "state:delivered", delivered))
    cancelled = moved("cancel")
    boxes.append(
        Box(
            key="state:cancelled",
            column=9,
            title=_state_label(OrderState.CANCELLED),
            figures=Figures(took=cancelled),
            terminal=True,
        )
    )
    sources = {
        OrderState.NEW: "intake",
        OrderState.ON_HOLD: "state:on_hold",
        OrderState.AWAITING_STOCK: "state:awaiting_stock",
        OrderState.PRINTED: "state:printed",
    }
    for (kind, from_state, _lane), count in sorted(moves["all"].items()):
        if kind == "cancel" and count and from_state in sources:
            edges.append(Edge(sources[from_state], "state:cancelled", count))
    for (kind, from_state, lane), count in sorted(moves["by_lane"].items()):
        if kind == "cancel" and count and from_state == OrderState.READY:
            edges.append(Edge(f"ready:{lane}", "state:cancelled", count))
    return Workflow(start=start, end=now, days=days, boxes=boxes, edges=_merge_edges(edges))


def _merge_edges(edges: list[Edge]) -> list[Edge]:
    merged: dict[tuple[str, str, bool], int] = defaultdict(int)
    for edge in edges:
        merged[(edge.source, edge.target, edge.shadow)] += edge.count
    return [Edge(s, t, n, shadow) for (s, t, shadow), n in merged.items()]


#: the state changes drawn per lane: into ready, and out of it
LANE_KINDS = ("accept", "release")
#: FlowHour's kind for orders received (per channel)
RECEIVED = "received"

#: (kind, from state, lane, channel id) → count; see FlowHour
FlowKey = tuple[str, str, str, int]


def _ready_related(kind: str, from_state: str) -> bool:
    return kind in LANE_KINDS or from_state == OrderState.READY


def hour_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def flow_counts(*, start: datetime, end: datetime, by_hour: bool = False) -> dict:
    """Counted from the rows themselves, in [start, end): state changes (order events with a target
    state) per (kind, from state) — with the order's lane for those into and out of "ready" — and
    orders received per channel. Keys are FlowKey, or (hour, *FlowKey) with `by_hour` (the rollup
    job's shape). The page asks this only for the edges of its period the rollup does not cover."""
    counts: dict = defaultdict(int)
    if start >= end:
        return counts
    hour = {"hour": Trunc("at", "hour", tzinfo=UTC)} if by_hour else {}
    events = OrderEvent.objects.filter(at__gte=start, at__lt=end).exclude(to_state="").exclude(kind="received")
    ready = Q(kind__in=LANE_KINDS) | Q(from_state=OrderState.READY)
    for query, lane in ((events.exclude(ready), None), (events.filter(ready), "order__lane")):
        fields = [*hour, "kind", "from_state", *([lane] if lane else [])]
        for row in query.annotate(**hour).values(*fields).annotate(n=Count("*")).order_by():
            key = (row["kind"], row["from_state"], row[lane] if lane else "", 0)
            counts[(hour_start(row["hour"]), *key) if by_hour else key] += row["n"]
    hour = {"hour": Trunc("received_at", "hour", tzinfo=UTC)} if by_hour else {}
    received = Order.objects.filter(received_at__gte=start, received_at__lt=end).annotate(**hour)
    for row in received.values(*hour, "channel_id").annotate(n=Count("*")).order_by():
        key = (RECEIVED, "", "", row["channel_id"])
        counts[(hour_start(row["hour"]), *key) if by_hour else key] += row["n"]
    return counts


def period_flow(*, start: datetime, now: datetime) -> dict[FlowKey, int]:
    """The period's flow figures: whole hours the rollup covers from FlowHour, the rest (the period's
    first part hour, and everything after the last rolled-up hour, or all of it if the job never ran)
    counted live. Exact whatever the job did, up to events committed more than the job's re-count
    window after their time (orders.workflow_services.ROLLUP_RECOUNT)."""
    from orders.models import FlowHour, FlowRollupMark

    mark = FlowRollupMark.objects.filter(pk=1).first()
    first_hour = hour_start(start) + (timedelta(hours=1) if hour_start(start) < start else timedelta(0))
    covered = (max(mark.since, first_hour), min(mark.upto, now)) if mark else None
    if covered is None or covered[0] >= covered[1]:
        return flow_counts(start=start, end=now)
    counts = flow_counts(start=start, end=covered[0])
    for key, n in flow_counts(start=covered[1], end=now).items():
        counts[key] += n
    rows = (
        FlowHour.objects.filter(bucket__gte=covered[0], bucket__lt=covered[1])
        .values_list("kind", "from_state", "lane", "channel_pk")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for kind, from_state, lane, channel_pk, n in rows:
        counts[(kind, from_state, lane, channel_pk)] += n
    return counts


def state_changes(*, flow: dict[FlowKey, int]) -> dict[str, dict[tuple[str, str, str], int]]:
    """The period's state changes: all of them by (kind, from state), and those into or out of
    "ready" by lane too."""
    everything: dict[tuple[str, str, str], int] = defaultdict(int)
    by_lane: dict[tuple[str, str, str], int] = defaultdict(int)
    for (kind, from_state, lane, _channel), n in flow.items():
        if kind == RECEIVED or not n:
            continue
        everything[(kind, from_state, "")] += n
        if _ready_related(kind, from_state):
            by_lane[(kind, from_state, lane)] += n
    return {"all": everything, "by_lane": by_lane}


def _event_lanes(moves: dict[str, dict[tuple[str, str, str], int]]) -> set[str]:
    return {lane for (_kind, _f, lane) in moves["by_lane"] if lane}


def _ready_drains(WaybillAccount) -> dict[str, int]:
    """Lane → ready orders no print queue takes (their shop has no enabled e-waybill account)."""
    printing = WaybillAccount.objects.filter(enabled=True).values("channel_id")
    return dict(
        Order.objects.filter(state=OrderState.READY)
        .exclude(channel_id__in=printing)
        .values("lane")
        .annotate(n=Count("*"))
        .order_by()
        .values_list("lane", "n")
    )


def _write_back_figures(WriteBack, OutboxState, *, shipped_in: int, now: datetime, limits: Limits) -> dict:
    has_limit, limit = limits.for_stage(StageLimit.Stage.SHIPPED_NO_WRITE_BACK)
    pending = WriteBack.objects.filter(state=OutboxState.PENDING)
    row = pending.aggregate(n=Count("id"), oldest=Min("created_at"))
    stranded = pending.filter(created_at__lt=now - limit).count() if has_limit and limit is not None else 0
    took = shipped_in  # every shipped order goes to write-back (the scan writes its rows)
    failed = WriteBack.objects.filter(state=OutboxState.FAILED).count()
    return {
        "figures": Figures(
            took=took,
            waiting=row["n"],
            median_wait=_wait(now, _median(pending, "created_at", row["n"])),
            oldest_wait=_wait(now, row["oldest"]),
            limit=limit,
            stranded=stranded,
        ),
        "failed": failed,
    }


# ---- a new rule's preview -------------------------------------------------------------------------
def rule_preview(*, rule, now: datetime | None = None, days: int = 7) -> dict:
    """How many of last week's orders the rule would act on: one COUNT when every condition compiles to
    SQL, else the rule's own predicates over the newest PREVIEW_SAMPLE orders, scaled up. Cached per
    rule version for ten minutes (the full backtest is the rule's backtest page)."""
    key = f"workflow:preview:{rule.pk}:{rule.version}:{days}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = _rule_preview(rule=rule, now=now or timezone.now(), days=days)
    cache.set(key, result, PREVIEW_CACHE_SECONDS)
    return result


def _rule_preview(*, rule, now: datetime, days: int) -> dict:
    from rules.backtest import rule_sql
    from rules.engine import compile_rule, get_ruleset
    from rules.facts import FactContext

    window = Order.objects.filter(received_at__gte=now - timedelta(days=days), received_at__lt=now)
    total = window.count()
    conditions = sorted(rule.conditions.all(), key=lambda c: (c.position, c.pk))
    share = rule.rollout_percent / 100
    if not conditions:
        return {"matched": total, "would_act": round(total * share), "total": total, "sampled": False}
    sql = rule_sql(conditions, match_all=rule.combinator == "all")
    if sql is not None and sql.complete:
        matched = window.annotate(**sql.annotations).filter(sql.q).count()
        return {"matched": matched, "would_act": round(matched * share), "total": total, "sampled": False}
    compiled = compile_rule(rule, conditions)
    blacklist = get_ruleset().blacklist
    sample = list(window.select_related("channel").prefetch_related("lines").order_by("-received_at")[:PREVIEW_SAMPLE])
    hits = sum(
        1
        for order in sample
        if compiled.matches(FactContext(order=order, now=now, blacklist=blacklist, trigger="backtest"))
    )
    matched = round(hits * total / len(sample)) if sample else 0
    return {
        "matched": matched,
        "would_act": round(matched * share),
        "total": total,
        "sampled": len(sample) < total,
    }


def period_label(days: int) -> str:
    return pgettext("workflow period", "last %(days)s day(s)") % {"days": days}


# ---- one order's path -----------------------------------------------------------------------------
@dataclass
class PathStep:
    kind: str
    at: datetime
    title: str
    lines: list[str] = field(default_factory=list)
    colour: str = "box"

    @property
    def at_text(self) -> str:
        from django.utils.formats import date_format

        return date_format(timezone.localtime(self.at), "SHORT_DATETIME_FORMAT")


def _fact_label(name: str) -> str:
    from rules.facts import FACTS

    fact = FACTS.get(name)
    return str(fact.label) if fact else name


#: ties at the same instant keep the pipeline's order
_STEP_RANK = {"received": 0, "hit": 1, "task": 2, "event": 3, "parcel": 4, "write_back": 5}


def order_path(*, order: Order, user) -> list[PathStep]:
    """The path one order took, in time order: received, each rule that matched (with the facts it
    saw: receiver details masked unless the user may see them; only for users who may read rule
    hits), each to-do and who resolved it, each state change and who made it, parcels, write-backs.
    A fixed number of queries whatever the order's history (one per kind of step)."""
    from orderhub.masking import can_view_receiver, mask_receiver_mapping
    from rules.models import ExceptionTask, RuleHit
    from shipping.models import Shipment, WriteBack

    steps = [
        PathStep(
            kind="received",
            at=order.received_at,
            title=_("Received from %(channel)s") % {"channel": order.channel.name},
            lines=[
                _("via %(source)s") % {"source": order.source or "—"},
                _("paid %(amount)s") % {"amount": order.paid_amount},
            ],
        )
    ]
    if user.has_perm("rules.view_rulehit"):
        full = can_view_receiver(user)
        for hit in RuleHit.objects.filter(order=order).select_related("rule").order_by("at", "pk"):
            facts = hit.facts if full else mask_receiver_mapping(hit.facts or {})
            lines = [
                (_("enforced") if hit.enforced else _("shadow (recorded only)"))
                + f" · {hit.trigger} · v{hit.rule_version}"
            ]
            lines.extend(f"{_fact_label(name)} = {value}" for name, value in sorted((facts or {}).items()))
            steps.append(
                PathStep(
                    kind="hit",
                    at=hit.at,
                    title=_("Rule matched: %(rule)s") % {"rule": hit.rule.name},
                    lines=lines,
                    colour="rule" if hit.enforced else "shadow",
                )
            )
    tasks = ExceptionTask.objects.filter(order=order).select_related(
        "exception_type", "assignee_user", "assignee_group", "resolved_by", "rule"
    )
    for task in tasks.order_by("created_at", "pk"):
        who = task.assignee_user or task.assignee_group
        lines = [_("assigned to: %(who)s") % {"who": who or _("no one")}]
        if task.state == "open":
            lines.append(_("open, due %(due)s") % {"due": timezone.localtime(task.due_at).strftime("%m-%d %H:%M")})
        else:
            lines.append(
                _("%(resolution)s by %(who)s")
                % {"resolution": task.get_resolution_display(), "who": task.resolved_by or _("the system")}
            )
        steps.append(
            PathStep(
                kind="task",
                at=task.created_at,
                title=_("To-do: %(type)s") % {"type": task.exception_type.label},
                lines=lines,
                colour="red" if task.is_overdue else "box",
            )
        )
    # the arrival is the first box already (channel, source, amount)
    for event in order.events.exclude(kind="received").select_related("actor").order_by("at", "pk"):
        lines = []
        if event.to_state:
            lines.append(f"{event.from_state_label or '—'} → {event.to_state_label}")
        lines.append(_("by %(who)s") % {"who": event.actor or _("the system")})
        if event.description:
            lines.append(str(event.description)[:160])
        steps.append(
            PathStep(
                kind="event",
                at=event.at,
                title=event.kind_label,
                lines=lines,
                colour="terminal" if event.to_state in (OrderState.DELIVERED, OrderState.CANCELLED) else "box",
            )
        )
    parcels = (
        Shipment.objects.filter(lines__order=order)
        .select_related("carrier", "batch", "shipped_by_device", "shipped_by_user")
        .distinct()
        .order_by("created_at", "pk")
    )
    for parcel in parcels:
        lines = [f"{parcel.carrier.name} · {parcel.get_state_display()}"]
        if parcel.batch_id:
            lines.append(_("print batch #%(batch)s") % {"batch": parcel.batch_id})
        if parcel.shipped_at:
            who = parcel.shipped_by_device or parcel.shipped_by_user or "—"
            lines.append(_("scanned by %(who)s") % {"who": who})
        steps.append(
            PathStep(
                kind="parcel",
                at=parcel.created_at,
                title=_("Parcel %(number)s") % {"number": parcel.tracking_number or parcel.parcel_key},
                lines=lines,
            )
        )
    for write_back in WriteBack.objects.filter(order=order).order_by("created_at", "pk"):
        lines = [
            write_back.get_state_display(),
            _("failed attempts: %(count)s") % {"count": write_back.attempts},
        ]
        if write_back.done_at:
            lines.append(_("done %(at)s") % {"at": timezone.localtime(write_back.done_at).strftime("%m-%d %H:%M")})
        steps.append(
            PathStep(
                kind="write_back",
                at=write_back.created_at,
                title=_("Write-back to the platform"),
                lines=lines,
                colour="red" if write_back.state == "failed" else "box",
            )
        )
    steps.sort(key=lambda s: (s.at, _STEP_RANK[s.kind]))
    return steps
