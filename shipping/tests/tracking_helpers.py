"""Helpers for the tracking tests: both tracking services configured against the emulator (real
HTTP, real signatures) and parcels shipped through the real chain (ingest → parcel → number →
printed → scanned), so each test starts where a warehouse leaves a parcel."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from orders.emulator import ChannelEmulator
from shipping import services
from shipping.models import Shipment, TrackingSubscription
from shipping.tests.conftest import account_on, ingest, scan

SALT = "salt-for-tests"
#: where the emulator's own pushes go when a test posts them itself through the test client: a closed
#: port on this machine (refused at once); end-to-end tests give the live server's URL instead
CLOSED_URL = "http://127.0.0.1:9"
KUAIDI100 = {"customer": "emulator-customer", "key": "emulator-key"}
KUAIDINIAO = {"ebusiness_id": "1000001", "app_key": "emulator-app-key"}


def configure_tracking(settings, emulator: ChannelEmulator, *, backend: str = "kuaidi100", base_url: str = "") -> None:
    settings.TRACKING_BACKEND = backend
    settings.TRACKING_CALLBACK_BASE_URL = base_url or CLOSED_URL
    settings.SHIPPING_ENQUEUE_TASKS = False
    settings.TRACKING_SERVICES = {
        "kuaidi100": {
            **KUAIDI100,
            "salt": SALT,
            "subscribe_url": f"{emulator.base_url}/kuaidi100/poll",
            "query_url": f"{emulator.base_url}/kuaidi100/poll/query.do",
            "timeout": 5,
        },
        "kuaidiniao": {
            **KUAIDINIAO,
            "url": f"{emulator.base_url}/kuaidiniao/Ebusiness/EbusinessOrderHandle.aspx",
            "timeout": 5,
        },
    }
    emulator.tracking.configure("kuaidi100", **KUAIDI100)
    emulator.tracking.configure(
        "kuaidiniao",
        **KUAIDINIAO,
        callback_url=settings.TRACKING_CALLBACK_BASE_URL + "/api/v1/tracking/kuaidiniao/callback",
    )


@pytest.fixture
def tracking(settings, emulator):
    """Kuaidi100 (default) and Kuaidiniao pointed at the emulator; returns the emulator's tracking desk."""
    configure_tracking(settings, emulator)
    return emulator.tracking


def ship_order(shop, client, *, platform: str = "taobao", carrier: str = "ZTO", parcels: int = 1):
    """An order shipped in `parcels` parcels (scanned out); returns (order, [parcels])."""
    channel = shop(platform)
    account_on(channel, carrier)
    order = ingest(channel, lines=[("SKU-TEE-L", 2), ("SKU-MUG-1", 1)])
    (whole,) = services.parcels_create(order_ids=[order.pk])
    made = [whole]
    if parcels == 2:
        mug = order.lines.get(sku_code="SKU-MUG-1")
        made.append(services.parcel_split(shipment_id=whole.pk, moves={mug.pk: 1}))
    services.number_parcels(shipment_ids=[p.pk for p in made])
    services.parcels_mark_printed(shipment_ids=[p.pk for p in made])
    shipped = []
    for parcel in made:
        parcel.refresh_from_db()
        response = scan(client, parcel.tracking_number)
        assert response.status_code == 200, response.content
        shipped.append(Shipment.objects.get(pk=parcel.pk))
    order.refresh_from_db()
    return order, shipped


def post_push(client, service: str, form: dict[str, str]):
    """POST a push's form to OrderHub's callback, as the service would."""
    return client.post(
        f"/api/v1/tracking/{service}/callback", urlencode(form), content_type="application/x-www-form-urlencoded"
    )


def subscribe_all() -> None:
    report = services.tracking_subscriptions_drain()
    assert not report.failed and not report.retrying, report
    assert not TrackingSubscription.objects.exclude(state="done").exists()
