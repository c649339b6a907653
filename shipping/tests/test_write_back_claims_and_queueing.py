"""How the drain is started and how it claims: a scan queues one drain after its commit, the sweep is
a django-q2 schedule, and the claim is `SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL), so two drains
never take the same order's rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.conf import Conf
from django_q.models import Schedule

from conftest import postgres_only
from shipping import services
from shipping.models import OutboxState, WriteBack
from shipping.services.writeback import claim_due
from shipping.tests.conftest import account_on
from shipping.tests.writeback_world import emulator_shipments, platform_orders, ship_parcels, stock_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(shop, emulator, scanner):
    stock_catalog()
    _device, client = scanner
    channel = shop("pdd")
    account_on(channel, "ZTO")
    (order,) = platform_orders(channel, emulator, lines=[(0, 1)])
    ship_parcels(order, client)
    return order, WriteBack.objects.get(order=order)


def test_the_sweep_is_a_schedule():
    names = services.ensure_schedules()
    sweep = Schedule.objects.get(name="shipping: write-back sweep")
    assert sweep.name in names and sweep.func == "shipping.tasks.drain_write_backs" and sweep.minutes == 1
    services.ensure_schedules()  # idempotent
    assert Schedule.objects.filter(func="shipping.tasks.drain_write_backs").count() == 1


def test_a_scan_queues_the_drain_after_its_commit(
    shop, emulator, scanner, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.SHIPPING_ENQUEUE_TASKS = True
    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 runs the queued task right away
    stock_catalog()
    _device, client = scanner
    channel = shop("douyin")
    account_on(channel, "ZTO")
    (order,) = platform_orders(channel, emulator, lines=[(0, 1)])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        (parcel,) = ship_parcels(order, client)
    assert callbacks, "the scan registered nothing to run after its commit"
    assert WriteBack.objects.get(order=order).state == OutboxState.DONE
    (call,) = emulator_shipments(emulator, "douyin", order.external_id)
    assert call["tracking_number"] == parcel.tracking_number


def test_a_leased_order_is_not_claimed_twice(pending):
    _order, row = pending
    (claim,) = claim_due(limit=10)
    assert claim.row_ids == [row.pk]
    assert claim_due(limit=10) == []  # leased: another drain leaves it alone until the lease runs out


@postgres_only
def test_the_claim_locks_with_skip_locked(pending):
    with CaptureQueriesContext(connection) as queries:
        claim_due(limit=10)
    selects = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert selects and all("SKIP LOCKED" in sql for sql in selects), selects
    assert all('"shipping_writeback"' in sql and "ORDER BY" in sql for sql in selects)
