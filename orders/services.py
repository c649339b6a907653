"""Order writes. The ingestion pipeline reads top to bottom in `ingest_order()`.

Every function here locks what it reads to decide a write, changes state only through the
Order transitions, writes an OrderEvent in the same transaction, and leaves external effects
to outbox rows drained by django-q2 workers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from orders import locks, texts
from orders.channels import guard
from orders.channels.base import NormalizedLine, NormalizedOrder, PayloadError
from orders.errors import ChannelDisabled, OrderPermissionDenied, OrderTransitionNotAllowed
from orders.models import (
    OPEN_STATES,
    Alert,
    AlertSeverity,
    Channel,
    InboundMessage,
    LineRefundState,
    Order,
    OrderEvent,
    OrderLine,
    OrderState,
    PlatformStatus,
    QuarantinedMessage,
)
from orders.signals import line_refund_changed
from orders.texts import Wording, wording

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

RECEIVER_FIELDS = (
    "receiver_name",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_district",
    "receiver_town",
    "receiver_address",
)
UPDATABLE_FIELDS = (
    "platform_status",
    "platform_status_raw",
    "refund_requested",
    "platform_hold",
    "buyer_message",
    "seller_memo",
    "paid_amount",
    "is_presale",
    "receiver_zip",
    "receiver_masked",
    "receiver_cipher",
    *RECEIVER_FIELDS,
)
CLOSED_PLATFORM_STATUSES = {PlatformStatus.CANCELLED, PlatformStatus.REFUNDED}
# The platform says the parcel left without OrderHub (shipped from the platform's own console, or
# before OrderHub was installed): never print it again; a person decides.
SHIPPED_ELSEWHERE_STATUSES = {
    PlatformStatus.PARTIALLY_SHIPPED,
    PlatformStatus.SHIPPED,
    PlatformStatus.DELIVERED,
    PlatformStatus.COMPLETED,
}
SHIPPED_ELSEWHERE_REASON = "shipped outside OrderHub: check before shipping again"
# Platform changes after which an open order is checked again (stock and rules).
RECHECK_ON = {
    "address_changed",
    "refund_requested",
    "paid",
    "platform_hold",
    "buyer_message",
    "seller_memo",
    "amount_changed",
    "lines",
}
ALL_LINES_REFUNDED_NOTE = "every line refunded on the platform"
PRESALE_WAIT_REASON = "waiting for presale stock"  # rules.engine's reason for a presale order

# Which transitions a person needs which permission for (system calls pass actor=None).
TRANSITION_PERMISSIONS = {
    "hold": "orders.hold_order",
    "release": "orders.release_order",
    "cancel": "orders.cancel_order",
    "mark_printed": "orders.print_order",
    "ship": "orders.ship_order",
    "ship_partially": "orders.ship_order",
    "mark_delivered": "orders.ship_order",
    "mark_returned": "orders.ship_order",
}


@dataclass
class LineChange:
    """What one platform update changed on one stored line: {field: (before, after)}; `added` for a
    line the platform listed for the first time."""

    line: OrderLine
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    added: bool = False

    @property
    def refund_change(self) -> tuple[str, str] | None:
        return self.fields.get("refund_state")

    def as_data(self) -> dict[str, Any]:
        """JSON form, for the audit event and the webhook answer."""
        return {
            "line_id": self.line.pk,
            "external_line_id": self.line.external_line_id,
            "sku_code": self.line.sku_code,
            "title": self.line.title[:80],
            "added": self.added,
            "changes": {name: {"from": before, "to": after} for name, (before, after) in sorted(self.fields.items())},
        }


@dataclass
class IngestResult:
    order: Order
    created: bool
    changed: bool
    stale: bool = False
    changes: set[str] = field(default_factory=set)
    line_changes: list[LineChange] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """What happened, in one word: created | updated | unchanged | stale."""
        if self.created:
            return "created"
        if self.stale:
            return "stale"
        return "updated" if self.changed else "unchanged"


# ---- the pipeline ------------------------------------------------------------------------
def ingest_order(*, channel: Channel, incoming: NormalizedOrder, source: str) -> IngestResult:
    """Take one platform order into OrderHub, exactly once: the batch of one of `ingest_orders()`
    (same code, same statements); its error, if any, is raised."""
    [outcome] = ingest_orders([IngestItem(channel=channel, incoming=incoming, source=source)])
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None
    return outcome.result


@transaction.atomic(durable=True)
def _ingest_one(*, channel: Channel, incoming: NormalizedOrder, source: str) -> IngestResult:
    """The per-order path, in one transaction (see `ingest_orders()` for which orders take it).

    1. upsert by (channel, external_id), ignoring messages older than what is stored;
    2. reserve stock (inventory) for a new order;
    3. evaluate the rules;
    4. route: ready | on_hold | awaiting_stock (lanes are a field on ready orders).
    A later message for a known order updates it and re-checks it through the same steps; its
    lines follow the platform's (refund state, quantity, new lines: `_reconcile_lines`), a refunded
    line gives its stock back and leaves its parcels, and an order whose every line is refunded is
    cancelled. A line that arrives refunded is never reserved.
    """
    order, created = _lock_or_create(channel=channel, incoming=incoming, source=source)
    if created:
        lines = _write_lines(order=order, incoming=incoming)
        _record(order=order, kind="received", to_state=order.state, note=received_note(source))
        if incoming.platform_status in CLOSED_PLATFORM_STATUSES:
            _cancel(
                order=order,
                actor=None,
                note=wording("order.already_closed_on_platform", status=incoming.platform_status_raw),
            )
        elif _all_refunded(lines):
            _cancel(order=order, actor=None, note=wording("order.all_lines_refunded"))
        elif incoming.platform_status in SHIPPED_ELSEWHERE_STATUSES:
            _hold_shipped_elsewhere(order=order, incoming=incoming)
        else:  # a line that arrives refunded is stored but never reserved (inventory skips it)
            _check_and_route(order=order, trigger="ingest", changes=set())
        return IngestResult(order=order, created=True, changed=True)

    if _is_stale(order=order, incoming=incoming):
        # as old as the stored order: a redelivery (unchanged); older: an out-of-order message (stale)
        redelivery = incoming.modified_at == order.platform_modified_at
        return IngestResult(order=order, created=False, changed=False, stale=not redelivery)
    changes = _apply_update(order=order, incoming=incoming)
    line_changes = _reconcile_lines(order=order, incoming=incoming)
    if line_changes:
        changes.add("lines")
    if not changes:
        return IngestResult(order=order, created=False, changed=False)
    _record(order=order, kind="platform_update", note=", ".join(sorted(changes)), data={"source": source})
    if line_changes:
        _after_line_changes(order=order, line_changes=line_changes)
    if incoming.platform_status in CLOSED_PLATFORM_STATUSES and order.state in OPEN_STATES:
        _cancel_on_platform(order=order, note=wording("order.closed_on_platform", status=incoming.platform_status_raw))
    elif line_changes and order.state in OPEN_STATES and _all_refunded(order.lines.all()):
        _cancel_on_platform(order=order, note=wording("order.all_lines_refunded"))
    elif incoming.platform_status in SHIPPED_ELSEWHERE_STATUSES and order.state in OPEN_STATES:
        _hold_shipped_elsewhere(order=order, incoming=incoming)
    elif order.state in OPEN_STATES and changes & RECHECK_ON:
        _check_and_route(order=order, trigger="platform_update", changes=changes)
    return IngestResult(order=order, created=False, changed=True, changes=changes, line_changes=line_changes)


@dataclass(frozen=True)
class IngestItem:
    """One platform order to decide, as `ingest_orders()` takes it."""

    channel: Channel
    incoming: NormalizedOrder
    source: str
    #: `validate_fits` already passed (gateway.read_signed_order ran it): not run again on admission
    fits_checked: bool = False


@dataclass
class IngestOutcome:
    """What became of one item of a batch: its result, or the error that isolated it (the rest of
    the batch is decided regardless)."""

    item: IngestItem
    result: IngestResult | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# Errors that belong to one order of a batch: its payload, its channel, or the database refusing it.
ISOLATED_ERRORS = (PayloadError, ChannelDisabled, DatabaseError)


def ingest_orders(batch: Sequence[IngestItem]) -> list[IngestOutcome]:
    """Decide a batch of platform orders; one outcome per item, in the batch's order.

    The contract every caller (webhook inbox, pull pages, demo) relies on: each item is decided with
    the exactly-once, stale-message and line-update semantics of the single order, and an item that
    fails is reported in its outcome without losing the others.

    1. admit each item (channel enabled, every value fits its column): a refusal is its outcome;
    2. decide the orders seen for the first time together, set-based, stock locked last
       (`orders.intake.decide_new_orders`); a batch the database refuses is split in halves until
       the poison order is alone and reported;
    3. the rest, in the batch's order, one transaction each through `_ingest_one()`: orders already
       stored (updates, redeliveries, stale messages, whose line reconciliation and re-checks are
       per order), a second message for an order of the same batch, and the rare first sight of an
       order that arrives closed, refunded or shipped elsewhere.
    """
    from orders.intake import takes_the_batch_path

    outcomes = [IngestOutcome(item=item) for item in batch]
    together: list[int] = []
    one_by_one: list[int] = []
    seen: set[tuple[int, str]] = set()
    for position, item in enumerate(batch):
        try:
            _admit(item)
        except ISOLATED_ERRORS as exc:
            outcomes[position].error = exc
            continue
        key = (item.channel.pk, item.incoming.external_id)
        fresh = key not in seen and takes_the_batch_path(item.incoming)
        (together if fresh else one_by_one).append(position)
        seen.add(key)
    known = _decide_together(batch, together, outcomes)
    for position in sorted(one_by_one + known):
        item = batch[position]
        try:
            outcomes[position].result = _ingest_one(channel=item.channel, incoming=item.incoming, source=item.source)
        except ISOLATED_ERRORS as exc:
            outcomes[position].error = exc
    return outcomes


def _admit(item: IngestItem) -> None:
    if not item.channel.enabled:
        raise ChannelDisabled(item.channel.pk)
    if not item.fits_checked:
        validate_fits(incoming=item.incoming)


def _decide_together(batch: Sequence[IngestItem], positions: list[int], outcomes: list[IngestOutcome]) -> list[int]:
    """Decide first-seen orders set-based; returns the positions whose order was already stored.
    A refused batch is split until the order the database refuses is alone (and reported)."""
    from inventory.services.allocation import PlanOutdated
    from orders.intake import decide_new_orders

    if not positions:
        return []
    items = [batch[p] for p in positions]
    try:
        try:
            results, known = decide_new_orders(items, lock_first=False)
        except PlanOutdated:  # stock moved since the snapshot: decide again on locked rows
            results, known = decide_new_orders(items, lock_first=True)
    except ISOLATED_ERRORS as exc:
        if len(positions) == 1:
            outcomes[positions[0]].error = exc
            return []
        middle = len(positions) // 2
        return _decide_together(batch, positions[:middle], outcomes) + _decide_together(
            batch, positions[middle:], outcomes
        )
    for index, result in results.items():
        outcomes[positions[index]].result = result
    return [positions[index] for index in known]


MAX_AMOUNT = Decimal("9999999999.99")  # max_digits=12, decimal_places=2
MAX_QUANTITY = 2**31 - 1


def validate_fits(*, incoming: NormalizedOrder, texts_checked: bool = False) -> None:
    """Refuse (PayloadError naming the field) what the database would refuse mid-transaction:
    text it cannot store (NUL, lone surrogates), a too-long id or address, an amount or quantity out
    of range. Adapters already refuse these (orders.channels.guard); this is the last gate for any caller.
    `texts_checked`: the caller has just run guard.check_normalized on this very order."""
    if not texts_checked:
        guard.check_normalized(incoming)
    order_limits, line_limits = _column_limits()
    for name, max_length in order_limits:
        _fits(name, getattr(incoming, name), max_length)
    for name in ("goods_amount", "postage", "discount_amount", "paid_amount"):
        if abs(getattr(incoming, name)) > MAX_AMOUNT:
            raise PayloadError(name, f"amount out of range (at most {MAX_AMOUNT})")
    for index, line in enumerate(incoming.lines):
        for name, max_length in line_limits:
            _fits(f"lines[{index}].{name}", getattr(line, name), max_length)
        if not 0 <= line.quantity <= MAX_QUANTITY:  # 0: a line with nothing to ship (kept, never reserved)
            raise PayloadError(f"lines[{index}].quantity", f"must be between 0 and {MAX_QUANTITY}")
        for name in ("unit_price", "discount_amount", "paid_amount"):
            if abs(getattr(line, name)) > MAX_AMOUNT:
                raise PayloadError(f"lines[{index}].{name}", f"amount out of range (at most {MAX_AMOUNT})")


@functools.cache
def _column_limits() -> tuple[tuple[tuple[str, int | None], ...], tuple[tuple[str, int | None], ...]]:
    """(field, max_length) of the order's and the line's text columns `validate_fits` checks, looked
    up once per process instead of once per order."""
    order = ("external_id", "platform_status_raw", "buyer_nick", "buyer_id", *RECEIVER_FIELDS, "receiver_zip")
    line = ("external_line_id", "platform_item_id", "platform_sku_id", "sku_code", "title", "refund_status")
    return (
        tuple((name, Order._meta.get_field(name).max_length) for name in order),
        tuple((name, OrderLine._meta.get_field(name).max_length) for name in line),
    )


def _fits(field: str, value: str, max_length: int | None) -> None:
    if max_length and value and len(value) > max_length:
        raise PayloadError(field, f"longer than {max_length} characters")


def _hold_shipped_elsewhere(*, order: Order, incoming: NormalizedOrder) -> None:
    note = wording("hold.shipped_elsewhere_status", status=incoming.platform_status_raw)
    if order.state != OrderState.ON_HOLD:
        _transition(order=order, name="hold", actor=None, note=note, hold_reason=wording("hold.shipped_elsewhere"))
    elif SHIPPED_ELSEWHERE_REASON not in order.hold_reason:  # already held: say so first
        order.hold_reason = f"{SHIPPED_ELSEWHERE_REASON}; {order.hold_reason}"[:200]
        order.hold_wording = {}  # two reasons: the stored text says both
        order.save(update_fields=["hold_reason", "hold_wording", "updated_at"])
        _record(order=order, kind="hold", from_state=order.state, to_state=order.state, note=note)


def _lock_or_create(*, channel: Channel, incoming: NormalizedOrder, source: str) -> tuple[Order, bool]:
    order = locks.order_by_external_id_for_update(channel_id=channel.pk, external_id=incoming.external_id)
    if order is not None:
        return order, False
    order = Order(channel=channel, external_id=incoming.external_id, source=source)
    _copy_fields(order=order, incoming=incoming)
    try:
        # A concurrent insert of the same order blocks on the unique index until the other
        # transaction commits, then fails here; we then lock and update the stored row.
        with transaction.atomic():
            order.save()
    except IntegrityError:
        order = locks.order_by_external_id_for_update(channel_id=channel.pk, external_id=incoming.external_id)
        if order is None:  # the other writer rolled back: take its place
            order = Order(channel=channel, external_id=incoming.external_id, source=source)
            _copy_fields(order=order, incoming=incoming)
            order.save()
            return order, True
        return order, False
    return order, True


def _copy_fields(*, order: Order, incoming: NormalizedOrder) -> None:
    for name, value in order_values(incoming).items():
        setattr(order, name, value)
    order.compute_ship_by()


def order_values(incoming: NormalizedOrder) -> dict[str, Any]:
    """The Order fields a new order takes from the platform's (by attname; `ship_by` is derived)."""
    values = {name: getattr(incoming, name) for name in UPDATABLE_FIELDS}
    values.update(
        buyer_nick=incoming.buyer_nick,
        buyer_id=incoming.buyer_id,
        goods_amount=incoming.goods_amount,
        postage=incoming.postage,
        discount_amount=incoming.discount_amount,
        coupons=incoming.coupons,
        platform_created_at=incoming.created_at,
        paid_at=incoming.paid_at,
        platform_modified_at=incoming.modified_at,
        raw_payload=incoming.raw,
    )
    return values


def _write_lines(*, order: Order, incoming: NormalizedOrder) -> list[OrderLine]:
    lines = [_new_line(order=order, line=line) for line in incoming.lines]
    OrderLine.objects.bulk_create(lines)
    return lines


def _new_line(*, order: Order, line: NormalizedLine) -> OrderLine:
    return OrderLine(
        order=order,
        external_line_id=line.external_line_id,
        platform_item_id=line.platform_item_id,
        platform_sku_id=line.platform_sku_id,
        sku_code=line.sku_code,
        title=line.title[:300],
        quantity=line.quantity,
        unit_price=line.unit_price,
        discount_amount=line.discount_amount,
        paid_amount=line.paid_amount,
        refund_status=line.refund_status,
        refund_state=line_refund_state(line),
    )


def line_refund_state(line: NormalizedLine) -> str:
    """The state OrderHub keeps for an incoming line: a line the platform closed ships nothing, so it
    counts as refunded whatever its refund code says (the raw code stays in `refund_status`)."""
    if line.closed:
        return LineRefundState.REFUNDED
    return line.refund_state if line.refund_state in _REFUND_STATES else LineRefundState.NONE


_REFUND_STATES = frozenset(LineRefundState.values)  # `.values` builds its list on every call


def _all_refunded(lines) -> bool:
    lines = list(lines)
    return bool(lines) and all(line.refund_state == LineRefundState.REFUNDED for line in lines)


#: the stored line fields an update follows, compared and copied as they come
RECONCILED_LINE_FIELDS = ("refund_state", "refund_status", "quantity")


def _reconcile_lines(*, order: Order, incoming: NormalizedOrder) -> list[LineChange]:
    """Make the stored lines follow the platform's, matched by `external_line_id` (in order, for the
    platforms whose line id is the SKU id and may repeat): refund state and code, quantity, and lines
    the platform lists for the first time. A stored line the platform no longer lists is kept as it is
    (no platform removes lines from a paid order; a closed line comes with its closed status)."""
    stored: dict[str, list[OrderLine]] = {}
    for line in order.lines.all().order_by("pk"):
        stored.setdefault(line.external_line_id, []).append(line)
    result: list[LineChange] = []
    for native in incoming.lines:
        candidates = stored.get(native.external_line_id) or []
        if not candidates:
            line = _new_line(order=order, line=native)
            line.save()
            result.append(LineChange(line=line, added=True, fields={"quantity": (0, line.quantity)}))
            continue
        line = candidates.pop(0)
        wanted = {
            "refund_state": line_refund_state(native),
            "refund_status": native.refund_status,
            "quantity": native.quantity,
        }
        changed = {name: (getattr(line, name), value) for name, value in wanted.items() if getattr(line, name) != value}
        if not changed:
            continue
        for name, (_before, after) in changed.items():
            setattr(line, name, after)
        line.save(update_fields=list(changed))
        result.append(LineChange(line=line, fields=changed))
    return result


def _after_line_changes(*, order: Order, line_changes: list[LineChange]) -> None:
    """Audit the per-line changes, give back stock that no line needs any more (a refunded line's
    reservation, the excess of a smaller quantity; parcels drop refunded lines through the signal),
    and tell listeners of every refund state change, in either direction."""
    from inventory.services import release_beyond_need

    _record(order=order, kind="lines_changed", data={"lines": [change.as_data() for change in line_changes]})
    released = any(
        change.fields.get("refund_state", (None, None))[1] == LineRefundState.REFUNDED
        or change.fields.get("quantity", (0, 0))[1] < change.fields.get("quantity", (0, 0))[0]
        for change in line_changes
    )
    if released:
        release_beyond_need(order=order)
    for change in line_changes:
        if change.refund_change is None:
            continue
        previous, current = change.refund_change
        line_refund_changed.send(sender=OrderLine, order=order, line=change.line, previous=previous, current=current)


def _is_stale(*, order: Order, incoming: NormalizedOrder) -> bool:
    """Older than (or as old as) what is stored: a redelivery or an out-of-order message."""
    if incoming.modified_at is None or order.platform_modified_at is None:
        return False
    return incoming.modified_at <= order.platform_modified_at


def _apply_update(*, order: Order, incoming: NormalizedOrder) -> set[str]:
    changes: set[str] = set()
    if any(getattr(order, f) != getattr(incoming, f) for f in RECEIVER_FIELDS):
        changes.add("address_changed")
    if incoming.refund_requested != order.refund_requested:  # a request, or one withdrawn or settled
        changes.add("refund_requested")
    if incoming.paid_at and not order.paid_at:
        changes.add("paid")
    if incoming.platform_hold != order.platform_hold:
        changes.add("platform_hold")
    if incoming.platform_status != order.platform_status:
        changes.add(f"status:{incoming.platform_status}")
    for name in ("buyer_message", "seller_memo"):
        if getattr(order, name) != getattr(incoming, name):
            changes.add(name)
    if order.paid_amount != incoming.paid_amount:
        changes.add("amount_changed")
    for name in UPDATABLE_FIELDS:
        setattr(order, name, getattr(incoming, name))
    order.paid_at = incoming.paid_at or order.paid_at
    order.platform_modified_at = incoming.modified_at or order.platform_modified_at
    order.raw_payload = incoming.raw
    order.compute_ship_by()
    order.save()
    return changes


def _check_and_route(*, order: Order, trigger: str, changes: set[str]) -> None:
    """Reserve stock, evaluate the rules, and move the order where the decision says."""
    from inventory.services import reserve_for_order
    from rules.engine import evaluate

    reservation = reserve_for_order(order=order)
    decision = evaluate(order=order, reservation=reservation, trigger=trigger, changes=changes)
    apply_decision(order=order, decision=decision)


def apply_decision(*, order: Order, decision, actor: AbstractBaseUser | None = None) -> None:
    """Route a (locked) order by a rules.engine.Decision. `actor`: the person whose action (an
    exception resolved) led to this automatic move; recorded on its events, not permission-checked
    (the move follows from the rules, not from that person's rights)."""
    update_fields = []
    if decision.lane != order.lane:
        order.lane = decision.lane
        update_fields.append("lane")
    if decision.tags:
        merged = sorted(set(order.tags) | set(decision.tags))
        if merged != order.tags:
            order.tags = merged
            update_fields.append("tags")
    if decision.priority is not None and decision.priority != order.priority:
        order.priority = decision.priority
        update_fields.append("priority")
    if update_fields:
        order.save(update_fields=[*update_fields, "updated_at"])

    target = decision.route
    auto = {"automatic": True} if actor is not None else None  # a person's action led here, not their hand
    reason = decision_reason(decision)
    if target == OrderState.ON_HOLD:
        if order.state != OrderState.ON_HOLD:
            _transition(
                order=order, name="hold", actor=actor, checked=False, data=auto, note=reason, hold_reason=reason
            )
    elif target == OrderState.AWAITING_STOCK:
        if order.state in (OrderState.NEW, OrderState.READY) or (
            order.state == OrderState.ON_HOLD and decision.release
        ):
            _transition(order=order, name="wait_for_stock", actor=actor, checked=False, data=auto, note=reason)
    elif target == OrderState.READY:
        if order.state == OrderState.NEW:
            _transition(
                order=order,
                name="accept",
                actor=actor,
                checked=False,
                data=auto,
                note=reason or wording("order.checks_passed"),
            )
        elif order.state in (OrderState.ON_HOLD, OrderState.AWAITING_STOCK) and decision.release:
            _transition(
                order=order,
                name="release",
                actor=actor,
                checked=False,
                data=auto,
                note=reason or wording("order.cleared"),
            )


def received_note(source: str) -> Wording | str:
    code = f"source.{source}"
    return wording("order.received", source={"code": code}) if code in texts.TEXTS else f"via {source}"


def decision_reason(decision) -> Wording | str:
    """The rules' reasons as a text in the reader's language: the presale wait, or the open exceptions
    by type name; the stored English keeps each task's note (searches look for `out_of_stock`)."""
    if decision.reasons == [PRESALE_WAIT_REASON]:
        return wording("hold.waiting_for_presale_stock")
    if decision.exception_types:
        types = [{"code": f"exception_type.{code}", "fallback": code} for code in decision.exception_types]
        return {**wording("hold.open_exceptions", types=types), "english": "; ".join(decision.reasons)}
    return "; ".join(decision.reasons)


# ---- ops actions -------------------------------------------------------------------------
@transaction.atomic
def order_hold(*, order_id: int, actor: AbstractBaseUser | None, reason: str | Wording) -> Order:
    """Manual pause (暂停发货) of any open order; a system pause gives its reason as a code."""
    order = locks.order_for_update(order_id=order_id)
    reason = reason or wording("hold.paused_by_ops")
    _transition(order=order, name="hold", actor=actor, note=reason, hold_reason=reason)
    return order


@transaction.atomic
def order_release(*, order_id: int, actor: AbstractBaseUser | None, note: str | Wording = "") -> Order:
    """Release a held order to the print queue, making sure its stock is reserved first."""
    from inventory.services import reserve_for_order

    order = locks.order_for_update(order_id=order_id)
    _check_permission(actor=actor, name="release")
    if order.state not in (OrderState.ON_HOLD, OrderState.AWAITING_STOCK):
        raise OrderTransitionNotAllowed(order_id=order.pk, transition="release", state=order.state)
    reservation = reserve_for_order(order=order)
    if not reservation.is_complete:
        if order.state == OrderState.ON_HOLD and reservation.can_wait:
            _transition(
                order=order,
                name="wait_for_stock",
                actor=actor,
                note=note or wording("order.released_waiting_for_stock"),
            )
            return order
        raise OrderTransitionNotAllowed(order_id=order.pk, transition="release", state=f"{order.state} (no stock)")
    _transition(order=order, name="release", actor=actor, note=note)
    return order


@transaction.atomic
def order_update_receiver(*, order_id: int, actor: AbstractBaseUser | None, note: str = "", **fields: str) -> Order:
    """Correct the receiver (an exception to-do's "edit address"); the caller re-checks the order."""
    for name, value in fields.items():
        if name in RECEIVER_FIELDS:
            _fits(name, value, Order._meta.get_field(name).max_length)
    order = locks.order_for_update(order_id=order_id)
    changed = {
        name: value for name, value in fields.items() if name in RECEIVER_FIELDS and getattr(order, name) != value
    }
    for name, value in changed.items():
        setattr(order, name, value)
    if changed:
        if actor is not None:
            order._history_user = actor
        order.save(update_fields=[*changed, "updated_at"])
    _record(order=order, kind="receiver_edited", actor=actor, note=note, data={"fields": sorted(changed)})
    return order


@transaction.atomic
def order_mark_paid(*, order_id: int, actor: AbstractBaseUser | None, note: str = "") -> Order:
    """Finance confirms the payment arrived (an exception to-do's "mark paid")."""
    order = locks.order_for_update(order_id=order_id)
    if order.paid_at is None:
        order.paid_at = timezone.now()
        order.compute_ship_by()
        if actor is not None:
            order._history_user = actor
        order.save(update_fields=["paid_at", "ship_by", "updated_at"])
    _record(order=order, kind="marked_paid", actor=actor, note=note)
    return order


@transaction.atomic
def order_cancel(*, order_id: int, actor: AbstractBaseUser | None, note: str = "") -> Order:
    order = locks.order_for_update(order_id=order_id)
    _cancel(order=order, actor=actor, note=note)
    return order


@transaction.atomic
def order_mark_printed(*, order_id: int, actor: AbstractBaseUser | None) -> Order:
    order = locks.order_for_update(order_id=order_id)
    _transition(order=order, name="mark_printed", actor=actor)
    return order


@transaction.atomic
def order_mark_delivered(*, order_id: int, actor: AbstractBaseUser | None) -> Order:
    order = locks.order_for_update(order_id=order_id)
    _transition(order=order, name="mark_delivered", actor=actor)
    return order


def order_transition_locked(
    *,
    order: Order,
    name: str,
    actor: AbstractBaseUser | None = None,
    note: str | Wording = "",
    data: dict | None = None,
) -> None:
    """For other apps' services (shipping's print and scan): run one transition on an order they have
    already locked in their own transaction, with the same permission check, save and audit event."""
    _transition(order=order, name=name, actor=actor, note=note, data=data)


def _cancel_on_platform(*, order: Order, note: str) -> None:
    """The platform closed a known order: cancel it (stock released) and close its open to-dos, which
    no longer need anyone (a refund request settled by the refund, for one)."""
    from rules.services import exceptions_close_for_cancelled_order

    _cancel(order=order, actor=None, note=note)
    exceptions_close_for_cancelled_order(order_id=order.pk, note=note)


def _cancel(*, order: Order, actor: AbstractBaseUser | None, note: str) -> None:
    from inventory.services import release_for_order

    _check_permission(actor=actor, name="cancel")
    if order.state not in (OPEN_STATES):
        raise OrderTransitionNotAllowed(order_id=order.pk, transition="cancel", state=order.state)
    release_for_order(order=order)
    _transition(order=order, name="cancel", actor=actor, note=note)


# ---- helpers -----------------------------------------------------------------------------
def _check_permission(*, actor: AbstractBaseUser | None, name: str) -> None:
    permission = TRANSITION_PERMISSIONS.get(name)
    if actor is not None and permission and not actor.has_perm(permission):
        raise OrderPermissionDenied(transition=name, permission=permission)


def _transition(
    *,
    order: Order,
    name: str,
    actor: AbstractBaseUser | None,
    note: str | Wording = "",
    hold_reason: str | Wording | None = None,
    data: dict | None = None,
    checked: bool = True,
) -> None:
    """Run one FSM transition on a locked order, save it and write its audit event. `checked=False`:
    an automatic move that records the person behind it without asking for their permission."""
    if checked:
        _check_permission(actor=actor, name=name)
    before = order.state
    try:
        getattr(order, name)()
    except TransitionNotAllowed:
        raise OrderTransitionNotAllowed(order_id=order.pk, transition=name, state=before) from None
    order.state_changed_at = timezone.now()
    fields = ["state", "state_changed_at", "updated_at"]
    if hold_reason is not None:
        set_hold_reason(order=order, reason=hold_reason)
        fields += ["hold_reason", "hold_wording"]
    elif name in ("release", "accept"):
        set_hold_reason(order=order, reason="")
        fields += ["hold_reason", "hold_wording"]
    if actor is not None:
        order._history_user = actor
    order.save(update_fields=fields)
    _record(order=order, kind=name, from_state=before, to_state=order.state, actor=actor, note=note, data=data)


def set_hold_reason(*, order: Order, reason: str | Wording) -> None:
    """A hold reason typed by a person is stored as typed; one the system gives is stored as a code
    (rendered in the reader's language) with its English text beside it for searches."""
    if isinstance(reason, dict):
        order.hold_reason, order.hold_wording = texts.english(reason)[:200], reason
    else:
        order.hold_reason, order.hold_wording = reason[:200], {}


def order_event_record(*, order: Order, kind: str, note: str | Wording = "", data: dict | None = None) -> OrderEvent:
    """For other apps' services: an audit event on an order they hold locked in their transaction
    (shipping records the parcels a refunded line left)."""
    return _record(order=order, kind=kind, note=note, data=data)


def _record(
    *,
    order: Order,
    kind: str,
    from_state: str = "",
    to_state: str = "",
    actor: AbstractBaseUser | None = None,
    note: str | Wording = "",
    data: dict | None = None,
) -> OrderEvent:
    note, data = event_note_fields(note=note, data=data)
    return OrderEvent.objects.create(
        order=order, kind=kind, from_state=from_state, to_state=to_state, actor=actor, note=note, data=data
    )


def event_note_fields(*, note: str | Wording, data: dict | None) -> tuple[str, dict]:
    """An event's `note` and `data` columns: a coded note is kept in `data["wording"]` (rendered in
    the reader's language by OrderEvent.description) and its English text in `note`."""
    data = dict(data or {})
    if isinstance(note, dict):
        data["wording"] = note
        return texts.english(note), data
    return note, data


# ---- channel bookkeeping -----------------------------------------------------------------
def message_seen(*, channel: Channel, message_id: str, topic: str = "", external_id: str = "") -> bool:
    """Record a push message id; True when it was already recorded (a redelivery)."""
    try:
        with transaction.atomic():
            InboundMessage.objects.create(channel=channel, message_id=message_id, topic=topic, external_id=external_id)
    except IntegrityError:
        return True
    return False


def alert_raise(
    *,
    key: str,
    source: str,
    message: str | Wording,
    severity: str = AlertSeverity.WARNING,
    channel: Channel | None = None,
) -> Alert:
    """Open an alert, or bump the open one with the same key. A message given as a code is shown in
    the reader's language; its English text is stored beside it."""
    now = timezone.now()
    message, coded = (texts.english(message), message) if isinstance(message, dict) else (message, {})
    with transaction.atomic():
        alert = locks.open_alert_for_update(key=key)
        if alert is None:
            try:
                with transaction.atomic():
                    return Alert.objects.create(
                        key=key, source=source, message=message, wording=coded, severity=severity, channel=channel
                    )
            except IntegrityError:
                alert = locks.open_alert_for_update(key=key)
        alert.count += 1
        alert.message = message
        alert.wording = coded
        alert.severity = severity
        alert.last_seen = now
        alert.save(update_fields=["count", "message", "wording", "severity", "last_seen"])
        return alert


def alert_resolve(*, key: str) -> int:
    return Alert.objects.filter(key=key, resolved_at__isnull=True).update(resolved_at=timezone.now())


# ---- quarantine ------------------------------------------------------------------------------
#: the stored copy of a refused payload is cut here: enough to see the problem, never a megabyte
QUARANTINE_PAYLOAD_LIMIT = 200_000


def quarantine_payload_text(native: Any) -> str:
    """The refused payload as JSON text safe for any database: ASCII only, so NUL and lone
    surrogates stay `\\u0000` / `\\ud800` escapes; numbers we refused are kept as their text."""
    text = json.dumps(native, ensure_ascii=True, default=_unreadable_text, sort_keys=True)
    return text if len(text) <= QUARANTINE_PAYLOAD_LIMIT else guard.truncate(text, QUARANTINE_PAYLOAD_LIMIT)


def _unreadable_text(value: Any) -> str:
    return value.text if isinstance(value, guard.Unreadable) else repr(value)


@transaction.atomic
def quarantine_record(
    *, channel: Channel, source: str, native: Any, field: str, reason: str, external_id: str = ""
) -> QuarantinedMessage:
    """Keep a refused platform order for a person, and alert. The same payload refused again (the
    next pull re-reads its overlap window) counts as another occurrence, not another row."""
    payload = quarantine_payload_text(native)
    digest = hashlib.sha256(payload.encode("ascii")).hexdigest()
    now = timezone.now()
    existing = locks.unresolved_quarantine_for_update(channel_id=channel.pk, payload_sha256=digest)
    if existing is not None:
        existing.occurrences += 1
        existing.last_seen = now
        existing.save(update_fields=["occurrences", "last_seen"])
        return existing
    message = QuarantinedMessage.objects.create(
        channel=channel,
        source=source,
        external_id=external_id[:64],
        payload=payload,
        payload_sha256=digest,
        field=field[:200],
        reason=reason,
    )
    alert_raise(
        key=f"quarantine:{channel.pk}",
        source="quarantine",
        severity=AlertSeverity.WARNING,
        message=wording(
            "alert.quarantined", channel=str(channel), order=external_id or "?", field=field, reason=reason
        ),
        channel=channel,
    )
    return message


@transaction.atomic
def quarantine_resolve(*, message_id: int, actor: AbstractBaseUser | None, resolution: str) -> QuarantinedMessage:
    """Close a quarantined order (retried into an order, or dismissed by a person); the channel's
    quarantine alert closes with the last open one."""
    message = locks.quarantine_for_update(message_id=message_id)
    if message.resolved_at is None:
        message.resolved_at = timezone.now()
        message.resolved_by = actor
        message.resolution = resolution[:200]
        message._history_user = actor
        message.save(update_fields=["resolved_at", "resolved_by", "resolution"])
        if not QuarantinedMessage.objects.unresolved().filter(channel_id=message.channel_id).exists():
            alert_resolve(key=f"quarantine:{message.channel_id}")
    return message


@transaction.atomic
def quarantine_retry_failed(*, message_id: int, actor: AbstractBaseUser | None, field: str, reason: str) -> None:
    """A retry was refused again: count it and keep the newest reason."""
    message = locks.quarantine_for_update(message_id=message_id)
    message.retries += 1
    message.field = field[:200]
    message.reason = reason
    message._history_user = actor
    message.save(update_fields=["retries", "field", "reason"])
