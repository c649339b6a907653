"""The shipping admin: a scanner's token is shown once and works, revoking stops it; an account's
refresh shows its quota; void and re-issue needs its own permission; changes leave history; the
pages render in Simplified Chinese."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from shipping.models import ScannerDevice, Shipment, ShipmentState, WaybillAccount
from shipping.tests.conftest import account_on, ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return user


def staff_with(*perms):
    user = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return get_user_model().objects.get(pk=user.pk)


def test_creating_a_scanner_shows_its_token_once_and_revoking_stops_it(client, boss, warehouse):
    response = client.post(
        reverse("admin:shipping_scannerdevice_add"), {"name": "PDA-07", "warehouse": warehouse.pk}, follow=True
    )
    assert response.status_code == 200
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    token = re.search(r"(ohs_[A-Za-z0-9_-]{20,})", shown).group(1)
    device = ScannerDevice.objects.get(name="PDA-07")
    assert device.created_by == boss and token not in device.token_hash
    assert device.history.first().history_user == boss
    page = client.get(reverse("admin:shipping_scannerdevice_change", args=[device.pk]))
    assert token not in page.content.decode()  # never shown again

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.post("/api/v1/scans/outbound", {"code": "NOPE"}, format="json").status_code == 404
    client.post(
        reverse("admin:shipping_scannerdevice_changelist"), {"action": "revoke", "_selected_action": [device.pk]}
    )
    assert api.post("/api/v1/scans/outbound", {"code": "NOPE"}, format="json").status_code == 403


def test_the_refresh_action_shows_the_quota(client, boss, shop, emulator):
    channel = shop("taobao")
    account = account_on(channel)
    WaybillAccount.objects.filter(pk=account.pk).update(quota=None)
    response = client.post(
        reverse("admin:shipping_waybillaccount_changelist"),
        {"action": "refresh", "_selected_action": [account.pk]},
        follow=True,
    )
    assert "500 numbers left" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert WaybillAccount.objects.get(pk=account.pk).quota == 500
    listing = client.get(reverse("admin:shipping_waybillaccount_changelist"))
    assert ">500<" in listing.content.decode()


def test_void_and_reissue_needs_its_permission(client, shop, emulator, warehouse):
    from shipping import services

    channel = shop("taobao")
    account_on(channel)
    order = ingest(channel)
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.number_parcels(shipment_ids=[parcel.pk])
    changelist = reverse("admin:shipping_shipment_changelist")

    clerk = staff_with("shipping.view_shipment")
    client.force_login(clerk)
    assert "void_and_reissue" not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "void_and_reissue", "_selected_action": [parcel.pk]})
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.NUMBERED

    lead = get_user_model().objects.create_user("lead", password="pw", is_staff=True)
    for codename in ("view_shipment", "void_shipment"):
        lead.user_permissions.add(Permission.objects.get(content_type__app_label="shipping", codename=codename))
    client.force_login(lead)
    response = client.post(changelist, {"action": "void_and_reissue", "_selected_action": [parcel.pk]}, follow=True)
    assert "new number" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.VOIDED
    assert Shipment.objects.get(pk=parcel.pk).history.first().history_user == lead


def test_shipping_pages_render_in_chinese(client, boss, warehouse):
    client.cookies["django_language"] = "zh-hans"
    for name in ("carrier", "waybillaccount", "shipment", "scannerdevice", "writeback", "buyernotice"):
        page = client.get(reverse(f"admin:shipping_{name}_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert page.status_code == 200
    carriers = client.get(reverse("admin:shipping_carrier_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "承运商" in carriers.content.decode()
