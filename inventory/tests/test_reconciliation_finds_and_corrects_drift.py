"""Reconciliation finds injected drift of every kind; correcting the lines leaves zero diffs.
Check (c) reads each listing's stock back from the channels emulator through the real adapter."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db.models import F

from inventory import services
from inventory.models import DiffKind, MovementKind, ReconciliationDiff, StockLevel, StockMovement
from inventory.schedules import SCHEDULES, ensure_schedules
from inventory.tests.factories import ingest, make_listing, make_sku, make_warehouse, stock
from orders.models import Order, OrderState

ITEM = "700000000031"


@pytest.fixture
def clean(emulated_channel):
    wh = make_warehouse("SH")
    a, b = make_sku("REC-A"), make_sku("REC-B")
    stock(a, wh, 10)
    stock(b, wh, 10)
    channel = emulated_channel("taobao", name="shop")
    listing = make_listing(channel, a, "rec-a", platform_item_id=ITEM)
    ingest(channel, "R-1", [("rec-a", "", 2)])
    services.stock_push_drain()
    return wh, a, b, channel, listing


def test_a_consistent_store_has_no_differences(clean, emulator):
    _wh, _a, _b, channel, _listing = clean
    assert emulator.stock_levels[("taobao", channel.app_key, ITEM, "rec-a")] == 8  # what was pushed
    assert services.reconciliation_run().diff_count == 0
    reads = [call for call in emulator.calls if call["api"] == "taobao.item.sku.get"]
    assert len(reads) == 1  # check (c) asked the platform


def test_injected_drift_is_found_and_correcting_it_leaves_zero_diff_lines(clean, emulator, django_user_model):
    _wh, a, b, channel, listing = clean
    StockLevel.objects.filter(sku=b).update(on_hand=F("on_hand") - 3)  # (a) someone wrote around the ledger
    StockLevel.objects.filter(sku=a).update(reserved=F("reserved") + 1)  # (b) reserved without a reservation
    stale = ingest(channel, "R-2", [("rec-a", "", 1)])
    Order.objects.filter(pk=stale.pk).update(state=OrderState.CANCELLED)  # (b) closed but still reserved
    emulator.set_stock("taobao", channel.app_key, ITEM, "rec-a", 99)  # (c) the platform shows something else
    services.stock_push_drain()  # (the R-2 reservation's push; then the platform is changed again)
    emulator.set_stock("taobao", channel.app_key, ITEM, "rec-a", 99)

    run = services.reconciliation_run(trigger="test")
    found = {(d.kind, d.expected, d.actual) for d in run.diffs.all()}
    assert (DiffKind.LEDGER, 10, 7) in found
    assert (DiffKind.RESERVED, 3, 4) in found
    assert (DiffKind.CLOSED_ORDER, 0, 1) in found
    assert (DiffKind.CHANNEL, 6, 99) in found
    assert run.diffs.get(kind=DiffKind.CHANNEL).listing == listing
    assert run.diff_count == 4

    user = django_user_model.objects.create_user("ops")
    services.reconciliation_correct(diff_ids=list(run.diffs.values_list("pk", flat=True)), actor=user)
    correction = StockMovement.objects.get(source="reconciliation", sku=b)
    assert (correction.kind, correction.quantity, correction.ledger_only, correction.actor) == (
        MovementKind.ADJUSTMENT,
        -3,
        True,
        user,
    )
    assert not ReconciliationDiff.objects.filter(run=run, corrected_at__isnull=True).exists()
    services.stock_push_drain()  # the channel line asked for a fresh push
    # the platform shows the current figure again (10 on hand − 2 reserved once the stray reservations went)
    assert emulator.stock_levels[("taobao", channel.app_key, ITEM, "rec-a")] == 8

    again = services.reconciliation_run(trigger="test")
    assert again.diff_count == 0, list(again.diffs.values("kind", "expected", "actual", "note"))
    assert StockLevel.objects.get(sku=b).on_hand == 7  # the level stood; the ledger caught up
    assert StockLevel.objects.get(sku=a).reserved == 2


@pytest.mark.parametrize(
    ("fault", "options", "error"),
    [
        ("http500", {}, "the platform did not answer (http500)"),
        ("timeout", {"delay": 1.5}, "the platform did not answer"),
        ("error_code", {"code": "27", "msg": "Invalid session"}, "the platform refused (27"),
    ],
)
def test_a_platform_that_cannot_be_read_is_a_diff_line_not_a_crash(clean, emulator, settings, fault, options, error):
    _wh, _a, b, channel, listing = clean
    settings.CHANNEL_HTTP_TIMEOUT = 0.5
    other = make_listing(channel, b, "rec-b", platform_item_id=ITEM)
    assert services.stock_push_sweep() == 1  # a new listing is pushed by the sweep
    emulator.add_fault("taobao", fault, count=1, method="taobao.item.sku.get", **options)

    run = services.reconciliation_run(trigger="test")  # the first read fails, the second succeeds
    assert run.finished_at is not None and run.diff_count == 1
    line = run.diffs.get()
    assert (line.kind, line.listing, line.expected, line.actual) == (DiffKind.CHANNEL, listing, 8, -1)
    assert line.note.startswith(f"could not read platform stock: {error}")
    assert "Error" not in line.note  # words for ops, no exception class or raw text (issue 12, point 7)
    assert other.pk != listing.pk and not run.diffs.filter(listing=other).exists()  # the next listing was read

    services.reconciliation_correct(diff_ids=[line.pk])  # "correct" = push again: harmless, and the platform answers
    services.stock_push_drain()
    assert services.reconciliation_run(trigger="test").diff_count == 0


def test_a_sku_the_platform_does_not_know_is_a_diff_line(clean, emulator):
    _wh, _a, b, channel, _listing = clean
    lost = make_listing(channel, b, "rec-b", platform_item_id=ITEM, last_pushed_quantity=10)  # never reached it
    run = services.reconciliation_run(trigger="test")
    line = run.diffs.get()
    assert (line.listing, line.expected, line.actual) == (lost, 10, -1)
    assert "the platform refused" in line.note and "isv.item-sku-not-exist" in line.note


def test_reconcile_stock_command_reports_differences(clean):
    StockLevel.objects.filter(sku__code="REC-B").update(on_hand=5)
    out = io.StringIO()
    call_command("reconcile_stock", "--no-progress", stdout=out)
    assert "1 difference(s)" in out.getvalue() and "REC-B" in out.getvalue()


def test_ensure_schedules_is_idempotent(db):
    from django_q.models import Schedule

    ensure_schedules()
    ensure_schedules()
    assert Schedule.objects.filter(name__in=list(SCHEDULES)).count() == len(SCHEDULES)
    assert Schedule.objects.get(func="inventory.tasks.reconcile_nightly").schedule_type == Schedule.DAILY
