"""Write-back: tell each platform which parcel (carrier code + tracking number) took which order,
exactly once (shared/channels/README.md §5).

The drain never holds a transaction across an HTTP call:
1. claim: one short transaction leases the due rows of some orders (`SELECT … FOR UPDATE SKIP
   LOCKED` on PostgreSQL; SQLite's IMMEDIATE transactions serialize claimers) by setting
   `claimed_until` and a `claim_token`. All pending rows of one order go to one claimer, so the
   parcels of an order are written back in order by one worker (PDD's first parcel, JD's one call).
2. call: an attempt row (outcome "unknown") is written, then the platform is called.
3. record: a short transaction stores the outcome under the same token.
A worker killed between 2 and 3 leaves a lease that runs out and an attempt with an unknown outcome:
the next drain re-reads the order first and only calls again if our number is not on it.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from orders.channels import common as c
from orders.channels import get_adapter
from orders.channels.base import (
    AlreadyDoneError,
    ChannelAdapter,
    ChannelError,
    PayloadError,
    PermanentChannelError,
    RetryableChannelError,
    ShipPackage,
    ShipRequest,
)
from orders.models import Order, OrderEvent, OrderState
from orders.texts import Wording, wording
from shipping import locks
from shipping.errors import WriteBackRefused
from shipping.models import (
    AttemptOutcome,
    OutboxState,
    Shipment,
    ShipmentLine,
    ShipmentState,
    WriteBack,
    WriteBackAction,
    WriteBackAttempt,
    WriteBackFailure,
)

logger = logging.getLogger(__name__)

#: Douyin business codes that mean the order can no longer ship: cancelled, refunded, finished (§5)
DOUYIN_CLOSED_CODES = frozenset({"60021", "60068", "60113"})
#: neutral platform statuses of an order that will never ship
CLOSED_STATUSES = frozenset({c.CANCELLED, c.REFUNDED})
#: a re-read order in one of these states, carrying our number, was shipped by us
SHIPPED_STATUSES = frozenset({c.PARTIALLY_SHIPPED, c.SHIPPED, c.DELIVERED, c.COMPLETED})
DONE_OUTCOMES = frozenset({AttemptOutcome.SHIPPED, AttemptOutcome.ALREADY_SHIPPED})
#: outcomes that stop the row for a person, and the failure recorded on it
STOP_OUTCOMES = {
    AttemptOutcome.REFUSED: WriteBackFailure.REFUSED,
    AttemptOutcome.ORDER_CLOSED: WriteBackFailure.ORDER_CLOSED,
    AttemptOutcome.NOT_SUPPORTED: WriteBackFailure.NOT_SUPPORTED,
}
ENQUEUED_KEY = "shipping:enqueued:write-back-drain"


# ---- report --------------------------------------------------------------------------------------
@dataclass
class DrainReport:
    claimed: int = 0
    done: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        self.claimed += other.claimed
        for name in ("done", "retrying", "failed", "deferred"):
            getattr(self, name).extend(getattr(other, name))


@dataclass
class Outcome:
    outcome: str
    response: Any = None
    error: str = ""


@dataclass
class Claim:
    order_id: int
    token: str
    row_ids: list[int]


# ---- backoff -------------------------------------------------------------------------------------
def backoff_seconds(failures: int) -> float:
    """base × 2^(failures−1), capped, with "equal jitter": between half and all of it, so rows that
    failed together (a platform outage) do not all come back in the same second."""
    base = float(settings.WRITEBACK_BACKOFF_BASE_SECONDS)
    cap = float(settings.WRITEBACK_BACKOFF_CAP_SECONDS)
    delay = min(cap, base * (2 ** max(failures - 1, 0)))
    return delay / 2 + random.uniform(0, delay / 2)  # jitter, not a secret


# ---- drain ---------------------------------------------------------------------------------------
def write_backs_drain(*, limit: int | None = None) -> DrainReport:
    """Write back every due row, a batch of orders at a time, until none is due (or `limit` rows)."""
    report = DrainReport()
    batch = int(settings.WRITEBACK_BATCH_SIZE)
    while limit is None or report.claimed < limit:
        claims = claim_due(limit=batch if limit is None else min(batch, limit - report.claimed))
        if not claims:
            break
        for claim in claims:
            report.claimed += len(claim.row_ids)
            try:
                report.add(write_back_claim(claim))
            except Exception:  # one order's trouble must not stop the others; its lease runs out
                logger.exception("write-back of order %s failed; its rows come back after the lease", claim.order_id)
    return report


def due_rows() -> Q:
    now = timezone.now()
    return Q(state=OutboxState.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


@transaction.atomic
def claim_due(*, limit: int) -> list[Claim]:
    """Lease the pending rows of the orders of up to `limit` due rows. An order some of whose pending
    rows another worker holds (row locked, or its lease still running) is left to that worker."""
    now = timezone.now()
    due = locks.due_write_backs_skip_locked(due=due_rows(), limit=limit)
    order_ids = sorted({order_id for _pk, order_id in due})
    if not order_ids:
        return []
    locked = locks.pending_write_backs_of_orders_skip_locked(order_ids=order_ids)
    pending = WriteBack.objects.filter(order_id__in=order_ids, state=OutboxState.PENDING).values_list("pk", "order_id")
    by_order: dict[int, list[int]] = {}
    busy: set[int] = set()
    for pk, order_id, claimed_until in locked:
        if claimed_until is not None and claimed_until >= now:
            busy.add(order_id)  # leased by a live worker
        by_order.setdefault(order_id, []).append(pk)
    locked_ids = {pk for pk, _o, _c in locked}
    busy |= {order_id for pk, order_id in pending if pk not in locked_ids}
    lease_until = now + timedelta(seconds=float(settings.WRITEBACK_LEASE_SECONDS))
    claims = []
    for order_id in order_ids:
        if order_id in busy or order_id not in by_order:
            continue
        claim = Claim(order_id=order_id, token=secrets.token_hex(8), row_ids=by_order[order_id])
        WriteBack.objects.filter(pk__in=claim.row_ids).update(claimed_until=lease_until, claim_token=claim.token)
        claims.append(claim)
    return claims


def write_back_claim(claim: Claim) -> DrainReport:
    """Write back the leased rows of one order: reconcile unknown outcomes, then call the platform
    once per parcel (or once for all parcels where the platform takes them together)."""
    report = DrainReport()
    order = Order.objects.select_related("channel").get(pk=claim.order_id)
    rows = list(
        WriteBack.objects.filter(pk__in=claim.row_ids, claim_token=claim.token)
        .select_related("shipment", "shipment__carrier")
        .order_by("shipment_id", "pk")
    )
    if order.channel.platform == "manual" and not order.channel.api_base_url:
        for row in rows:  # a shop without a bridge: there is no platform to tell
            WriteBackAttempt.objects.create(
                write_back=row, outcome=AttemptOutcome.SHIPPED, error=gettext("no bridge configured for this shop")
            )
            _record(row=row, token=claim.token, outcome=Outcome(AttemptOutcome.SHIPPED), report=report)
        return report
    adapter = get_adapter(order.channel)
    rows = _reconcile_unknown(adapter=adapter, order=order, rows=rows, token=claim.token, report=report)
    ships = [r for r in rows if r.action == WriteBackAction.SHIP]
    modifies = [r for r in rows if r.action == WriteBackAction.MODIFY]
    if ships and adapter.ships_packages_together:
        if order.state == OrderState.PARTIALLY_SHIPPED:
            _defer(rows=ships, token=claim.token, report=report)  # the last parcel's scan brings them all
        else:
            request = _ship_request(adapter=adapter, order=order, row=ships[0], first=True)
            request.line_ids = []  # the platform ships the whole order in this call
            request.packages = [_package(adapter, order, r) for r in ships[1:]]
            outcome = _call(adapter=adapter, order=order, request=request, rows=ships)
            for row in ships:
                _record(row=row, token=claim.token, outcome=outcome, report=report)
    else:
        first = not _written_back_before(order_id=order.pk)
        for row in ships:
            request = _ship_request(adapter=adapter, order=order, row=row, first=first)
            outcome = _call(adapter=adapter, order=order, request=request, rows=[row])
            _record(row=row, token=claim.token, outcome=outcome, report=report)
            first = first and outcome.outcome not in DONE_OUTCOMES
    for row in modifies:
        request = _ship_request(adapter=adapter, order=order, row=row, first=False)
        request.previous_tracking_number = row.previous_tracking_number
        outcome = _call(adapter=adapter, order=order, request=request, rows=[row], modify=True)
        _record(row=row, token=claim.token, outcome=outcome, report=report)
    return report


# ---- building the request ------------------------------------------------------------------------
def _carrier_code(adapter: ChannelAdapter, order: Order, shipment: Shipment) -> str:
    return shipment.carrier.code_on(order.channel.platform) if adapter.platform != "manual" else shipment.carrier.code


def _package(adapter: ChannelAdapter, order: Order, row: WriteBack) -> ShipPackage:
    return ShipPackage(
        tracking_number=row.shipment.tracking_number, carrier_code=_carrier_code(adapter, order, row.shipment)
    )


def _ship_request(*, adapter: ChannelAdapter, order: Order, row: WriteBack, first: bool) -> ShipRequest:
    """One parcel of one order. The platform's line ids are sent only for a split shipment: the
    parcel carries part of the order, or the order travels in several parcels."""
    carried = {
        line.order_line_id: (line.order_line.external_line_id, line.quantity)
        for line in ShipmentLine.objects.filter(shipment_id=row.shipment_id, order=order).select_related("order_line")
    }
    ordered = dict(order.lines.values_list("pk", "quantity"))
    other_parcels = (
        ShipmentLine.objects.filter(order=order)
        .exclude(shipment_id=row.shipment_id)
        .exclude(shipment__state=ShipmentState.VOIDED)
        .exists()
    )
    whole = not other_parcels and all(carried.get(pk, ("", 0))[1] >= qty for pk, qty in ordered.items())
    line_ids = [] if whole else sorted({ext for ext, _qty in carried.values() if ext})
    return ShipRequest(
        external_id=order.external_id,
        tracking_number=row.shipment.tracking_number,
        carrier_code=_carrier_code(adapter, order, row.shipment),
        line_ids=line_ids,
        first=first,
    )


def _written_back_before(*, order_id: int) -> bool:
    return WriteBack.objects.filter(order_id=order_id, state=OutboxState.DONE).exists()


# ---- calling the platform ------------------------------------------------------------------------
def _call(
    *, adapter: ChannelAdapter, order: Order, request: ShipRequest, rows: list[WriteBack], modify: bool = False
) -> Outcome:
    """One platform call, its attempt rows written first (outcome unknown until recorded)."""
    try:
        api, params = adapter.modify_params(request) if modify else adapter.ship_params(request)
    except PermanentChannelError as exc:  # the platform has no such call
        outcome = Outcome(AttemptOutcome.NOT_SUPPORTED, error=str(exc))
        for row in rows:
            WriteBackAttempt.objects.create(
                write_back=row, api="", request={}, error=outcome.error, outcome=outcome.outcome
            )
        return outcome
    attempts = [WriteBackAttempt.objects.create(write_back=row, api=api, request=params) for row in rows]
    started = time.monotonic()
    outcome = _send(adapter=adapter, request=request, modify=modify)
    elapsed = int((time.monotonic() - started) * 1000)
    WriteBackAttempt.objects.filter(pk__in=[a.pk for a in attempts]).update(
        outcome=outcome.outcome, response=_jsonable(outcome.response), error=outcome.error[:4000], duration_ms=elapsed
    )
    return outcome


def _send(*, adapter: ChannelAdapter, request: ShipRequest, modify: bool) -> Outcome:
    try:
        response = adapter.modify_tracking(request) if modify else adapter.ship(request)
        return Outcome(AttemptOutcome.SHIPPED, response=response)
    except AlreadyDoneError as exc:
        return _confirm(adapter=adapter, request=request, error=exc, already=True)
    except RetryableChannelError as exc:
        return Outcome(AttemptOutcome.RETRY, response=exc.payload, error=str(exc))
    except PermanentChannelError as exc:
        if exc.code == "not_supported":
            return Outcome(AttemptOutcome.NOT_SUPPORTED, error=str(exc))
        if exc.sub_code.rpartition(":")[2] in DOUYIN_CLOSED_CODES and adapter.platform == "douyin":
            return Outcome(AttemptOutcome.ORDER_CLOSED, response=exc.payload, error=str(exc))
        if modify:
            return Outcome(AttemptOutcome.REFUSED, response=exc.payload, error=str(exc))
        return _confirm(adapter=adapter, request=request, error=exc, already=False)
    except (requests.RequestException, PayloadError, ChannelError, ValueError) as exc:
        # transport trouble or a reply of an unexpected shape: the outcome is unknown, try again
        return Outcome(AttemptOutcome.RETRY, error=f"{type(exc).__name__}: {exc}")


def _confirm(*, adapter: ChannelAdapter, request: ShipRequest, error: ChannelError, already: bool) -> Outcome:
    """A refusal or "already shipped": re-read the order (§5). Shipped with our number → done;
    closed → a person; shipped with other numbers, or still waiting → refused with the reason."""
    try:
        current = adapter.fetch_order(request.external_id)
    except RetryableChannelError as exc:
        return Outcome(AttemptOutcome.RETRY, response=error.payload, error=f"{error}; re-read failed: {exc}")
    except (ChannelError, PayloadError, requests.RequestException) as exc:
        return Outcome(AttemptOutcome.REFUSED, response=error.payload, error=f"{error}; re-read failed: {exc}")
    if current.platform_status in CLOSED_STATUSES:
        return Outcome(
            AttemptOutcome.ORDER_CLOSED,
            response=error.payload,
            error=f"{error}; the order is {current.platform_status} on the platform",
        )
    numbers = adapter.shipped_tracking_numbers(current)
    if current.platform_status in SHIPPED_STATUSES and request.tracking_number in numbers:
        return Outcome(AttemptOutcome.ALREADY_SHIPPED, response=error.payload, error=str(error))
    if already or current.platform_status in SHIPPED_STATUSES:
        shown = ", ".join(sorted(numbers)) or "-"
        return Outcome(
            AttemptOutcome.REFUSED,
            response=error.payload,
            error=f"{error}; the platform shows the order {current.platform_status} with number(s) {shown}",
        )
    return Outcome(AttemptOutcome.REFUSED, response=error.payload, error=str(error))


def _reconcile_unknown(
    *, adapter: ChannelAdapter, order: Order, rows: list[WriteBack], token: str, report: DrainReport
) -> list[WriteBack]:
    """Rows whose last call has no recorded answer (a worker died mid-call): if the re-read order
    carries their number they are done without a second call. Returns the rows still to call."""
    unsure = [
        r
        for r in rows
        if r.action == WriteBackAction.SHIP
        and r.attempt_log.order_by("-pk").values_list("outcome", flat=True).first() == AttemptOutcome.UNKNOWN
    ]
    if not unsure:
        return rows
    try:
        numbers = adapter.shipped_tracking_numbers(adapter.fetch_order(order.external_id))
    except (ChannelError, PayloadError, requests.RequestException):
        return rows  # cannot tell: the call is repeated and the platform answers "already shipped"
    left = []
    for row in rows:
        if row in unsure and row.shipment.tracking_number in numbers:
            WriteBackAttempt.objects.create(
                write_back=row,
                api="re-read",
                request={"external_id": order.external_id},
                outcome=AttemptOutcome.ALREADY_SHIPPED,
                error=gettext("an earlier call's answer was lost; the platform shows the number"),
            )
            _record(row=row, token=token, outcome=Outcome(AttemptOutcome.ALREADY_SHIPPED), report=report)
        else:
            left.append(row)
    return left


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, dict | list | str | int | float | bool):
        return value
    return str(value)


# ---- recording -------------------------------------------------------------------------------------
@transaction.atomic
def _record(*, row: WriteBack, token: str, outcome: Outcome, report: DrainReport) -> None:
    """Store one outcome under the lease token (lock order: the order, then the row)."""
    from orders import locks as order_locks

    order = order_locks.orders_for_update(order_ids=[row.order_id]).get()
    current = locks.write_back_for_update(write_back_id=row.pk)
    now = timezone.now()
    if current.claim_token != token or current.state != OutboxState.PENDING:
        # our lease ran out and another drain took the row: a success still stands, nothing else
        if outcome.outcome in DONE_OUTCOMES and current.state != OutboxState.DONE:
            WriteBack.objects.filter(pk=row.pk).update(state=OutboxState.DONE, done_at=now, failure="")
            report.done.append(row.pk)
        return
    fields: dict[str, Any] = {"claimed_until": None, "claim_token": ""}
    if outcome.outcome in DONE_OUTCOMES:
        fields |= {"state": OutboxState.DONE, "done_at": now, "last_error": "", "failure": ""}
        report.done.append(row.pk)
    elif outcome.outcome == AttemptOutcome.RETRY:
        failures = current.attempts + 1
        fields |= {"attempts": failures, "last_error": outcome.error[:4000]}
        if failures >= int(settings.WRITEBACK_MAX_ATTEMPTS):
            fields |= {"state": OutboxState.FAILED, "failure": WriteBackFailure.DEAD_LETTER}
            last = current.attempt_log.order_by("-pk").first()
            if last is not None and last.outcome == AttemptOutcome.RETRY:
                WriteBackAttempt.objects.filter(pk=last.pk).update(outcome=AttemptOutcome.DEAD_LETTER)
            _alert_dead_letter(order=order, row=current, error=outcome.error)
            report.failed.append(row.pk)
        else:
            fields["next_attempt_at"] = now + timedelta(seconds=backoff_seconds(failures))
            report.retrying.append(row.pk)
    else:
        failure = STOP_OUTCOMES[outcome.outcome]
        fields |= {
            "state": OutboxState.FAILED,
            "failure": failure,
            "attempts": current.attempts + 1,
            "last_error": outcome.error[:4000],
        }
        _hand_to_a_person(order=order, row=current, failure=failure, error=outcome.error)
        report.failed.append(row.pk)
    WriteBack.objects.filter(pk=row.pk).update(**fields)


def _hand_to_a_person(*, order: Order, row: WriteBack, failure: str, error: str) -> None:
    from rules.services import raise_exception

    number = row.shipment.tracking_number
    if failure == WriteBackFailure.ORDER_CLOSED:
        code = "platform_order_closed"
        note = gettext("Parcel %(number)s was not written back: the platform order is closed. %(reason)s")
    elif failure == WriteBackFailure.NOT_SUPPORTED:
        code = "write_back_refused"
        note = gettext(
            "Change the tracking number of this order by hand on the platform: %(previous)s → %(number)s. %(reason)s"
        )
    else:
        code = "write_back_refused"
        note = gettext("The platform refused tracking number %(number)s: %(reason)s")
    raise_exception(
        order=order,
        exception_type=code,
        note=note % {"number": number, "previous": row.previous_tracking_number, "reason": error},
    )


def _alert_dead_letter(*, order: Order, row: WriteBack, error: str) -> None:
    from orders.services import alert_raise

    alert_raise(
        key=f"write_back_dead_letter:{order.channel_id}",
        source="shipping.write_back",
        message=gettext(
            "Write-back to %(channel)s gave up after %(n)d attempts (order %(order)s, parcel %(number)s): %(error)s"
        )
        % {
            "channel": order.channel.name,
            "n": row.attempts + 1,
            "order": order.external_id,
            "number": row.shipment.tracking_number,
            "error": error[:500],
        },
        channel=order.channel,
    )


def _defer(*, rows: list[WriteBack], token: str, report: DrainReport) -> None:
    """The platform ships the whole order in one call and parcels of it are still in the warehouse:
    wait. The scan of the last parcel writes a due row that brings these along."""
    later = timezone.now() + timedelta(seconds=float(settings.WRITEBACK_BACKOFF_CAP_SECONDS))
    WriteBack.objects.filter(pk__in=[r.pk for r in rows], claim_token=token).update(
        claimed_until=None, claim_token="", next_attempt_at=later
    )
    report.deferred.extend(r.pk for r in rows)


# ---- people's actions ------------------------------------------------------------------------------
def _audit(*, order_id: int, kind: str, actor: AbstractBaseUser | None, note: str | Wording, data: dict) -> None:
    from orders.services import event_note_fields

    note, data = event_note_fields(note=note, data=data)
    OrderEvent.objects.create(order_id=order_id, kind=kind, actor=actor, note=note, data=data)


def write_back_retry(*, write_back_ids: list[int], actor: AbstractBaseUser | None) -> int:
    """Make failed or waiting rows due now with a fresh series of attempts (after ops fixed the
    cause). Audited on the row's history and as an order event. Returns how many were queued."""
    from orders import locks as order_locks

    if actor is not None and not actor.has_perm("shipping.retry_writeback"):
        raise WriteBackRefused(gettext("You may not retry write-backs."), code="permission_denied")
    queued = 0
    with transaction.atomic():
        order_ids = sorted(set(WriteBack.objects.filter(pk__in=write_back_ids).values_list("order_id", flat=True)))
        list(order_locks.orders_for_update(order_ids=order_ids))
        rows = locks.write_backs_for_update(write_back_ids=write_back_ids)
        for row in (r for r in rows if r.state != OutboxState.DONE):
            row.state = OutboxState.PENDING
            row.failure = ""
            row.attempts = 0
            row.next_attempt_at = timezone.now()
            row.claimed_until = None
            row.claim_token = ""
            row._history_user = actor
            row._change_reason = "retry now"
            row.save()
            _audit(
                order_id=row.order_id,
                kind="write_back_retried",
                actor=actor,
                note=wording("shipping.write_back_queued_again", number=row.shipment.tracking_number),
                data={"write_back": row.pk, "shipment": row.shipment_id},
            )
            queued += 1
        transaction.on_commit(enqueue_drain)
    return queued


@transaction.atomic
def write_back_mark_done(*, write_back_id: int, actor: AbstractBaseUser | None, note: str) -> WriteBack:
    """Ops wrote the number into the platform themselves: the row is done, with their note."""
    from orders import locks as order_locks

    if actor is not None and not actor.has_perm("shipping.resolve_writeback"):
        raise WriteBackRefused(gettext("You may not mark write-backs done."), code="permission_denied")
    note = (note or "").strip()
    if not note:
        raise WriteBackRefused(gettext("Say what was done on the platform."), code="note_required")
    order_id = WriteBack.objects.values_list("order_id", flat=True).get(pk=write_back_id)
    list(order_locks.orders_for_update(order_ids=[order_id]))
    row = locks.write_back_for_update(write_back_id=write_back_id)
    if row.state == OutboxState.DONE:
        raise WriteBackRefused(gettext("This write-back is already done."), code="already_done")
    row.state = OutboxState.DONE
    row.done_at = timezone.now()
    row.failure = ""
    row.note = note[:2000]
    row.claimed_until = None
    row.claim_token = ""
    row._history_user = actor
    row._change_reason = "marked done by hand"
    row.save()
    _audit(
        order_id=row.order_id,
        kind="write_back_by_hand",
        actor=actor,
        note=note[:2000],
        data={"write_back": row.pk, "shipment": row.shipment_id, "tracking_number": row.shipment.tracking_number},
    )
    return row


def shipment_change_tracking_number(
    *, shipment_id: int, tracking_number: str, actor: AbstractBaseUser | None, note: str = ""
) -> Shipment:
    """A shipped parcel's number was wrong (a relabelled parcel): store the new number and tell the
    platform. Rows already written back become "change tracking number" rows (the platform's modify
    call, or a task for a person where it has none); rows not yet written back simply carry the new
    number. Refused for a number another parcel of the carrier holds."""
    from orders import locks as order_locks
    from shipping import selectors

    if actor is not None and not actor.has_perm("shipping.retry_writeback"):
        raise WriteBackRefused(gettext("You may not change tracking numbers."), code="permission_denied")
    tracking_number = (tracking_number or "").strip()
    if not tracking_number:
        raise WriteBackRefused(gettext("Enter the new tracking number."), code="tracking_number_required")
    with transaction.atomic():
        order_ids = selectors.order_ids_in_shipments(shipment_ids=[shipment_id])
        list(order_locks.orders_for_update(order_ids=order_ids))
        shipment = locks.shipment_for_update(shipment_id=shipment_id)
        if shipment.state not in (ShipmentState.SHIPPED, ShipmentState.DELIVERED):
            raise WriteBackRefused(
                gettext("Only a shipped parcel's number is changed here; void and re-issue the others."),
                code="not_shipped",
            )
        previous = shipment.tracking_number
        if tracking_number == previous:
            return shipment
        taken = Shipment.objects.filter(carrier=shipment.carrier, tracking_number=tracking_number).exclude(
            pk=shipment.pk
        )
        if taken.exists():
            raise WriteBackRefused(
                gettext("Number %(number)s already belongs to another parcel.") % {"number": tracking_number},
                code="number_taken",
            )
        shipment.tracking_number = tracking_number
        shipment._history_user = actor
        shipment.save(update_fields=["tracking_number"])
        rows = locks.write_backs_for_update(shipment_id=shipment.pk)
        for row in rows:
            if row.action == WriteBackAction.SHIP and row.state != OutboxState.DONE:
                pass  # not written back yet: the ship call carries the new number
            else:
                if row.action == WriteBackAction.SHIP:
                    row.previous_tracking_number = previous
                row.action = WriteBackAction.MODIFY
            row.state = OutboxState.PENDING
            row.failure = ""
            row.attempts = 0
            row.next_attempt_at = timezone.now()
            row._history_user = actor
            row._change_reason = "tracking number changed"
            row.save()
        for order_id in order_ids:
            _audit(
                order_id=order_id,
                kind="tracking_number_changed",
                actor=actor,
                note=note or gettext("%(previous)s → %(number)s") % {"previous": previous, "number": tracking_number},
                data={"shipment": shipment.pk, "previous": previous, "tracking_number": tracking_number},
            )
        transaction.on_commit(enqueue_drain)
    return shipment


# ---- queueing ----------------------------------------------------------------------------------------
def enqueue_drain() -> None:
    """Queue one drain after a commit that wrote due rows; coalesced: while one is queued and not yet
    started, more scans add nothing (the sweep schedule catches anything a lost task left)."""
    from django.core.cache import cache
    from django_q.conf import Conf

    if not getattr(settings, "SHIPPING_ENQUEUE_TASKS", True):
        return
    if not Conf.SYNC and not cache.add(ENQUEUED_KEY, 1, timeout=30):
        return
    try:
        from django_q.tasks import async_task

        async_task("shipping.tasks.drain_write_backs")
    except Exception:  # the broker being down must not fail a scan; the sweep catches up
        logger.warning("could not enqueue the write-back drain; the sweep will catch up", exc_info=True)
