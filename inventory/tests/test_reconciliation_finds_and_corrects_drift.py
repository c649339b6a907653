"""Reconciliation finds injected drift of every kind; correcting the lines leaves zero diffs."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db.models import F

from inventory import services
from inventory.models import DiffKind, MovementKind, ReconciliationDiff, StockLevel, StockMovement
from inventory.schedules import SCHEDULES, ensure_schedules
from inventory.tests.factories import ingest, make_channel, make_listing, make_sku, make_warehouse, stock
from orders.models import Order, OrderState


@pytest.fixture
def clean(db, platform):
    wh = make_warehouse("SH")
    a, b = make_sku("REC-A"), make_sku("REC-B")
    stock(a, wh, 10)
    stock(b, wh, 10)
    channel = make_channel("manual", name="shop", api_base_url=f"{platform.url}/shop")
    listing = make_listing(channel, a, "rec-a")
    ingest(channel, "R-1", [("rec-a", "", 2)])
    services.stock_push_drain()
    return wh, a, b, channel, listing


def test_a_consistent_store_has_no_differences(clean):
    assert services.reconciliation_run().diff_count == 0


def test_injected_drift_is_found_and_correcting_it_leaves_zero_diff_lines(clean, platform, django_user_model):
    _wh, a, b, channel, listing = clean
    StockLevel.objects.filter(sku=b).update(on_hand=F("on_hand") - 3)  # (a) someone wrote around the ledger
    StockLevel.objects.filter(sku=a).update(reserved=F("reserved") + 1)  # (b) reserved without a reservation
    stale = ingest(channel, "R-2", [("rec-a", "", 1)])
    Order.objects.filter(pk=stale.pk).update(state=OrderState.CANCELLED)  # (b) closed but still reserved
    platform.stock[("shop", listing.platform_item_id, "rec-a")] = 99  # (c) the platform shows something else
    services.stock_push_drain()  # (the R-2 reservation's push; then the platform is changed again)
    platform.stock[("shop", listing.platform_item_id, "rec-a")] = 99

    run = services.reconciliation_run(trigger="test")
    found = {(d.kind, d.expected, d.actual) for d in run.diffs.all()}
    assert (DiffKind.LEDGER, 10, 7) in found
    assert (DiffKind.RESERVED, 3, 4) in found
    assert (DiffKind.CLOSED_ORDER, 0, 1) in found
    assert (DiffKind.CHANNEL, 6, 99) in found
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

    again = services.reconciliation_run(trigger="test")
    assert again.diff_count == 0, list(again.diffs.values("kind", "expected", "actual", "note"))
    assert StockLevel.objects.get(sku=b).on_hand == 7  # the level stood; the ledger caught up
    assert StockLevel.objects.get(sku=a).reserved == 2


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
