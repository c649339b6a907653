"""The SQL of printing's locking paths on PostgreSQL: a print result locks orders (their rows, pk order),
then the parcel, then its batch; filling batches locks the parcels in pk order, then the batch — never a
shop, carrier or account row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import postgres_only
from orders.tests.factories import make_channel
from shipping import services
from shipping.models import PrintBatch
from shipping.tests.print_factories import make_account, make_parcel, ready_order
from shipping.tests.test_shipping_locking_sql import for_update_statements, table_locked

pytestmark = [postgres_only, pytest.mark.django_db]


def test_a_print_result_locks_orders_then_the_parcel_then_the_batch():
    channel = make_channel()
    account = make_account(channel)
    batch = PrintBatch.objects.create(account=account)
    first, second = ready_order(channel), ready_order(channel)
    merged = make_parcel(account, [second, first], batch=batch)

    with CaptureQueriesContext(connection) as queries:
        services.shipment_record_print_result(
            batch_id=batch.pk, shipment_id=merged.pk, tracking_number=merged.tracking_number, ok=True, actor=None
        )
    statements = for_update_statements(queries)
    tables = [table_locked(sql) for sql in statements]
    assert tables[0] == "orders_order" and 'ORDER BY "orders_order"."id" ASC' in statements[0]
    # first acquisitions: orders, then the parcel, then the batch (parcels_mark_printed re-selects rows
    # this transaction already holds, which takes no new lock)
    first_seen = list(dict.fromkeys(tables))
    assert first_seen == ["orders_order", "shipping_shipment", "shipping_printbatch"]


def test_filling_batches_locks_parcels_in_pk_order_then_the_batch():
    channel = make_channel()
    account = make_account(channel)
    for _ in range(3):
        make_parcel(account, [ready_order(channel)])
    PrintBatch.objects.create(account=account)

    with CaptureQueriesContext(connection) as queries:
        fill = services.print_batches_fill()
    assert fill.parcels == 3
    statements = for_update_statements(queries)
    tables = [table_locked(sql) for sql in statements]
    assert tables == ["shipping_shipment", "shipping_printbatch"]
    assert 'ORDER BY "shipping_shipment"."id" ASC' in statements[0]
