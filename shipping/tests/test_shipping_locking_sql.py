"""The SQL of the shipping app's locking paths on PostgreSQL: orders (their rows only, in pk order),
then stock rows, then the parcel (its row only) — never a shop, carrier or account row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import postgres_only
from shipping import services
from shipping.tests.conftest import account_on, ingest

pytestmark = [postgres_only, pytest.mark.django_db]


def for_update_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]


def table_locked(sql: str) -> str:
    if " OF " in sql.rsplit("FOR UPDATE", 1)[1]:
        return sql.rsplit("FOR UPDATE OF ", 1)[1].strip().strip('"')
    return sql.split(' FROM "', 1)[1].split('"', 1)[0]


def test_a_scan_locks_orders_then_stock_then_the_parcel(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel)
    order = ingest(channel, lines=[("SKU-TEE-L", 1), ("SKU-MUG-1", 1)])
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.number_parcels(shipment_ids=[parcel.pk])
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    device, _token = services.scanner_device_create(name="PDA", warehouse=warehouse)

    with CaptureQueriesContext(connection) as queries:
        services.scan_outbound(device=device, code=parcel.tracking_number, idempotency_key="sql-1")
    statements = for_update_statements(queries)
    tables = [table_locked(sql) for sql in statements]
    assert tables[0] == "orders_order" and 'ORDER BY "orders_order"."id" ASC' in statements[0]
    first_stock = tables.index("inventory_stocklevel")
    assert tables.index("shipping_shipment") > first_stock  # the parcel after the stock rows
    assert all(
        t in {"orders_order", "inventory_stocklevel", "inventory_stockreservation", "shipping_shipment"} for t in tables
    )
    level_sql = statements[first_stock]
    assert 'ORDER BY "inventory_stocklevel"."id" ASC' in level_sql


def test_printing_and_numbering_lock_orders_before_parcels_in_pk_order(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel)
    orders = [ingest(channel) for _ in range(3)]
    parcels = services.parcels_create(order_ids=[o.pk for o in orders])
    services.number_parcels(shipment_ids=[p.pk for p in parcels])
    with CaptureQueriesContext(connection) as queries:
        services.parcels_mark_printed(shipment_ids=[p.pk for p in reversed(parcels)])
    statements = for_update_statements(queries)
    tables = [table_locked(sql) for sql in statements]
    assert tables[:2] == ["orders_order", "shipping_shipment"]
    assert 'ORDER BY "shipping_shipment"."id" ASC' in statements[1]
    assert statements[1].endswith('FOR UPDATE OF "shipping_shipment"')  # not its carrier, account or shop
