"""The batch path's set-based INSERT (`orders.intake.insert_rows`, one JSON parameter on PostgreSQL)
stores every value exactly as Django's own INSERT would: JSON, decimals, empty and missing values, text
beyond ASCII, aware times."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.utils import timezone

from conftest import postgres_only
from inventory.tests.factories import make_channel
from orders.intake import NewRow, bulk_insert, insert_rows
from orders.models import Order, OrderEvent

SKIP = {"id", "external_id", "received_at", "updated_at"}


PAID = timezone.now() - timedelta(minutes=3)


def _order(channel, external_id: str) -> Order:
    return Order(
        channel=channel,
        external_id=external_id,
        buyer_nick="买家'; DROP TABLE x; --",
        receiver_name="张三",
        receiver_phone="",
        receiver_address='文三路 {1,2} "号" \\ NULL',
        goods_amount=Decimal("19.90"),
        postage=Decimal("0"),
        discount_amount=Decimal("1.5"),
        coupons=[{"code": "C-1", "amount": "1.50"}, None, "NULL"],
        tags=["vip", "闪购"],
        raw_payload={"nested": {"list": [1, 2.5, None]}, "empty": {}},
        paid_at=PAID,
        platform_created_at=None,
        source="push",
    )


@postgres_only
@pytest.mark.django_db
def test_an_order_inserted_with_arrays_reads_back_as_one_inserted_by_the_orm():
    channel = make_channel()
    by_arrays, by_orm = _order(channel, "ARRAYS-1"), _order(channel, "ORM-1")
    [(pk, channel_id, external_id)] = insert_rows(
        Order, [by_arrays], suffix=' ON CONFLICT DO NOTHING RETURNING "id", "channel_id", "external_id"'
    )
    Order.objects.bulk_create([by_orm])
    assert (channel_id, external_id) == (channel.pk, "ARRAYS-1")
    stored, expected = Order.objects.get(pk=pk), Order.objects.get(pk=by_orm.pk)
    assert {k: v for k, v in model_to_dict(stored).items() if k not in SKIP} == {
        k: v for k, v in model_to_dict(expected).items() if k not in SKIP
    }
    assert stored.received_at is not None and stored.updated_at is not None  # auto_now(_add) filled in
    assert stored.coupons == [{"code": "C-1", "amount": "1.50"}, None, "NULL"]


@postgres_only
@pytest.mark.django_db
def test_array_inserts_give_every_row_its_own_id_in_input_order_and_conflicts_are_skipped():
    channel = make_channel()
    first = [_order(channel, f"A-{n}") for n in range(3)]
    insert_rows(Order, first, suffix=" ON CONFLICT DO NOTHING")
    again = [_order(channel, "A-1"), _order(channel, "A-9")]
    rows = insert_rows(Order, again, suffix=' ON CONFLICT DO NOTHING RETURNING "external_id"')
    assert rows == [("A-9",)]  # exactly once: the stored order is not inserted twice
    order = Order.objects.get(external_id="A-9")
    events = [OrderEvent(order=order, kind=f"k{n}", note="note", data={"n": n}) for n in range(4)]
    bulk_insert(OrderEvent, events)
    assert [e.pk for e in events] == sorted(e.pk for e in events)
    assert [(e.kind, e.data) for e in OrderEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("pk")] == [
        (f"k{n}", {"n": n}) for n in range(4)
    ]
    assert connection.vendor == "postgresql"


@pytest.mark.django_db
def test_plain_rows_are_inserted_with_the_defaults_of_the_fields_they_leave_out():
    """`NewRow`s (events, reservations, rule hits of a batch) carry only what differs from the fields'
    defaults; each gets its id, on PostgreSQL and on SQLite alike."""
    order = Order.objects.create(channel=make_channel(), external_id="ROWS-1", platform_status="awaiting_shipment")
    at = timezone.now() - timedelta(minutes=1)
    rows = [
        NewRow(order_id=order.pk, kind="received", to_state="new", note="via push", at=at),
        NewRow(order_id=order.pk, kind="accept", data={"wording": {"code": "order.checks_passed"}}),
    ]
    bulk_insert(OrderEvent, rows)
    stored = OrderEvent.objects.filter(order=order).order_by("pk")
    assert [row.pk for row in rows] == list(stored.values_list("pk", flat=True))
    assert list(stored.values_list("kind", "from_state", "to_state", "actor_id", "note", "data")) == [
        ("received", "", "new", None, "via push", {}),
        ("accept", "", "", None, "", {"wording": {"code": "order.checks_passed"}}),
    ]
    first, second = stored
    assert first.at == at and second.at is not None


@pytest.mark.django_db
def test_tasks_and_their_history_rows_are_stored_as_simple_historys_own_bulk_helper_stores_them():
    from simple_history.utils import bulk_create_with_history

    from orders.intake import bulk_insert_with_history
    from rules.models import ExceptionTask, ExceptionType

    channel = make_channel()
    kinds = list(ExceptionType.objects.order_by("pk")[:3])
    at = timezone.now()

    def tasks(note: str) -> list[ExceptionTask]:
        order = Order.objects.create(channel=channel, external_id=f"TASKS-{note}")
        return [
            ExceptionTask(
                order=order,
                exception_type=kinds[n],
                due_at=at + timedelta(minutes=n),
                note=f"{note} 缺货 {n}",
                note_wording={"code": "task.out_of_stock", "n": n},
                created_at=at,
            )
            for n in range(3)
        ]

    ours, helpers = tasks("ours"), tasks("helper")
    bulk_insert_with_history(ExceptionTask, ours, at=at)
    bulk_create_with_history(helpers, ExceptionTask, default_date=at)
    assert all(task.pk for task in ours)  # the pks are set, as the history rows need them

    def stored(task_list: list[ExceptionTask]) -> list[tuple[dict, dict]]:
        rows = []
        for task in task_list:
            [history] = ExceptionTask.history.filter(id=task.pk)
            row = {
                k: v
                for k, v in model_to_dict(ExceptionTask.objects.get(pk=task.pk)).items()
                if k not in {"id", "order"}
            }
            saved = {
                k: v
                for k, v in model_to_dict(history).items()
                if k not in {"id", "history_id", "order"} and not k.startswith("note")
            }
            rows.append((row | {"note": task.note[task.note.index(" ") :]}, saved))
        return rows

    assert stored(ours) == stored(helpers)
    for task in ours:
        history = ExceptionTask.history.get(id=task.pk)
        assert (history.history_type, history.history_date, history.history_user_id) == ("+", at, None)
        assert history.note == task.note and history.note_wording == task.note_wording
