"""Numbering against the emulator's e-waybill service: a timeout after the platform issued the number
is resolved by looking it up (still one number); quota exhausted and unreachable hold the order as
waybill_failed with that reason in plain words; a partial batch failure holds only the failed orders."""

from __future__ import annotations

import pytest

from orders.models import Alert
from rules.models import ExceptionTask
from shipping import services
from shipping.models import Shipment, ShipmentState
from shipping.tests.conftest import account_on, control, ingest, issued_numbers, reload

pytestmark = pytest.mark.django_db
GET = "cainiao.waybill.ii.get"


def waybill_task(order) -> ExceptionTask:
    return ExceptionTask.objects.get(order=order, exception_type__code="waybill_failed", state="open")


def test_a_timeout_after_the_number_was_issued_is_looked_up_not_taken_again(shop, emulator, warehouse, settings):
    settings.CHANNEL_HTTP_TIMEOUT = 0.5
    channel = shop("taobao")
    account_on(channel)
    order = ingest(channel)
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    control(emulator, "faults", platform="taobao", kind="timeout_after_issue", method=GET, delay=1.5)

    report = services.number_parcels(shipment_ids=[parcel.pk])
    assert report.numbered == [parcel.pk]
    parcel.refresh_from_db()
    assert issued_numbers(emulator, "taobao") == {f"taobao:{parcel.parcel_key}": [parcel.tracking_number]}
    # asked again later (a second run): the parcel is numbered, nothing is asked
    assert services.number_parcels(shipment_ids=[parcel.pk]).skipped == [parcel.pk]
    assert len(issued_numbers(emulator, "taobao")[f"taobao:{parcel.parcel_key}"]) == 1
    assert reload(order).state == "ready"


def test_a_call_lost_before_the_platform_issued_anything_is_repeated_under_the_same_key(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel)
    order = ingest(channel)
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    emulator.add_fault("taobao", "http500", method=GET)

    report = services.number_parcels(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    assert report.numbered == [parcel.pk] and parcel.state == ShipmentState.NUMBERED
    assert issued_numbers(emulator, "taobao") == {f"taobao:{parcel.parcel_key}": [parcel.tracking_number]}


def test_an_exhausted_quota_holds_the_order_as_waybill_failed_with_that_reason(shop, emulator, warehouse):
    channel = shop("taobao")
    account = account_on(channel)
    control(
        emulator,
        "waybill_quota",
        platform="taobao",
        app_key=channel.app_key,
        carrier_code="ZTO",
        branch_code=account.branch_code,
        quota=0,
    )
    order = ingest(channel)
    (parcel,) = services.parcels_create(order_ids=[order.pk])

    report = services.number_parcels(shipment_ids=[parcel.pk])
    assert list(report.failed) == [parcel.pk]
    order = reload(order)
    assert order.state == "on_hold" and "waybill_failed" in order.hold_reason
    note = waybill_task(order).note
    assert "quota exhausted" in note and "余额不足" in note
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.PENDING and parcel.failure_code == "quota_exhausted"
    assert issued_numbers(emulator, "taobao") == {}
    assert not Alert.objects.filter(source="shipping").exists()  # an everyday cause: a to-do, not an alert


def test_an_unreachable_address_holds_only_that_order(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel)
    near = ingest(channel)
    far = ingest(channel, receiver_province="西藏自治区", receiver_city="拉萨市", receiver_district="城关区")
    parcels = services.parcels_create(order_ids=[near.pk, far.pk])
    control(emulator, "faults", platform="taobao", kind="unreachable", method=GET, province="西藏自治区")

    report = services.number_parcels(shipment_ids=[p.pk for p in parcels])
    by_order = {p.lines.get().order_id: p for p in Shipment.objects.filter(pk__in=[p.pk for p in parcels])}
    assert report.numbered == [by_order[near.pk].pk]
    assert list(report.failed) == [by_order[far.pk].pk]
    assert reload(near).state == "ready"
    assert reload(far).state == "on_hold"
    assert "does not deliver to this address" in waybill_task(far).note


def test_a_partial_batch_failure_holds_only_the_failed_orders(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel)
    orders = [ingest(channel) for _ in range(3)]
    parcels = services.parcels_create(order_ids=[o.pk for o in orders])
    keys = {p.lines.get().order_id: p.parcel_key for p in parcels}
    control(emulator, "faults", platform="taobao", kind="partial_failure", method=GET, parcel_keys=[keys[orders[1].pk]])

    report = services.number_parcels(shipment_ids=[p.pk for p in parcels])
    assert len(report.numbered) == 2 and len(report.failed) == 1
    assert [reload(o).state for o in orders] == ["ready", "on_hold", "ready"]
    assert "refused the parcel's data" in waybill_task(orders[1]).note
    numbers = issued_numbers(emulator, "taobao")
    assert set(numbers) == {f"taobao:{keys[orders[0].pk]}", f"taobao:{keys[orders[2].pk]}"}


def test_batches_follow_the_adapters_batch_size(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel)
    orders = [ingest(channel, lines=[("SKU-CAP-9", 1)]) for _ in range(12)]
    parcels = services.parcels_create(order_ids=[o.pk for o in orders])
    report = services.number_parcels(shipment_ids=[p.pk for p in parcels])
    assert len(report.numbered) == 12
    calls = [c for c in emulator.calls if c["api"] == GET]
    assert len(calls) == 2  # Cainiao takes at most 10 per call
    assert len({p.tracking_number for p in Shipment.objects.all()}) == 12
