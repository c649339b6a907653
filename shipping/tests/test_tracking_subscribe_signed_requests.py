"""Each shipped parcel is subscribed once with the tracking service over real HTTP to the emulator,
with the requests signed exactly as shared/channels/shipping.md §3 says (recomputed here from the
sheet's formulas), and the subscription outbox retries, backs off and fails as it should."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from django.utils import timezone

from orders.models import Alert
from shipping import services
from shipping.models import TrackingSubscription
from shipping.tests.tracking_helpers import CLOSED_URL, KUAIDI100, KUAIDINIAO, SALT, ship_order
from shipping.tracking import ParcelRef, TrackingServiceError, get_backend

pytestmark = pytest.mark.django_db


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def test_a_scanned_parcel_gets_one_subscription_row_sent_to_kuaidi100(tracking, shop, scanner, warehouse):
    _device, client = scanner
    _order, (parcel,) = ship_order(shop, client)
    row = TrackingSubscription.objects.get(shipment=parcel)
    assert (row.state, row.backend, row.company, row.number) == (
        "pending",
        "kuaidi100",
        "zhongtong",
        parcel.tracking_number,
    )
    assert (row.phone_tail, row.phone_from_masked) == ("5678", False)  # ZTO answers only with them

    report = services.tracking_subscriptions_drain()
    assert report.subscribed == [row.pk]
    row.refresh_from_db()
    assert row.state == "done" and row.subscribed_at is not None

    (call,) = [c for c in tracking.calls if c["call"] == "subscribe"]
    form = call["form"]
    assert form["schema"] == "json"
    param = json.loads(form["param"])
    assert param == {
        "company": "zhongtong",
        "number": parcel.tracking_number,
        "key": KUAIDI100["key"],
        "parameters": {
            "callbackurl": f"{CLOSED_URL}/api/v1/tracking/kuaidi100/callback",
            "salt": SALT,
            "resultv2": "8",
            "phone": "5678",
        },
    }
    # a second drain sends nothing more
    assert services.tracking_subscriptions_drain().subscribed == []
    assert len([c for c in tracking.calls if c["call"] == "subscribe"]) == 1


def test_kuaidi100_query_is_signed_upper_md5_of_param_key_customer(tracking, shop, scanner, warehouse):
    _device, client = scanner
    _order, (parcel,) = ship_order(shop, client)
    tracking.advance(parcel.tracking_number, "collected", company="zhongtong")
    update = get_backend("kuaidi100").query(ParcelRef("zhongtong", parcel.tracking_number, "5678"))
    assert update.state == "collected" and len(update.points) == 1

    form = tracking.calls[-1]["form"]
    assert form["customer"] == KUAIDI100["customer"]
    assert form["sign"] == _md5(form["param"] + KUAIDI100["key"] + KUAIDI100["customer"]).upper()
    assert json.loads(form["param"]) == {
        "com": "zhongtong",
        "num": parcel.tracking_number,
        "resultv2": "8",
        "phone": "5678",
    }
    # ZTO without the phone digits is refused by the service
    with pytest.raises(TrackingServiceError) as refused:
        get_backend("kuaidi100").query(ParcelRef("zhongtong", parcel.tracking_number, ""))
    assert refused.value.code == "408" and not refused.value.retryable


def test_kuaidiniao_subscribe_and_query_carry_the_datasign(settings, tracking, shop, scanner, warehouse):
    settings.TRACKING_BACKEND = "kuaidiniao"
    _device, client = scanner
    _order, (parcel,) = ship_order(shop, client, carrier="YTO")
    row = TrackingSubscription.objects.get(shipment=parcel)
    assert (row.backend, row.company) == ("kuaidiniao", "YTO")
    assert services.tracking_subscriptions_drain().subscribed == [row.pk]

    (call,) = [c for c in tracking.calls if c["service"] == "kuaidiniao"]
    form = call["form"]
    assert (form["EBusinessID"], form["RequestType"], form["DataType"]) == (KUAIDINIAO["ebusiness_id"], "1008", "2")
    expected = base64.b64encode(_md5(form["RequestData"] + KUAIDINIAO["app_key"]).encode()).decode()
    assert form["DataSign"] == expected  # the form encoding is the sheet's urlencode
    assert json.loads(form["RequestData"]) == {"ShipperCode": "YTO", "LogisticCode": parcel.tracking_number}

    tracking.advance(parcel.tracking_number, "collected")
    tracking.advance(parcel.tracking_number, "delivered")
    update = get_backend("kuaidiniao").query(ParcelRef("YTO", parcel.tracking_number))
    assert tracking.calls[-1]["form"]["RequestType"] == "1002"
    assert update.state == "delivered" and [p.state for p in update.points] == ["collected", "delivered"]


def test_a_refused_or_unreachable_service_is_retried_with_backoff(tracking, shop, scanner, warehouse):
    _device, client = scanner
    _order, (parcel,) = ship_order(shop, client)
    row = TrackingSubscription.objects.get(shipment=parcel)
    tracking.add_fault("reply_error")
    tracking.add_fault("unreachable")

    before = timezone.now()
    assert services.tracking_subscriptions_drain().retrying == [row.pk]
    row.refresh_from_db()
    assert row.state == "pending" and row.attempts == 1 and "502" in row.last_error
    assert row.next_attempt_at > before + timezone.timedelta(seconds=40)  # 60 s ± 20 % jitter
    assert services.tracking_subscriptions_drain().retrying == []  # not due yet

    TrackingSubscription.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert services.tracking_subscriptions_drain().retrying == [row.pk]
    row.refresh_from_db()
    assert row.attempts == 2 and "503" in row.last_error
    assert row.next_attempt_at > timezone.now() + timezone.timedelta(seconds=90)  # doubled

    TrackingSubscription.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert services.tracking_subscriptions_drain().subscribed == [row.pk]


def test_a_permanent_refusal_or_the_last_attempt_fails_the_row_with_an_alert(
    settings, tracking, shop, scanner, warehouse
):
    _device, client = scanner
    _order, (parcel,) = ship_order(shop, client)
    row = TrackingSubscription.objects.get(shipment=parcel)
    TrackingSubscription.objects.filter(pk=row.pk).update(company="nosuchcarrier")
    assert services.tracking_subscriptions_drain().failed == [row.pk]
    row.refresh_from_db()
    assert row.state == "failed" and "700" in row.last_error
    assert Alert.objects.filter(key="tracking:subscribe-failed", resolved_at__isnull=True).exists()

    # fixed by a person (the company code), sent again
    TrackingSubscription.objects.filter(pk=row.pk).update(company="zhongtong")
    services.tracking_subscription_retry(subscription_id=row.pk)
    assert services.tracking_subscriptions_drain().subscribed == [row.pk]

    settings.TRACKING_SUBSCRIBE_MAX_ATTEMPTS = 1
    _order, (other,) = ship_order(shop, client)
    tracking.add_fault("unreachable")
    other_row = TrackingSubscription.objects.get(shipment=other)
    assert services.tracking_subscriptions_drain().failed == [other_row.pk]


def test_without_credentials_nothing_is_sent_and_the_rows_wait(settings, tracking, shop, scanner, warehouse):
    _device, client = scanner
    _order, (parcel,) = ship_order(shop, client)
    settings.TRACKING_SERVICES = {**settings.TRACKING_SERVICES, "kuaidi100": {"customer": "", "key": "", "salt": ""}}
    report = services.tracking_subscriptions_drain()
    assert report.waiting == 1 and not report.subscribed
    assert not tracking.calls
    assert TrackingSubscription.objects.get(shipment=parcel).state == "pending"
    assert Alert.objects.filter(key="tracking:not-configured", resolved_at__isnull=True).exists()


def test_tracking_off_writes_no_row_and_a_misspelt_service_never_fails_the_scan(
    settings, tracking, shop, scanner, warehouse
):
    _device, client = scanner
    settings.TRACKING_BACKEND = "none"
    _order, (untracked,) = ship_order(shop, client)
    assert not TrackingSubscription.objects.filter(shipment=untracked).exists()

    settings.TRACKING_BACKEND = "kuaidi1000"
    _order, (parcel,) = ship_order(shop, client)  # the scan succeeds
    row = TrackingSubscription.objects.get(shipment=parcel)
    assert services.tracking_subscriptions_drain().failed == [row.pk]
    row.refresh_from_db()
    assert row.state == "failed" and "kuaidi1000" in row.last_error
