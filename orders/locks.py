"""Every locking queryset of the orders app. Lock order everywhere: order → lines → stock rows by pk.

Only the order row is locked (`of=("self",)`): joining the channel must not lock the channel row,
or every ingestion of one shop would queue behind the others."""

from __future__ import annotations

import functools
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet

from orderhub.db import prepared_cursor
from orders.models import Alert, Channel, FlowRollupMark, InboxMessage, Order, QuarantinedMessage


def order_for_update(*, order_id: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("channel").get(pk=order_id)


def order_by_external_id_for_update(*, channel_id: int, external_id: str) -> Order | None:
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(channel_id=channel_id, external_id=external_id)
        .first()
    )


def orders_for_update(*, order_ids: list[int]) -> QuerySet[Order]:
    return Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk")


def channel_for_update(*, channel_id: int) -> Channel:
    return Channel.objects.select_for_update().get(pk=channel_id)


def open_alert_for_update(*, key: str) -> Alert | None:
    return Alert.objects.select_for_update().filter(key=key, resolved_at__isnull=True).order_by("pk").first()


def quarantine_for_update(*, message_id: int) -> QuarantinedMessage:
    return QuarantinedMessage.objects.select_for_update(of=("self",)).get(pk=message_id)


def unresolved_quarantine_for_update(*, channel_id: int, payload_sha256: str) -> QuarantinedMessage | None:
    return (
        QuarantinedMessage.objects.select_for_update()
        .filter(channel_id=channel_id, payload_sha256=payload_sha256, resolved_at__isnull=True)
        .order_by("pk")
        .first()
    )


#: the claim, one statement: the oldest undecided messages nobody holds (or whose lease ran out), leased
#: to one drainer. `FOR UPDATE SKIP LOCKED` in a MATERIALIZED CTE (evaluated once, so the UPDATE never
#: re-runs it and takes more than LIMIT rows): drainers on several machines each take a different batch
#: instead of queueing behind one another. SQLite has no row locks: there the claim runs in an IMMEDIATE
#: transaction, so one claimer at a time.
_INBOX_CLAIM_SQL = {
    "postgresql": """
        WITH picked AS MATERIALIZED (
            SELECT id FROM orders_inboxmessage
            WHERE decided_at IS NULL AND (claimed_until IS NULL OR claimed_until < %s)
            ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
        )
        UPDATE orders_inboxmessage SET claimed_until = %s, claimed_by = %s, attempts = attempts + 1
        WHERE id IN (SELECT id FROM picked)
        RETURNING *""",
    "sqlite": """
        WITH picked AS (
            SELECT id FROM orders_inboxmessage
            WHERE decided_at IS NULL AND (claimed_until IS NULL OR claimed_until < %s)
            ORDER BY id LIMIT %s
        )
        UPDATE orders_inboxmessage SET claimed_until = %s, claimed_by = %s, attempts = attempts + 1
        WHERE id IN (SELECT id FROM picked)
        RETURNING *""",
}


def inbox_claim_for_update(*, now: datetime, until: datetime, drainer: str, limit: int) -> list[InboxMessage]:
    """Lease up to `limit` of the oldest claimable inbox messages to `drainer` until `until`, in one
    statement (`UPDATE … RETURNING`, see _INBOX_CLAIM_SQL); the leased messages, oldest first, their
    `channel` not loaded."""
    ops = connection.ops
    params = [ops.adapt_datetimefield_value(now), limit, ops.adapt_datetimefield_value(until), drainer]
    if connection.vendor == "postgresql":  # autocommitted, one round trip, the statement prepared once
        with prepared_cursor() as cursor:
            cursor.execute(_inbox_claim_returning_fields(), params)
            rows = cursor.fetchall()
        claimed = [InboxMessage.from_db(connection.alias, None, row) for row in rows]
    else:  # SQLite: an IMMEDIATE transaction takes the write lock first; the ORM converts the values
        with transaction.atomic():
            claimed = list(InboxMessage.objects.raw(_INBOX_CLAIM_SQL[connection.vendor], params))
    claimed.sort(key=lambda message: message.pk)
    return claimed


@functools.cache
def _inbox_claim_returning_fields() -> str:
    """The PostgreSQL claim returning the model's columns in field order (what `Model.from_db` reads)."""
    columns = ", ".join(connection.ops.quote_name(f.column) for f in InboxMessage._meta.concrete_fields)
    return _INBOX_CLAIM_SQL["postgresql"].replace("RETURNING *", f"RETURNING {columns}")


def inbox_own_claims_skip_locked(*, drainer: str) -> QuerySet[InboxMessage]:
    """This drainer's undecided claims, in pk order, skipping the rows another session holds (the
    batch its own connection is marking decided): a lease renewal never waits, so never deadlocks."""
    return (
        InboxMessage.objects.filter(claimed_by=drainer, decided_at__isnull=True)
        .order_by("pk")
        .select_for_update(skip_locked=True)
    )


def flow_rollup_mark_for_update() -> FlowRollupMark | None:
    """The workflow rollup's single mark row, locked (None before the first run)."""
    return FlowRollupMark.objects.select_for_update().filter(pk=1).first()
