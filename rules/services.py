"""Rule and exception-workflow writes: hits, tasks, re-checks, resolutions, escalation, blacklist.

Each public function takes keyword arguments, runs in one transaction, and locks the order (through
orders.locks) before deciding anything about it. Order state changes go through orders.services.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from orders import locks
from orders.models import Order, OrderEvent, OrderState
from rules import locks as rule_locks
from rules.errors import (
    BlacklistValueInvalid,
    ResolveActionInvalid,
    ResolvePermissionDenied,
    TaskNotOpen,
    UnknownExceptionType,
)
from rules.models import (
    OVERRIDING_RESOLUTIONS,
    BlacklistEntry,
    BlacklistKind,
    ExceptionTask,
    ExceptionType,
    Resolution,
    RuleHit,
    TaskState,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from rules.engine import CompiledRuleset, Decision, Match, NewOrderVerdict, Raised

logger = logging.getLogger(__name__)

SUPERVISOR_GROUP = getattr(settings, "RULES_SUPERVISOR_GROUP", "主管 / Supervisors")
# Raised by an event (a platform update, a shipping failure): a person's earlier override does not
# silence a new occurrence, and a re-check cannot tell that it went away.
EVENT_TYPES = frozenset({"address_changed", "waybill_failed"})
# Raised from the reservation: cleared only by a re-check that reserved stock again.
STOCK_TYPES = frozenset({"out_of_stock", "sku_unmatched"})
RECHECK_STATES = (OrderState.NEW, OrderState.READY, OrderState.ON_HOLD, OrderState.AWAITING_STOCK)
RECEIVER_EDITABLE = (
    "receiver_name",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_district",
    "receiver_town",
    "receiver_address",
)


# ---- called by the engine, inside the pipeline's transaction ------------------------------------
def record_hits(*, order: Order, matches: list[Match], trigger: str, at: datetime) -> None:
    if not matches:
        return
    RuleHit.objects.bulk_create(
        RuleHit(
            rule_id=m.rule.id,
            order=order,
            rule_version=m.rule.version,
            enforced=m.enforced,
            mode=m.rule.mode,
            in_rollout=m.in_rollout,
            trigger=trigger[:24],
            facts=m.facts,
            at=at,
        )
        for m in matches
    )


def sync_tasks(
    *, order: Order, ruleset: CompiledRuleset, raised: dict[str, Raised], now: datetime, stock_checked: bool
) -> list[tuple[str, str]]:
    """Open a task per newly raised type, keep the open ones still raised, clear the ones that went away.

    Returns (code, note) of the tasks open afterwards. The caller holds the order's row lock.
    """
    open_tasks = {
        t.exception_type.code: t
        for t in ExceptionTask.objects.filter(order=order, state=TaskState.OPEN).select_related("exception_type")
    }
    new_codes = [code for code in raised if code not in open_tasks]
    overridden: set[str] = set()
    if new_codes:
        overridden = set(
            ExceptionTask.objects.filter(
                order=order,
                state=TaskState.RESOLVED,
                resolution__in=OVERRIDING_RESOLUTIONS,
                exception_type__code__in=new_codes,
            ).values_list("exception_type__code", flat=True)
        )
    result: dict[str, str] = {code: task.note for code, task in open_tasks.items() if code in raised}
    for code in new_codes:
        if code in overridden and code not in EVENT_TYPES:
            continue
        info = ruleset.types.get(code)
        if info is None:
            logger.error("exception type %s is not defined; order %s not held for it", code, order.pk)
            continue
        item = raised[code]
        rule = item.rule
        ExceptionTask.objects.create(
            order=order,
            exception_type_id=info.id,
            rule_id=rule.id if rule else None,
            assignee_user_id=rule.assign_user_id if rule else None,
            assignee_group_id=(rule.assign_group_id if rule and rule.assign_group_id else info.default_group_id),
            due_at=now + timedelta(minutes=(rule.due_minutes if rule and rule.due_minutes else info.due_minutes)),
            note=item.note[:1000],
            created_at=now,
        )
        result[code] = item.note
    for code, task in open_tasks.items():
        if code in raised:
            continue
        clearable = task.exception_type.auto_clear and code not in EVENT_TYPES
        if code in STOCK_TYPES and not stock_checked:
            clearable = False
        if clearable:
            _resolve(task=task, actor=None, resolution=Resolution.CLEARED, note="no longer raised", now=now)
        else:
            result[code] = task.note
    return sorted(result.items())


def new_order_verdicts_record(
    *, verdicts: list[tuple[Order, NewOrderVerdict]], ruleset: CompiledRuleset, at: datetime
) -> None:
    """The writes of `engine.decide_new_order()` for a batch of new orders: every rule hit in one
    INSERT, every exception task opened in one more, and its history row (the same rows
    `record_hits`/`sync_tasks` write)."""
    hits = [
        RuleHit(
            rule_id=m.rule.id,
            order=order,
            rule_version=m.rule.version,
            enforced=m.enforced,
            mode=m.rule.mode,
            in_rollout=m.in_rollout,
            trigger="ingest",
            facts=m.facts,
            at=at,
        )
        for order, verdict in verdicts
        for m in verdict.matches
    ]
    if hits:
        RuleHit.objects.bulk_create(hits)
    tasks = []
    for order, verdict in verdicts:
        for item in verdict.raised:
            tasks.append(_new_task(order=order, item=item, info=ruleset.types[item.code], now=at))
    if tasks:  # with their history rows (one INSERT more): a task's open version stays on record
        bulk_create_with_history(tasks, ExceptionTask)


def _new_task(*, order: Order, item: Raised, info: Any, now: datetime) -> ExceptionTask:
    rule = item.rule
    return ExceptionTask(
        order=order,
        exception_type_id=info.id,
        rule_id=rule.id if rule else None,
        assignee_user_id=rule.assign_user_id if rule else None,
        assignee_group_id=(rule.assign_group_id if rule and rule.assign_group_id else info.default_group_id),
        due_at=now + timedelta(minutes=(rule.due_minutes if rule and rule.due_minutes else info.due_minutes)),
        note=item.note[:1000],
        created_at=now,
    )


def held_by_engine(*, order: Order) -> bool:
    """Whether the order's current hold came from exception tasks (not a manual pause by a person)."""
    last_hold = OrderEvent.objects.filter(order=order, kind="hold").order_by("-id").values_list("actor_id").first()
    if last_hold is None or last_hold[0] is not None:
        return False
    return ExceptionTask.objects.filter(order=order).exists()


def _resolve(*, task: ExceptionTask, actor: AbstractBaseUser | None, resolution: str, note: str, now=None) -> None:
    task.state = TaskState.RESOLVED
    task.resolution = resolution
    task.resolution_note = note
    task.resolved_by = actor
    task.resolved_at = now or timezone.now()
    if actor is not None:
        task._history_user = actor
    task.save(update_fields=["state", "resolution", "resolution_note", "resolved_by", "resolved_at"])


# ---- public services ----------------------------------------------------------------------------
@transaction.atomic
def raise_exception(
    *, order: Order | int, exception_type: str, note: str = "", actor: AbstractBaseUser | None = None
) -> ExceptionTask:
    """Hold an order for an exception found outside the rules (e.g. shipping: waybill_failed)."""
    from orders.services import apply_decision
    from rules.engine import Decision

    order_id = order if isinstance(order, int) else order.pk
    locked = locks.order_for_update(order_id=order_id)
    etype = ExceptionType.objects.filter(code=exception_type).first()
    if etype is None:
        raise UnknownExceptionType(exception_type)
    now = timezone.now()
    task = ExceptionTask.objects.filter(order=locked, exception_type=etype, state=TaskState.OPEN).first()
    if task is None:
        task = ExceptionTask(
            order=locked,
            exception_type=etype,
            assignee_group_id=etype.default_group_id,
            due_at=now + timedelta(minutes=etype.due_minutes),
            note=note[:1000],
            created_at=now,
        )
        if actor is not None:
            task._history_user = actor
        task.save()
    if locked.state in (*RECHECK_STATES, OrderState.PRINTED) and locked.state != OrderState.ON_HOLD:
        decision = Decision(route=OrderState.ON_HOLD, lane=locked.lane, exception_types=[exception_type])
        decision.reasons = [f"{exception_type}: {note}" if note else exception_type]
        apply_decision(order=locked, decision=decision)
    return task


@transaction.atomic
def recheck_order(*, order_id: int, trigger: str = "recheck") -> Decision | None:
    """Reserve and evaluate again (after an order or a rule changed); None when the order is past checking."""
    from inventory.services import reserve_for_order
    from orders.services import apply_decision
    from rules.engine import evaluate

    order = locks.order_for_update(order_id=order_id)
    if order.state not in RECHECK_STATES:
        return None
    reservation = reserve_for_order(order=order)
    decision = evaluate(order=order, reservation=reservation, trigger=trigger, changes=set())
    apply_decision(order=order, decision=decision)
    return decision


def recheck_open_orders(*, order_ids: list[int] | None = None, limit: int = 5000) -> dict[str, int]:
    """Re-check open orders (all, or the given ones), each in its own transaction. Returns route counts."""
    qs = Order.objects.filter(state__in=RECHECK_STATES).order_by("pk")
    if order_ids is not None:
        qs = qs.filter(pk__in=order_ids)
    counts: dict[str, int] = defaultdict(int)
    for order_id in qs.values_list("pk", flat=True)[:limit]:
        decision = recheck_order(order_id=order_id)
        counts[decision.route if decision else "skipped"] += 1
    return dict(counts)


RESOLVE_ACTIONS = ("edit_address", "mark_paid", "blacklist", "release", "cancel", "merge", "dismiss")


def can_resolve(*, task: ExceptionTask, actor: AbstractBaseUser) -> bool:
    if actor.has_perm("rules.resolve_exceptiontask"):
        return True
    if task.assignee_user_id == actor.pk:
        return True
    return bool(task.assignee_group_id and actor.groups.filter(pk=task.assignee_group_id).exists())


@transaction.atomic
def exception_resolve(
    *, task_id: int, actor: AbstractBaseUser, action: str, note: str = "", data: dict[str, Any] | None = None
) -> ExceptionTask:
    """A person resolves a to-do: the action's effect on the order, the task's resolution (who, when,
    note), then the order is re-checked so what no longer applies clears and a clean order is released."""
    from orders import services as order_services

    data = data or {}
    order_id = ExceptionTask.objects.filter(pk=task_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise ResolveActionInvalid(f"Exception task {task_id} does not exist.")
    locks.order_for_update(order_id=order_id)  # lock order first, then its tasks
    task = rule_locks.task_for_update(task_id=task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(task_id=task.pk, state=task.state)
    if not can_resolve(task=task, actor=actor):
        raise ResolvePermissionDenied(task_id=task.pk)
    if action not in RESOLVE_ACTIONS:
        raise ResolveActionInvalid(f"Unknown action '{action}'.")

    if action == "edit_address":
        fields = {k: str(v).strip() for k, v in data.items() if k in RECEIVER_EDITABLE}
        if not fields:
            raise ResolveActionInvalid("Give at least one receiver field to change.")
        order_services.order_update_receiver(order_id=order_id, actor=actor, note=note, **fields)
        _resolve(task=task, actor=actor, resolution=Resolution.EDITED_ADDRESS, note=note)
        recheck_order(order_id=order_id, trigger="resolved")
    elif action == "mark_paid":
        order_services.order_mark_paid(order_id=order_id, actor=actor, note=note)
        _resolve(task=task, actor=actor, resolution=Resolution.MARKED_PAID, note=note)
        recheck_order(order_id=order_id, trigger="resolved")
    elif action == "blacklist":
        order = Order.objects.get(pk=order_id)
        kinds = data.get("kinds") or [BlacklistKind.BUYER_NICK]
        values = {
            BlacklistKind.BUYER_NICK: order.buyer_nick,
            BlacklistKind.PHONE: order.receiver_phone,
            BlacklistKind.ADDRESS: f"{order.receiver_province}{order.receiver_city}{order.receiver_district}"
            f"{order.receiver_address}",
        }
        added = [blacklist_add(kind=k, value=values[k], actor=actor, note=note) for k in kinds if values.get(k)]
        if not added:
            raise ResolveActionInvalid("The order has nothing to blacklist for the chosen kinds.")
        _resolve(task=task, actor=actor, resolution=Resolution.BLACKLISTED, note=note)
        recheck_order(order_id=order_id, trigger="resolved")
    elif action == "dismiss":
        _resolve(task=task, actor=actor, resolution=Resolution.DISMISSED, note=note)
        recheck_order(order_id=order_id, trigger="resolved")
    elif action == "release":
        _resolve_all_open(order_id=order_id, actor=actor, resolution=Resolution.RELEASED, note=note)
        order_services.order_release(order_id=order_id, actor=actor, note=note or "released from the exception list")
        recheck_order(order_id=order_id, trigger="resolved")
    elif action == "merge":
        _merge(task=task, order_id=order_id, target_id=data.get("target_order_id"), actor=actor, note=note)
    elif action == "cancel":
        _resolve_all_open(order_id=order_id, actor=actor, resolution=Resolution.CANCELLED, note=note)
        order_services.order_cancel(order_id=order_id, actor=actor, note=note)
    task.refresh_from_db()
    return task


def exceptions_close_for_cancelled_order(*, order_id: int, note: str) -> int:
    """The platform closed the order (cancelled, or every line refunded): its open to-dos need no
    decision any more, so they are resolved as cancelled (no person acted). The caller holds the
    order's lock. Returns how many were open."""
    tasks = rule_locks.open_tasks_for_update(order_id=order_id)
    for task in tasks:
        _resolve(task=task, actor=None, resolution=Resolution.CANCELLED, note=note)
    return len(tasks)


def _resolve_all_open(*, order_id: int, actor: AbstractBaseUser, resolution: str, note: str) -> None:
    for task in rule_locks.open_tasks_for_update(order_id=order_id):
        _resolve(task=task, actor=actor, resolution=resolution, note=note)


def _merge(*, task: ExceptionTask, order_id: int, target_id: Any, actor: AbstractBaseUser, note: str) -> None:
    """合单: both orders stay (each is written back on its own platform order) and travel in one
    parcel (shipping.services.parcels_merge). The `mergeable` to-dos of both are resolved as merged,
    which a re-check respects, and both are re-checked, so they print once nothing else holds them."""
    from shipping.errors import ParcelPlanInvalid
    from shipping.services import parcels_merge

    target = _merge_target(order_id=order_id, target_id=target_id)
    try:
        parcels_merge(order_ids=[order_id, target.pk], actor=actor)
    except ParcelPlanInvalid as exc:
        raise ResolveActionInvalid(exc.message) from None
    note = f"merged with order {target.pk} ({target.external_id}) into one parcel. {note}".strip()
    _resolve(task=task, actor=actor, resolution=Resolution.MERGED, note=note)
    others = [t for t in rule_locks.open_tasks_for_update(order_id=target.pk) if t.exception_type.code == "mergeable"]
    for other in others:
        _resolve(task=other, actor=actor, resolution=Resolution.MERGED, note=note)
    if not others:  # the target was never held for it: record the person's decision, which re-checks respect
        now = timezone.now()
        merged = ExceptionTask(
            order=target,
            exception_type=task.exception_type,
            assignee_group_id=task.exception_type.default_group_id,
            due_at=now,
            note=note,
            created_at=now,
        )
        merged._history_user = actor
        merged.save()
        _resolve(task=merged, actor=actor, resolution=Resolution.MERGED, note=note, now=now)
    for pk in sorted({order_id, target.pk}):
        recheck_order(order_id=pk, trigger="resolved")


def _merge_target(*, order_id: int, target_id: Any) -> Order:
    try:
        target = Order.objects.select_related("channel").get(pk=int(target_id))
    except (TypeError, ValueError, Order.DoesNotExist):
        raise ResolveActionInvalid(f"Order {target_id!r} to merge into does not exist.") from None
    source = Order.objects.select_related("channel").get(pk=order_id)
    if target.pk == source.pk:
        raise ResolveActionInvalid("An order cannot be merged into itself.")
    if target.state not in RECHECK_STATES:
        raise ResolveActionInvalid(f"Order {target.pk} is {target.state}: merge only into an open, unprinted order.")
    if (target.channel.platform, target.buyer_nick, target.receiver_phone) != (
        source.channel.platform,
        source.buyer_nick,
        source.receiver_phone,
    ):
        raise ResolveActionInvalid("Orders can only be merged for the same buyer and receiver on the same platform.")
    return target


@transaction.atomic
def blacklist_add(*, kind: str, value: str, actor: AbstractBaseUser | None, note: str = "") -> BlacklistEntry:
    limit = BlacklistEntry._meta.get_field("value").max_length
    if len(value) > limit:
        raise BlacklistValueInvalid(
            f"A blacklist {kind} holds at most {limit} characters; this one has {len(value)}. "
            "Add a shorter fragment in the blacklist admin."
        )
    normalized = BlacklistEntry.normalize(kind, value)
    entry = BlacklistEntry.objects.filter(kind=kind, normalized=normalized).first()
    if entry is None:
        entry = BlacklistEntry(kind=kind, value=value, note=note, created_by=actor)
        if actor is not None:
            entry._history_user = actor
        entry.save()
    elif not entry.enabled:
        entry.enabled = True
        entry.save(update_fields=["enabled"])
    return entry


def exceptions_escalate(*, now: datetime | None = None) -> int:
    """Reassign overdue or unassigned open tasks to the supervisor group and raise one alert per type."""
    from orders.services import alert_raise

    now = now or timezone.now()
    supervisors, _created = Group.objects.get_or_create(name=SUPERVISOR_GROUP)
    escalated: dict[str, list[int]] = defaultdict(list)
    with transaction.atomic():
        due = rule_locks.tasks_to_escalate_for_update(now=now)
        for task in due:
            task.assignee_group = supervisors
            task.escalated_at = now
            task.note = (task.note + f"\n[{now:%Y-%m-%d %H:%M}] escalated to {supervisors.name}").strip()
            task.save(update_fields=["assignee_group", "escalated_at", "note"])
            escalated[task.exception_type.code].append(task.order_id)
    for code, order_ids in escalated.items():
        alert_raise(
            key=f"rules:escalated:{code}",
            source="rules",
            message=f"{len(order_ids)} '{code}' exception(s) overdue or unassigned, escalated to "
            f"{supervisors.name}: orders {order_ids[:20]}",
        )
    return sum(len(ids) for ids in escalated.values())
