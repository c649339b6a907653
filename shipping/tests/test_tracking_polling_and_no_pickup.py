"""The scheduled checks: the polling fallback finds what a lost callback did not bring (through the
same update path), and a parcel with no movement 24 h after it was scanned out raises "no pickup"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rules.models import ExceptionTask
from shipping import services, tasks
from shipping.models import ShipmentState, TrackingEvent, TrackingSubscription
from shipping.tests.conftest import reload
from shipping.tests.tracking_helpers import ship_order, subscribe_all
from shipping.tracking import TrackingPoint, TrackingUpdate

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("service", ["kuaidi100", "kuaidiniao"])
def test_polling_picks_up_a_delivery_whose_callback_was_lost(service, settings, tracking, shop, scanner, warehouse):
    settings.TRACKING_BACKEND = service
    _device, client = scanner
    order, (parcel,) = ship_order(shop, client)
    subscribe_all()
    tracking.add_fault("lost_callback", count=2)
    (lost,) = tracking.advance(parcel.tracking_number, "collected")
    tracking.advance(parcel.tracking_number, "delivered", eta="")
    assert lost["sent"] is False and lost["reason"] == "lost_callback"

    # not yet stale: nothing polled
    assert services.tracking_poll().polled == []

    later = timezone.now() + timedelta(hours=settings.TRACKING_POLL_AFTER_HOURS + 1)
    report = services.tracking_poll(now=later)
    assert report.polled == [parcel.pk] and report.delivered == [parcel.pk], report
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.DELIVERED
    assert reload(order).state == "delivered"
    assert list(TrackingEvent.objects.filter(shipment=parcel).order_by("at").values_list("state", flat=True)) == [
        "collected",
        "delivered",
    ]
    assert TrackingSubscription.objects.get(shipment=parcel).last_polled_at == later

    # delivered parcels are not polled again
    assert services.tracking_poll(now=later + timedelta(days=1)).polled == []


def test_a_failing_query_is_recorded_and_the_parcel_waits_for_the_next_round(
    settings, tracking, shop, scanner, warehouse
):
    _device, client = scanner
    _order, (parcel,) = ship_order(shop, client)
    subscribe_all()
    tracking.add_fault("unreachable")
    later = timezone.now() + timedelta(hours=13)
    report = services.tracking_poll(now=later)
    assert report.errors and report.polled == []
    row = TrackingSubscription.objects.get(shipment=parcel)
    assert "503" in row.last_error and row.last_polled_at == later
    assert services.tracking_poll(now=later + timedelta(hours=1)).errors == {}  # polled recently: skipped


def test_no_movement_24_hours_after_shipping_raises_no_pickup_once(settings, tracking, shop, scanner, warehouse):
    _device, client = scanner
    order, (parcel,) = ship_order(shop, client)
    moving_order, (moving,) = ship_order(shop, client)
    subscribe_all()
    collected = TrackingPoint(at=timezone.now(), state="collected", text="已揽收")
    services.tracking_apply_update(
        update=TrackingUpdate(
            company="zhongtong", number=moving.tracking_number, points=[collected], state="collected"
        ),
        backend="kuaidi100",
        source="test",
    )

    assert services.tracking_check_no_pickup(now=timezone.now() + timedelta(hours=23)) == []
    day_later = timezone.now() + timedelta(hours=settings.TRACKING_NO_PICKUP_HOURS, minutes=1)
    assert services.tracking_check_no_pickup(now=day_later) == [parcel.pk]
    task = ExceptionTask.objects.get(order=order)
    assert task.exception_type.code == "no_pickup" and parcel.tracking_number in task.note
    assert not ExceptionTask.objects.filter(order=moving_order).exists()

    # once per parcel: a person closing the task does not see it reopened by the next run
    ExceptionTask.objects.filter(pk=task.pk).update(state="resolved")
    assert services.tracking_check_no_pickup(now=day_later + timedelta(hours=1)) == []
    assert tasks.check_no_pickup() == {"flagged": 0}
    assert ExceptionTask.objects.filter(order=order, state="open").count() == 0
