"""Receiving one return from many PDAs at once on PostgreSQL (real threads, each its own connection):
the order and return rows queue the receipts, so the return never takes more than it expects, a
retried key is booked once, and the lock order is order → return → stock rows."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conftest import postgres_only
from inventory.models import MovementKind, StockMovement
from orders.models import LineRefundState
from shipping import services
from shipping.models import Return, ReturnReceipt
from shipping.tests.conftest import assert_ledger_equals_levels
from shipping.tests.factories import make_stock
from shipping.tests.return_factories import refund_changes, shipped_order
from shipping.tests.test_shipping_locking_sql import for_update_statements, table_locked

SCANNERS = 12


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keep the seeded carriers and rules
def test_concurrent_return_scans_receive_no_more_than_expected(shop):
    warehouse = make_stock("SKU-TEE-L", quantity=10)
    device, token = services.scanner_device_create(name="PDA", warehouse=warehouse)
    outbound = APIClient()
    outbound.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    order, _parcel = shipped_order(shop("manual"), outbound, lines=[("SKU-TEE-L", 3)])
    refund_changes(order.lines.get(), LineRefundState.REQUESTED)
    rma = Return.objects.get()

    barrier = threading.Barrier(SCANNERS)
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def receive(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        key = "same-key" if index % 2 else f"key-{index}"  # half retry one key, half are new parcels
        try:
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/scans/return",
                {"reference": rma.number, "items": [{"barcode": "SKU-TEE-L", "condition": "resellable"}]},
                format="json",
                HTTP_IDEMPOTENCY_KEY=key,
            )
            answers.append((response.status_code, response.json()))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=receive, args=(i,)) for i in range(SCANNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(answers) == SCANNERS
    assert {status for status, _ in answers} <= {200, 409}
    refused = {body["code"] for status, body in answers if status == 409}
    assert refused <= {"over_received", "return_received"}
    item = rma.items.get()
    assert item.received_resellable == 3  # exactly what was expected, never more
    assert ReturnReceipt.objects.count() == 3
    # the retried key booked once at most (it may have come too late, when all three were back)
    assert ReturnReceipt.objects.filter(request_key=f"scan:{device.pk}:same-key").count() <= 1
    assert StockMovement.objects.filter(order_id=order.pk, kind=MovementKind.RETURN).count() == 3
    assert_ledger_equals_levels()


@postgres_only
@pytest.mark.django_db
def test_receiving_locks_the_order_then_the_return_then_stock_rows(shop, scanner, warehouse):
    _device, client = scanner
    order, _parcel = shipped_order(shop("manual"), client, lines=[("SKU-MUG-1", 1)])
    refund_changes(order.lines.get(), LineRefundState.REQUESTED)
    rma = Return.objects.get()

    with CaptureQueriesContext(connection) as queries:
        services.return_receive(
            reference=rma.number,
            units=[services.ReturnedUnits(condition="resellable", quantity=1, barcode="SKU-MUG-1")],
            warehouse=warehouse,
            request_key="sql-1",
        )
    statements = for_update_statements(queries)
    tables = [table_locked(sql) for sql in statements]
    assert tables[:2] == ["orders_order", "shipping_return"], tables
    assert set(tables[2:]) == {"inventory_stocklevel"}, tables
    assert 'ORDER BY "inventory_stocklevel"."id" ASC' in statements[2]
