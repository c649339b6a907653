"""The channel gateway: everything that brings platform orders to `ingest_order()`.

Push: a verified webhook either carries the order (OrderHub's own signed format) or is a trigger
(Douyin, Kuaishou) that is recorded once and re-read with the platform's detail API by a task.
Pull: a per-channel schedule pages through orders modified since the persisted cursor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from orders import services
from orders.channels import get_adapter
from orders.channels.base import (
    ChannelError,
    PayloadError,
    PushMessage,
    RetryableChannelError,
    SignatureError,
)
from orders.models import AlertSeverity, Channel, InboundMessage

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


def receive_signed_order(*, channel: Channel, body: bytes) -> services.IngestResult:
    """Parse a native order JSON body (already authenticated) and ingest it.

    Raises PayloadError naming the field for malformed input; nothing is stored then."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError("body", f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError("body", "expected one JSON object (the platform's native order)")
    adapter = get_adapter(channel)
    natives = adapter.extract_orders(payload)
    if len(natives) != 1:
        raise PayloadError("body", f"expected exactly one order, found {len(natives)}")
    incoming = adapter.parse_order(natives[0])
    return services.ingest_order(channel=channel, incoming=incoming, source="push")


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
    try:
        incoming = get_adapter(channel).fetch_order(message.external_id)
        result = services.ingest_order(channel=channel, incoming=incoming, source="push")
    except ChannelError as exc:
        InboundMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1, last_error=str(exc)[:2000])
        if not exc.retryable:
            services.alert_raise(
                key=f"push:{channel.pk}:{message.message_id}",
                source="push",
                message=f"{channel}: message {message.message_id} for order {message.external_id} failed: {exc}",
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
    invalid: list[str] = field(default_factory=list)
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
                for incoming in result.orders:
                    _ingest_pulled(channel, incoming, report)
                if not result.has_next:
                    break
                page = result.next_page
            report.windows += 1
            Channel.objects.filter(pk=channel_id).update(pull_cursor=end)
            report.cursor = end
            start = end
    except (ChannelError, PayloadError) as exc:
        # A malformed order stops the pull at its window (the cursor stays before it) and alerts:
        # skipping it would lose an order silently.
        report.error = f"{type(exc).__name__}: {exc}"
        _pull_failed(channel, report.error, immediate=isinstance(exc, PayloadError))
        return report
    finally:
        Channel.objects.filter(pk=channel_id).update(pull_lease_until=None)
    Channel.objects.filter(pk=channel_id).update(
        last_pull_ok_at=timezone.now(), last_pull_error="", consecutive_pull_failures=0
    )
    services.alert_resolve(key=f"pull:{channel_id}")
    return report


def _ingest_pulled(channel: Channel, incoming, report: PullReport) -> None:
    report.received += 1
    result = services.ingest_order(channel=channel, incoming=incoming, source="pull")
    if result.created:
        report.created += 1
    elif result.changed:
        report.updated += 1
    else:
        report.unchanged += 1


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
            message=f"{channel}: order pull failed {channel.consecutive_pull_failures} times in a row: {error}",
            channel=channel,
        )


# ---- schedules --------------------------------------------------------------------------------
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
    """Pull schedules for every channel, plus the push-message sweep."""
    from django_q.models import Schedule

    for channel in Channel.objects.all():
        channel_sync_schedule(channel=channel)
    Schedule.objects.update_or_create(
        name="sweep push messages",
        defaults={
            "func": "orders.tasks.sweep_push_messages",
            "schedule_type": Schedule.MINUTES,
            "minutes": 2,
            "repeats": -1,
        },
    )
