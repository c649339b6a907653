"""The PDA's outbound scan: device tokens (401 without, 403 revoked or for another warehouse's
parcel), idempotent retries, 409 with the reason in the scanner's language for a parcel that must
not leave, 404 for an unknown code, 400 for a malformed body, and the item check (扫描验货)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from inventory.models import MovementKind, StockMovement
from orders.services import order_hold
from shipping import services
from shipping.models import ScannerDevice, ScanRecord, ShipmentState, WriteBack
from shipping.tests.conftest import account_on, ingest, reload, scan
from shipping.tests.factories import make_stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def printed(shop, emulator, warehouse):
    """Factory: an order on a Taobao shop (emulator), numbered and printed: ready to scan out."""
    channel = shop("taobao")
    account_on(channel)

    def make(**overrides):
        order = ingest(channel, **overrides)
        (parcel,) = services.parcels_create(order_ids=[order.pk])
        services.number_parcels(shipment_ids=[parcel.pk])
        services.parcels_mark_printed(shipment_ids=[parcel.pk])
        parcel.refresh_from_db()
        return order, parcel

    return make


def test_no_token_is_401_with_www_authenticate(printed):
    _order, parcel = printed()
    response = APIClient().post("/api/v1/scans/outbound", {"code": parcel.tracking_number}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer ohs_not-a-token")
    assert wrong.post("/api/v1/scans/outbound", {"code": parcel.tracking_number}, format="json").status_code == 401
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.PRINTED


def test_a_revoked_device_is_403(printed, scanner):
    device, client = scanner
    _order, parcel = printed()
    services.scanner_device_revoke(device_id=device.pk)
    response = scan(client, parcel.tracking_number)
    assert response.status_code == 403
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.PRINTED


def test_another_warehouses_scanner_is_403(printed):
    _order, parcel = printed()
    elsewhere = make_stock(warehouse_code="WH-NORTH")
    _device, token = services.scanner_device_create(name="PDA-N", warehouse=elsewhere)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = scan(client, parcel.tracking_number)
    assert response.status_code == 403 and response.json()["code"] == "other_warehouse"
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.PRINTED


def test_the_token_is_stored_hashed_and_only_scans(scanner, warehouse):
    device, client = scanner
    stored = ScannerDevice.objects.get(pk=device.pk)
    assert len(stored.token_hash) == 64 and stored.token_prefix.startswith("ohs_")
    assert client.get("/api/v1/orders/").status_code in (401, 403)  # the scanner token opens nothing else


def test_a_retry_with_the_same_key_gets_the_stored_answer_and_changes_nothing(printed, scanner):
    _device, client = scanner
    order, parcel = printed()
    first = scan(client, parcel.tracking_number, key="k-1")
    retry = scan(client, parcel.tracking_number, key="k-1")
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"
    assert ScanRecord.objects.count() == 1
    assert StockMovement.objects.filter(order_id=order.pk, kind=MovementKind.OUTBOUND).count() == 1
    assert WriteBack.objects.count() == 1
    reused = scan(client, "somethingelse", key="k-1")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("prepare", "code"),
    [
        (lambda order: order_hold(order_id=order.pk, actor=None, reason="buyer called"), "order_on_hold"),
        (lambda order: type(order).objects.filter(pk=order.pk).update(refund_requested=True), "order_refunded"),
        (lambda order: type(order).objects.filter(pk=order.pk).update(state="cancelled"), "order_cancelled"),
        (  # the platform forbids shipping after the label was printed (Taobao PAID_FORBID_CONSIGN)
            lambda order: type(order).objects.filter(pk=order.pk).update(platform_status="hold", platform_hold=True),
            "order_held_by_platform",
        ),
    ],
)
def test_a_parcel_whose_order_must_not_leave_is_409(printed, scanner, prepare, code):
    _device, client = scanner
    order, parcel = printed()
    prepare(order)
    response = scan(client, parcel.tracking_number)
    assert response.status_code == 409 and response.json()["code"] == code
    assert order.external_id in response.json()["detail"]
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.PRINTED and not WriteBack.objects.exists()


def test_an_unprinted_parcel_is_409_in_the_scanners_language(shop, emulator, warehouse, scanner):
    _device, client = scanner
    channel = shop("taobao")
    account_on(channel)
    order = ingest(channel)
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.number_parcels(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    english = scan(client, parcel.tracking_number)
    assert english.status_code == 409 and english.json()["code"] == "order_not_printed"
    assert "not printed" in english.json()["detail"]
    chinese = scan(client, parcel.tracking_number, language="zh-hans")
    assert chinese.status_code == 409 and "打印" in chinese.json()["detail"]
    assert reload(order).state == "ready"


def test_an_unknown_code_is_404_and_a_malformed_body_400(scanner, warehouse):
    _device, client = scanner
    missing = scan(client, "ZZ0000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad = client.post("/api/v1/scans/outbound", {"code": "", "items": "not-a-list"}, format="json")
    assert bad.status_code == 400 and {"code", "items"} <= set(bad.json())
    long_key = scan(client, "ZZ1", key="x" * 200)
    assert long_key.status_code == 400 and "Idempotency-Key" in long_key.json()


def test_the_item_check_refuses_wrong_extra_and_missing_items(printed, scanner):
    from inventory.models import Sku

    _device, client = scanner
    order, parcel = printed(lines=[("SKU-TEE-L", 2)])
    tee = Sku.objects.get(code="SKU-TEE-L").barcode
    mug = Sku.objects.get(code="SKU-MUG-1").barcode

    wrong = client.post("/api/v1/scans/items", {"code": parcel.tracking_number, "items": [mug]}, format="json")
    assert wrong.status_code == 409 and wrong.json()["code"] == "wrong_item"
    first = client.post("/api/v1/scans/items", {"code": parcel.tracking_number, "items": [tee]}, format="json")
    assert first.status_code == 200 and first.json()["complete"] is False
    assert first.json()["expected"] == {"SKU-TEE-L": 2} and first.json()["checked"] == {"SKU-TEE-L": 1}
    extra = client.post("/api/v1/scans/items", {"code": parcel.tracking_number, "items": [tee, tee]}, format="json")
    assert extra.status_code == 409 and extra.json()["code"] == "extra_item"

    early = scan(client, parcel.tracking_number)  # one tee still missing
    assert early.status_code == 409 and early.json()["code"] == "items_missing"
    done = scan(client, parcel.tracking_number, items=[tee])
    assert done.status_code == 200 and reload(order).state == "shipped"
