"""The tracking callback (/api/v1/tracking/<service>/callback): signature-verified (401), readable
(400), idempotent, and it moves parcels and orders: delivered when all parcels are, ETA stored,
problems turned into a task with the carrier's words. Pushes are the emulator's, signed as the
services sign them (shared/channels/shipping.md §3)."""

from __future__ import annotations

import json

import pytest

from orders.models import OrderEvent
from rules.models import ExceptionTask
from shipping.models import BuyerNotice, ShipmentState, TrackingEvent, TrackingSubscription
from shipping.tests.conftest import reload
from shipping.tests.tracking_helpers import SALT, post_push, ship_order, subscribe_all
from shipping.tracking.common import md5_hex

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(tracking, shop, scanner, warehouse):
    """An order shipped in one ZTO parcel, subscribed with Kuaidi100."""
    _device, client = scanner
    order, (parcel,) = ship_order(shop, client)
    subscribe_all()
    return order, parcel


@pytest.mark.parametrize("service", ["kuaidi100", "kuaidiniao"])
def test_a_callback_with_a_bad_or_missing_signature_is_refused_401(
    service, settings, tracking, shop, scanner, warehouse, client
):
    settings.TRACKING_BACKEND = service
    _device, scan_client = scanner
    _order, (parcel,) = ship_order(shop, scan_client)
    subscribe_all()
    tracking.advance(parcel.tracking_number, "delivered")
    _url, form = tracking.push_message(service, parcel.tracking_number)
    sign_field = "sign" if service == "kuaidi100" else "DataSign"

    forged = post_push(client, service, {**form, sign_field: "0" * 32})
    missing = post_push(client, service, {k: v for k, v in form.items() if k != sign_field})
    assert (forged.status_code, missing.status_code) == (401, 401)
    assert not TrackingEvent.objects.exists()
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.SHIPPED

    genuine = post_push(client, service, form)
    assert genuine.status_code == 200
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.DELIVERED


def test_a_signed_but_unreadable_push_is_400(shipped, client):
    param = "{not json"
    response = post_push(client, "kuaidi100", {"param": param, "sign": md5_hex(param + SALT).upper()})
    assert response.status_code == 400
    param = json.dumps({"status": "polling"})
    response = post_push(client, "kuaidi100", {"param": param, "sign": md5_hex(param + SALT)})  # lower case is fine
    assert response.status_code == 400 and "lastResult" in response.json()["detail"]
    assert post_push(client, "nosuchservice", {"param": "{}", "sign": "x"}).status_code == 404


def test_a_replayed_callback_changes_nothing_and_gets_the_same_answer(shipped, tracking, client):
    order, parcel = shipped
    tracking.advance(parcel.tracking_number, "collected")
    tracking.advance(parcel.tracking_number, "problem", text="收件地址不详，联系不上收件人")
    tracking.advance(parcel.tracking_number, "delivered")
    _url, form = tracking.push_message("kuaidi100", parcel.tracking_number)

    first = post_push(client, "kuaidi100", form)
    assert first.status_code == 200
    assert first.json() == {"result": True, "returnCode": "200", "message": "成功"}
    snapshot = (
        list(TrackingEvent.objects.values_list("at", "state", "text").order_by("at")),
        reload(order).state,
        list(BuyerNotice.objects.values_list("event", flat=True).order_by("event")),
        list(ExceptionTask.objects.values_list("exception_type__code", "note")),
        OrderEvent.objects.filter(order=order).count(),
    )
    assert [s for _at, s, _t in snapshot[0]] == ["collected", "problem", "delivered"]
    assert snapshot[1] == "delivered" and snapshot[2] == ["delivered", "shipped"]

    again = post_push(client, "kuaidi100", form)
    assert again.status_code == 200 and again.json() == first.json()
    assert snapshot == (
        list(TrackingEvent.objects.values_list("at", "state", "text").order_by("at")),
        reload(order).state,
        list(BuyerNotice.objects.values_list("event", flat=True).order_by("event")),
        list(ExceptionTask.objects.values_list("exception_type__code", "note")),
        OrderEvent.objects.filter(order=order).count(),
    )


def test_the_order_is_delivered_only_when_all_its_parcels_are(tracking, shop, scanner, warehouse, client):
    _device, scan_client = scanner
    order, (first, second) = ship_order(shop, scan_client, parcels=2)
    assert order.state == "shipped" and first.tracking_number != second.tracking_number
    subscribe_all()

    tracking.advance(first.tracking_number, "collected")
    tracking.advance(first.tracking_number, "delivered", at="2026-11-30 15:20:00")
    assert (
        post_push(client, "kuaidi100", tracking.push_message("kuaidi100", first.tracking_number)[1]).status_code == 200
    )
    first.refresh_from_db()
    assert first.state == ShipmentState.DELIVERED
    assert first.delivered_at.isoformat() == "2026-11-30T07:20:00+00:00"  # the signed time, China time → UTC
    assert reload(order).state == "shipped"  # the second parcel is still on its way
    assert BuyerNotice.objects.filter(event="delivered").count() == 1

    tracking.advance(second.tracking_number, "delivered")
    assert (
        post_push(client, "kuaidi100", tracking.push_message("kuaidi100", second.tracking_number)[1]).status_code == 200
    )
    assert reload(order).state == "delivered"
    assert OrderEvent.objects.filter(order=order, kind="mark_delivered").count() == 1
    assert sorted(BuyerNotice.objects.filter(event="delivered").values_list("shipment_id", flat=True)) == sorted(
        [first.pk, second.pk]
    )
    subscription = TrackingSubscription.objects.get(shipment=second)
    assert (subscription.last_state, subscription.service_status) == ("delivered", "shutdown")


def test_the_predicted_arrival_is_stored_as_the_parcel_eta(shipped, tracking, client):
    order, parcel = shipped
    tracking.advance(parcel.tracking_number, "collected", eta="2026-12-03 18")
    assert (
        post_push(client, "kuaidi100", tracking.push_message("kuaidi100", parcel.tracking_number)[1]).status_code == 200
    )
    parcel.refresh_from_db()
    assert parcel.eta.isoformat() == "2026-12-03T10:00:00+00:00"
    assert parcel.state == ShipmentState.SHIPPED and reload(order).state == "shipped"


@pytest.mark.parametrize("service", ["kuaidi100", "kuaidiniao"])
def test_a_problem_becomes_a_tracking_problem_task_with_the_carriers_words(
    service, settings, tracking, shop, scanner, warehouse, client
):
    settings.TRACKING_BACKEND = service
    _device, scan_client = scanner
    order, (parcel,) = ship_order(shop, scan_client)
    subscribe_all()
    tracking.advance(parcel.tracking_number, "collected")
    assert post_push(client, service, tracking.push_message(service, parcel.tracking_number)[1]).status_code == 200
    assert not ExceptionTask.objects.exists()

    tracking.advance(parcel.tracking_number, "refused", text="收件人拒收：商品与描述不符")
    assert post_push(client, service, tracking.push_message(service, parcel.tracking_number)[1]).status_code == 200
    task = ExceptionTask.objects.get(order=order)
    assert task.exception_type.code == "tracking_problem" and task.state == "open"
    assert parcel.tracking_number in task.note and "收件人拒收：商品与描述不符" in task.note
    assert reload(order).state == "shipped"  # a shipped order is not held, only given a task


def test_kuaidi100_giving_up_abort_is_a_problem_task(shipped, tracking, client):
    order, parcel = shipped
    tracking.advance(parcel.tracking_number, "collected", status="abort")
    _url, form = tracking.push_message("kuaidi100", parcel.tracking_number)
    push = json.loads(form["param"])
    push["message"] = "3天查询无记录"
    param = json.dumps(push, ensure_ascii=False)
    response = post_push(client, "kuaidi100", {"param": param, "sign": md5_hex(param + SALT).upper()})
    assert response.status_code == 200
    task = ExceptionTask.objects.get(order=order)
    assert task.exception_type.code == "tracking_problem" and "3天查询无记录" in task.note


def test_a_flood_of_bad_signatures_is_answered_429(settings, shipped, tracking, client):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "webhook_failure_ip": "3/min"},
    }
    _order, parcel = shipped
    tracking.advance(parcel.tracking_number, "delivered")
    _url, form = tracking.push_message("kuaidi100", parcel.tracking_number)
    answers = [post_push(client, "kuaidi100", {**form, "sign": f"{n:032d}"}).status_code for n in range(5)]
    assert answers == [401, 401, 429, 429, 429]
    refused = post_push(client, "kuaidi100", form)
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60  # turned away before any work
    assert not TrackingEvent.objects.exists()


def test_a_body_over_the_limit_is_413(settings, client):
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    response = post_push(client, "kuaidiniao", {"RequestData": "x" * 200, "DataSign": "y"})
    assert response.status_code == 413
