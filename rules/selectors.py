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
                rule=rule.name,
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
    """The report's rows as a tablib Dataset (exported to xlsx by the admin)."""
    import tablib

    data = tablib.Dataset(
        headers=[
            "rule id",
            "rule",
            "enforced hits",
            "shadow hits",
            "holds",
            "released unchanged",
            "false-positive share",
            "median minutes held",
        ],
        title="coverage",
    )
    for row in report.rows:
        data.append(
            [
                row.rule_id or "",
                row.rule,
                row.enforced_hits,
                row.shadow_hits,
                row.holds,
                row.released_unchanged,
                row.false_positive_share if row.false_positive_share is not None else "",
                row.median_minutes_held if row.median_minutes_held is not None else "",
            ]
        )
    return data


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
