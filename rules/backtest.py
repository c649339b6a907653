"""Backtest: what a (draft or edited) rule would have done to the orders received in a period.

The computation only (no writes); `rules.services.backtest_*` runs it as a background job and stores
the result in a BacktestRun.

The window is walked in primary-key chunks, so a run reports progress and can stop between chunks:

- a rule whose conditions all compile to SQL is one query per chunk. Before the chunks, Python-only
  facts that are pure functions of a few columns (phone valid, regions, coupon counts; `Fact.memoize`)
  are evaluated once per distinct value in the window and become `column IN (…)`; receiver valid and
  the blacklist are composed from such parts; "any other open order" (mergeable) is one EXISTS;
- what is left (regex, minutes since paid, a mergeable count threshold) runs in Python: an ALL rule
  pre-filters in SQL on its other conditions; rows are plain `values()` rows of only the columns the
  facts read (`Fact.reads`), lines fetched once per chunk, never model instances; memoised facts are
  shared across rows, the blacklist is loaded once per run, and the mergeable count is one grouped
  query per chunk (`Fact.batch`).

The Python path uses the live engine's own getters and predicates, so both agree order for order
(rules/tests/test_backtest_agrees_with_live_evaluation.py, test_backtest_set_based_facts_agree.py).
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone
from tqdm import tqdm

from orders.models import Channel, Order, OrderLine
from rules.conditions import sql_condition
from rules.engine import CompiledRule, compile_rule, load_blacklist, rollout_bucket
from rules.facts import (
    FACTS,
    Blacklist,
    FactContext,
    FactType,
    full_address,
    normalize_nick,
    normalize_phone,
    open_orders_exists,
)
from rules.models import ExceptionTask, InterceptRule, RuleAction

SQL_CHUNK = 200_000  # primary keys per chunk when the whole rule is SQL
PYTHON_CHUNK = 20_000  # primary keys per chunk when facts are evaluated in Python
SAMPLE_SIZE = 20
DIFF_SAMPLE_SIZE = 50

#: called between chunks with (orders done, orders in the period); returning False stops the run
Progress = Callable[[int, int], bool]


class BacktestCancelled(Exception):
    """The progress callback asked to stop (a cancel requested from the admin)."""


@dataclass
class RuleSQL:
    annotations: dict[str, Any]
    q: Q
    complete: bool  # True: the Q is the whole rule; False: a pre-filter, finish in Python


def rule_sql(conditions, *, match_all: bool, batched: bool = False) -> RuleSQL | None:
    """SQL form of a rule's conditions, complete or as a pre-filter; None when nothing can run in SQL.

    batched: leave the facts with a set-based Python form (`Fact.batch`) to Python, where one grouped
    query per chunk beats the per-order correlated subquery their SQL form needs.
    """
    annotations: dict[str, Any] = {}
    parts: list[Q] = []
    complete = True
    for c in conditions:
        fact = FACTS.get(c.field)
        compiled = (
            None if (batched and fact is not None and fact.batch) else sql_condition(c.field, c.operator, c.value)
        )
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


def orders_in_period(*, since: datetime, until: datetime) -> QuerySet[Order]:
    return Order.objects.filter(received_at__gte=since, received_at__lt=until)


# ---- rows instead of model instances --------------------------------------------------------------
class OrderRow:
    """An order as a `values()` row: the attributes the rule's fact getters read, nothing more."""

    def __init__(self, values: dict[str, Any], channel: Any):
        self.__dict__.update(values)
        self.pk = values["id"]
        self.channel = channel


class LineRow:
    __slots__ = ("quantity", "sku_code")

    def __init__(self, quantity: int, sku_code: str):
        self.quantity = quantity
        self.sku_code = sku_code


class RowContext(FactContext):
    """FactContext over an OrderRow; memoised facts are shared across the run by their input values."""

    __slots__ = ("memo",)

    def __init__(self, *, memo: dict[str, tuple[tuple[str, ...], dict]], **kwargs):
        super().__init__(**kwargs)
        self.memo = memo

    def get(self, name: str) -> Any:
        cache = self._cache
        if name in cache:
            return cache[name]
        spec = self.memo.get(name)
        if spec is None:
            value = FACTS[name].getter(self)
        else:
            columns, values = spec
            order = self.order
            key = tuple([getattr(order, c) for c in columns])
            try:
                value = values[key]
            except KeyError:
                value = values[key] = FACTS[name].getter(self)
            except TypeError:  # a JSON list or dict: not hashable, computed each time
                value = FACTS[name].getter(self)
        cache[name] = value
        return value


def _fact_closure(names: set[str]) -> set[str]:
    """The facts `names` read, with those a composite fact asks for (receiver_valid → phone_valid …)."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo.extend(FACTS[name].needs)
    return out


@dataclass
class RulePlan:
    """How one rule runs over a window: its SQL part and the compiled rule for the Python part."""

    compiled: CompiledRule
    sql: RuleSQL | None
    method: str  # 'sql' | 'sql+python' | 'python'
    facts: set[str] = field(default_factory=set)  # facts evaluated in Python

    @property
    def columns(self) -> list[str]:
        cols = {"id", "channel_id", "external_id"}
        for name in self.facts:
            cols.update(FACTS[name].columns)
        cols.discard("lines")
        return sorted(cols)

    @property
    def needs_lines(self) -> bool:
        return any("lines" in FACTS[name].columns for name in self.facts)


def plan_rule(
    rule: InterceptRule,
    conditions: list | None = None,
    *,
    window: QuerySet[Order] | None = None,
    blacklist: Blacklist | None = None,
) -> RulePlan | None:
    """None for a rule without conditions (it matches nothing).

    With a window, Python facts that are pure functions of a few columns are turned into SQL by
    evaluating them once per distinct value in the window (see `_python_fact_q`), so most rules,
    the seeded ones included, run as one SQL query per chunk.
    """
    if conditions is None:
        conditions = sorted(rule.conditions.all(), key=lambda c: (c.position, c.pk))
    if not conditions:
        return None
    compiled = compile_rule(rule, conditions)
    annotations: dict[str, Any] = {}
    parts: list[Q] = []
    python: list = []
    for row, condition in zip(conditions, compiled.conditions, strict=True):
        sql = _condition_q(row, condition, window=window, blacklist=blacklist)
        if sql is None:
            python.append(condition)
            continue
        annotations.update(sql[0])
        parts.append(sql[1])
    if not parts or (python and not compiled.match_all):
        facts = _fact_closure({c.fact for c in compiled.conditions})
        return RulePlan(compiled=compiled, sql=None, method="python", facts=facts)
    combined = parts[0]
    for q in parts[1:]:
        combined = (combined & q) if compiled.match_all else (combined | q)
    sql = RuleSQL(annotations=annotations, q=combined, complete=not python)
    if not python:
        return RulePlan(compiled=compiled, sql=sql, method="sql")
    return RulePlan(
        compiled=compiled, sql=sql, method="sql+python", facts=_fact_closure({c.fact for c in compiled.conditions})
    )


_OPEN_ORDERS_AS_EXISTS = {("gt", 0), ("gte", 1), ("ne", 0), ("eq", 0), ("lt", 1), ("lte", 0)}


def _condition_q(row, condition, *, window, blacklist) -> tuple[dict[str, Any], Q] | None:
    """(annotations, Q) for one condition in a backtest, or None to evaluate it in Python."""
    fact = FACTS[row.field]
    if fact.batch is not None:
        # The mergeable check: "any other open order?" is one EXISTS (a semi-join), a count is not.
        if (condition.operator, condition.value) in _OPEN_ORDERS_AS_EXISTS:
            exists = open_orders_exists()
            return {}, (~exists if condition.test(0) else exists)
        return None
    compiled = sql_condition(row.field, row.operator, row.value)
    if compiled is not None:
        return compiled
    if window is None:
        return None
    q = _python_fact_q(row.field, condition.test, window=window, blacklist=blacklist)
    return None if q is None else ({}, q)


def _python_fact_q(name: str, test: Callable[[Any], bool], *, window, blacklist) -> Q | None:
    """The orders of `window` whose value of Python-only fact `name` passes `test`, as a Q; None if
    the fact cannot be put so. Exact: the fact's own getter decides each distinct input."""
    fact = FACTS[name]
    if fact.memoize:
        columns = fact.columns
        decided, rest = None, window
        if fact.sql_split is not None:  # the database decides most rows; Python the odd shapes
            handled, is_true = fact.sql_split()
            decided, rest = handled & _bool_q(is_true, test), window.exclude(handled)
        passing, failing = [], []
        for values in rest.order_by().values_list(*columns).distinct():
            row = OrderRow(dict(zip(columns, values, strict=True), id=0), None)
            ctx = FactContext(order=row, now=timezone.now(), blacklist=blacklist or Blacklist())
            (passing if test(fact.getter(ctx)) else failing).append(values)
        if decided is None:
            return _rows_q(columns, passing, failing)
        return decided | (~handled & _in_rows(columns, passing))
    if fact.type != FactType.BOOL:
        return None
    if fact.compose is not None:
        true_qs: dict[str, Q] = {}

        def true(needed: str) -> Q:
            q = _true_q(needed, window=window, blacklist=blacklist)
            if q is None:
                raise LookupError(needed)
            true_qs[needed] = q
            return q

        try:
            is_true = fact.compose(true)
        except LookupError:
            return None
    elif name == "buyer_blacklisted":
        is_true = _blacklist_q(window, blacklist if blacklist is not None else load_blacklist())
    else:
        return None
    return _bool_q(is_true, test)


def _true_q(name: str, *, window, blacklist) -> Q | None:
    fact = FACTS[name]
    if fact.q_true is not None:
        return fact.q_true()
    return _python_fact_q(name, lambda v: v is True, window=window, blacklist=blacklist)


def _bool_q(is_true: Q, test: Callable[[Any], bool]) -> Q:
    """A condition on a BOOL fact (always True or False) from the Q of "the fact is true"."""
    if test(True) and test(False):
        return Q(pk__isnull=False)
    if test(True):
        return is_true
    if test(False):
        return ~is_true
    return Q(pk__in=[])


def _rows_q(columns: tuple[str, ...], passing: list[tuple], failing: list[tuple]) -> Q:
    """Rows whose `columns` equal one of `passing` (written as NOT one of `failing` when shorter).

    The columns a memoised fact reads are NOT NULL, so the negation is exact. Multi-column values are
    grouped on all columns but the last (few distinct values: receiver_masked, province …)."""
    if len(failing) < len(passing):
        return ~_in_rows(columns, failing)
    return _in_rows(columns, passing)


def _in_rows(columns: tuple[str, ...], rows: list[tuple]) -> Q:
    *head, last = columns
    groups: dict[tuple, list] = defaultdict(list)
    for values in rows:
        groups[tuple(values[:-1])].append(values[-1])
    q = Q(pk__in=[])
    for key, lasts in groups.items():
        q |= Q(**dict(zip(head, key, strict=True)), **{f"{last}__in": lasts})
    return q


def _blacklist_q(window, blacklist: Blacklist) -> Q:
    """`buyer_blacklisted` is true, per part of Blacklist.matches over the distinct values of its columns."""
    q = Q(pk__in=[])
    if blacklist.nicks:
        nicks = window.order_by().exclude(buyer_nick="").values_list("buyer_nick", flat=True).distinct()
        q |= Q(buyer_nick__in=[n for n in nicks if normalize_nick(n) in blacklist.nicks])
    if blacklist.phones:
        phones = window.order_by().exclude(receiver_phone="").values_list("receiver_phone", flat=True).distinct()
        q |= Q(receiver_phone__in=[p for p in phones if normalize_phone(p) in blacklist.phones])
    if blacklist.addresses:
        columns = ("receiver_province", "receiver_city", "receiver_district", "receiver_address")
        hits = []
        for values in window.order_by().values_list(*columns).distinct():
            address = full_address(OrderRow(dict(zip(columns, values, strict=True), id=0), None))
            if address and any(fragment in address for fragment in blacklist.addresses):
                hits.append(values)
        q |= _in_rows(columns, hits)
    return q


@dataclass
class WindowMatch:
    """The orders of a window a rule matches: (pk, channel id, external id) each, in pk order."""

    total_orders: int
    method: str
    matched: list[tuple[int, int, str]]

    @property
    def ids(self) -> set[int]:
        return {pk for pk, _channel, _external in self.matched}


def match_window(
    rule: InterceptRule,
    window: QuerySet[Order],
    *,
    now: datetime | None = None,
    on_progress: Progress | None = None,
    blacklist: Blacklist | None = None,
) -> WindowMatch:
    """Evaluate `rule` over `window` chunk by chunk. Raises BacktestCancelled when on_progress says stop."""
    now = now or timezone.now()
    stats = window.order_by().aggregate(n=Count("pk"), lo=Min("pk"), hi=Max("pk"))
    total, lo, hi = stats["n"], stats["lo"], stats["hi"]
    if not total:
        return WindowMatch(total_orders=0, method="sql", matched=[])
    if on_progress is not None and on_progress(0, total) is False:  # the total shows before the first chunk
        raise BacktestCancelled
    blacklist = blacklist if blacklist is not None else load_blacklist()
    plan = plan_rule(rule, window=window, blacklist=blacklist)
    if plan is None:
        return WindowMatch(total_orders=total, method="sql", matched=[])
    matched: list[tuple[int, int, str]] = []
    step = SQL_CHUNK if plan.method == "sql" else PYTHON_CHUNK
    runner = _SqlChunks(plan) if plan.method == "sql" else _PythonChunks(plan, now=now, blacklist=blacklist)
    for start in range(lo, hi + 1, step):
        matched.extend(runner.run(window.filter(pk__gte=start, pk__lt=start + step)))
        done = total if start + step > hi else round(total * (start + step - lo) / (hi - lo + 1))
        if on_progress is not None and on_progress(done, total) is False:
            raise BacktestCancelled
    return WindowMatch(total_orders=total, method=plan.method, matched=matched)


class _SqlChunks:
    def __init__(self, plan: RulePlan):
        self.plan = plan

    def run(self, chunk: QuerySet[Order]) -> list[tuple[int, int, str]]:
        sql = self.plan.sql
        rows = chunk.annotate(**sql.annotations).filter(sql.q).order_by("pk")
        if self.plan.compiled.rollout_percent >= 100:  # the external id only decides the rollout share
            return [(pk, channel, "") for pk, channel in rows.values_list("pk", "channel_id")]
        return list(rows.values_list("pk", "channel_id", "external_id"))


class _PythonChunks:
    def __init__(self, plan: RulePlan, *, now: datetime, blacklist: Blacklist | None):
        self.plan = plan
        self.now = now
        self.blacklist = blacklist if blacklist is not None else load_blacklist()
        self.channels = {c.pk: c for c in Channel.objects.only("id", "platform")}
        self.memo = {name: (FACTS[name].columns, {}) for name in plan.facts if FACTS[name].memoize}
        self.batched = [name for name in plan.facts if FACTS[name].batch is not None]
        self.columns = plan.columns

    def run(self, chunk: QuerySet[Order]) -> list[tuple[int, int, str]]:
        plan = self.plan
        candidates = chunk
        if plan.sql is not None:
            candidates = chunk.annotate(**plan.sql.annotations).filter(plan.sql.q)
        channels = self.channels
        rows = [
            OrderRow(values, channels[values["channel_id"]])
            for values in candidates.order_by("pk").values(*self.columns)
        ]
        if not rows:
            return []
        lines: dict[int, list[LineRow]] = defaultdict(list)
        if plan.needs_lines:
            first, last = rows[0].pk, rows[-1].pk
            for order_id, quantity, sku_code in (
                OrderLine.objects.filter(order_id__gte=first, order_id__lte=last)
                .order_by("order_id", "pk")
                .values_list("order_id", "quantity", "sku_code")
            ):
                lines[order_id].append(LineRow(quantity, sku_code))
        batched = {name: FACTS[name].batch(rows) for name in self.batched}
        matches = plan.compiled.matches
        now, blacklist, memo = self.now, self.blacklist, self.memo
        out = []
        for row in rows:
            ctx = RowContext(
                order=row, now=now, blacklist=blacklist, trigger="backtest", lines=lines.get(row.pk, []), memo=memo
            )
            for name, values in batched.items():
                ctx._cache[name] = values[row.pk]
            if matches(ctx):
                out.append((row.pk, row.channel_id, row.external_id))
        return out


def match_rule(
    rule: InterceptRule, orders: QuerySet[Order], *, now: datetime | None = None, progress: bool | None = None
) -> tuple[set[int], str]:
    """Ids of the orders the rule's conditions match, and how: 'sql', 'sql+python' or 'python'."""
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(desc=f"backtest rule {rule.pk}", disable=not show, unit="order") as bar:

        def tick(done: int, total: int) -> bool:
            bar.total = total
            bar.update(done - bar.n)
            return True

        result = match_window(rule, orders, now=now, on_progress=tick)
    return result.ids, result.method


# ---- the result ----------------------------------------------------------------------------------
def in_rollout(rule: InterceptRule, *, channel_id: int, external_id: str) -> bool:
    return (
        rule.rollout_percent >= 100
        or rollout_bucket(channel_id=channel_id, external_id=external_id, rule_id=rule.pk) < rule.rollout_percent
    )


@dataclass
class BacktestResult:
    rule: InterceptRule
    total_orders: int
    matched: set[int]
    would_act: set[int]  # matched and inside the rollout share
    method: str
    days: int | None = None
    sample: list[Order] = field(default_factory=list)
    held_now: set[int] = field(default_factory=set)  # held by the rule set as it ran
    newly_held: set[int] = field(default_factory=set)
    no_longer_held: set[int] = field(default_factory=set)
    #: per channel: {"channel_id", "channel", "platform", "orders", "matched", "would_act"}
    groups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_hold_rule(self) -> bool:
        return self.rule.action == RuleAction.HOLD


def backtest_period(
    *,
    rule: InterceptRule,
    since: datetime,
    until: datetime,
    sample_size: int = SAMPLE_SIZE,
    now: datetime | None = None,
    on_progress: Progress | None = None,
) -> BacktestResult:
    """Evaluate `rule` over the orders received in [since, until) and compare with the current holds."""
    now = now or timezone.now()
    window = orders_in_period(since=since, until=until)
    found = match_window(rule, window, now=now, on_progress=on_progress)
    matched = found.ids
    would_act_rows = [row for row in found.matched if in_rollout(rule, channel_id=row[1], external_id=row[2])]
    would_act = {pk for pk, _c, _e in would_act_rows}
    result = BacktestResult(
        rule=rule, total_orders=found.total_orders, matched=matched, would_act=would_act, method=found.method
    )
    result.groups = _per_channel(window, found.matched, would_act_rows)
    sample_ids = sorted(would_act)[:sample_size]
    result.sample = list(Order.objects.filter(pk__in=sample_ids).select_related("channel").order_by("pk"))
    if result.is_hold_rule:
        tasks = ExceptionTask.objects.filter(order__received_at__gte=since, order__received_at__lt=until).order_by()
        by_others = set(tasks.exclude(rule=rule).values_list("order_id", flat=True))
        by_this = set(tasks.filter(rule=rule).values_list("order_id", flat=True))
        result.held_now = by_others | by_this
        proposed = by_others | would_act
        result.newly_held = proposed - result.held_now
        result.no_longer_held = result.held_now - proposed
    return result


def _per_channel(window: QuerySet[Order], matched: list[tuple], would_act: list[tuple]) -> list[dict[str, Any]]:
    orders = dict(window.order_by().values_list("channel_id").annotate(n=Count("pk")))
    hits = Counter(channel for _pk, channel, _e in matched)
    acts = Counter(channel for _pk, channel, _e in would_act)
    channels = Channel.objects.filter(pk__in=orders).order_by("pk")
    return [
        {
            "channel_id": c.pk,
            "channel": c.name,
            "platform": c.platform,
            "orders": orders[c.pk],
            "matched": hits.get(c.pk, 0),
            "would_act": acts.get(c.pk, 0),
        }
        for c in channels
    ]


def backtest_rule(
    *, rule: InterceptRule, days: int, sample_size: int = SAMPLE_SIZE, now: datetime | None = None
) -> BacktestResult:
    """`backtest_period` over the last `days` days (up to now)."""
    now = now or timezone.now()
    result = backtest_period(
        rule=rule,
        since=now - timedelta(days=days),
        until=now + timedelta(seconds=1),
        sample_size=sample_size,
        now=now,
    )
    result.days = days
    return result
