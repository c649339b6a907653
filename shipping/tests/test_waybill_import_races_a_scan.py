"""A waybill sheet and the scanner at the same moment on PostgreSQL (real threads, own connections):
the sheet row and the scan both go through the dispatch service under the order locks, so the parcel
ships once with one write-back; two people importing the same sheet at once ship each order once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from conftest import postgres_only
from inventory.models import MovementKind, StockMovement
from shipping import services
from shipping.models import BuyerNotice, Shipment, WriteBack
from shipping.tests.conftest import account_on, assert_ledger_equals_levels, ingest, reload
from shipping.tests.factories import make_stock
from shipping.tests.test_waybill_sheet_import import run, sheet


def _together(*work: Callable[[], object]) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(len(work))
    results: list[object] = []
    errors: list[BaseException] = []

    def go(job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(job())
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=go, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sheet_row_and_a_scan_of_the_same_parcel_ship_it_once(shop, emulator):
    warehouse = make_stock("SKU-TEE-L", quantity=10)
    channel = shop("taobao")
    account_on(channel)
    order = ingest(channel, lines=[("SKU-TEE-L", 2)])
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.number_parcels(shipment_ids=[parcel.pk])
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    _device, token = services.scanner_device_create(name="PDA", warehouse=warehouse)

    def scan():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.post("/api/v1/scans/outbound", {"code": parcel.tracking_number}, format="json").status_code

    def import_sheet():
        return run(sheet([[order.external_id, "", "ZTO", parcel.tracking_number, ""]]), dry_run=False)

    _results, errors = _together(scan, import_sheet)
    assert not errors, errors
    parcel.refresh_from_db()
    assert parcel.state == "shipped" and reload(order).state == "shipped"
    assert StockMovement.objects.filter(order_id=order.pk, kind=MovementKind.OUTBOUND).count() == 1
    assert WriteBack.objects.count() == 1 and BuyerNotice.objects.count() == 1
    assert_ledger_equals_levels()


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_sheet_imported_twice_at_once_ships_each_order_once(shop):
    make_stock("SKU-TEE-L", quantity=50)
    channel = shop("manual")
    account_on(channel)
    orders = [ingest(channel, lines=[("SKU-TEE-L", 1)]) for _ in range(5)]
    rows = [[o.external_id, "", "SF", f"SF-RACE-{i}", ""] for i, o in enumerate(orders)]

    results, errors = _together(*(lambda: run(sheet(rows), dry_run=False) for _ in range(2)))
    assert not errors, errors
    assert sum(len(r.valid_rows()) for r in results) == 5  # every row imported by exactly one of them
    assert Shipment.objects.filter(tracking_number__startswith="SF-RACE-", state="shipped").count() == 5
    assert WriteBack.objects.count() == 5
    assert all(reload(o).state == "shipped" for o in orders)
    assert_ledger_equals_levels()
