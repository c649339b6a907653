"""Tracking in the admin: a parcel's movements show on its page, parcels filter by delivered /
problem / no movement, and sending a failed subscription again needs its permission and is logged."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from orderhub import roles
from shipping.models import TrackingEvent, TrackingSubscription
from shipping.tests.tracking_helpers import ship_order

pytestmark = pytest.mark.django_db


def _user(role: str):
    user = get_user_model().objects.create_user(role.replace(" ", "_"), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def parcels(tracking, shop, scanner, warehouse):
    """Three shipped parcels: one delivered, one with a problem, one that has not moved."""
    _device, scan_client = scanner
    found = {}
    for name in ("delivered", "problem", "still"):
        _order, (parcel,) = ship_order(shop, scan_client)
        found[name] = parcel
    now = timezone.now()
    TrackingEvent.objects.create(shipment=found["problem"], at=now, state="problem", text="地址不详，联系不上收件人")
    TrackingEvent.objects.create(shipment=found["delivered"], at=now, state="delivered", text="已签收，签收人：本人")
    found["delivered"].state = "delivered"
    found["delivered"].save(update_fields=["state"])
    return found


def test_the_parcel_page_shows_its_movements_and_the_list_filters_by_tracking(client, parcels):
    client.force_login(_user(roles.VIEWER))
    page = client.get(reverse("admin:shipping_shipment_change", args=[parcels["problem"].pk]))
    assert page.status_code == 200 and "地址不详，联系不上收件人" in page.content.decode()

    listing = reverse("admin:shipping_shipment_changelist")
    for value, expected in (("delivered", "delivered"), ("problem", "problem"), ("no_movement", "still")):
        response = client.get(listing, {"tracking": value})
        assert response.status_code == 200
        shown = {s.pk for s in response.context["cl"].result_list}
        assert shown == {parcels[expected].pk}, value


def test_sending_a_failed_subscription_again_needs_the_permission_and_is_logged(client, parcels):
    row = TrackingSubscription.objects.get(shipment=parcels["still"])
    TrackingSubscription.objects.filter(pk=row.pk).update(state="failed", attempts=8, last_error="kuaidi100 700")
    url = reverse("admin:shipping_trackingsubscription_changelist")
    action = {"action": "send_again", "_selected_action": [row.pk]}

    client.force_login(_user(roles.VIEWER))
    client.post(url, action)
    assert TrackingSubscription.objects.get(pk=row.pk).state == "failed"  # no permission: nothing done

    ops = _user(roles.OPS)
    client.force_login(ops)
    assert client.get(url).status_code == 200
    client.post(url, action)
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("pending", 0)
    assert LogEntry.objects.filter(user=ops, object_id=str(row.pk)).exists()
