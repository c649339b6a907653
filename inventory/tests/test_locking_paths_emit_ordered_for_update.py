"""Every locking path takes its rows with one `SELECT … FOR UPDATE` that has an `ORDER BY`
(primary-key order): a missing lock or an unordered one rarely shows in a behavioural test."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conftest import postgres_only
from inventory import services
from inventory.models import ChannelListing, StockPush
from inventory.tests.factories import ingest, make_channel, make_listing, make_sku, make_warehouse, stock
from orders import locks as order_locks


def _for_update(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "FOR UPDATE" in q["sql"]]


def _assert_ordered(sqls: list[str], table: str) -> None:
    on_table = [sql for sql in sqls if f'FROM "{table}"' in sql]
    assert on_table, f"no SELECT … FOR UPDATE on {table}: {sqls}"
    for sql in on_table:
        assert "ORDER BY" in sql, sql


@pytest.fixture
def setup(db):
    channel = make_channel()
    sku, other = make_sku("L-1"), make_sku("L-2")
    wh = make_warehouse("WH")
    stock(sku, wh, 10)
    stock(other, wh, 10)
    make_listing(channel, sku, "p-1")
    return channel, sku, other, wh


@postgres_only
def test_reserve_release_commit_restock_lock_stock_rows_in_pk_order(setup):
    channel, *_ = setup
    order = ingest(channel, "LOCK-1", [("p-1", "", 1), ("", "L-2", 2)])
    services.release_for_order(order=order)  # start from nothing reserved
    with transaction.atomic():
        locked = order_locks.order_for_update(order_id=order.pk)
        with CaptureQueriesContext(connection) as ctx:
            assert services.reserve_for_order(order=locked).is_complete
    _assert_ordered(_for_update(ctx), "inventory_stocklevel")
    assert 'FOR UPDATE OF "inventory_stocklevel"' in _for_update(ctx)[0]  # warehouse rows stay unlocked

    for fn in (services.release_for_order, services.reserve_for_order, services.commit_for_order):
        with transaction.atomic():
            locked = order_locks.order_for_update(order_id=order.pk)
            with CaptureQueriesContext(connection) as ctx:
                fn(order=locked)
        _assert_ordered(_for_update(ctx), "inventory_stocklevel")
        if fn is not services.reserve_for_order:
            _assert_ordered(_for_update(ctx), "inventory_stockreservation")
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        services.restock_for_order(order=order_locks.order_for_update(order_id=order.pk))
    _assert_ordered(_for_update(ctx), "inventory_stocklevel")


@postgres_only
def test_movement_and_push_drain_lock_in_pk_order(setup):
    with CaptureQueriesContext(connection) as ctx:
        services.record_movement(warehouse_code="WH", sku_code="L-1", kind="inbound", quantity=3, reference="r-1")
    _assert_ordered(_for_update(ctx), "inventory_stocklevel")

    assert StockPush.objects.filter(listing__in=ChannelListing.objects.all()).exists()
    with CaptureQueriesContext(connection) as ctx:
        services.stock_push_drain()
    sqls = _for_update(ctx)
    _assert_ordered(sqls, "inventory_stockpush")
    assert any("SKIP LOCKED" in sql for sql in sqls)
