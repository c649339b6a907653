"""The SQL of the orders app's locking paths: the order row alone is locked (never its channel, or
every ingestion of one shop would queue behind the others), and in primary-key order."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conftest import postgres_only
from orders import locks
from orders.models import OrderState
from orders.tests.factories import make_channel, make_order_in_state

pytestmark = [postgres_only, pytest.mark.django_db]


def for_update_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]


def test_order_lock_locks_the_order_row_only():
    order = make_order_in_state(make_channel(), OrderState.READY)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locks.order_for_update(order_id=order.pk)
        locks.order_by_external_id_for_update(channel_id=order.channel_id, external_id=order.external_id)
    statements = for_update_statements(queries)
    assert len(statements) == 2
    for sql in statements:
        assert sql.endswith('FOR UPDATE OF "orders_order"'), sql
        assert 'JOIN "orders_channel"' in sql  # the channel is read, not locked


def test_many_orders_are_locked_in_primary_key_order():
    channel = make_channel()
    orders = [make_order_in_state(channel, OrderState.READY) for _ in range(3)]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        list(locks.orders_for_update(order_ids=[o.pk for o in reversed(orders)]))
    [sql] = for_update_statements(queries)
    assert 'ORDER BY "orders_order"."id" ASC' in sql and sql.endswith("FOR UPDATE")


def test_ingesting_a_known_order_locks_no_channel_row():
    from orders.services import ingest_order
    from orders.tests.factories import make_incoming

    channel = make_channel()
    incoming = make_incoming()
    ingest_order(channel=channel, incoming=incoming, source="test")
    with CaptureQueriesContext(connection) as queries:
        ingest_order(channel=channel, incoming=incoming, source="test")
    statements = for_update_statements(queries)
    assert statements and all('FOR UPDATE OF "orders_order"' in sql for sql in statements)


def test_alert_lock_is_ordered():
    from orders.services import alert_raise

    alert_raise(key="k", source="test", message="m")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locks.open_alert_for_update(key="k")
    [sql] = for_update_statements(queries)
    assert 'ORDER BY "orders_alert"."id" ASC' in sql
