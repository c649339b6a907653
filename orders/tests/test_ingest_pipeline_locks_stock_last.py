"""The ingestion pipeline takes the stock rows last and briefly, in few statements, and a batch keeps
what it can when the database refuses one of its orders."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from conftest import postgres_only
from inventory.models import ReservationState, StockLevel, StockReservation
from inventory.tests.factories import incoming_order, make_channel, make_listing, make_sku, make_warehouse, stock
from orders.models import Order, OrderEvent, OrderState
from orders.services import IngestItem, ingest_order, ingest_orders

#: the single-order path's budget for a clean new order (issue 11): it was 21
MAX_STATEMENTS_PER_ORDER = 10


@pytest.fixture
def shop():
    """A shop with two listed SKUs in stock, and one order already taken (rules compiled, warm)."""
    sku = make_sku("FLASH-1", safety_stock=0)
    other = make_sku("FLASH-2", safety_stock=0)
    warehouse = make_warehouse("SH")
    stock(sku, warehouse, 50)
    stock(other, warehouse, 50)
    channel = make_channel()
    make_listing(channel, sku, platform_sku_id="p-flash-1")
    make_listing(channel, other, platform_sku_id="p-flash-2")
    ingest_order(channel=channel, incoming=incoming_order("WARM-UP", [("p-flash-1", "", 1)]), source="test")
    return channel


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")


def _data_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith(TRANSACTION_CONTROL)]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # as in production: no test savepoints
def test_a_new_order_is_decided_in_at_most_ten_statements(shop):
    """Ten SQL statements for a clean new order (it took 21), transaction control (BEGIN, COMMIT, which
    SQLite's IMMEDIATE transactions log and PostgreSQL's do not) not counted."""
    with CaptureQueriesContext(connection) as queries:
        result = ingest_order(channel=shop, incoming=incoming_order("N-1", [("p-flash-1", "", 2)]), source="push")
    statements = _data_statements(queries)
    assert len(statements) <= MAX_STATEMENTS_PER_ORDER, "\n".join(sql[:120] for sql in statements)
    assert result.created and result.order.state == OrderState.READY
    [reservation] = StockReservation.objects.filter(order=result.order)
    assert reservation.quantity == 2 and reservation.state == ReservationState.ACTIVE
    assert StockLevel.objects.get(sku__code="FLASH-1").reserved == 3  # the warm-up order's 1 + 2
    assert list(result.order.events.values_list("kind", "from_state", "to_state")) == [
        ("received", "", OrderState.NEW),
        ("accept", OrderState.NEW, OrderState.READY),
    ]


@pytest.mark.django_db
def test_the_stock_row_is_taken_by_the_last_statement_of_the_transaction(shop):
    """Everything else (order, lines, decision, events, reservations) is written before the stock row
    is touched. On PostgreSQL the conditional reservation is the last statement before COMMIT and
    carries the push outbox upsert in the same statement, after the row is taken; SQLite (one writer
    at a time) sends the upsert as its own statement after it."""
    with CaptureQueriesContext(connection) as queries:
        ingest_order(channel=shop, incoming=incoming_order("N-2", [("p-flash-1", "", 1)]), source="push")
    statements = _data_statements(queries)
    touching = [(i, sql) for i, sql in enumerate(statements) if "inventory_stocklevel" in sql]
    reads = [(i, sql) for i, sql in touching if sql.lstrip().upper().startswith("SELECT")]
    updates = [(i, sql) for i, sql in touching if "UPDATE inventory_stocklevel" in sql]
    assert len(reads) == 1 and "FOR UPDATE" not in reads[0][1]  # the snapshot, no lock
    [(locked_at, update)] = updates
    assert "on_hand - reserved >=" in update  # the conditional reservation is the lock
    after = statements[locked_at + 1 :]
    if connection.vendor == "postgresql":
        assert after == [], after
        assert update.startswith("WITH reserved AS (UPDATE inventory_stocklevel")
        assert "INSERT INTO inventory_stockpush" in update and "INNER JOIN reserved r" in update
    else:
        assert len(after) == 1 and after[0].startswith("INSERT INTO inventory_stockpush"), after
    assert all("inventory_stockreservation" not in sql for sql in [update, *after])


@pytest.mark.django_db
def test_the_reservation_statement_requests_the_push_of_every_listing_of_the_sku(shop):
    """The outbox row written with the reservation: one per listing, a new token on every change (a
    drain in flight pushes again), and no outbox row when the reservation does not hold."""
    from inventory.models import StockPush

    listing = shop.listings.get(platform_sku_id="p-flash-1")
    first = StockPush.objects.get(listing=listing)
    untouched = set(StockPush.objects.exclude(listing=listing).values_list("listing_id", "token"))
    ingest_order(channel=shop, incoming=incoming_order("N-3", [("p-flash-1", "", 1)]), source="push")
    second = StockPush.objects.get(listing=listing)
    assert second.pk == first.pk and second.token != first.token
    assert set(StockPush.objects.exclude(listing=listing).values_list("listing_id", "token")) == untouched
    StockLevel.objects.filter(sku__code="FLASH-1").update(on_hand=F("reserved"))  # sold out
    StockPush.objects.all().delete()
    result = ingest_order(channel=shop, incoming=incoming_order("N-4", [("p-flash-1", "", 1)]), source="push")
    assert result.order.state != OrderState.READY  # nothing reserved, so no stock change to push
    assert not StockPush.objects.filter(listing=listing).exists()


@postgres_only
@pytest.mark.django_db
def test_a_batch_over_several_stock_rows_locks_them_once_in_pk_order_at_the_end(shop):
    items = [
        IngestItem(
            channel=shop, incoming=incoming_order(f"B-{n}", [("p-flash-2", "", 1), ("p-flash-1", "", 1)]), source="pull"
        )
        for n in range(5)
    ]
    with CaptureQueriesContext(connection) as queries:
        outcomes = ingest_orders(items)
    assert all(o.ok and o.result.order.state == OrderState.READY for o in outcomes)
    statements = _data_statements(queries)
    [(locked_at, lock)] = [(i, sql) for i, sql in enumerate(statements) if "FOR UPDATE" in sql]
    assert 'FROM "inventory_stocklevel"' in lock and 'ORDER BY "inventory_stocklevel"."id" ASC' in lock
    assert lock.endswith('FOR UPDATE OF "inventory_stocklevel"')
    after = statements[locked_at + 1 :]
    [update] = after  # the reservation, with the outbox upsert chained to it in the same statement
    assert update.startswith("WITH reserved AS (UPDATE inventory_stocklevel SET reserved = reserved + CASE id")
    assert "INSERT INTO inventory_stockpush" in update
    # one statement per table for the batch's five orders
    for table in ("orders_order", "orders_orderline", "orders_orderevent", "inventory_stockreservation"):
        writes = [
            sql for sql in statements if sql.startswith(("INSERT", "UPDATE")) and f'"{table}"' in sql.split("(")[0]
        ]
        assert len(writes) <= 2, (table, writes)  # the insert (and for orders the decision's update)
    assert StockLevel.objects.get(sku__code="FLASH-2").reserved == 5


@pytest.mark.django_db
def test_a_batch_allocates_scarce_stock_to_the_oldest_paid_orders_first():
    from datetime import timedelta

    sku = make_sku("SCARCE-1", safety_stock=0)
    stock(sku, make_warehouse("SH"), 2)
    channel = make_channel()
    make_listing(channel, sku, platform_sku_id="p-scarce")
    incoming = [incoming_order(f"S-{n}", [("p-scarce", "", 1)]) for n in range(4)]
    for minutes, order in zip((1, 40, 5, 30), incoming, strict=True):
        order.paid_at = order.paid_at - timedelta(minutes=minutes)
    outcomes = ingest_orders([IngestItem(channel=channel, incoming=o, source="pull") for o in incoming])
    states = {o.item.incoming.external_id: o.result.order.state for o in outcomes}
    assert states == {"S-0": "on_hold", "S-1": "ready", "S-2": "on_hold", "S-3": "ready"}
    assert all(
        reason.startswith("out_of_stock")
        for reason in Order.objects.filter(state="on_hold").values_list("hold_reason", flat=True)
    )
    assert StockLevel.objects.get(sku=sku).reserved == 2


REFUSED_TITLE = "the database refuses this line"
TRIGGERS = {
    "sqlite": [
        f"""CREATE TRIGGER poison_batch_line BEFORE INSERT ON orders_orderline WHEN NEW.title = '{REFUSED_TITLE}'
        BEGIN SELECT RAISE(ABORT, 'line refused by the database'); END""",
    ],
    "postgresql": [
        f"""CREATE FUNCTION poison_batch_line() RETURNS trigger AS $$ BEGIN
            IF NEW.title = '{REFUSED_TITLE}' THEN
                RAISE EXCEPTION 'line refused by the database' USING ERRCODE = 'data_exception';
            END IF;
            RETURN NEW; END $$ LANGUAGE plpgsql""",
        "CREATE TRIGGER poison_batch_line BEFORE INSERT ON orders_orderline "
        "FOR EACH ROW EXECUTE FUNCTION poison_batch_line()",
    ],
}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_poison_order_the_database_refuses_is_isolated_and_the_rest_of_the_batch_decided():
    """The refusal comes from the database mid-batch (after validation): the batch is split until the
    poison order is alone; it is reported, nothing of it stays, and the seven others are decided."""
    sku = make_sku("POISON-OK", safety_stock=0)
    stock(sku, make_warehouse("SH"), 100)
    channel = make_channel()
    make_listing(channel, sku, platform_sku_id="p-ok")
    with connection.cursor() as cursor:
        for statement in TRIGGERS[connection.vendor]:
            cursor.execute(statement)
    try:
        incoming = [incoming_order(f"P-{n}", [("p-ok", "", 1)]) for n in range(8)]
        incoming[5].lines[0].title = REFUSED_TITLE
        outcomes = ingest_orders([IngestItem(channel=channel, incoming=o, source="push") for o in incoming])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER poison_batch_line" + (" ON orders_orderline" if connection.vendor == "postgresql" else "")
            )
            if connection.vendor == "postgresql":
                cursor.execute("DROP FUNCTION poison_batch_line()")

    assert [o.ok for o in outcomes] == [True] * 5 + [False] + [True] * 2
    assert "refused by the database" in str(outcomes[5].error)
    assert {o.result.order.state for o in outcomes if o.ok} == {OrderState.READY}
    stored = set(Order.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert stored == {f"P-{n}" for n in range(8)} - {"P-5"}
    assert not OrderEvent.objects.filter(order__external_id="P-5").exists()
    assert StockLevel.objects.get(sku=sku).reserved == 7
    assert StockReservation.objects.filter(state=ReservationState.ACTIVE).count() == 7


@postgres_only
@pytest.mark.django_db
def test_a_reservation_that_no_longer_fits_requests_no_push(shop):
    """The snapshot said yes, the row says no (someone took the units in between): the statement that
    would reserve changes nothing, its chained outbox upsert writes nothing, and the caller is told."""
    from inventory.models import StockPush
    from inventory.services.allocation import _reserve_one

    level = StockLevel.objects.get(sku__code="FLASH-2")
    StockPush.objects.all().delete()
    assert _reserve_one(level_pk=level.pk, units=level.on_hand + 1, chain_pushes=True) is None
    assert not StockPush.objects.exists()
    level.refresh_from_db()
    assert level.reserved == 0
    assert _reserve_one(level_pk=level.pk, units=2, chain_pushes=True) == level.on_hand - 2
    assert StockPush.objects.filter(listing__sku__code="FLASH-2").count() == 1
