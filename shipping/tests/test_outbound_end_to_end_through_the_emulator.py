"""ingest → ready → parcel → number (the platform's e-waybill service, over HTTP to the emulator) →
printed → scanned by a PDA → shipped: stock committed once, ledger = levels, one write-back and one
buyer notice per parcel and order, and the platform issued exactly one number per parcel."""

from __future__ import annotations

import pytest

from inventory.models import MovementKind, ReservationState, StockLevel, StockMovement, StockReservation
from orders.channels import adapter_class
from orders.channels.base import ChannelAdapter
from orders.models import OrderEvent
from shipping import services
from shipping.models import BuyerNotice, Shipment, ShipmentState, WriteBack
from shipping.selectors import order_barcode
from shipping.tests.conftest import account_on, assert_ledger_equals_levels, ingest, issued_numbers, reload, scan

pytestmark = pytest.mark.django_db

#: every platform whose adapter speaks its e-waybill service (all five once the waybill work is merged)
WAYBILL_PLATFORMS = [
    p
    for p in ("taobao", "tmall", "jd", "pdd", "douyin", "kuaishou")
    if adapter_class(p).waybill_branches is not ChannelAdapter.waybill_branches
]


@pytest.mark.parametrize("platform", WAYBILL_PLATFORMS)
def test_an_order_ships_end_to_end_with_one_number_per_parcel(platform, shop, emulator, scanner, warehouse):
    device, client = scanner
    channel = shop(platform)
    account_on(channel, "ZTO")
    order = ingest(channel, lines=[("SKU-TEE-L", 2), ("SKU-MUG-1", 1)])
    assert order.state == "ready"

    (parcel,) = services.parcels_create(order_ids=[order.pk])
    assert parcel.parcel_key == f"{order.pk}-1" and parcel.warehouse_id == warehouse.pk
    report = services.number_parcels(shipment_ids=[parcel.pk])
    assert report.numbered == [parcel.pk], report
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.NUMBERED and parcel.tracking_number and parcel.print_data

    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    assert reload(order).state == "printed"

    response = scan(client, parcel.tracking_number, key="scan-1")
    assert response.status_code == 200, response.content
    assert response.json()["parcel"]["state"] == "shipped"
    assert response.json()["orders"] == [{"id": order.pk, "external_id": order.external_id, "state": "shipped"}]

    order = reload(order)
    assert order.state == "shipped"
    parcel.refresh_from_db()
    assert parcel.shipped_by_device == device and parcel.shipped_at is not None
    # stock committed once: 3 units left on hand, nothing reserved, one outbound row per line
    outbound = StockMovement.objects.filter(order_id=order.pk, kind=MovementKind.OUTBOUND)
    assert sorted(outbound.values_list("quantity", flat=True)) == [-2, -1]
    assert not StockReservation.objects.filter(order=order, state=ReservationState.ACTIVE).exists()
    assert {lv.sku.code: (lv.on_hand, lv.reserved) for lv in StockLevel.objects.select_related("sku")} == {
        "SKU-TEE-L": (98, 0),
        "SKU-MUG-1": (99, 0),
        "SKU-CAP-9": (100, 0),
    }
    assert_ledger_equals_levels()
    assert list(WriteBack.objects.values_list("shipment_id", "order_id", "state")) == [(parcel.pk, order.pk, "pending")]
    assert list(BuyerNotice.objects.values_list("shipment_id", "order_id", "event")) == [
        (parcel.pk, order.pk, "shipped")
    ]
    assert OrderEvent.objects.filter(order=order, kind="ship").get().data["device"] == device.pk

    # a second scan (another key) answers the same and changes nothing
    again = scan(client, parcel.tracking_number, key="scan-2")
    assert again.status_code == 200 and again.json() == response.json()
    assert StockMovement.objects.filter(order_id=order.pk, kind=MovementKind.OUTBOUND).count() == 2
    assert WriteBack.objects.count() == 1 and BuyerNotice.objects.count() == 1

    emulated = "taobao" if platform == "tmall" else platform
    numbers = issued_numbers(emulator, emulated)
    assert numbers == {f"{emulated}:{parcel.parcel_key}": [parcel.tracking_number]}


def test_a_manual_channel_parcel_takes_its_number_from_the_carrier_label(shop, scanner, warehouse):
    _device, client = scanner
    channel = shop("manual")
    account_on(channel, "SF")
    order = ingest(channel, lines=[("SKU-CAP-9", 1)])
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    report = services.number_parcels(shipment_ids=[parcel.pk])
    assert report.skipped == [parcel.pk] and not report.failed  # no e-waybill service to ask
    services.parcels_mark_printed(shipment_ids=[parcel.pk])  # the packing slip
    assert reload(order).state == "printed"

    missing = scan(client, order_barcode(order_id=order.pk))
    assert missing.status_code == 400 and "label_number" in missing.json()

    shipped = scan(client, order_barcode(order_id=order.pk), label_number="SF1234567890123", key="m-1")
    assert shipped.status_code == 200, shipped.content
    parcel.refresh_from_db()
    assert parcel.tracking_number == "SF1234567890123" and parcel.state == ShipmentState.SHIPPED
    assert reload(order).state == "shipped"
    assert WriteBack.objects.filter(shipment=parcel, order=order).exists()

    # the same carrier number can never be bound to a second parcel
    other = ingest(channel, lines=[("SKU-CAP-9", 1)])
    (second,) = services.parcels_create(order_ids=[other.pk])
    services.parcels_mark_printed(shipment_ids=[second.pk])
    taken = scan(client, order_barcode(order_id=other.pk), label_number="SF1234567890123")
    assert taken.status_code == 409 and taken.json()["code"] == "number_taken"
    assert Shipment.objects.get(pk=second.pk).tracking_number == ""
    assert_ledger_equals_levels()


@pytest.mark.parametrize("platform", WAYBILL_PLATFORMS)
def test_ready_orders_go_through_a_print_batch_to_the_scanner(platform, shop, emulator, scanner, warehouse):
    """The whole outbound chain as the warehouse runs it: ready → print batch (the print queue) → number
    → the print component's result recorded → scanned → shipped, one number and one write-back per parcel."""
    _device, client = scanner
    channel = shop(platform)
    account_on(channel, "ZTO")
    orders = [ingest(channel, lines=[("SKU-TEE-L", 1)]), ingest(channel, lines=[("SKU-MUG-1", 2)])]
    assert [o.state for o in orders] == ["ready", "ready"]

    services.print_queue_fill()
    parcels = list(Shipment.objects.order_by("pk"))
    assert len(parcels) == 2 and len({p.batch_id for p in parcels}) == 1 and parcels[0].batch_id is not None
    assert all(p.state == ShipmentState.NUMBERED and p.tracking_number for p in parcels)
    services.print_queue_fill()  # run again (the schedule): nothing new
    assert Shipment.objects.count() == 2

    for parcel in parcels:
        services.shipment_record_print_result(
            batch_id=parcel.batch_id,
            shipment_id=parcel.pk,
            tracking_number=parcel.tracking_number,
            ok=True,
            actor=None,
            printer="label printer",
        )
    assert [reload(o).state for o in orders] == ["printed", "printed"]

    for n, parcel in enumerate(parcels):
        response = scan(client, parcel.tracking_number, key=f"batch-scan-{n}")
        assert response.status_code == 200, response.content
    assert [reload(o).state for o in orders] == ["shipped", "shipped"]
    assert sorted(WriteBack.objects.values_list("shipment_id", "order_id")) == sorted(
        (p.pk, o.pk) for p, o in zip(parcels, orders, strict=True)
    )
    assert sorted(StockMovement.objects.filter(kind=MovementKind.OUTBOUND).values_list("quantity", flat=True)) == [
        -2,
        -1,
    ]
    assert_ledger_equals_levels()
    emulated = "taobao" if platform == "tmall" else platform
    assert issued_numbers(emulator, emulated) == {
        f"{emulated}:{p.parcel_key}": [Shipment.objects.get(pk=p.pk).tracking_number] for p in parcels
    }
