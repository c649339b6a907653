"""Delivery tracking: subscribe each shipped parcel with the tracking service, and one update path
for what the service reports (signed callbacks and the polling fallback alike): movements stored
once, the parcel and then its orders delivered, problems and missing pickups turned into tasks for
a person. Facts: shared/channels/shipping.md §3; the services: shipping/tracking/."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from orders import locks as order_locks
from orders.models import OrderState
from orders.texts import wording
from shipping import locks, selectors
from shipping.models import (
    PROBLEM_TRACKING_STATES,
    BuyerNotice,
    OutboxState,
    Shipment,
    ShipmentState,
    TrackingEvent,
    TrackingState,
    TrackingSubscription,
)
from shipping.tracking import (
    BACKENDS,
    ParcelRef,
    TrackingBackend,
    TrackingServiceError,
    TrackingUpdate,
    callback_url,
    get_backend,
)
from shipping.tracking.common import phone_tail

logger = logging.getLogger(__name__)

DELIVERED_NOTICE_EVENT = "delivered"
ALERT_NOT_CONFIGURED = "tracking:not-configured"
ALERT_SUBSCRIBE_FAILED = "tracking:subscribe-failed"
BACKOFF_BASE_SECONDS = 60
BACKOFF_CAP_SECONDS = 6 * 3600


# ---- subscribing ---------------------------------------------------------------------------------
def tracking_subscription_open(*, shipment: Shipment) -> TrackingSubscription | None:
    """Called where a parcel becomes shipped (the scan dispatch), inside its transaction: one
    subscription row per parcel, drained after the commit (and by the schedule if that task is lost).
    TRACKING_BACKEND empty or "none": tracking is off, no row. A misspelt name never fails the scan:
    the row is written and the drain fails it with the reason."""
    name = (settings.TRACKING_BACKEND or "").strip()
    if name in ("", "none"):
        return None
    backend = get_backend(name) if name in BACKENDS else None
    line = shipment.lines.select_related("order").order_by("pk").first()
    tail, masked = phone_tail(line.order.receiver_phone if line else "")
    subscription, created = TrackingSubscription.objects.get_or_create(
        shipment=shipment,
        defaults={
            "backend": name,
            "company": backend.company_for(shipment.carrier.code) if backend else "",
            # a child parcel of a multi-parcel shipment (子母件) is tracked under its parent number
            "number": shipment.parent_tracking_number or shipment.tracking_number,
            "phone_tail": tail,
            "phone_from_masked": bool(tail) and masked,
        },
    )
    if created and getattr(settings, "SHIPPING_ENQUEUE_TASKS", True):
        transaction.on_commit(_enqueue_drain)
    return subscription


def _enqueue_drain() -> None:
    try:
        from django_q.tasks import async_task

        async_task("shipping.tasks.drain_tracking_subscriptions")
    except Exception:  # the broker being down must fail nothing: the schedule drains the row
        logger.warning("could not enqueue the tracking subscriptions; the schedule will drain them", exc_info=True)


@dataclass
class DrainReport:
    subscribed: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    waiting: int = 0  # left pending because the service is not configured


def tracking_subscriptions_drain(*, limit: int = 100) -> DrainReport:
    """Subscribe due pending rows, each under its own row lock (SKIP LOCKED: two drains never send the
    same row at once). A refusal backs off exponentially with jitter; a permanent one, or the last
    attempt, fails the row with an alert. Without credentials nothing is sent."""
    from orders.services import alert_raise, alert_resolve

    report = DrainReport()
    now = timezone.now()
    due = list(
        TrackingSubscription.objects.filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    backends: dict[str, TrackingBackend] = {}
    for pk in due:
        with transaction.atomic():
            row = locks.tracking_subscription_for_update(
                subscription_id=pk,
                extra=Q(state=OutboxState.PENDING, next_attempt_at__lte=timezone.now()),
                skip_locked=True,
            )
            if row is None:
                continue
            if row.backend not in BACKENDS:
                report.failed.append(row.pk)
                _fail(row, gettext("Unknown tracking service %(name)s.") % {"name": row.backend})
                continue
            backend = backends.get(row.backend) or backends.setdefault(row.backend, get_backend(row.backend))
            if not backend.configured:
                report.waiting += 1
                alert_raise(
                    key=ALERT_NOT_CONFIGURED,
                    source="tracking",
                    message=gettext("Tracking service %(name)s has no credentials: parcels wait to be subscribed.")
                    % {"name": row.backend},
                )
                continue
            outcome = _subscribe_one(row=row, backend=backend)
            getattr(report, outcome).append(row.pk)
    if report.subscribed and not report.waiting:
        alert_resolve(key=ALERT_NOT_CONFIGURED)
    return report


def _subscribe_one(*, row: TrackingSubscription, backend: TrackingBackend) -> str:
    from orders.services import alert_raise

    row.number = row.number or row.shipment.tracking_number
    if not row.company:
        row.company = backend.company_for(row.shipment.carrier.code)
    if not row.company:
        return _fail(
            row,
            gettext("%(service)s has no code for carrier %(carrier)s: add it to the settings.")
            % {"service": backend.name, "carrier": row.shipment.carrier.code},
        )
    try:
        backend.subscribe(
            ParcelRef(company=row.company, number=row.number, phone_tail=row.phone_tail),
            callback_url=callback_url(backend.name),
        )
    except TrackingServiceError as exc:
        row.attempts += 1
        row.last_error = exc.message[:2000]
        if not exc.retryable or row.attempts >= settings.TRACKING_SUBSCRIBE_MAX_ATTEMPTS:
            outcome = _fail(row, exc.message)
            alert_raise(
                key=ALERT_SUBSCRIBE_FAILED,
                source="tracking",
                message=gettext("Tracking subscription failed for parcel %(number)s: %(reason)s")
                % {"number": row.number, "reason": exc.message},
            )
            return outcome
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (row.attempts - 1), BACKOFF_CAP_SECONDS)
        row.next_attempt_at = timezone.now() + timedelta(seconds=delay * random.uniform(0.8, 1.2))
        row.save(update_fields=["attempts", "last_error", "next_attempt_at", "number", "company"])
        return "retrying"
    now = timezone.now()
    row.state, row.done_at, row.subscribed_at, row.last_error = OutboxState.DONE, now, now, ""
    row.save(update_fields=["state", "done_at", "subscribed_at", "last_error", "number", "company"])
    return "subscribed"


def _fail(row: TrackingSubscription, reason: str) -> str:
    row.state, row.last_error = OutboxState.FAILED, reason[:2000]
    row.save(update_fields=["state", "last_error", "attempts", "number", "company"])
    return "failed"


@transaction.atomic
def tracking_subscription_retry(*, subscription_id: int) -> TrackingSubscription:
    """A person fixed the cause (credentials, carrier code): send the row again now."""
    row = locks.tracking_subscription_for_update(subscription_id=subscription_id)
    if row is None:
        raise TrackingSubscription.DoesNotExist(subscription_id)
    if row.state != OutboxState.DONE:
        row.state, row.attempts, row.next_attempt_at = OutboxState.PENDING, 0, timezone.now()
        row.save(update_fields=["state", "attempts", "next_attempt_at"])
        transaction.on_commit(_enqueue_drain)
    return row


# ---- one update path -----------------------------------------------------------------------------
@dataclass
class ApplyResult:
    shipment_id: int | None = None
    new_events: int = 0
    delivered: bool = False  # the parcel became delivered with this update
    orders_delivered: list[int] = field(default_factory=list)
    problem: bool = False


def tracking_apply_update(*, update: TrackingUpdate, backend: str, source: str) -> list[ApplyResult]:
    """Store what the service says about one tracked number, once, on each parcel tracked under it
    (one, or a multi-parcel shipment's parcels under their parent number). A replay changes nothing.
    An unknown number is ignored (logged): the service must not retry it for ever."""
    shipment_ids = _parcels_for(number=update.number)
    if not shipment_ids:
        logger.info("tracking update for unknown parcel %s via %s ignored", update.number, backend)
    results = []
    for shipment_id in shipment_ids:
        with transaction.atomic():
            results.append(_apply(shipment_id=shipment_id, update=update, backend=backend, source=source))
    return results


def _parcels_for(*, number: str) -> list[int]:
    if not number:
        return []
    tracked = sorted(TrackingSubscription.objects.filter(number=number).values_list("shipment_id", flat=True))
    if tracked:
        return tracked
    return sorted(
        Shipment.objects.filter(
            tracking_number=number, state__in=[ShipmentState.SHIPPED, ShipmentState.DELIVERED]
        ).values_list("pk", flat=True)
    )


def _apply(*, shipment_id: int, update: TrackingUpdate, backend: str, source: str) -> ApplyResult:
    from orders.services import order_transition_locked
    from rules.services import raise_exception
    from shipping.services.parcels import _fully_in

    result = ApplyResult(shipment_id=shipment_id)
    # lock order: the parcel's orders, then the parcel (as the scan does)
    order_ids = selectors.order_ids_in_shipments(shipment_ids=[shipment_id])
    orders = list(order_locks.orders_for_update(order_ids=order_ids))
    shipment = locks.shipment_for_update(shipment_id=shipment_id)
    now = timezone.now()

    new_points = []
    for point in sorted(update.points, key=lambda p: p.at):
        try:
            with transaction.atomic():
                TrackingEvent.objects.create(
                    shipment=shipment,
                    at=point.at,
                    state=point.state,
                    raw_state=point.raw_state[:16],
                    text=point.text,
                    location=point.location[:200],
                    source=f"{backend}:{source}"[:24],
                )
        except IntegrityError:
            continue  # already stored: a replayed callback, or a poll repeating a push
        new_points.append(point)
    result.new_events = len(new_points)

    subscription = locks.tracking_subscription_for_update(shipment_id=shipment.pk)
    problem_words = [p.text for p in new_points if p.state in PROBLEM_TRACKING_STATES]
    if subscription is not None:
        fields = ["last_update_at"]
        subscription.last_update_at = now
        latest = max((p for p in update.points), key=lambda p: p.at, default=None)
        if latest is not None and (subscription.last_event_at is None or latest.at >= subscription.last_event_at):
            subscription.last_event_at, subscription.last_state = latest.at, update.state or latest.state
            fields += ["last_event_at", "last_state"]
        if update.service_status and update.service_status != subscription.service_status:
            if update.service_status == "abort":
                problem_words.append(update.message or gettext("The tracking service stopped tracking this parcel."))
            subscription.service_status = update.service_status
            fields.append("service_status")
        if source == "poll":
            subscription.last_polled_at = now
            fields.append("last_polled_at")
        subscription.save(update_fields=fields)

    if update.eta is not None and shipment.eta != update.eta and shipment.state != ShipmentState.DELIVERED:
        shipment.eta = update.eta
        shipment.save(update_fields=["eta"])

    if update.delivered and shipment.state == ShipmentState.SHIPPED:
        signed = [p.at for p in update.points if p.state == TrackingState.DELIVERED]
        shipment.state = ShipmentState.DELIVERED
        shipment.delivered_at = max(signed) if signed else now
        shipment.save(update_fields=["state", "delivered_at"])
        result.delivered = True
        for order in orders:
            BuyerNotice.objects.get_or_create(shipment=shipment, order=order, event=DELIVERED_NOTICE_EVENT)
            if order.state == OrderState.SHIPPED and _fully_in(order, {ShipmentState.DELIVERED}):
                order_transition_locked(
                    order=order,
                    name="mark_delivered",
                    note=wording("shipping.all_delivered", number=shipment.tracking_number),
                    data={"shipment": shipment.pk, "tracking": backend},
                )
                result.orders_delivered.append(order.pk)

    if problem_words:
        result.problem = True
        note = gettext("Parcel %(number)s: %(words)s") % {
            "number": shipment.tracking_number,
            "words": " / ".join(w for w in problem_words if w)[:800],
        }
        for order in orders:
            raise_exception(order=order, exception_type="tracking_problem", note=note)
    return result


# ---- polling fallback and no pickup --------------------------------------------------------------
@dataclass
class PollReport:
    polled: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)


def tracking_poll(*, now=None, limit: int | None = None) -> PollReport:
    """Query parcels shipped and not delivered whose last update is older than
    TRACKING_POLL_AFTER_HOURS, through the same update path as callbacks (covers lost callbacks)."""
    now = now or timezone.now()
    limit = limit or settings.TRACKING_POLL_BATCH
    stale = now - timedelta(hours=settings.TRACKING_POLL_AFTER_HOURS)
    rows = list(
        TrackingSubscription.objects.filter(shipment__state=ShipmentState.SHIPPED, shipment__shipped_at__lte=stale)
        .filter(Q(last_update_at__isnull=True) | Q(last_update_at__lte=stale))
        .filter(Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=stale))
        .exclude(state=OutboxState.FAILED, company="")
        .select_related("shipment", "shipment__carrier")
        .order_by("last_polled_at", "pk")[:limit]
    )
    report = PollReport()
    backends: dict[str, TrackingBackend] = {}
    for row in rows:
        if row.backend not in BACKENDS:
            continue
        backend = backends.get(row.backend) or backends.setdefault(row.backend, get_backend(row.backend))
        company = row.company or backend.company_for(row.shipment.carrier.code)
        if not backend.configured or not company:
            continue
        try:
            update = backend.query(ParcelRef(company=company, number=row.number, phone_tail=row.phone_tail))
        except TrackingServiceError as exc:
            report.errors[row.pk] = exc.message
            TrackingSubscription.objects.filter(pk=row.pk).update(last_polled_at=now, last_error=exc.message[:2000])
            continue
        update.number = update.number or row.number
        results = tracking_apply_update(update=update, backend=row.backend, source="poll")
        TrackingSubscription.objects.filter(pk=row.pk).update(last_polled_at=now)
        report.polled.append(row.shipment_id)
        report.delivered += [r.shipment_id for r in results if r.delivered and r.shipment_id not in report.delivered]
    return report


def tracking_check_no_pickup(*, now=None) -> list[int]:
    """Parcels shipped more than TRACKING_NO_PICKUP_HOURS ago with no movement at all: a `no_pickup`
    task on each of their orders, once per parcel. Returns the parcels flagged."""
    from rules.services import raise_exception

    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.TRACKING_NO_PICKUP_HOURS)
    candidates = list(
        TrackingSubscription.objects.filter(
            shipment__state=ShipmentState.SHIPPED, shipment__shipped_at__lte=cutoff, no_pickup_raised_at__isnull=True
        )
        .exclude(shipment__tracking_events__isnull=False)
        .values_list("pk", "shipment_id")
    )
    flagged = []
    for pk, shipment_id in candidates:
        order_ids = selectors.order_ids_in_shipments(shipment_ids=[shipment_id])
        with transaction.atomic():
            list(order_locks.orders_for_update(order_ids=order_ids))  # orders first, as every writer does
            row = locks.tracking_subscription_for_update(
                subscription_id=pk, extra=Q(no_pickup_raised_at__isnull=True), skip_locked=True
            )
            if row is None or TrackingEvent.objects.filter(shipment_id=row.shipment_id).exists():
                continue
            shipment = row.shipment
            hours = settings.TRACKING_NO_PICKUP_HOURS
            note = gettext("Parcel %(number)s shows no movement %(hours)s hours after it was scanned out.") % {
                "number": shipment.tracking_number,
                "hours": f"{hours:g}",
            }
            for order_id in order_ids:
                raise_exception(order=order_id, exception_type="no_pickup", note=note)
            row.no_pickup_raised_at = now
            row.save(update_fields=["no_pickup_raised_at"])
            flagged.append(shipment.pk)
    return flagged
