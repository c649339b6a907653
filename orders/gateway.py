"""The channel gateway: everything that brings platform orders to `ingest_order()`.

Push: a verified webhook either carries the order (OrderHub's own signed format) or is a trigger
(Douyin, Kuaishou) that is recorded once and re-read with the platform's detail API by a task.
Pull: a per-channel schedule pages through orders modified since the persisted cursor.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from orders import services
from orders.channels import get_adapter, guard
from orders.channels.base import (
    ChannelError,
    NormalizedOrder,
    PayloadError,
    PushMessage,
    RetryableChannelError,
    SignatureError,
)
from orders.errors import ChannelDisabled
from orders.models import AlertSeverity, Channel, InboundMessage, QuarantinedMessage, QuarantineSource
from orders.texts import wording

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-OrderHub-Signature"
TIMESTAMP_HEADER = "X-OrderHub-Timestamp"


# ---- push: OrderHub's own signed format -----------------------------------------------------
def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256 of `timestamp + "." + raw body`, keyed with the channel's webhook secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_orderhub_signature(*, channel: Channel, timestamp: str | None, signature: str | None, body: bytes) -> None:
    if not channel.webhook_secret:
        raise SignatureError("this channel has no webhook secret configured")
    if not timestamp or not signature:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs(time.time() - sent_at) > settings.WEBHOOK_MAX_SKEW_SECONDS:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {settings.WEBHOOK_MAX_SKEW_SECONDS} s off")
    expected = webhook_signature(secret=channel.webhook_secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise SignatureError("signature does not match")


def read_signed_order(*, channel: Channel, body: bytes | str) -> NormalizedOrder:
    """Parse and validate a native order JSON body (already authenticated), storing nothing.

    Raises PayloadError naming the field for malformed input (poison included: NUL, lone surrogates,
    NaN, huge numbers, wrong types, deep nesting, values too long for the database)."""
    decoded = guard.decode(body)
    payload = decoded.value
    adapter = get_adapter(channel)
    native = _bare_order(adapter, payload)
    if native is None:  # an envelope, or not an order at all: walked whole first, as decoding always did
        if not decoded.safe:
            guard.check_tree(payload)
        if not isinstance(payload, dict):
            raise PayloadError("body", "expected one JSON object (the platform's native order)")
        natives = adapter.extract_natives(payload)
        if len(natives) != 1:
            raise PayloadError("body", f"expected exactly one order, found {len(natives)}")
        native = natives[0]
    incoming = adapter.read_order(native, decoded=decoded)  # walked by the poison guard unless the text proved it safe
    services.validate_fits(incoming=incoming, texts_checked=True)  # read_order's clean_order checked the texts
    return incoming


def _bare_order(adapter, payload: Any) -> dict | None:
    """The body itself when it is one native order without an envelope (the usual push), else None.
    Why: `read_order` walks a bare order with the poison guard and refuses exactly what walking the
    whole body first would, so the body need not be walked twice."""
    if not isinstance(payload, dict):
        return None
    try:
        natives = adapter.extract_natives(payload)
    except PayloadError:
        return None
    return payload if len(natives) == 1 and natives[0] is payload else None


def receive_signed_order(*, channel: Channel, body: bytes) -> services.IngestResult:
    """Parse a native order JSON body (already authenticated) and ingest it within the request.

    Raises PayloadError naming the field for malformed input; nothing is stored then."""
    incoming = read_signed_order(channel=channel, body=body)
    try:
        return services.ingest_order(channel=channel, incoming=incoming, source="push")
    except (DataError, IntegrityError) as exc:  # rolled back whole: nothing stored, the sender must fix it
        logger.warning("webhook order refused by the database on %s: %s", channel, exc)
        raise PayloadError("body", "a value the database cannot store") from None


# ---- push: platform-native triggers ---------------------------------------------------------
def receive_platform_push(*, channel: Channel, headers: dict[str, str], body: bytes) -> list[PushMessage]:
    """Verify a platform push and record each new message for a detail re-read.

    Returns the verified messages; redeliveries are recorded once and queued once."""
    messages = get_adapter(channel).verify_push(headers, body)
    fresh: list[int] = []
    for message in messages:
        if message.is_heartbeat or not message.external_id:
            continue
        row, created = InboundMessage.objects.get_or_create(
            channel=channel,
            message_id=message.message_id,
            defaults={"topic": message.topic, "external_id": message.external_id},
        )
        if created:
            fresh.append(row.pk)
    if fresh:
        from django_q.tasks import async_task

        for pk in fresh:
            transaction.on_commit(lambda pk=pk: async_task("orders.tasks.process_push_message", pk))
    return messages


def process_push_message(*, message_id: int) -> services.IngestResult | None:
    """Re-read the order a push message points at, then ingest it. Safe to run twice."""
    message = InboundMessage.objects.select_related("channel").get(pk=message_id)
    if message.processed_at:
        return None
    channel = message.channel
    incoming = None
    try:
        incoming = get_adapter(channel).fetch_order(message.external_id)
        result = services.ingest_order(channel=channel, incoming=incoming, source="push")
    except (PayloadError, DataError, IntegrityError) as exc:
        # the re-read order is malformed: quarantine it (a person retries it from the admin), and the
        # message is done, so the sweep does not re-read poison forever
        native = incoming.raw if incoming is not None else None
        _quarantine(channel, QuarantineSource.PUSH, exc, native=native, external_id=message.external_id)
        InboundMessage.objects.filter(pk=message.pk).update(
            processed_at=timezone.now(), attempts=F("attempts") + 1, last_error=str(exc)[:2000]
        )
        return None
    except ChannelError as exc:
        InboundMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1, last_error=str(exc)[:2000])
        if not exc.retryable:
            services.alert_raise(
                key=f"push:{channel.pk}:{message.message_id}",
                source="push",
                message=wording(
                    "alert.push_message_failed",
                    channel=str(channel),
                    message=message.message_id,
                    order=message.external_id,
                    error=str(exc),
                ),
                channel=channel,
            )
        raise
    InboundMessage.objects.filter(pk=message.pk).update(processed_at=timezone.now(), attempts=F("attempts") + 1)
    return result


def sweep_push_messages(*, older_than: timedelta = timedelta(minutes=2), max_attempts: int = 10) -> int:
    """Re-process messages a lost task left behind."""
    cutoff = timezone.now() - older_than
    pending = InboundMessage.objects.filter(
        processed_at__isnull=True, received_at__lt=cutoff, attempts__lt=max_attempts
    ).values_list("pk", flat=True)
    done = 0
    for pk in pending[:500]:
        try:
            process_push_message(message_id=pk)
            done += 1
        except ChannelError:
            logger.warning("push message %s still failing", pk)
    return done


# ---- pull -----------------------------------------------------------------------------------
@dataclass
class PullReport:
    channel_id: int
    windows: int = 0
    pages: int = 0
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0  # older than the stored order (an overlap window re-read), ignored
    invalid: list[str] = field(default_factory=list)
    quarantined: int = 0
    cursor: datetime | None = None
    error: str = ""
    skipped: bool = False


def _claim_pull(channel_id: int, lease: timedelta) -> bool:
    """One puller per channel at a time, across every worker machine: a conditional UPDATE."""
    now = timezone.now()
    return bool(
        Channel.objects.filter(pk=channel_id, enabled=True)
        .filter(Q(pull_lease_until__isnull=True) | Q(pull_lease_until__lt=now))
        .update(pull_lease_until=now + lease, last_pull_at=now)
    )


def channel_pull(
    *, channel_id: int, now: datetime | None = None, attempts: int = 3, backoff: float = 1.0
) -> PullReport:
    """Pull every order modified since the channel's cursor (minus an overlap window).

    The window is cut into the platform's maximum query windows; the cursor advances past each
    window only after all of its pages are stored, so a failure mid-way loses and duplicates
    nothing: the next pull re-reads from the cursor and ingestion drops what it already has."""
    report = PullReport(channel_id=channel_id)
    if not _claim_pull(channel_id, lease=timedelta(minutes=10)):
        report.skipped = True
        return report
    channel = Channel.objects.get(pk=channel_id)
    adapter = get_adapter(channel)
    now = now or timezone.now()
    overlap = timedelta(minutes=settings.CHANNEL_PULL_OVERLAP_MINUTES)
    start = (channel.pull_cursor or now - timedelta(days=1)) - overlap
    max_window = getattr(adapter, "max_pull_window", timedelta(days=1))
    retrying = Retrying(
        retry=retry_if_exception_type(RetryableChannelError),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff, max=30),
        reraise=True,
    )
    try:
        while start < now:
            end = min(start + max_window, now)
            page = None
            while True:
                result = retrying(
                    adapter.pull_orders, start=start, end=end, page=page, page_size=settings.CHANNEL_PULL_PAGE_SIZE
                )
                report.pages += 1
                for refused in result.rejected:
                    report.invalid.append(str(refused))
                    report.quarantined += 1
                    _quarantine(channel, QuarantineSource.PULL, refused)
                _ingest_pulled(channel, result.orders, report)
                if not result.has_next:
                    break
                page = result.next_page
            report.windows += 1
            Channel.objects.filter(pk=channel_id).update(pull_cursor=end)
            report.cursor = end
            start = end
    except (ChannelError, PayloadError) as exc:
        # A malformed page (not one malformed order: that one is quarantined and the pull goes on)
        # stops the pull at its window; the cursor stays before it.
        report.error = f"{type(exc).__name__}: {exc}"
        _pull_failed(channel, report.error, immediate=isinstance(exc, PayloadError))
        return report
    except Exception as exc:
        # Whatever else stops a pull is recorded and alerted at once: a silent stop is the worst case.
        logger.exception("pull of channel %s failed unexpectedly", channel_id)
        report.error = f"{type(exc).__name__}: {exc}"
        _pull_failed(channel, report.error, immediate=True)
        return report
    finally:
        Channel.objects.filter(pk=channel_id).update(pull_lease_until=None)
    Channel.objects.filter(pk=channel_id).update(
        last_pull_ok_at=timezone.now(), last_pull_error="", consecutive_pull_failures=0
    )
    services.alert_resolve(key=f"pull:{channel_id}")
    return report


def _ingest_pulled(channel: Channel, page: list, report: PullReport) -> None:
    """One pulled page through the batch pipeline (`services.ingest_orders`): an order the pipeline or
    the database refuses (a value or a constraint: PayloadError, DataError, IntegrityError) is isolated
    in its outcome and quarantined, the rest of the page is kept. Connection trouble
    (OperationalError) still fails the pull as a whole."""
    report.received += len(page)
    outcomes = services.ingest_orders([services.IngestItem(channel=channel, incoming=o, source="pull") for o in page])
    for outcome in outcomes:
        incoming, exc = outcome.item.incoming, outcome.error
        if exc is not None and not isinstance(exc, (PayloadError, DataError, IntegrityError)):
            raise exc
        if exc is not None:
            report.invalid.append(f"{incoming.external_id}: {exc}")
            report.quarantined += 1
            _quarantine(channel, QuarantineSource.PULL, exc, native=incoming.raw, external_id=incoming.external_id)
            continue
        result = outcome.result
        if result.created:
            report.created += 1
        elif result.changed:
            report.updated += 1
        elif result.stale:
            report.stale += 1
        else:
            report.unchanged += 1


def _quarantine(channel: Channel, source: str, exc: Exception, *, native: Any = None, external_id: str = "") -> None:
    """Store a refused order for a person (admin: quarantined orders) and alert."""
    field_name = getattr(exc, "field", "") or "database"
    reason = getattr(exc, "message", "") or f"{type(exc).__name__}: {exc}"
    native = getattr(exc, "native", None) if native is None else native
    services.quarantine_record(
        channel=channel,
        source=source,
        native=native if native is not None else {},
        field=field_name,
        reason=str(reason)[:2000],
        external_id=getattr(exc, "external_id", "") or external_id,
    )
    logger.warning("quarantined an order of %s (%s): %s", channel, field_name, reason)


def quarantine_retry(*, message_id: int, actor: Any = None) -> bool:
    """Try a quarantined order again: re-read it from the platform when its id is known and the
    channel has an API (the platform may have corrected it), else re-read the stored payload (the
    parser may have been fixed). Resolved when it is ingested; counted as a failed retry otherwise."""
    message = QuarantinedMessage.objects.select_related("channel").get(pk=message_id)
    if message.resolved_at is not None:
        return True
    channel = message.channel
    adapter = get_adapter(channel)
    try:
        if message.external_id and channel.api_base_url:
            incoming = adapter.fetch_order(message.external_id)
        else:
            incoming = adapter.read_order(guard.decode_json(message.payload, check=False))
        result = services.ingest_order(channel=channel, incoming=incoming, source=message.source)
    except (PayloadError, ChannelError, DataError, ChannelDisabled) as exc:
        services.quarantine_retry_failed(
            message_id=message.pk,
            actor=actor,
            field=getattr(exc, "field", "") or "",
            reason=str(getattr(exc, "message", "") or exc)[:2000],
        )
        return False
    services.quarantine_resolve(
        message_id=message.pk, actor=actor, resolution=f"retried: order {result.order.pk} ({result.order.state})"
    )
    return True


def _pull_failed(channel: Channel, error: str, *, immediate: bool = False) -> None:
    Channel.objects.filter(pk=channel.pk).update(
        last_pull_error=error[:2000], consecutive_pull_failures=F("consecutive_pull_failures") + 1
    )
    channel.refresh_from_db(fields=["consecutive_pull_failures"])
    logger.warning("pull of %s failed (%s in a row): %s", channel, channel.consecutive_pull_failures, error)
    if immediate or channel.consecutive_pull_failures >= settings.CHANNEL_ALERT_AFTER_FAILURES:
        services.alert_raise(
            key=f"pull:{channel.pk}",
            source="pull",
            severity=AlertSeverity.CRITICAL,
            message=wording(
                "alert.pull_failing", channel=str(channel), count=channel.consecutive_pull_failures, error=error
            ),
            channel=channel,
        )


# ---- schedules --------------------------------------------------------------------------------
#: orders waiting past their stage's limit (orders.workflow_services): one alert per stuck path
STRANDED_GUARD_SCHEDULE = "orders: stranded-order guard"
FLOW_ROLLUP_SCHEDULE = "orders: workflow rollup"


def channel_sync_schedule(*, channel: Channel) -> None:
    """Keep one django-q2 pull schedule per enabled, pulling channel (and none otherwise)."""
    from django_q.models import Schedule

    name = f"pull channel {channel.pk}"
    if not (channel.enabled and channel.pull_enabled and channel.api_base_url):
        Schedule.objects.filter(name=name).delete()
        return
    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": "orders.tasks.pull_channel",
            "args": repr(channel.pk),
            "schedule_type": Schedule.MINUTES,
            "minutes": channel.pull_interval_minutes,
            "repeats": -1,
        },
    )


def ensure_schedules() -> None:
    """Pull schedules for every channel, plus the push-message sweep, the inbox watch, the
    stranded-order guard and the workflow page's hourly rollup."""
    from django_q.models import Schedule

    for channel in Channel.objects.all():
        channel_sync_schedule(channel=channel)
    Schedule.objects.update_or_create(
        name="watch the webhook inbox",
        defaults={"func": "orders.tasks.watch_inbox", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="sweep push messages",
        defaults={
            "func": "orders.tasks.sweep_push_messages",
            "schedule_type": Schedule.MINUTES,
            "minutes": 2,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=STRANDED_GUARD_SCHEDULE,
        defaults={
            "func": "orders.tasks.check_stranded_orders",
            "schedule_type": Schedule.MINUTES,
            "minutes": 5,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=FLOW_ROLLUP_SCHEDULE,
        defaults={
            "func": "orders.tasks.rollup_workflow_figures",
            "schedule_type": Schedule.MINUTES,
            "minutes": 10,
            "repeats": -1,
        },
    )
