"""Twenty PDAs scanning one parcel at the same moment on PostgreSQL (real threads, each its own
connection): the order rows queue the scans, so the parcel ships once, its stock is committed once,
one write-back row is written, and every scanner gets the same answer."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from conftest import postgres_only
from inventory.models import MovementKind, StockMovement
from shipping import services
from shipping.models import BuyerNotice, ScanRecord, WriteBack
from shipping.tests.conftest import account_on, assert_ledger_equals_levels, ingest, reload
from shipping.tests.factories import make_stock

SCANNERS = 20


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keep the seeded carriers and rules
def test_twenty_concurrent_scans_of_one_parcel_ship_it_once(shop, emulator):
    warehouse = make_stock("SKU-TEE-L", quantity=10)
    channel = shop("taobao")
    account_on(channel)
    order = ingest(channel, lines=[("SKU-TEE-L", 2)])
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.number_parcels(shipment_ids=[parcel.pk])
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    _device, token = services.scanner_device_create(name="PDA", warehouse=warehouse)

    barrier = threading.Barrier(SCANNERS)
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def scan(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        key = "same-key" if index % 2 else f"key-{index}"  # half retry one key, half scan afresh
        try:
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/scans/outbound", {"code": parcel.tracking_number}, format="json", HTTP_IDEMPOTENCY_KEY=key
            )
            answers.append((response.status_code, response.json()))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(SCANNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(answers) == SCANNERS
    assert {status for status, _ in answers} == {200}
    assert all(body == answers[0][1] for _, body in answers)  # everyone hears the same
    assert reload(order).state == "shipped"
    assert StockMovement.objects.filter(order_id=order.pk, kind=MovementKind.OUTBOUND).count() == 1
    assert WriteBack.objects.count() == 1 and BuyerNotice.objects.count() == 1
    assert ScanRecord.objects.filter(idempotency_key="same-key").count() == 1
    assert_ledger_equals_levels()
