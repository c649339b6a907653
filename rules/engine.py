"""The rule engine: compiled rule records -> one Decision per order, with hits and to-do tasks recorded.

`evaluate()` is called by orders.services inside the ingestion transaction (and by rules.services for
re-checks). It

1. takes the compiled rule set (compiled once per process, recompiled when the ruleset version moves);
2. runs lane rules first, then the others, in `position` order: a rule outside its validity window, or
   for an order already in one of its `skip_lanes`, is not evaluated; a matching rule is *enforced* when
   it is active and the order falls in its rollout share (stable hash), otherwise it is a shadow hit;
3. adds the system checks: sku_unmatched / out_of_stock from the ReservationOutcome, address_changed
   from a platform update's `changes`; (waybill_failed is raised by `rules.services.raise_exception`);
4. records a RuleHit per matching rule and opens / keeps / clears ExceptionTasks;
5. returns the Decision: on_hold while any task is open, else awaiting_stock when the reservation may
   wait, else ready (with lane, tags, priority). `release=True` only when re-checking an order that the
   engine held (or that waits for stock) and nothing holds it any more.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from orders import texts
from orders.texts import Wording, wording
from rules.conditions import CompiledCondition, ConditionError, compile_condition
from rules.facts import Blacklist, FactContext, to_json

if TYPE_CHECKING:
    from inventory.services import ReservationOutcome
    from orders.models import Order

logger = logging.getLogger(__name__)


@dataclass
class Decision:
    """Where an order goes. route: 'ready' | 'on_hold' | 'awaiting_stock'.

    release: for an order already on hold (or awaiting stock), whether the decision may release it.
    """

    route: str
    lane: str = ""
    exception_types: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    priority: int | None = None
    reasons: list[str] = field(default_factory=list)
    release: bool = False
    hits: int = 0  # rule hits recorded (enforced + shadow)


# ---- compiled form ----------------------------------------------------------------------------
def rollout_bucket(*, channel_id: int, external_id: str, rule_id: int) -> int:
    """0..99, the same for the same (order, rule) in every process and on every run."""
    digest = hashlib.sha256(f"{channel_id}:{external_id}:{rule_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    code: str
    version: int
    position: int
    action: str
    exception_type: str  # code, for hold rules
    lane: str
    tag: str
    set_priority: int | None
    assign_user_id: int | None
    assign_group_id: int | None
    due_minutes: int | None
    skip_lanes: frozenset[str]
    mode: str
    rollout_percent: int
    valid_from: datetime | None
    valid_until: datetime | None
    match_all: bool
    conditions: tuple[CompiledCondition, ...]

    @property
    def fact_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.fact for c in self.conditions))

    def is_live(self, now: datetime) -> bool:
        if self.valid_from and now < self.valid_from:
            return False
        return not (self.valid_until and now >= self.valid_until)

    def matches(self, ctx: FactContext) -> bool:
        get = ctx.get
        if self.match_all:
            return all(c.test(get(c.fact)) for c in self.conditions)
        return any(c.test(get(c.fact)) for c in self.conditions)

    def in_rollout(self, order: Order) -> bool:
        if self.rollout_percent >= 100:
            return True
        if self.rollout_percent <= 0:
            return False
        bucket = rollout_bucket(channel_id=order.channel_id, external_id=order.external_id, rule_id=self.id)
        return bucket < self.rollout_percent


@dataclass(frozen=True)
class TypeInfo:
    id: int
    code: str
    name: str
    default_group_id: int | None
    due_minutes: int
    auto_clear: bool
    default_user_id: int | None = None
    round_robin: bool = False


@dataclass
class CompiledRuleset:
    token: str
    version: int
    lane_rules: tuple[CompiledRule, ...]
    other_rules: tuple[CompiledRule, ...]
    blacklist: Blacklist
    types: dict[str, TypeInfo]
    broken: tuple[tuple[int, str], ...] = ()

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        return self.lane_rules + self.other_rules


def compile_rule(rule, conditions) -> CompiledRule:
    """An InterceptRule (and its condition rows) -> CompiledRule. Raises ConditionError."""
    return CompiledRule(
        id=rule.pk,
        name=rule.name,
        code=rule.code or "",
        version=rule.version,
        position=rule.position,
        action=rule.action,
        exception_type=rule.exception_type.code if rule.exception_type_id else "",
        lane=rule.lane,
        tag=rule.tag,
        set_priority=rule.set_priority,
        assign_user_id=rule.assign_user_id,
        assign_group_id=rule.assign_group_id,
        due_minutes=rule.due_minutes,
        skip_lanes=frozenset(rule.skip_lane_list),
        mode=rule.mode,
        rollout_percent=rule.rollout_percent,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
        match_all=rule.combinator == "all",
        conditions=tuple(compile_condition(c.field, c.operator, c.value) for c in conditions),
    )


def compile_ruleset() -> CompiledRuleset:
    from rules.models import ExceptionType, InterceptRule, RulesetVersion

    version, token = RulesetVersion.current()
    lane_rules: list[CompiledRule] = []
    other_rules: list[CompiledRule] = []
    broken: list[tuple[int, str]] = []
    rules = InterceptRule.objects.filter(enabled=True).select_related("exception_type").prefetch_related("conditions")
    for rule in rules.order_by("position", "id"):
        conditions = sorted(rule.conditions.all(), key=lambda c: (c.position, c.pk))
        if not conditions:
            continue  # a rule without conditions never matches (the admin refuses to save one)
        try:
            compiled = compile_rule(rule, conditions)
        except ConditionError as exc:  # saved before a fact was removed, or written around the admin
            logger.error("rule %s skipped: %s", rule.pk, exc.message)
            broken.append((rule.pk, str(exc.message)))
            continue
        (lane_rules if rule.action == "lane" else other_rules).append(compiled)
    types = {
        t.code: TypeInfo(
            t.pk, t.code, t.name, t.default_group_id, t.due_minutes, t.auto_clear, t.default_user_id, t.round_robin
        )
        for t in ExceptionType.objects.all()
    }
    return CompiledRuleset(
        token=token,
        version=version,
        lane_rules=tuple(lane_rules),
        other_rules=tuple(other_rules),
        blacklist=load_blacklist(),
        types=types,
        broken=tuple(broken),
    )


def load_blacklist() -> Blacklist:
    """The enabled blacklist entries, normalised (one query)."""
    from rules.models import BlacklistEntry, BlacklistKind

    nicks, phones, addresses = set(), set(), []
    for kind, normalized in BlacklistEntry.objects.filter(enabled=True).values_list("kind", "normalized"):
        if kind == BlacklistKind.BUYER_NICK:
            nicks.add(normalized)
        elif kind == BlacklistKind.PHONE:
            phones.add(normalized)
        else:
            addresses.append(normalized)
    return Blacklist(frozenset(nicks), frozenset(phones), tuple(addresses))


_cache_lock = threading.Lock()
_cached: CompiledRuleset | None = None


def get_ruleset() -> CompiledRuleset:
    """The compiled rule set of this process; one cheap query checks that it is still current."""
    global _cached
    from rules.models import RulesetVersion

    _version, token = RulesetVersion.current()
    current = _cached
    if current is not None and current.token == token:
        return current
    with _cache_lock:
        compiled = compile_ruleset()
        _cached = compiled
        return compiled


# ---- running the rules (no writes) ---------------------------------------------------------------
@dataclass
class Match:
    rule: CompiledRule
    enforced: bool
    in_rollout: bool
    facts: dict[str, Any]


@dataclass
class Outcome:
    lane: str = ""
    tags: list[str] = field(default_factory=list)
    priority: int | None = None
    holds: dict[str, CompiledRule] = field(default_factory=dict)  # exception type code -> first rule
    matches: list[Match] = field(default_factory=list)


def run_rules(ruleset: CompiledRuleset, ctx: FactContext, *, record_facts: bool = True) -> Outcome:
    """Evaluate every live rule on one order; pure apart from lazily read facts."""
    outcome = Outcome()
    now = ctx.now
    lane_decided = False
    for rule in ruleset.lane_rules:
        if not rule.is_live(now) or not rule.matches(ctx):
            continue
        enforced = _record_match(outcome, rule, ctx, record_facts)
        if enforced and not lane_decided:
            outcome.lane = rule.lane
            lane_decided = True
    lane = outcome.lane
    for rule in ruleset.other_rules:
        if lane and lane in rule.skip_lanes:
            continue
        if not rule.is_live(now) or not rule.matches(ctx):
            continue
        if not _record_match(outcome, rule, ctx, record_facts):
            continue
        if rule.action == "hold":
            outcome.holds.setdefault(rule.exception_type, rule)
        elif rule.action == "tag":
            if rule.tag not in outcome.tags:
                outcome.tags.append(rule.tag)
        elif rule.action == "priority" and outcome.priority is None:
            outcome.priority = rule.set_priority
    return outcome


def _record_match(outcome: Outcome, rule: CompiledRule, ctx: FactContext, record_facts: bool) -> bool:
    in_rollout = rule.in_rollout(ctx.order)
    enforced = rule.mode == "active" and in_rollout
    facts = {name: to_json(ctx.get(name)) for name in rule.fact_names} if record_facts else {}
    outcome.matches.append(Match(rule=rule, enforced=enforced, in_rollout=in_rollout, facts=facts))
    return enforced


# ---- evaluate: the pipeline's entry point --------------------------------------------------------
@dataclass
class Raised:
    code: str
    rule: CompiledRule | None
    note: str | Wording  # a rule's name, or a coded note (rules.texts)

    @property
    def english(self) -> str:
        """The note as stored in English (hold reasons, searches)."""
        return texts.english(self.note) if isinstance(self.note, dict) else self.note


def evaluate(
    *,
    order: Order,
    reservation: ReservationOutcome | None = None,
    trigger: str = "ingest",
    changes: set[str] | None = None,
) -> Decision:
    """Decide where a (locked) order goes; record hits and open/clear its exception tasks."""
    from rules import services

    now = timezone.now()
    changes = changes or set()
    ruleset = get_ruleset()
    outcome, raised, waiting = _judge(
        order=order, ruleset=ruleset, reservation=reservation, trigger=trigger, changes=changes, now=now
    )
    services.record_hits(order=order, matches=outcome.matches, trigger=trigger, at=now)
    open_tasks = services.sync_tasks(
        order=order,
        ruleset=ruleset,
        raised=raised,
        now=now,
        stock_checked=reservation is not None,
    )
    return _decision(order=order, outcome=outcome, open_tasks=open_tasks, waiting=waiting, reservation=reservation)


@dataclass
class NewOrderVerdict:
    """The decision on an order seen for the first time, with what it leaves to write: its rule hits
    and the exception tasks it opens (a new order has no tasks yet, so nothing to keep or clear)."""

    decision: Decision
    matches: list[Match]
    raised: list[Raised]


def decide_new_order(
    *,
    order: Order,
    reservation: ReservationOutcome,
    ruleset: CompiledRuleset,
    now: datetime,
    known_facts: dict[str, Any] | None = None,
    lines: list | None = None,
) -> NewOrderVerdict:
    """`evaluate()` for a new order, without writing: the batch pipeline writes every order's hits and
    tasks in one statement each (rules.services.new_order_verdicts_record). Same decision as
    `evaluate(trigger="ingest")` would take: a new order holds no task, so each raised type whose
    exception type exists opens one. `known_facts`: facts read for the whole batch (facts.batch_facts);
    `lines`: the order's lines (not read back: the batch may decide them before they are inserted)."""
    outcome, raised, waiting = _judge(
        order=order,
        ruleset=ruleset,
        reservation=reservation,
        trigger="ingest",
        changes=set(),
        now=now,
        known_facts=known_facts,
        lines=lines,
    )
    opened = []
    for code, item in raised.items():
        if code not in ruleset.types:
            logger.error("exception type %s is not defined; order %s not held for it", code, order.pk)
            continue
        opened.append(item)
    open_tasks = sorted((item.code, item.english) for item in opened)
    decision = _decision(order=order, outcome=outcome, open_tasks=open_tasks, waiting=waiting, reservation=reservation)
    return NewOrderVerdict(decision=decision, matches=outcome.matches, raised=opened)


def _judge(
    *,
    order: Order,
    ruleset: CompiledRuleset,
    reservation: ReservationOutcome | None,
    trigger: str,
    changes: set[str],
    now: datetime,
    known_facts: dict[str, Any] | None = None,
    lines: list | None = None,
) -> tuple[Outcome, dict[str, Raised], bool]:
    """Run the rules and the system checks (no writes): the outcome, the raised types, and whether the
    order may wait for presale stock."""
    ctx = FactContext(
        order=order,
        now=now,
        reservation=reservation,
        changes=changes,
        trigger=trigger,
        blacklist=ruleset.blacklist,
        lines=lines,
    )
    if known_facts:
        ctx.prefill(known_facts)
    outcome = run_rules(ruleset, ctx)

    raised: dict[str, Raised] = {
        code: Raised(code=code, rule=rule, note=rule.name) for code, rule in outcome.holds.items()
    }
    waiting = False
    if reservation is not None:
        if reservation.unmatched_lines:
            raised["sku_unmatched"] = Raised(
                "sku_unmatched", None, wording("task.sku_unmatched", lines=str(reservation.unmatched_lines))
            )
        if not reservation.is_complete:
            if reservation.can_wait:
                waiting = True
            elif reservation.short_lines or not reservation.unmatched_lines:
                short = ", ".join(
                    f"{s.get('sku_code')} {s.get('available')}/{s.get('requested')}" for s in reservation.short_lines
                )
                note = wording("task.short", lines=short) if short else wording("task.short_unknown")
                raised["out_of_stock"] = Raised("out_of_stock", None, note)
    if "address_changed" in changes and trigger == "platform_update":
        raised["address_changed"] = Raised("address_changed", None, wording("task.address_changed"))
    return outcome, raised, waiting


def _decision(
    *,
    order: Order,
    outcome: Outcome,
    open_tasks: list[tuple[str, str]],
    waiting: bool,
    reservation: ReservationOutcome | None,
) -> Decision:
    from rules import services

    decision = Decision(
        route="ready", lane=outcome.lane, tags=list(outcome.tags), priority=outcome.priority, hits=len(outcome.matches)
    )
    if open_tasks:
        decision.route = "on_hold"
        decision.exception_types = [code for code, _note in open_tasks]
        decision.reasons = [f"{code}: {note}" if note else code for code, note in open_tasks]
        return decision
    held_by_engine = order.state == "on_hold" and services.held_by_engine(order=order)
    if waiting:
        decision.route = "awaiting_stock"
        decision.reasons = ["waiting for presale stock"]
        decision.release = held_by_engine
        return decision
    stock_arrived = order.state == "awaiting_stock" and reservation is not None and reservation.is_complete
    decision.release = held_by_engine or stock_arrived
    return decision
