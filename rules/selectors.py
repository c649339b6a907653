"""Rule and exception reads: the to-do list, hit counts, order facts, the coverage review."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from orders.models import Order, OrderState
from rules.engine import get_ruleset
from rules.facts import FACTS, FactContext, to_json
from rules.models import BacktestRun, ExceptionTask, InterceptRule, Resolution, RuleHit, TaskState


def my_exceptions(*, user, include_resolved: bool = False) -> QuerySet[ExceptionTask]:
    """Open tasks for the user and their groups, soonest due first."""
    qs = ExceptionTask.objects.for_user(user)
    if not include_resolved:
        qs = qs.open()
    return (
        qs.select_related("order", "order__channel", "exception_type", "rule", "assignee_group")
        .prefetch_related("order__lines")  # the facts read each order's lines
        .order_by("due_at", "id")
    )


def rule_hit_counts(*, rule_id: int, since: datetime | None = None) -> dict[str, int]:
    qs = RuleHit.objects.filter(rule_id=rule_id)
    if since:
        qs = qs.filter(at__gte=since)
    counts = qs.aggregate(
        n_enforced=Count("pk", filter=Q(enforced=True)), n_shadow=Count("pk", filter=Q(enforced=False))
    )
    return {"enforced": counts["n_enforced"] or 0, "shadow": counts["n_shadow"] or 0}


def order_facts(*, order: Order, blacklist=None) -> list[tuple[str, str, object]]:
    """(name, label, value) of every fact for one order, as the engine sees it now. A page showing
    many orders passes the blacklist it read once (`get_ruleset().blacklist`)."""
    if blacklist is None:
        blacklist = get_ruleset().blacklist
    ctx = FactContext(order=order, now=timezone.now(), blacklist=blacklist, trigger="view")
    return [(fact.name, str(fact.label), to_json(ctx.get(fact.name))) for fact in FACTS.values()]


def latest_hits(*, tasks) -> dict[tuple[int, int], RuleHit]:
    """(order id, rule id) -> the newest hit of that rule on that order, for the tasks' rules, in one query."""
    pairs = {(task.order_id, task.rule_id) for task in tasks if task.rule_id}
    if not pairs:
        return {}
    hits = RuleHit.objects.filter(
        order_id__in={order_id for order_id, _ in pairs}, rule_id__in={rule_id for _, rule_id in pairs}
    ).order_by("-id")
    latest: dict[tuple[int, int], RuleHit] = {}
    for hit in hits:
        latest.setdefault((hit.order_id, hit.rule_id), hit)
    return latest


@dataclass
class CoverageRow:
    rule_id: int | None
    rule: str
    enforced_hits: int
    shadow_hits: int
    holds: int
    released_unchanged: int
    median_minutes_held: float | None

    @property
    def false_positive_share(self) -> float | None:
        return round(self.released_unchanged / self.holds, 3) if self.holds else None


@dataclass
class CoverageReport:
    start: datetime
    end: datetime
    rows: list[CoverageRow]
    rules_without_hits: list[InterceptRule]
    held_without_rule: list[ExceptionTask]  # system checks and manual exceptions
    held_without_task: list[Order]  # on hold with no open task: a manual pause


def _median_minutes(tasks) -> float | None:
    spans = [(t.resolved_at - t.created_at).total_seconds() / 60 for t in tasks if t.resolved_at]
    return round(statistics.median(spans), 1) if spans else None


def coverage_report(*, days: int = 7, now: datetime | None = None) -> CoverageReport:
    """Per rule over the period: hits, holds, holds released unchanged (likely false positives), median
    time held; rules that never hit; holds that no specific rule explains."""
    end = now or timezone.now()
    start = end - timedelta(days=days)
    hits = {
        row["rule_id"]: row
        for row in RuleHit.objects.filter(at__gte=start, at__lt=end)
        .values("rule_id")
        .annotate(n_enforced=Count("pk", filter=Q(enforced=True)), n_shadow=Count("pk", filter=Q(enforced=False)))
    }
    tasks = list(
        ExceptionTask.objects.filter(created_at__gte=start, created_at__lt=end).select_related("exception_type", "rule")
    )
    by_rule: dict[int | None, list[ExceptionTask]] = {}
    for task in tasks:
        by_rule.setdefault(task.rule_id, []).append(task)
    unchanged = (Resolution.RELEASED, Resolution.DISMISSED)
    rows = []
    rules = list(InterceptRule.objects.order_by("position", "id"))
    for rule in rules:
        rule_tasks = by_rule.get(rule.pk, [])
        h = hits.get(rule.pk, {})
        rows.append(
            CoverageRow(
                rule_id=rule.pk,
                rule=rule.label,
                enforced_hits=h.get("n_enforced", 0),
                shadow_hits=h.get("n_shadow", 0),
                holds=len(rule_tasks),
                released_unchanged=sum(1 for t in rule_tasks if t.resolution in unchanged),
                median_minutes_held=_median_minutes(rule_tasks),
            )
        )
    system_tasks = by_rule.get(None, [])
    for code in sorted({t.exception_type.code for t in system_tasks}):
        of_type = [t for t in system_tasks if t.exception_type.code == code]
        rows.append(
            CoverageRow(
                rule_id=None,
                rule=f"[system] {code}",
                enforced_hits=0,
                shadow_hits=0,
                holds=len(of_type),
                released_unchanged=sum(1 for t in of_type if t.resolution in unchanged),
                median_minutes_held=_median_minutes(of_type),
            )
        )
    without_hits = [rule for rule in rules if rule.pk not in hits]
    held_no_task = list(
        Order.objects.filter(state=OrderState.ON_HOLD)
        .exclude(exception_tasks__state=TaskState.OPEN)
        .select_related("channel")
        .order_by("pk")[:200]
    )
    return CoverageReport(
        start=start,
        end=end,
        rows=rows,
        rules_without_hits=without_hits,
        held_without_rule=system_tasks,
        held_without_task=held_no_task,
    )


def coverage_dataset(report: CoverageReport):
    """The report's rows as a tablib Dataset (exported to xlsx by the admin): headers and sheet name
    in the reader's language, figures as numbers (an unknown figure is an empty cell, not text)."""
    import tablib
    from django.utils.translation import gettext, pgettext

    data = tablib.Dataset(
        headers=[
            pgettext("excel column", "Rule ID"),
            pgettext("excel column", "Rule"),
            pgettext("excel column", "Enforced hits"),
            pgettext("excel column", "Shadow hits"),
            pgettext("excel column", "Holds"),
            pgettext("excel column", "Released unchanged"),
            pgettext("excel column", "False-positive share"),
            pgettext("excel column", "Median minutes held"),
        ],
        title=gettext("Rule coverage")[:31],
    )
    for row in report.rows:
        data.append(
            [
                row.rule_id,
                row.rule,
                row.enforced_hits,
                row.shadow_hits,
                row.holds,
                row.released_unchanged,
                row.false_positive_share,
                row.median_minutes_held,
            ]
        )
    return data


# ---- the exception workbench ---------------------------------------------------------------------
WORKBENCH_PAGE_SIZE = 50
#: age of a to-do (since raised): filter value -> (at least, less than) in hours
AGE_BUCKETS: dict[str, tuple[float | None, float | None]] = {
    "lt1h": (None, 1),
    "1to4h": (1, 4),
    "4to24h": (4, 24),
    "gt1d": (24, None),
}
#: how soon a to-do is due: filter value -> (from, to) in minutes from now
DUE_BUCKETS: dict[str, tuple[int | None, int | None]] = {"overdue": (None, 0), "1h": (0, 60), "later": (60, None)}


@dataclass(frozen=True)
class WorkbenchFilters:
    """What the workbench table shows: open tasks, narrowed by each given value."""

    exception_type: int | None = None
    channel: int | None = None
    #: "mine" (me and my groups), "unassigned" (no person), "everyone", or a user id as text
    assignee: str = "mine"
    due: str = ""
    age: str = ""


def workbench_tasks(*, user, filters: WorkbenchFilters, now: datetime | None = None) -> QuerySet[ExceptionTask]:
    """Open tasks for the workbench table, soonest due first, with what each row shows joined in
    (one query per page; the indexes on (state, type | person | group, due) serve each filter)."""
    now = now or timezone.now()
    qs = ExceptionTask.objects.open()
    if filters.exception_type:
        qs = qs.filter(exception_type_id=filters.exception_type)
    if filters.channel:
        qs = qs.filter(order__channel_id=filters.channel)
    if filters.assignee == "mine":
        group_ids = list(user.groups.values_list("pk", flat=True))
        qs = qs.filter(Q(assignee_user=user) | Q(assignee_user__isnull=True, assignee_group_id__in=group_ids))
    elif filters.assignee == "unassigned":
        qs = qs.filter(assignee_user__isnull=True)
    elif filters.assignee.isdigit():
        qs = qs.filter(assignee_user_id=int(filters.assignee))
    if filters.due in DUE_BUCKETS:
        start, end = DUE_BUCKETS[filters.due]
        if start is not None:
            qs = qs.filter(due_at__gte=now + timedelta(minutes=start))
        if end is not None:
            qs = qs.filter(due_at__lt=now + timedelta(minutes=end))
    if filters.age in AGE_BUCKETS:
        low, high = AGE_BUCKETS[filters.age]
        if low is not None:
            qs = qs.filter(created_at__lte=now - timedelta(hours=low))
        if high is not None:
            qs = qs.filter(created_at__gt=now - timedelta(hours=high))
    return qs.select_related("order", "order__channel", "exception_type", "assignee_user", "assignee_group").order_by(
        "due_at", "id"
    )


def workbench_page(*, user, filters: WorkbenchFilters, number, per_page: int, now: datetime | None = None):
    """(Page, its tasks): the page's ids from the task table alone (an index scan, however deep the
    page), then those rows with what they show joined in. A deep OFFSET over the joined query would
    look up every skipped row's order."""
    from django.core.paginator import Paginator

    queryset = workbench_tasks(user=user, filters=filters, now=now)
    page = Paginator(queryset.values_list("pk", flat=True), per_page).get_page(number)
    ids = list(page.object_list)
    by_id = {task.pk: task for task in queryset.filter(pk__in=ids)}
    return page, [by_id[pk] for pk in ids if pk in by_id]


def open_task_counts_by_type() -> dict[int, int]:
    """exception type id -> open tasks: one GROUP BY over the open rows (bounded by the open backlog)."""
    return dict(
        ExceptionTask.objects.open()
        .order_by()
        .values_list("exception_type_id")
        .annotate(n=Count("pk"))
        .values_list("exception_type_id", "n")
    )


def workbench_assignees():
    """The people a task may be handed to: active staff users, by name."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


def _fact_value_in_words(fact, value) -> str:
    from django.utils.translation import gettext as _

    from rules.facts import FactType

    if value is None or value == "":
        return "—"
    if isinstance(value, bool) or (fact is not None and fact.type == FactType.BOOL):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        return "、".join(str(item) for item in value) or "—"
    if fact is not None and fact.choices:
        return str(dict(fact.choices).get(value, value))
    if fact is not None and fact.type == FactType.DECIMAL and "amount" in fact.name:
        return f"¥{value}"
    return str(value)


def facts_in_words(facts: dict, *, reveal: bool) -> list[tuple[str, str, str]]:
    """(name, label, value) of stored or computed facts, each labelled in the reader's language and
    formatted (yes/no, ¥, choice names, lists); receiver details masked unless `reveal`."""
    from orderhub.masking import mask_receiver_field

    rows = []
    for name, value in facts.items():
        fact = FACTS.get(name)
        shown = value if reveal else mask_receiver_field(name, value)
        label = str(fact.label) if fact is not None else name.replace("_", " ")
        rows.append((name, label, _fact_value_in_words(fact, shown)))
    return rows


# ---- backtest runs -------------------------------------------------------------------------------
def backtest_run_get(*, run_id: int) -> BacktestRun | None:
    return BacktestRun.objects.select_related("rule", "requested_by").filter(pk=run_id).first()


def backtest_runs_for_rule(*, rule_id: int, limit: int = 10) -> list[BacktestRun]:
    """The rule's latest runs, newest first."""
    return list(BacktestRun.objects.filter(rule_id=rule_id).select_related("requested_by").order_by("-id")[:limit])


def backtest_result(*, run_id: int) -> dict | None:
    """A run's state, progress and (when done) stored result as plain data, for pages and other apps.

    None for an unknown run. Counts are None until the run is done (hold counts: hold rules only).
    """
    run = BacktestRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    return {
        "id": run.pk,
        "rule_id": run.rule_id,
        "rule_version": run.rule_version,
        "since": run.since,
        "until": run.until,
        "state": run.state,
        "percent": run.percent,
        "progress_done": run.progress_done,
        "progress_total": run.progress_total,
        "method": run.method,
        "total_orders": run.total_orders,
        "matched": run.matched_count,
        "would_act": run.would_act_count,
        "held_now": run.held_now_count,
        "newly_held": run.newly_held_count,
        "no_longer_held": run.no_longer_held_count,
        "groups": run.groups,
        "sample_order_ids": run.sample_order_ids,
        "newly_held_sample": run.newly_held_sample,
        "no_longer_held_sample": run.no_longer_held_sample,
        "seconds": run.seconds,
        "error": run.error,
    }


def backtest_sample_orders(*, run: BacktestRun) -> list[Order]:
    """The run's sample of orders it would act on, with their channels, in id order."""
    return list(Order.objects.filter(pk__in=run.sample_order_ids).select_related("channel").order_by("pk"))
