"""End to end on the emulator, over real HTTP both ways: a PDA scans the parcel out → a tracking
subscription row → the drain task subscribes it with the emulated service → the carrier moves the
parcel (emulator control endpoint) → the service pushes signed callbacks to OrderHub's live server →
the parcel and the order are delivered, with a delivered notice recorded and the ETA kept."""

from __future__ import annotations

import pytest
import requests

from orders.channels import adapter_class
from orders.channels.base import ChannelAdapter
from shipping import tasks
from shipping.models import BuyerNotice, ShipmentState, TrackingEvent, TrackingSubscription
from shipping.tests.conftest import reload
from shipping.tests.tracking_helpers import configure_tracking, ship_order

WAYBILL_PLATFORMS = [
    p
    for p in ("taobao", "jd", "pdd", "douyin", "kuaishou")
    if adapter_class(p).waybill_branches is not ChannelAdapter.waybill_branches
]
CASES = [("kuaidi100", p) for p in WAYBILL_PLATFORMS] + [("kuaidiniao", "taobao")]


def _advance(emulator, number: str, to: str, **extra) -> list[dict]:
    response = requests.post(
        f"{emulator.base_url}/_emulator/tracking/advance", json={"number": number, "to": to, **extra}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["pushes"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(("service", "platform"), CASES)
def test_scan_subscribe_push_delivered(service, platform, settings, emulator, live_server, shop, scanner, warehouse):
    configure_tracking(settings, emulator, backend=service, base_url=live_server.url)
    _device, client = scanner
    order, (parcel,) = ship_order(shop, client, platform=platform)
    assert order.state == "shipped"
    row = TrackingSubscription.objects.get(shipment=parcel)
    assert (row.backend, row.state) == (service, "pending")

    assert tasks.drain_tracking_subscriptions() == {"subscribed": 1, "retrying": 0, "failed": 0, "waiting": 0}
    assert (service, parcel.tracking_number) in emulator.tracking.subscriptions

    (push,) = _advance(emulator, parcel.tracking_number, "collected", eta="2026-12-02 18")
    assert push["status"] == 200 and push["sent"] is True, push
    _advance(emulator, parcel.tracking_number, "in_transit")
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.SHIPPED
    if service == "kuaidi100":
        assert parcel.eta is not None and parcel.eta.isoformat() == "2026-12-02T10:00:00+00:00"

    # a forged push is refused by OrderHub and changes nothing
    emulator.tracking.add_fault("bad_sign")
    (forged,) = _advance(emulator, parcel.tracking_number, "out_for_delivery")
    assert forged["status"] == 401, forged
    assert not TrackingEvent.objects.filter(shipment=parcel, state="out_for_delivery").exists()

    (delivered,) = _advance(emulator, parcel.tracking_number, "delivered")
    assert delivered["status"] == 200, delivered
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.DELIVERED and parcel.delivered_at is not None
    assert reload(order).state == "delivered"
    states = list(TrackingEvent.objects.filter(shipment=parcel).order_by("at").values_list("state", flat=True))
    assert states == ["collected", "in_transit", "out_for_delivery", "delivered"]  # the next push carried it all
    assert BuyerNotice.objects.filter(shipment=parcel, order=order, event="delivered").count() == 1
