"""Backtest: what a (draft or edited) rule would have done to the orders of the last N days.

The rule's conditions compile to SQL where every field allows (one query); with some Python-only
fields an ALL rule pre-filters in SQL on the others and finishes in Python; an ANY rule with a
Python-only field runs in Python over the window (with a tqdm progress bar). The Python path uses
exactly the predicates the live engine uses, so both agree order for order.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from tqdm import tqdm

from orders.models import Order
from rules.conditions import sql_condition
from rules.engine import compile_rule, get_ruleset
from rules.facts import FactContext
from rules.models import ExceptionTask, InterceptRule, RuleAction


@dataclass
class RuleSQL:
    annotations: dict[str, Any]
    q: Q
    complete: bool  # True: the Q is the whole rule; False: a pre-filter, finish in Python


def rule_sql(conditions, *, match_all: bool) -> RuleSQL | None:
    """SQL form of a rule's conditions, complete or as a pre-filter; None when nothing can run in SQL."""
    annotations: dict[str, Any] = {}
    parts: list[Q] = []
    complete = True
    for c in conditions:
        compiled = sql_condition(c.field, c.operator, c.value)
        if compiled is None:
            complete = False
            continue
        more, q = compiled
        annotations.update(more)
        parts.append(q)
    if not parts or (not complete and not match_all):
        return None
    combined = parts[0]
    for q in parts[1:]:
        combined = (combined & q) if match_all else (combined | q)
    return RuleSQL(annotations=annotations, q=combined, complete=complete)


def orders_in_window(*, days: int, now: datetime | None = None) -> QuerySet[Order]:
    now = now or timezone.now()
    return Order.objects.filter(received_at__gte=now - timedelta(days=days))


def match_rule(
    rule: InterceptRule, orders: QuerySet[Order], *, now: datetime | None = None, progress: bool | None = None
) -> tuple[set[int], str]:
    """Ids of the orders the rule's conditions match, and how: 'sql', 'sql+python' or 'python'."""
    now = now or timezone.now()
    conditions = sorted(rule.conditions.all(), key=lambda c: (c.position, c.pk))
    if not conditions:
        return set(), "sql"
    match_all = rule.combinator == "all"
    sql = rule_sql(conditions, match_all=match_all)
    if sql is not None and sql.complete:
        ids = orders.annotate(**sql.annotations).filter(sql.q).values_list("pk", flat=True)
        return set(ids), "sql"
    candidates = orders
    method = "python"
    if sql is not None:
        candidates = orders.annotate(**sql.annotations).filter(sql.q)
        method = "sql+python"
    compiled = compile_rule(rule, conditions)
    blacklist = get_ruleset().blacklist
    matched: set[int] = set()
    total = candidates.count()
    show = sys.stderr.isatty() if progress is None else progress
    iterator = candidates.select_related("channel").prefetch_related("lines").order_by("pk").iterator(chunk_size=2000)
    for order in tqdm(iterator, total=total, desc=f"backtest rule {rule.pk}", disable=not show, unit="order"):
        ctx = FactContext(order=order, now=now, blacklist=blacklist, trigger="backtest")
        if compiled.matches(ctx):
            matched.add(order.pk)
    return matched, method


@dataclass
class BacktestResult:
    rule: InterceptRule
    days: int
    total_orders: int
    matched: set[int]
    would_act: set[int]  # matched and inside the rollout share
    method: str
    sample: list[Order] = field(default_factory=list)
    held_now: set[int] = field(default_factory=set)  # held by the rule set as it ran
    newly_held: set[int] = field(default_factory=set)
    no_longer_held: set[int] = field(default_factory=set)

    @property
    def is_hold_rule(self) -> bool:
        return self.rule.action == RuleAction.HOLD


def backtest_rule(
    *, rule: InterceptRule, days: int, sample_size: int = 20, now: datetime | None = None, progress: bool | None = None
) -> BacktestResult:
    """Evaluate `rule` over the last `days` days and compare with what the current rule set held."""
    from rules.engine import rollout_bucket

    now = now or timezone.now()
    window = orders_in_window(days=days, now=now)
    matched, method = match_rule(rule, window, now=now, progress=progress)
    keys = dict(window.filter(pk__in=matched).values_list("pk", "channel_id")) if matched else {}
    external = dict(window.filter(pk__in=matched).values_list("pk", "external_id")) if matched else {}
    would_act = {
        pk
        for pk in matched
        if rule.rollout_percent >= 100
        or rollout_bucket(channel_id=keys[pk], external_id=external[pk], rule_id=rule.pk) < rule.rollout_percent
    }
    result = BacktestResult(
        rule=rule, days=days, total_orders=window.count(), matched=matched, would_act=would_act, method=method
    )
    sample_ids = sorted(would_act)[:sample_size]
    result.sample = list(Order.objects.filter(pk__in=sample_ids).select_related("channel").order_by("pk"))
    if result.is_hold_rule:
        tasks = ExceptionTask.objects.filter(order__in=window)
        by_others = set(tasks.exclude(rule=rule).values_list("order_id", flat=True))
        by_this = set(tasks.filter(rule=rule).values_list("order_id", flat=True))
        result.held_now = by_others | by_this
        proposed = by_others | would_act
        result.newly_held = proposed - result.held_now
        result.no_longer_held = result.held_now - proposed
    return result
