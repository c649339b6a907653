"""On PostgreSQL a batch decides its new orders before inserting them and writes each order row once,
decided (no INSERT then UPDATE). What the decision reads of the batch itself (its lines, the other
orders to the same receiver) is the same as when the orders were stored first, and an order that a
concurrent transaction inserts between the check and the INSERT is decided once, by that transaction."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from conftest import postgres_only
from inventory.models import StockLevel, Warehouse
from inventory.tests.factories import incoming_order, make_channel, make_listing, make_sku, make_warehouse, stock
from orders import intake
from orders.models import Order, OrderEvent, OrderLine, OrderState
from orders.services import IngestItem, ingest_order, ingest_orders
from rules.models import ExceptionTask
from rules.tests.factories import make_rule


@pytest.fixture
def shop():
    sku = make_sku("ONCE-1", safety_stock=0)
    stock(sku, make_warehouse("SH"), 100)
    channel = make_channel()
    make_listing(channel, sku, platform_sku_id="p-once")
    return channel


def _items(channel, orders) -> list[IngestItem]:
    return [IngestItem(channel=channel, incoming=o, source="push") for o in orders]


@postgres_only
@pytest.mark.django_db
def test_a_batch_writes_each_new_order_row_once_with_its_decision(shop):
    orders = [incoming_order(f"ONCE-{n}", [("p-once", "", 1)]) for n in range(3)]
    with CaptureQueriesContext(connection) as queries:
        outcomes = ingest_orders(_items(shop, orders))
    writes = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE")) and '"orders_order"' in q["sql"]]
    [insert] = writes  # one INSERT, no UPDATE of the rows just inserted
    assert insert.startswith('INSERT INTO "orders_order"')
    assert all(o.ok and o.result.created for o in outcomes)
    stored = Order.objects.filter(channel=shop)
    assert sorted(stored.values_list("external_id", "state")) == [(f"ONCE-{n}", OrderState.READY) for n in range(3)]
    assert {o.result.order.pk for o in outcomes} == set(stored.values_list("pk", flat=True))
    lines = OrderLine.objects.filter(order__channel=shop)
    assert {o.result.order.pk for o in outcomes} == set(lines.values_list("order_id", flat=True))
    assert list(
        OrderEvent.objects.filter(order=outcomes[0].result.order).values_list("kind", "from_state", "to_state")
    ) == [("received", "", OrderState.NEW), ("accept", OrderState.NEW, OrderState.READY)]
    assert StockLevel.objects.get(sku__code="ONCE-1").reserved == 3


@pytest.mark.django_db
def test_orders_of_one_batch_to_the_same_receiver_are_held_as_mergeable(shop):
    """open_orders_same_receiver counts the batch's own orders whether or not they are stored yet."""
    first = incoming_order("PAIR-1", [("p-once", "", 1)])
    second = replace(incoming_order("PAIR-2", [("p-once", "", 1)]), buyer_nick=first.buyer_nick)
    second.receiver_phone, second.receiver_address = first.receiver_phone, first.receiver_address
    alone = incoming_order("ALONE-1", [("p-once", "", 1)])
    outcomes = ingest_orders(_items(shop, [first, alone, second]))
    states = {o.item.incoming.external_id: o.result.order.state for o in outcomes}
    assert states == {"PAIR-1": OrderState.ON_HOLD, "ALONE-1": OrderState.READY, "PAIR-2": OrderState.ON_HOLD}
    held = ExceptionTask.objects.filter(order__external_id__startswith="PAIR")
    assert sorted(held.values_list("order__external_id", "exception_type__code")) == [
        ("PAIR-1", "mergeable"),
        ("PAIR-2", "mergeable"),
    ]
    third = replace(incoming_order("PAIR-3", [("p-once", "", 1)]), buyer_nick=first.buyer_nick)
    third.receiver_phone, third.receiver_address = first.receiver_phone, first.receiver_address
    [outcome] = ingest_orders(_items(shop, [third]))  # the stored pair counts too
    assert outcome.result.order.state == OrderState.ON_HOLD


@pytest.mark.django_db
def test_a_rule_on_the_lines_sees_the_batch_orders_lines(shop):
    make_rule(("sku_codes", "contains", "LOOK-AT-ME"), name="line rule", exception_type="remark_review")
    look = make_sku("LOOK-AT-ME", safety_stock=0)
    stock(look, Warehouse.objects.get(code="SH"), 5)
    make_listing(shop, look, platform_sku_id="p-look")
    flagged = incoming_order("LINES-1", [("p-once", "ONCE-1", 1), ("p-look", "LOOK-AT-ME", 1)])
    plain = incoming_order("LINES-2", [("p-once", "ONCE-1", 1)])
    outcomes = ingest_orders(_items(shop, [flagged, plain]))
    assert [o.result.order.state for o in outcomes] == [OrderState.ON_HOLD, OrderState.READY]
    assert outcomes[0].result.order.hold_reason.startswith("remark_review")


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_order_inserted_concurrently_after_the_check_is_decided_once_by_the_other_transaction(shop, monkeypatch):
    """Between the check for stored orders and the batch's INSERT another transaction inserts (and
    commits) one of its orders: the batch is rolled back and decided again; that order is decided once
    (by the other transaction), the rest of the batch is created, nothing is written twice."""
    orders = [incoming_order(f"RACE-{n}", [("p-once", "", 1)]) for n in range(3)]
    check = intake._stored_or_new_ids
    raced = []

    def check_then_lose_the_race(**kwargs):
        ids = check(**kwargs)
        if not raced:
            raced.append(True)

            def other_transaction():
                try:
                    ingest_order(channel=shop, incoming=orders[1], source="pull")
                finally:
                    connections.close_all()

            thread = threading.Thread(target=other_transaction)
            thread.start()
            thread.join()
        return ids

    monkeypatch.setattr(intake, "_stored_or_new_ids", check_then_lose_the_race)
    outcomes = ingest_orders(_items(shop, orders))

    assert raced and all(o.ok for o in outcomes)
    assert [o.result.outcome for o in outcomes] == ["created", "unchanged", "created"]
    stored = Order.objects.filter(channel=shop)
    assert sorted(stored.values_list("external_id", "state")) == [(f"RACE-{n}", OrderState.READY) for n in range(3)]
    assert OrderEvent.objects.filter(order__channel=shop, kind="received").count() == 3
    assert OrderLine.objects.filter(order__channel=shop).count() == 3
    assert StockLevel.objects.get(sku__code="ONCE-1").reserved == 3
    other = stored.get(external_id="RACE-1")
    assert other.events.get(kind="received").note == "via pull"


@postgres_only
@pytest.mark.django_db
def test_orders_the_stock_cannot_cover_are_inserted_once_and_held_out_of_stock(shop):
    """A sold-out SKU (a flash sale's usual case): the short orders are decided first too, each row
    written once; "out of stock" is confirmed on the locked stock row before COMMIT."""
    level = StockLevel.objects.get(sku__code="ONCE-1")
    StockLevel.objects.filter(pk=level.pk).update(on_hand=2)
    orders = [incoming_order(f"SOLD-{n}", [("p-once", "", 1)]) for n in range(4)]
    with CaptureQueriesContext(connection) as queries:
        outcomes = ingest_orders(_items(shop, orders))
    sql = [q["sql"] for q in queries]
    writes = [q for q in sql if q.startswith(("INSERT", "UPDATE")) and '"orders_order"' in q]
    [insert] = writes  # one INSERT, no UPDATE: not sent to the insert-first path
    assert insert.startswith('INSERT INTO "orders_order"')
    locking = [q for q in sql if "inventory_stocklevel" in q and "FOR UPDATE" in q]
    assert len(locking) == 1 and sql.index(locking[0]) > sql.index(insert)  # locked last, after the orders
    states = {o.item.incoming.external_id: o.result.order.state for o in outcomes}
    assert states == {"SOLD-0": "ready", "SOLD-1": "ready", "SOLD-2": "on_hold", "SOLD-3": "on_hold"}
    held = ExceptionTask.objects.filter(order__external_id__in=["SOLD-2", "SOLD-3"])
    assert set(held.values_list("exception_type__code", flat=True)) == {"out_of_stock"}
    assert StockLevel.objects.get(pk=level.pk).reserved == 2


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_stock_arriving_after_the_snapshot_reserves_the_orders_it_had_left_short(shop, monkeypatch):
    """Stock is received (and committed) between the batch's unlocked snapshot and its lock: the short
    plan does not hold under the lock, so the batch is decided again on the locked row and every order
    is reserved; nothing of the first attempt is kept."""
    from inventory.services import record_movement

    level = StockLevel.objects.get(sku__code="ONCE-1")
    StockLevel.objects.filter(pk=level.pk).update(on_hand=1)
    orders = [incoming_order(f"LATE-{n}", [("p-once", "", 1)]) for n in range(3)]
    needs = intake._stock_needs
    arrived = []

    def snapshot_then_receive(**kwargs):
        result = needs(**kwargs)
        if not arrived:
            arrived.append(True)

            def inbound():
                try:
                    record_movement(warehouse_code="SH", sku_code="ONCE-1", kind="inbound", quantity=5, reference="po")
                finally:
                    connections.close_all()

            thread = threading.Thread(target=inbound)
            thread.start()
            thread.join()
        return result

    monkeypatch.setattr(intake, "_stock_needs", snapshot_then_receive)
    outcomes = ingest_orders(_items(shop, orders))

    assert arrived and all(o.ok and o.result.created for o in outcomes)
    stored = Order.objects.filter(channel=shop)
    assert sorted(stored.values_list("external_id", "state")) == [(f"LATE-{n}", OrderState.READY) for n in range(3)]
    assert not ExceptionTask.objects.filter(order__channel=shop).exists()
    assert OrderEvent.objects.filter(order__channel=shop, kind="received").count() == 3
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (6, 3)
