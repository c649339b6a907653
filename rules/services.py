"""Rule and exception-workflow writes: hits, tasks, re-checks, resolutions, escalation, blacklist.

Each public function takes keyword arguments, runs in one transaction, and locks the order (through
orders.locks) before deciding anything about it. Order state changes go through orders.services.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from orders import locks
from orders.errors import OrderError
from orders.models import Order, OrderEvent, OrderState
from orders.texts import Wording, wording
from rules import locks as rule_locks
from rules import texts as rule_texts
from rules.errors import (
    AssigneeInvalid,
    BacktestPeriodInvalid,
    BacktestRuleMissing,
    BlacklistValueInvalid,
    ResolveActionInvalid,
    ResolvePermissionDenied,
    RulesError,
    TaskAlreadyClaimed,
    TaskNotOpen,
    UnknownExceptionType,
    WorkbenchPermissionDenied,
)
from rules.labels import rule_name_wording
from rules.models import (
    OVERRIDING_RESOLUTIONS,
    BacktestRun,
    BacktestState,
    BlacklistEntry,
    BlacklistKind,
    ExceptionTask,
    ExceptionType,
    InterceptRule,
    Resolution,
    RuleHit,
    TaskState,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from rules.engine import CompiledRuleset, Decision, Match, NewOrderVerdict, Raised

logger = logging.getLogger(__name__)

SUPERVISOR_GROUP = getattr(settings, "RULES_SUPERVISOR_GROUP", "Supervisors")  # seeded, shown translated
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
        _new_task(order=order, item=item, info=info, now=now).save()
        result[code] = item.english
    for code, task in open_tasks.items():
        if code in raised:
            continue
        clearable = task.exception_type.auto_clear and code not in EVENT_TYPES
        if code in STOCK_TYPES and not stock_checked:
            clearable = False
        if clearable:
            cleared = wording("task.no_longer_raised")
            _resolve(task=task, actor=None, resolution=Resolution.CLEARED, note=cleared, now=now)
        else:
            result[code] = task.note
    return sorted(result.items())


def new_order_verdicts_record(
    *, verdicts: list[tuple[Order, NewOrderVerdict]], ruleset: CompiledRuleset, at: datetime
) -> None:
    """The writes of `engine.decide_new_order()` for a batch of new orders: every rule hit in one
    INSERT, every exception task opened in one more, and its history row (the same rows
    `record_hits`/`sync_tasks` write)."""
    from orders.intake import NewRow, bulk_insert, bulk_insert_with_history

    hits = [
        NewRow(
            rule_id=m.rule.id,
            order_id=order.pk,
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
    bulk_insert(RuleHit, hits, set_pks=False)  # one INSERT, as plain rows (nothing reads them back here)
    tasks = []
    for order, verdict in verdicts:
        for item in verdict.raised:
            tasks.append(_new_task(order=order, item=item, info=ruleset.types[item.code], now=at))
    if tasks:  # with their history rows (one INSERT more): a task's open version stays on record
        bulk_insert_with_history(ExceptionTask, tasks, at=at)


def _new_task(*, order: Order, item: Raised, info: Any, now: datetime) -> ExceptionTask:
    rule = item.rule
    user_id, group_id = _assignee(
        user_id=(rule.assign_user_id if rule and rule.assign_user_id else info.default_user_id),
        group_id=(rule.assign_group_id if rule and rule.assign_group_id else info.default_group_id),
        round_robin=info.round_robin,
    )
    return ExceptionTask(
        order_id=order.pk,  # the id, not the instance: the descriptor's checks were a tenth of building a task
        exception_type_id=info.id,
        rule_id=rule.id if rule else None,
        assignee_user_id=user_id,
        assignee_group_id=group_id,
        due_at=now + timedelta(minutes=(rule.due_minutes if rule and rule.due_minutes else info.due_minutes)),
        note=item.english[:1000],
        note_wording=rule_texts.stored(item.note)[1],
        created_at=now,
    )


def _assignee(*, user_id: int | None, group_id: int | None, round_robin: bool) -> tuple[int | None, int | None]:
    """(person, group) of a new to-do: the person a rule or its type names; else, for a type handed
    out in turn, the group's next active member after the last one served (locked cursor)."""
    if user_id is not None or not (round_robin and group_id):
        return user_id, group_id
    from django.contrib.auth import get_user_model

    cursor = rule_locks.round_robin_cursor_for_update(group_id=group_id)
    members = list(
        get_user_model()
        .objects.filter(groups=group_id, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    )
    if not members:
        return None, group_id
    if cursor is None:  # the cursor is busy past its wait (rules.locks): the member with the fewest open to-dos
        load = dict(
            ExceptionTask.objects.filter(state=TaskState.OPEN, assignee_user_id__in=members)
            .values("assignee_user_id")
            .annotate(n=Count("id"))
            .values_list("assignee_user_id", "n")
        )
        return min(members, key=lambda pk: (load.get(pk, 0), pk)), group_id
    last = cursor.last_user_id or 0
    chosen = next((pk for pk in members if pk > last), members[0])
    cursor.last_user_id = chosen
    cursor.save(update_fields=["last_user"])
    return chosen, group_id


def held_by_engine(*, order: Order) -> bool:
    """Whether the order's current hold came from exception tasks (not a manual pause by a person)."""
    last_hold = (
        OrderEvent.objects.filter(order=order, kind="hold").order_by("-id").values_list("actor_id", "data").first()
    )
    if last_hold is None:
        return False
    actor_id, data = last_hold
    if actor_id is not None and not (data or {}).get("automatic"):  # a re-check after a person's resolve
        return False
    return ExceptionTask.objects.filter(order=order).exists()


def _resolve(
    *, task: ExceptionTask, actor: AbstractBaseUser | None, resolution: str, note: str | Wording, now=None
) -> None:
    task.state = TaskState.RESOLVED
    task.resolution = resolution
    task.resolution_note, task.resolution_wording = rule_texts.stored(note)
    task.resolved_by = actor
    task.resolved_at = now or timezone.now()
    if actor is not None:
        task._history_user = actor
    task.save(
        update_fields=["state", "resolution", "resolution_note", "resolution_wording", "resolved_by", "resolved_at"]
    )


# ---- public services ----------------------------------------------------------------------------
@transaction.atomic
def raise_exception(
    *, order: Order | int, exception_type: str, note: str | Wording = "", actor: AbstractBaseUser | None = None
) -> ExceptionTask:
    """Hold an order for an exception found outside the rules (e.g. shipping: waybill_failed)."""
    from orders.services import apply_decision
    from rules.engine import Decision

    order_id = order if isinstance(order, int) else order.pk
    note, coded = rule_texts.stored(note)
    locked = locks.order_for_update(order_id=order_id)
    etype = ExceptionType.objects.filter(code=exception_type).first()
    if etype is None:
        raise UnknownExceptionType(exception_type)
    now = timezone.now()
    task = ExceptionTask.objects.filter(order=locked, exception_type=etype, state=TaskState.OPEN).first()
    if task is None:
        user_id, group_id = _assignee(
            user_id=etype.default_user_id, group_id=etype.default_group_id, round_robin=etype.round_robin
        )
        task = ExceptionTask(
            order=locked,
            exception_type=etype,
            assignee_user_id=user_id,
            assignee_group_id=group_id,
            due_at=now + timedelta(minutes=etype.due_minutes),
            note=note[:1000],
            note_wording=coded,
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
def recheck_order(*, order_id: int, trigger: str = "recheck", actor: AbstractBaseUser | None = None) -> Decision | None:
    """Reserve and evaluate again (after an order or a rule changed); None when the order is past checking.
    `actor`: the person whose resolve asked for this re-check; the order's moves carry them."""
    from inventory.services import reserve_for_order
    from orders.services import apply_decision
    from rules.engine import evaluate

    order = locks.order_for_update(order_id=order_id)
    if order.state not in RECHECK_STATES:
        return None
    reservation = reserve_for_order(order=order)
    decision = evaluate(order=order, reservation=reservation, trigger=trigger, changes=set())
    apply_decision(order=order, decision=decision, actor=actor)
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
#: what a person may do about each built-in type (first = the usual one); a custom type allows all.
#: "dismiss" resolves and re-checks: the check runs again on the order as it now is.
TYPE_ACTIONS: dict[str, tuple[str, ...]] = {
    "address_missing": ("edit_address", "cancel"),
    "address_invalid": ("edit_address", "release", "blacklist", "cancel"),
    "address_changed": ("dismiss", "edit_address", "cancel"),
    "payment_pending": ("mark_paid", "cancel"),
    "out_of_stock": ("release", "dismiss", "cancel"),
    "sku_unmatched": ("dismiss", "cancel"),
    "refund_requested": ("release", "cancel"),
    "blacklisted_buyer": ("release", "cancel"),
    "remark_review": ("dismiss", "edit_address", "release", "blacklist", "cancel"),
    "price_abnormal": ("release", "blacklist", "cancel"),
    "mergeable": ("merge", "dismiss"),
    "waybill_failed": ("dismiss", "edit_address", "cancel"),
    # after the parcel left: nothing to do to the order; the person records what they did
    "write_back_refused": ("dismiss",),
    "platform_order_closed": ("dismiss",),
    "tracking_problem": ("dismiss",),
    "no_pickup": ("dismiss",),
}
#: actions that need data of one order (a new address, another order): never in a bulk resolve
PER_ORDER_ACTIONS = frozenset({"edit_address", "merge"})


def actions_for_type(code: str) -> tuple[str, ...]:
    return TYPE_ACTIONS.get(code, RESOLVE_ACTIONS)


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
    if action not in actions_for_type(task.exception_type.code):
        raise ResolveActionInvalid(f"'{action}' does not resolve a '{task.exception_type.code}' exception.")

    if action == "edit_address":
        fields = {k: str(v).strip() for k, v in data.items() if k in RECEIVER_EDITABLE}
        if not fields:
            raise ResolveActionInvalid("Give at least one receiver field to change.")
        order_services.order_update_receiver(order_id=order_id, actor=actor, note=note, **fields)
        _resolve(task=task, actor=actor, resolution=Resolution.EDITED_ADDRESS, note=note)
        recheck_order(order_id=order_id, trigger="resolved", actor=actor)
    elif action == "mark_paid":
        order_services.order_mark_paid(order_id=order_id, actor=actor, note=note)
        _resolve(task=task, actor=actor, resolution=Resolution.MARKED_PAID, note=note)
        recheck_order(order_id=order_id, trigger="resolved", actor=actor)
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
        recheck_order(order_id=order_id, trigger="resolved", actor=actor)
    elif action == "dismiss":
        _resolve(task=task, actor=actor, resolution=Resolution.DISMISSED, note=note)
        recheck_order(order_id=order_id, trigger="resolved", actor=actor)
    elif action == "release":
        _resolve_all_open(order_id=order_id, actor=actor, resolution=Resolution.RELEASED, note=note)
        order_services.order_release(order_id=order_id, actor=actor, note=note or "released from the exception list")
        recheck_order(order_id=order_id, trigger="resolved", actor=actor)
    elif action == "merge":
        _merge(task=task, order_id=order_id, target_id=data.get("target_order_id"), actor=actor, note=note)
    elif action == "cancel":
        _resolve_all_open(order_id=order_id, actor=actor, resolution=Resolution.CANCELLED, note=note)
        order_services.order_cancel(order_id=order_id, actor=actor, note=note)
    task.refresh_from_db()
    return task


@dataclass(frozen=True)
class BulkOutcome:
    """One row of a bulk action: done, or why not (the row was left as it was)."""

    task_id: int
    ok: bool
    message: str = ""


def exceptions_resolve_bulk(
    *, task_ids: list[int], actor: AbstractBaseUser, action: str, note: str = "", data: dict[str, Any] | None = None
) -> list[BulkOutcome]:
    """Resolve several to-dos of one type the same way, each in its own transaction: a task that
    cannot be resolved is reported on its row and left untouched, the others are resolved."""
    codes = set(ExceptionTask.objects.filter(pk__in=task_ids).values_list("exception_type__code", flat=True))
    if len(codes) > 1:
        raise ResolveActionInvalid("A bulk resolve takes tasks of one exception type.")
    if action in PER_ORDER_ACTIONS:
        raise ResolveActionInvalid(f"'{action}' needs each order's own data: resolve those one by one.")
    outcomes = []
    for task_id in sorted(set(task_ids)):
        try:
            exception_resolve(task_id=task_id, actor=actor, action=action, note=note, data=data)
        except (RulesError, OrderError) as exc:
            outcomes.append(BulkOutcome(task_id=task_id, ok=False, message=str(exc)))
        else:
            outcomes.append(BulkOutcome(task_id=task_id, ok=True))
    return outcomes


@transaction.atomic
def exception_claim(*, task_id: int, actor: AbstractBaseUser) -> ExceptionTask:
    """Take an open to-do for oneself. The row is locked: of two people claiming at once, the first
    wins and the second is told who has it. Claiming one's own task again changes nothing."""
    if not actor.has_perm("rules.claim_exceptiontask"):
        raise WorkbenchPermissionDenied(permission="rules.claim_exceptiontask")
    task = rule_locks.task_for_update(task_id=task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(task_id=task.pk, state=task.state)
    if task.assignee_user_id == actor.pk:
        return task
    if task.assignee_user_id is not None:
        raise TaskAlreadyClaimed(task_id=task.pk, holder=task.assignee_user.get_username())
    task.assignee_user = actor
    task._history_user = actor
    task.save(update_fields=["assignee_user"])
    return task


def exceptions_claim_bulk(*, task_ids: list[int], actor: AbstractBaseUser) -> list[BulkOutcome]:
    """Claim several to-dos, each on its own: one someone else holds is reported, the rest claimed."""
    outcomes = []
    for task_id in sorted(set(task_ids)):
        try:
            exception_claim(task_id=task_id, actor=actor)
        except (RulesError, ExceptionTask.DoesNotExist) as exc:
            outcomes.append(BulkOutcome(task_id=task_id, ok=False, message=str(exc)))
        else:
            outcomes.append(BulkOutcome(task_id=task_id, ok=True))
    return outcomes


@transaction.atomic
def exceptions_assign(*, task_ids: list[int], assignee_id: int, actor: AbstractBaseUser) -> list[BulkOutcome]:
    """Hand open to-dos to a person (an active staff user). Tasks are locked in id order; a task no
    longer open is reported on its row and left as it is."""
    from django.contrib.auth import get_user_model

    if not actor.has_perm("rules.assign_exceptiontask"):
        raise WorkbenchPermissionDenied(permission="rules.assign_exceptiontask")
    assignee = get_user_model().objects.filter(pk=assignee_id, is_active=True, is_staff=True).first()
    if assignee is None:
        raise AssigneeInvalid(f"User {assignee_id} is not an active staff user.")
    outcomes = []
    found = {task.pk: task for task in rule_locks.tasks_for_update(task_ids=sorted(set(task_ids)))}
    for task_id in sorted(set(task_ids)):
        task = found.get(task_id)
        if task is None or task.state != TaskState.OPEN:
            error = TaskNotOpen(task_id=task_id, state=task.state if task else "gone")
            outcomes.append(BulkOutcome(task_id=task_id, ok=False, message=str(error)))
            continue
        task.assignee_user = assignee
        task._history_user = actor
        task.save(update_fields=["assignee_user"])
        outcomes.append(BulkOutcome(task_id=task_id, ok=True))
    return outcomes


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
    merged_with = {"order": target.pk, "external_id": target.external_id}
    note = wording("task.merged_with_note", **merged_with, note=note) if note else wording("task.merged", **merged_with)
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
        recheck_order(order_id=pk, trigger="resolved", actor=actor)


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
            at = timezone.localtime(now).strftime("%Y-%m-%d %H:%M")
            before = task.note_wording or task.note
            if not task.note_wording and task.rule_id and task.note == task.rule.name:
                before = rule_name_wording(task.rule.code, task.note) or task.note
            escalation = (
                wording("task.escalated_after", note=before, at=at, group=rule_texts.group(supervisors.name))
                if before
                else wording("task.escalated", at=at, group=rule_texts.group(supervisors.name))
            )
            task.note, task.note_wording = rule_texts.stored(escalation)
            task.save(update_fields=["assignee_group", "escalated_at", "note", "note_wording"])
            escalated[task.exception_type.code].append(task.order_id)
    for code, order_ids in escalated.items():
        alert_raise(
            key=f"rules:escalated:{code}",
            source="rules",
            message=wording(
                "alert.exceptions_escalated",
                count=len(order_ids),
                type=rule_texts.exception_type(code),
                group=rule_texts.group(supervisors.name),
                orders=str(order_ids[:20]),
            ),
        )
    return sum(len(ids) for ids in escalated.values())


# ---- backtests as background jobs -----------------------------------------------------------------
BACKTEST_MAX_DAYS = 90


def backtest_start(
    *, rule_id: int, since: datetime, until: datetime, actor: AbstractBaseUser | None = None, enqueue: bool = True
) -> BacktestRun:
    """Record a backtest of the rule over orders received in [since, until) and queue it (on commit).

    Never evaluates the rule: the django-q2 task `rules.tasks.run_backtest` does, so a backtest over a
    million orders holds no web worker. enqueue=False: the caller runs `backtest_execute` itself (the
    management command). Raises BacktestPeriodInvalid (per form field) or BacktestRuleMissing.
    """
    errors: dict[str, str] = {}
    if since >= until:
        errors["until"] = _("The end of the period must be after its start.")
    elif until - since > timedelta(days=BACKTEST_MAX_DAYS):
        errors["since"] = _("A backtest covers at most %(days)d days.") % {"days": BACKTEST_MAX_DAYS}
    if errors:
        raise BacktestPeriodInvalid(errors)
    with transaction.atomic():
        rule = InterceptRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise BacktestRuleMissing(rule_id=rule_id)
        run = BacktestRun.objects.create(
            rule=rule, rule_version=rule.version, since=since, until=until, requested_by=actor
        )
        if enqueue:
            transaction.on_commit(lambda pk=run.pk: _enqueue_backtest(pk))
    return run


def _enqueue_backtest(run_id: int) -> None:
    from django_q.tasks import async_task

    async_task("rules.tasks.run_backtest", run_id, task_name=f"backtest-{run_id}")


def backtest_execute(*, run_id: int, on_progress: Callable[[int, int], None] | None = None) -> BacktestRun:
    """Run a queued backtest (the task body): evaluate chunk by chunk, store progress, stop on cancel.

    Idempotent: a run that is finished, cancelled or held by a live worker is left alone; one whose
    worker died (running for longer than the queue's task timeout) is taken over and run again.
    Each write is one statement (progress, then the result), so the page sees progress as it goes.
    """
    from rules.backtest import DIFF_SAMPLE_SIZE, BacktestCancelled, backtest_period

    now = timezone.now()
    stale = now - timedelta(seconds=settings.Q_CLUSTER.get("timeout", 120))
    claimed = (
        BacktestRun.objects.filter(pk=run_id)
        .filter(Q(state=BacktestState.QUEUED) | Q(state=BacktestState.RUNNING, started_at__lt=stale))
        .filter(cancel_requested=False)
        .update(state=BacktestState.RUNNING, started_at=now, progress_done=0, error="")
    )
    run = BacktestRun.objects.select_related("rule").get(pk=run_id)
    if not claimed:
        return run
    runs = BacktestRun.objects.filter(pk=run_id)

    def progress(done: int, total: int) -> bool:
        runs.update(progress_done=done, progress_total=total)
        if on_progress is not None:
            on_progress(done, total)
        return not runs.filter(cancel_requested=True).exists()

    try:
        result = backtest_period(rule=run.rule, since=run.since, until=run.until, on_progress=progress)
    except BacktestCancelled:
        runs.update(state=BacktestState.CANCELLED, finished_at=timezone.now())
    except Exception as exc:  # a failed run says why on its page; the queue must not retry it blindly
        logger.exception("backtest run %s failed", run_id)
        runs.update(state=BacktestState.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}")
    else:
        hold = result.is_hold_rule
        runs.update(
            state=BacktestState.DONE,
            finished_at=timezone.now(),
            rule_version=run.rule.version,
            method=result.method,
            progress_done=result.total_orders,
            progress_total=result.total_orders,
            total_orders=result.total_orders,
            matched_count=len(result.matched),
            would_act_count=len(result.would_act),
            held_now_count=len(result.held_now) if hold else None,
            newly_held_count=len(result.newly_held) if hold else None,
            no_longer_held_count=len(result.no_longer_held) if hold else None,
            groups=result.groups,
            sample_order_ids=[order.pk for order in result.sample],
            newly_held_sample=sorted(result.newly_held)[:DIFF_SAMPLE_SIZE],
            no_longer_held_sample=sorted(result.no_longer_held)[:DIFF_SAMPLE_SIZE],
        )
    run.refresh_from_db()
    return run


def backtest_cancel(*, run_id: int, actor: AbstractBaseUser | None = None) -> BacktestRun:
    """Ask a backtest to stop: a queued run is cancelled at once, a running one at its next chunk."""
    with transaction.atomic():
        runs = BacktestRun.objects.filter(pk=run_id)
        runs.filter(state=BacktestState.QUEUED).update(
            state=BacktestState.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        )
        runs.filter(state=BacktestState.RUNNING).update(cancel_requested=True)
    return BacktestRun.objects.get(pk=run_id)
