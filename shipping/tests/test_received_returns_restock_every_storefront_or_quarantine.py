"""Receiving a return (POST /api/v1/scans/return): a resellable unit goes back into sellable stock
through the ledger, its new figure reaches every listing of its SKU on the platforms (the emulator,
real HTTP) and a waiting order is served from it; a damaged unit goes to the quarantine location and
moves no sellable stock and no storefront. Replays answer the same, over-receiving is refused, and
the order is `returned` once everything that left came back."""

from __future__ import annotations

import pytest
from django.utils import translation
from django_q.conf import Conf

from inventory import services as inventory_services
from inventory.models import (
    MovementKind,
    QuarantineEntry,
    ReservationState,
    Sku,
    StockLevel,
    StockMovement,
    StockPush,
    StockReservation,
)
from inventory.tests.factories import make_listing
from orders.models import LineRefundState, Order, OrderState
from shipping.models import Return, ReturnReceipt, ReturnState, ScanRecord
from shipping.tests.conftest import assert_ledger_equals_levels, ingest
from shipping.tests.factories import make_stock
from shipping.tests.return_factories import receive_scan, refund_changes, shipped_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def returned_sku(warehouse) -> Sku:
    """One unit in stock, presale allowed: the unit ships, a second order waits for stock."""
    make_stock("RET-1", quantity=1)
    Sku.objects.filter(code="RET-1").update(presale_allowed=True)
    return Sku.objects.get(code="RET-1")


@pytest.fixture
def storefronts(shop, returned_sku):
    """RET-1 sold on three platforms of the emulator (one with a buffer)."""
    channels = [shop("taobao"), shop("jd"), shop("douyin")]
    listings = [
        make_listing(channels[0], returned_sku, "tb-ret", platform_item_id="700000000051"),
        make_listing(channels[1], returned_sku, "jd-ret", platform_item_id="700000000052"),
        make_listing(channels[2], returned_sku, "dy-ret", platform_item_id="700000000053", buffer_quantity=0),
    ]
    return channels, listings


def _pushed(emulator, channel) -> list[int]:
    return [u["quantity"] for u in emulator.stock_updates if u["app_key"] == channel.app_key]


def _open_return(order: Order) -> Return:
    refund_changes(order.lines.get(), LineRefundState.REQUESTED)
    return Return.objects.get(order=order)


def _on_hand(code: str) -> tuple[int, int]:
    level = StockLevel.objects.get(sku__code=code)
    return level.on_hand, level.reserved


def test_a_resellable_return_is_pushed_to_every_listing_and_serves_the_waiting_order(
    shop, scanner, returned_sku, storefronts, emulator, settings, monkeypatch, django_capture_on_commit_callbacks
):
    _device, client = scanner
    channels, listings = storefronts
    manual = shop("manual")
    shipped, _parcel = shipped_order(manual, client, lines=[("RET-1", 1)])
    waiting = ingest(manual, lines=[("RET-1", 1)])
    assert waiting.state == OrderState.AWAITING_STOCK  # presale SKU without stock: it waits
    rma = _open_return(shipped)
    inventory_services.stock_push_drain()
    emulator.stock_updates.clear()
    assert _on_hand("RET-1") == (0, 0)

    # from here on the after-commit tasks run (django-q2 sync mode): push drain, waiting orders
    settings.INVENTORY_ENQUEUE_TASKS = True
    settings.SHIPPING_ENQUEUE_TASKS = False
    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        answer = receive_scan(
            client, rma.number.lower(), [{"barcode": returned_sku.barcode, "condition": "resellable"}], key="R-1"
        )

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["reference"] == rma.number and body["state"] == ReturnState.RECEIVED
    assert body["items"] == [{"id": rma.items.get().pk, "sku": "RET-1", "expected": 1, "resellable": 1, "damaged": 0}]
    assert body["order"] == {"id": shipped.pk, "external_id": shipped.external_id, "state": OrderState.RETURNED}
    (movement,) = StockMovement.objects.filter(kind=MovementKind.RETURN)
    assert (movement.quantity, movement.order_id, movement.source) == (1, shipped.pk, "return")
    # every storefront of the SKU was told the unit is back (then 0 once the waiting order took it)
    for channel in channels:
        assert _pushed(emulator, channel) == [1, 0], channel.platform
    assert all(lst.last_pushed_quantity == 0 for lst in type(listings[0]).objects.filter(sku=returned_sku))
    waiting.refresh_from_db()
    assert waiting.state == OrderState.READY
    assert StockReservation.objects.get(order=waiting).state == ReservationState.ACTIVE
    assert _on_hand("RET-1") == (1, 1)
    assert Order.objects.get(pk=shipped.pk).events.filter(kind="mark_returned").count() == 1
    assert_ledger_equals_levels()


def test_a_damaged_return_goes_to_quarantine_and_moves_no_sellable_stock(
    shop, scanner, returned_sku, storefronts, emulator
):
    device, client = scanner
    manual = shop("manual")
    shipped, _parcel = shipped_order(manual, client, lines=[("RET-1", 1)])
    waiting = ingest(manual, lines=[("RET-1", 1)])
    rma = _open_return(shipped)
    inventory_services.stock_push_drain()
    emulator.stock_updates.clear()
    movements_before = StockMovement.objects.count()

    answer = receive_scan(client, rma.number, [{"barcode": "RET-1", "condition": "damaged"}], key="D-1")

    assert answer.status_code == 200, answer.content
    assert answer.json()["items"][0]["damaged"] == 1 and answer.json()["state"] == ReturnState.RECEIVED
    entry = QuarantineEntry.objects.get()
    assert (entry.warehouse, entry.sku, entry.quantity) == (device.warehouse, returned_sku, 1)
    assert entry.order_id == shipped.pk and entry.source == "return"
    with translation.override("zh-hans"):  # its reason, source and the service's note in the reader's language
        assert (entry.reason_label, entry.source_label) == ("破损", "退货")
        assert entry.wording and entry.note_text != entry.note and entry.note  # coded note, English kept
    assert StockMovement.objects.count() == movements_before  # the ledger of sellable stock is untouched
    assert _on_hand("RET-1") == (0, 0)
    assert not StockPush.objects.exists()
    assert inventory_services.stock_push_drain().pushed == [] and emulator.stock_updates == []
    assert inventory_services.allocate_waiting_orders(None).released == []
    assert Order.objects.get(pk=waiting.pk).state == OrderState.AWAITING_STOCK
    assert Order.objects.get(pk=shipped.pk).state == OrderState.RETURNED  # it came back, damaged or not
    assert_ledger_equals_levels()


def test_a_replayed_scan_answers_the_same_and_receiving_more_than_expected_is_refused(shop, scanner, warehouse):
    _device, client = scanner
    order, _parcel = shipped_order(shop("manual"), client, lines=[("SKU-TEE-L", 3)])
    rma = _open_return(order)
    tee = {"barcode": Sku.objects.get(code="SKU-TEE-L").barcode}

    first = receive_scan(client, rma.number, [{**tee, "condition": "resellable", "quantity": 2}], key="K-1")
    again = receive_scan(client, rma.number, [{**tee, "condition": "resellable", "quantity": 2}], key="K-1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert first.json()["state"] == ReturnState.PARTLY_RECEIVED
    assert StockMovement.objects.filter(kind=MovementKind.RETURN).count() == 1
    assert Order.objects.get(pk=order.pk).state == OrderState.SHIPPED  # one unit still out: partial return

    too_many = receive_scan(client, rma.number, [{**tee, "condition": "damaged", "quantity": 2}], key="K-2")
    assert too_many.status_code == 409 and too_many.json()["code"] == "over_received"
    assert "expects 3 of SKU-TEE-L, 2 already came back" in too_many.json()["detail"]
    reused = receive_scan(client, rma.number, [{**tee, "condition": "damaged", "quantity": 1}], key="K-1")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert ReturnReceipt.objects.count() == 1 and not QuarantineEntry.objects.exists()

    last = receive_scan(client, rma.number, [{**tee, "condition": "damaged", "quantity": 1}], key="K-3")
    assert last.status_code == 200 and last.json()["state"] == ReturnState.RECEIVED
    assert Order.objects.get(pk=order.pk).state == OrderState.RETURNED
    after = receive_scan(client, rma.number, [{**tee, "condition": "resellable"}], key="K-4")
    assert after.status_code == 409 and after.json()["code"] == "return_received"  # all back: takes no more
    assert_ledger_equals_levels()


def test_the_return_scan_refuses_what_it_cannot_take(shop, scanner, warehouse):
    from shipping import services

    device, client = scanner
    order, _parcel = shipped_order(shop("manual"), client, lines=[("SKU-MUG-1", 2)])
    rma = _open_return(order)
    mug = {"barcode": "SKU-MUG-1", "condition": "resellable"}

    unknown = receive_scan(client, "RMA00000000", [mug], key="U-1")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    wrong = receive_scan(client, rma.number, [{"barcode": "SKU-CAP-9", "condition": "resellable"}], key="W-1")
    assert wrong.status_code == 409 and wrong.json()["code"] == "wrong_item"

    no_key = receive_scan(client, rma.number, [mug])
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.json()
    malformed = receive_scan(client, rma.number, [{"condition": "broken", "quantity": 0}], key="M-1")
    assert malformed.status_code == 400
    item_errors = malformed.json()["items"]["0"]  # errors by field, per item
    assert set(item_errors) == {"barcode", "condition", "quantity"}
    empty = client.post("/api/v1/scans/return", {}, format="json", HTTP_IDEMPOTENCY_KEY="M-2")
    assert empty.status_code == 400 and set(empty.json()) == {"reference", "items"}

    anonymous = type(client)().post("/api/v1/scans/return", {"reference": rma.number, "items": [mug]}, format="json")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    forged = type(client)()
    forged.credentials(HTTP_AUTHORIZATION="Bearer ohs_not-a-real-token")
    assert receive_scan(forged, rma.number, [mug], key="F-1").status_code == 401

    receive_scan(client, rma.number, [{**mug, "quantity": 1}], key="P-1")
    services.return_close(return_id=rma.pk, actor=None)
    closed = receive_scan(client, rma.number, [mug], key="C-1")
    assert closed.status_code == 409 and closed.json()["code"] == "return_closed"

    services.scanner_device_revoke(device_id=device.pk)
    revoked = receive_scan(client, rma.number, [mug], key="V-1")
    assert revoked.status_code == 403
    assert StockMovement.objects.filter(kind=MovementKind.RETURN).count() == 1
    assert list(ScanRecord.objects.filter(kind="return").values_list("idempotency_key", flat=True)) == ["P-1"]
