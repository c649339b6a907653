"""The webhook inbox: accept a signed order push at once, decide it in batches a moment later.

A flash sale sends thousands of pushes a second for one SKU; deciding each inside its request would
make the platform wait on the stock row's lock and retry. So the webhook verifies, validates and
stores the message (`inbox_accept`), answers 202, and drainers (`manage.py drain_inbox`, as many as
wanted, on any machine) take the oldest messages in batches (`inbox_drain_batch`) and hand them to
`services.ingest_orders()`.

Claims are leases, not open transactions: `ingest_order()` is durable (one transaction per order),
so a batch cannot be decided inside the claiming transaction. A claim marks the rows for
`WEBHOOK_INBOX_LEASE_SECONDS`, renewed while the drainer lives (`LeaseKeeper`); a drainer that dies
leaves them to the next claim once the lease runs out, and deciding one again is a no-op: the
pipeline is exactly-once per order and message version (a redelivery is "unchanged"). A message
that keeps killing its drainer is quarantined after `WEBHOOK_INBOX_MAX_ATTEMPTS` claims, so it never
blocks the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connection, connections, transaction
from django.utils import timezone

from orderhub.db import prepared_cursor
from orderhub.runtime import tune_gc
from orders import gateway, locks, selectors, services
from orders.channels.base import PayloadError
from orders.errors import ChannelDisabled
from orders.models import AlertSeverity, Channel, InboxMessage, QuarantineSource
from orders.texts import wording

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "orderhub_inbox"
#: PostgreSQL advisory lock (WAITER_LOCK_KEY, stripe) that a drainer holds shared, on every stripe, while
#: it waits for a NOTIFY (`Wakeup.wait`). A push notifies only when its store statement cannot take
#: its stripe (its session's pid modulo WAITER_LOCK_STRIPES) exclusively, i.e. when a drainer waits.
#: Why: a notifying COMMIT holds a cluster-wide lock through its WAL flush, so notifying every push
#: serialized the webhooks' commits (12 sessions: ~500 commits/s with a NOTIFY each, ~4,000 without).
WAITER_LOCK_KEY = 1_100_011
WAITER_LOCK_STRIPES = 64
BACKLOG_ALERT_KEY = "inbox:backlog"
QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class AcceptedPush:
    """A push stored in the inbox: what the webhook answers (no model instance: it cost a tenth of
    the store's CPU, and nothing reads one)."""

    pk: int
    external_id: str


def inbox_accept(*, channel: Channel, body: bytes) -> AcceptedPush:
    """Validate a signed order push (PayloadError naming the field; nothing stored) and store it for
    the drainers in one autocommitted statement (durable before the webhook answers), waking them on
    PostgreSQL (the NOTIFY is delivered when the row commits).

    `channel` may be a cached copy: the statement checks the stored channel again (enabled, same
    platform, same webhook secret), so a channel disabled or given a new secret since the copy was read
    stores nothing and ChannelDisabled is raised."""
    incoming = gateway.read_signed_order(channel=channel, body=body)
    pk = _inbox_store(channel=channel, external_id=incoming.external_id, body=body.decode("utf-8"))
    if pk is None:
        raise ChannelDisabled(channel.pk)
    return AcceptedPush(pk=pk, external_id=incoming.external_id)


#: the store statement: the channel's row is checked in the INSERT itself (one round trip, no
#: transaction of its own); the secret is compared by its SHA-256, so it never travels as a parameter.
#: On PostgreSQL the same statement notifies the drainers (delivered when it commits) if one waits: it
#: cannot take its stripe of the waiter lock. When it can, it holds the stripe until its COMMIT, so a
#: drainer about to wait takes the stripe only after this row is visible and finds it when it looks
#: again (`Wakeup.wait`): no push is left waiting for the next poll.
_STORE_SQL = {
    "postgresql": """
        WITH stored AS (
            INSERT INTO orders_inboxmessage
                (channel_id, external_id, body, received_at, claimed_by, attempts, outcome, error)
            SELECT id, %s, %s, %s, '', 0, '', '' FROM orders_channel
            WHERE id = %s AND enabled AND platform = %s
                AND encode(sha256(convert_to(webhook_secret, 'UTF8')), 'hex') = %s
            RETURNING id
        )
        SELECT id, CASE WHEN pg_try_advisory_xact_lock(%s, pg_backend_pid() %% %s) THEN false
                   ELSE pg_notify('orderhub_inbox', '')::text = '' END AS notified
        FROM stored""",
    "sqlite": """
        INSERT INTO orders_inboxmessage
            (channel_id, external_id, body, received_at, claimed_by, attempts, outcome, error)
        SELECT id, %s, %s, %s, '', 0, '', '' FROM orders_channel
        WHERE id = %s AND enabled AND platform = %s AND SHA256(webhook_secret) = %s
        RETURNING id""",  # SHA256: Django's SQLite function (hex digest)
}


def _inbox_store(*, channel: Channel, external_id: str, body: str) -> int | None:
    """INSERT the message if its channel still matches `channel`; its id, or None when it does not."""
    db = connections[DEFAULT_DB_ALIAS]  # not the `connection` proxy: each of its attributes is a lookup
    digest = hashlib.sha256(channel.webhook_secret.encode()).hexdigest()
    received_at = db.ops.adapt_datetimefield_value(timezone.now())
    params = [external_id, body, received_at, channel.pk, channel.platform, digest]
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(_STORE_SQL[db.vendor], params)
            row = cursor.fetchone()
        return row[0] if row else None
    params += [WAITER_LOCK_KEY, WAITER_LOCK_STRIPES]
    with prepared_cursor(db) as cursor:
        cursor.execute(_STORE_SQL["postgresql"], params)
        row = cursor.fetchone()
    return row[0] if row else None


@dataclass
class DrainReport:
    claimed: int = 0
    decided: int = 0
    quarantined: int = 0
    retried: int = 0  # left undecided after a transient database error, claimed again shortly


#: PostgreSQL errors that say nothing about the message: a serialization failure, a deadlock victim,
#: a lock or statement timeout. Deciding it again shortly succeeds; quarantining it would hand a good
#: order to a person.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})


def is_transient(exc: BaseException) -> bool:
    """Whether a database error is the moment's, not the message's (see TRANSIENT_SQLSTATES; on
    SQLite, "database is locked")."""
    if not isinstance(exc, OperationalError):
        return False
    if getattr(exc.__cause__, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return connection.vendor == "sqlite" and "locked" in str(exc)


def drainer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def inbox_claim(*, limit: int, drainer: str) -> list[InboxMessage]:
    """Lease the oldest unclaimed (or lease-expired) undecided messages to this drainer (one statement),
    with their channels read afresh (one query): the pipeline admits only enabled channels."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.WEBHOOK_INBOX_LEASE_SECONDS)
    messages = locks.inbox_claim_for_update(now=now, until=until, drainer=drainer, limit=limit)
    if not messages:
        return []
    channels = Channel.objects.in_bulk({message.channel_id for message in messages})
    messages = [message for message in messages if message.channel_id in channels]  # deleted meanwhile: gone
    for message in messages:
        message.channel = channels[message.channel_id]
    return messages


def inbox_drain_batch(*, limit: int | None = None, drainer: str | None = None) -> DrainReport:
    """Claim one batch, decide it with `ingest_orders()`, record every message's outcome. A message
    the pipeline refuses is quarantined (with its alert) and the rest of the batch is decided; one
    that met a transient database error (`is_transient`) is released to be claimed again after
    WEBHOOK_INBOX_RETRY_SECONDS (WEBHOOK_INBOX_MAX_ATTEMPTS still bounds how often)."""
    messages = inbox_claim(limit=limit or settings.WEBHOOK_INBOX_BATCH, drainer=drainer or drainer_name())
    report = DrainReport(claimed=len(messages))
    if not messages:
        return report
    pending: list[tuple[InboxMessage, services.IngestItem]] = []
    for message in messages:
        if message.attempts > settings.WEBHOOK_INBOX_MAX_ATTEMPTS:
            error = f"claimed {message.attempts - 1} times without a decision (its drainers died)"
            _quarantine(message, field="body", reason=error)
            continue
        try:  # validated at acceptance; read again, as the drainer may run a newer parser
            incoming = gateway.read_signed_order(channel=message.channel, body=message.body)
        except PayloadError as exc:
            _quarantine(message, field=exc.field, reason=exc.message)
            continue
        pending.append((message, services.IngestItem(message.channel, incoming, "push", fits_checked=True)))
    outcomes = services.ingest_orders([item for _message, item in pending])
    decided_at = timezone.now()
    retry: list[InboxMessage] = []
    for (message, _item), outcome in zip(pending, outcomes, strict=True):
        if outcome.ok:
            message.outcome, message.order = outcome.result.outcome, outcome.result.order
        elif is_transient(outcome.error):
            logger.warning("inbox message %s meets a transient error, retried: %s", message.pk, outcome.error)
            retry.append(message)
            continue
        else:
            exc = outcome.error
            _quarantine(
                message, field=getattr(exc, "field", "") or "database", reason=getattr(exc, "message", "") or str(exc)
            )
            continue
        message.decided_at, message.claimed_until = decided_at, None
    decided = [message for message in messages if message.decided_at is not None]
    _record_decided(decided)
    if retry:
        again = timezone.now() + timedelta(seconds=settings.WEBHOOK_INBOX_RETRY_SECONDS)
        InboxMessage.objects.filter(pk__in=[m.pk for m in retry], decided_at__isnull=True).update(
            claimed_by="", claimed_until=again
        )
        report.retried = len(retry)
    report.quarantined = sum(message.outcome == QUARANTINED for message in decided)
    report.decided = len(decided) - report.quarantined
    return report


#: every decided message of a batch marked in one statement (bulk_update would send a CASE per row and
#: column), its values one JSON parameter (arrays of timestamps dumped value by value were ~6 % of a
#: drainer's CPU); a message another drainer decided meanwhile (its lease ran out) is left as that one
#: marked it
_DECIDED_SQL = """
    UPDATE orders_inboxmessage AS m
    SET decided_at = d.decided_at, outcome = d.outcome, order_id = d.order_id, error = d.error,
        claimed_until = NULL
    FROM json_to_recordset(%s::json) AS d(id bigint, decided_at timestamptz, outcome text, order_id bigint, error text)
    WHERE m.id = d.id AND m.decided_at IS NULL"""


def _record_decided(messages: list[InboxMessage]) -> None:
    if not messages:
        return
    if connection.vendor != "postgresql":
        InboxMessage.objects.filter(decided_at__isnull=True).bulk_update(
            messages, ["decided_at", "outcome", "order", "error", "claimed_until"]
        )
        return
    rows = json.dumps(
        [
            {
                "id": message.pk,
                "decided_at": message.decided_at.isoformat(),
                "outcome": message.outcome,
                "order_id": message.order_id,
                "error": message.error,
            }
            for message in messages
        ]
    )
    for attempt in range(3):  # a transient error (a lock timeout, a deadlock victim) must not kill the drainer
        try:
            with prepared_cursor() as cursor:
                cursor.execute(_DECIDED_SQL, [rows])
            return
        except OperationalError as exc:
            if attempt == 2 or not is_transient(exc):
                raise
            logger.warning("marking inbox messages decided meets a transient error, tried again: %s", exc)


def _quarantine(message: InboxMessage, *, field: str, reason: str) -> None:
    """Hand a poison message to the quarantine (a person retries it from the admin), and mark it decided."""
    native = _native_or_text(message.body)
    services.quarantine_record(
        channel=message.channel,
        source=QuarantineSource.INBOX,
        native=native,
        field=field,
        reason=str(reason)[:2000],
        external_id=message.external_id,
    )
    logger.warning("inbox message %s quarantined (%s): %s", message.pk, field, reason)
    message.outcome, message.error = QUARANTINED, f"{field}: {reason}"[:2000]
    message.decided_at, message.claimed_until = timezone.now(), None


def _native_or_text(body: str):
    from orders.channels import guard

    try:
        return guard.decode_json(body, check=False)
    except PayloadError:
        return body


def inbox_check_backlog(*, now=None) -> float | None:
    """Alert when the oldest undecided message waits longer than WEBHOOK_INBOX_ALERT_AFTER_SECONDS
    (no drainer running, or too few); resolve the alert when the backlog is back within it."""
    oldest = selectors.inbox_oldest_undecided_at()
    now = now or timezone.now()
    age = (now - oldest).total_seconds() if oldest else None
    if age is not None and age > settings.WEBHOOK_INBOX_ALERT_AFTER_SECONDS:
        services.alert_raise(
            key=BACKLOG_ALERT_KEY,
            source="inbox",
            severity=AlertSeverity.CRITICAL,
            message=wording("alert.inbox_backlog", seconds=round(age), count=selectors.inbox_backlog()),
        )
    else:
        services.alert_resolve(key=BACKLOG_ALERT_KEY)
    return age


def inbox_purge_decided(*, older_than: timedelta | None = None) -> int:
    cutoff = timezone.now() - (older_than or timedelta(days=settings.WEBHOOK_INBOX_KEEP_DAYS))
    deleted, _ = InboxMessage.objects.filter(decided_at__lt=cutoff).delete()
    return deleted


class Wakeup:
    """How an idle drainer waits for work: PostgreSQL LISTEN/NOTIFY on its own connection (woken
    the moment a message commits, with a 1 s timeout that also catches expired leases), polling on
    SQLite.

    While it waits, the drainer holds the waiter lock (WAITER_LOCK_KEY, every stripe) shared on that
    connection: that is what makes a push notify (see _STORE_SQL); a busy drainer holds nothing, so a
    flash sale's pushes commit without NOTIFY. Taking the lock waits for every push storing without a
    NOTIFY at that moment to commit; then the drainer looks once more for claimable messages, and only
    when there are none does it wait."""

    _HOLD = "SELECT count(pg_advisory_lock_shared(%s, stripe)) FROM generate_series(0, %s - 1) AS stripe"
    _WAITING = """
        SELECT EXISTS (
            SELECT 1 FROM orders_inboxmessage
            WHERE decided_at IS NULL AND (claimed_until IS NULL OR claimed_until < %s)
        )"""

    def __init__(self) -> None:
        self._listener = None
        if connection.vendor == "postgresql":
            import psycopg

            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            self._listener = psycopg.connect(**params, autocommit=True)
            self._listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def wait(self, timeout: float) -> bool:
        """True when a notification arrived, or a message became claimable while the drainer got ready
        to wait (every pending notification is consumed)."""
        if self._listener is None:
            time.sleep(timeout)
            return False
        listener = self._listener
        listener.execute(self._HOLD, [WAITER_LOCK_KEY, WAITER_LOCK_STRIPES])
        try:
            if listener.execute(self._WAITING, [timezone.now()]).fetchone()[0]:
                woken = True  # stored without a NOTIFY since the drainer's last claim
            else:
                woken = False
                for _notify in listener.notifies(timeout=timeout, stop_after=1):
                    woken = True
        finally:
            listener.execute("SELECT pg_advisory_unlock_all()")
        if woken:  # several commits may have notified: take them all now, one claim serves them
            for _notify in listener.notifies(timeout=0):
                pass
        return woken

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


class LeaseKeeper:
    """Renews this drainer's claims every third of the lease while it decides them, on its own thread
    and connection: a batch slower than the lease (a loaded machine) is not taken by a second drainer,
    while a dead drainer stops renewing and its claims run out as before."""

    def __init__(self, drainer: str) -> None:
        self.drainer = drainer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox-lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        lease = timedelta(seconds=settings.WEBHOOK_INBOX_LEASE_SECONDS)
        try:
            while not self._stop.wait(lease.total_seconds() / 3):
                try:
                    inbox_renew_claims(drainer=self.drainer, lease=lease)
                except DatabaseError:
                    logger.warning("could not renew the inbox claims of %s", self.drainer, exc_info=True)
        finally:
            connection.close()


def inbox_renew_claims(*, drainer: str, lease: timedelta) -> int:
    """Extend this drainer's leases. Rows locked at this moment are skipped, not waited for: they are
    the batch being marked decided on the drainer's own connection, and waiting on them while that
    statement waits on ours was a deadlock between a drainer's two connections."""
    with transaction.atomic():
        mine = locks.inbox_own_claims_skip_locked(drainer=drainer)
        return InboxMessage.objects.filter(pk__in=mine.values("pk")).update(claimed_until=timezone.now() + lease)


def drain(
    *, batch: int, stop: Callable[[], bool], once: bool = False, on_batch: Callable[[DrainReport], None] | None = None
) -> DrainReport:
    """Drain until `stop()` (or, with `once`, until the inbox is empty). Returns the totals."""
    total = DrainReport()
    name = drainer_name()
    wakeup = None if once else Wakeup()
    poll = 1.0 if wakeup is not None and wakeup.listening else settings.WEBHOOK_INBOX_POLL_SECONDS
    checked = 0.0
    linger = settings.WEBHOOK_INBOX_LINGER_SECONDS
    with LeaseKeeper(name):
        try:
            while not stop():
                report = inbox_drain_batch(limit=batch, drainer=name)
                total.claimed += report.claimed
                total.decided += report.decided
                total.quarantined += report.quarantined
                total.retried += report.retried
                if report.claimed and on_batch:
                    on_batch(report)
                if time.monotonic() - checked > 10:
                    inbox_check_backlog()
                    checked = time.monotonic()
                if report.claimed >= batch or (report.claimed and once):
                    continue
                if report.claimed:  # a part batch: let a few more arrive rather than decide them one by one
                    time.sleep(linger)
                    continue
                if once:
                    break
                if wakeup.wait(poll):
                    time.sleep(linger)
        finally:
            if wakeup is not None:
                wakeup.close()
    return total


#: a drainer's collector thresholds (Python's default: 700, 10, 10); see tune_gc_for_draining
DRAINER_GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc_for_draining() -> None:
    """orderhub.runtime.tune_gc with a drainer's thresholds: a batch allocates tens of thousands of
    short-lived objects (rows, model instances, parsed orders); measured 4–6 % of a drainer's CPU per
    message. Call once, after start-up, in a long-running decider process."""
    tune_gc(DRAINER_GC_THRESHOLDS)


def decide_with_async_commit() -> bool:
    """Make this process a decider whose transactions commit without waiting for the WAL flush
    (PostgreSQL `synchronous_commit = off` on every connection it opens; settings.INGEST_ASYNC_COMMIT).

    Why it is safe for decisions: the push was made durable by the webhook before it answered (that
    transaction commits synchronously), and it is marked decided only after its decision commits. A
    server crash can lose the last few hundred milliseconds of asynchronous commits, never part of
    one and never a later one without the earlier (the WAL is replayed in order): a lost decision
    leaves its message undecided and it is decided again, exactly once. Returns whether it applies."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    if not settings.INGEST_ASYNC_COMMIT or connection.vendor != "postgresql":
        return False
    connection_created.connect(_async_commit, dispatch_uid="orders.inbox.async_commit")
    if connection.connection is not None:
        _async_commit(connection=connection)
    return True


def _async_commit(*, connection, **kwargs) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
