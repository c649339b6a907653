"""Finding 7: receiver name, phone and street address are masked (王*, 138****0000, province/city/
district only) for users without orders.view_receiver_details — in the API, the admin list, the
change page, search, the Excel export and the history pages — and shown in full with it."""

from __future__ import annotations

import pytest
import tablib
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from orderhub import roles
from orderhub.masking import mask_name, mask_phone
from orders.models import Order, OrderState
from orders.tests.factories import make_channel, make_order_in_state

pytestmark = pytest.mark.django_db

FULL = {"receiver_name": "欧阳明月", "receiver_phone": "13912345678", "receiver_address": "文三路 478 号 17 楼"}


@pytest.fixture
def order() -> Order:
    order = make_order_in_state(make_channel(), OrderState.READY)
    Order.objects.filter(pk=order.pk).update(**FULL)
    order.refresh_from_db()
    order.receiver_phone = "13912345678"
    order.receiver_name = "王小二"
    order.save()  # a history row whose diff holds a receiver change
    for name, value in FULL.items():
        setattr(order, name, value)
    order.save()
    return order


def _user(name: str, role: str) -> User:
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer() -> User:
    return _user("viewer1", roles.VIEWER)


@pytest.fixture
def ops() -> User:
    return _user("ops1", roles.OPS)


def _assert_masked(text: str) -> None:
    for name, value in FULL.items():
        assert value not in text, f"full {name} shown"
    assert "欧*" in text


def test_masking_rules():
    assert mask_name("王小明") == "王*" and mask_name("") == ""
    assert mask_phone("13800000000") == "138****0000"
    assert mask_phone("0571-8888") == "****8888" and mask_phone("123") == "****"


def test_api_masks_receiver_for_a_viewer_and_shows_it_with_the_permission(client, order, viewer, ops):
    client.force_login(viewer)
    body = client.get(f"/api/v1/orders/{order.pk}/").json()
    assert body["receiver_name"] == "欧*"
    assert body["receiver_phone"] == "139****5678"
    assert body["receiver_address"] == "***"
    assert (body["receiver_province"], body["receiver_city"], body["receiver_district"]) == (
        order.receiver_province,
        order.receiver_city,
        order.receiver_district,
    )
    assert body["buyer_nick"] == order.buyer_nick  # documented: the nick stays visible
    _assert_masked(client.get("/api/v1/orders/").content.decode())

    client.force_login(ops)
    body = client.get(f"/api/v1/orders/{order.pk}/").json()
    assert {k: body[k] for k in FULL} == FULL


def test_admin_list_and_change_page_mask_receiver_and_hide_the_native_payload(client, order, viewer, ops):
    client.force_login(viewer)
    listing = client.get(reverse("admin:orders_order_changelist")).content.decode()
    _assert_masked(listing)
    change = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    _assert_masked(change)
    assert "139****5678" in change
    assert "native payload" not in change.lower()  # the raw payload carries the full receiver

    client.force_login(ops)
    change = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert all(value in change for value in FULL.values()) and "native payload" in change.lower()


def test_viewer_cannot_confirm_a_receiver_phone_or_name_by_searching(client, order, viewer, ops):
    """A viewer's phone search compares masked forms (139****5678): the order a caller means is
    found, but any number with the same mask finds it just as well, so the search confirms nothing
    the list does not already show; the name and bare digits find nothing."""
    url = reverse("admin:orders_order_changelist")
    client.force_login(viewer)
    for term in ("欧阳明月", "5678", "12345", "13912340000"):
        page = client.get(url, {"q": term})
        assert order.external_id not in page.content.decode(), term
    for term in ("13912345678", "13900005678", "139****5678", "+86 139 1234 5678"):
        assert order.external_id in client.get(url, {"q": term}).content.decode(), term
    assert "13912345678" not in client.get(url, {"q": "13900005678"}).content.decode()
    assert order.external_id in client.get(url, {"q": order.external_id}).content.decode()

    client.force_login(ops)
    assert order.external_id in client.get(url, {"q": "13912345678"}).content.decode()


def _export(client) -> tablib.Dataset:
    fields = ["id", "external_id", "receiver_name", "receiver_phone", "receiver_city", "receiver_address"]
    response = client.post(
        reverse("admin:orders_order_export"),
        {"format": "0", "resource": "0", **{f"orderexportresource_{name}": "on" for name in fields}},
    )
    assert response.status_code == 200, response.content[:500]
    return tablib.Dataset().load(response.content.decode("utf-8-sig"), format="csv")


def test_excel_export_masks_receiver_for_a_viewer(client, order, viewer, ops):
    client.force_login(viewer)
    data = _export(client)
    row = next(r for r in data.dict if r["Platform order id"] == order.external_id)
    assert (row["Receiver name"], row["Receiver phone"], row["Address"]) == ("欧*", "139****5678", "***")
    assert row["City"] == order.receiver_city

    client.force_login(ops)
    row = next(r for r in _export(client).dict if r["Platform order id"] == order.external_id)
    assert row["Receiver phone"] == "13912345678" and row["Address"] == FULL["receiver_address"]


def test_export_needs_the_view_permission(client, order):
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse("admin:orders_order_export")).status_code == 403


def test_history_pages_mask_receiver_changes(client, order, viewer, ops):
    client.force_login(viewer)
    history = client.get(reverse("admin:orders_order_history", args=[order.pk])).content.decode()
    _assert_masked(history)
    assert "王小二" not in history and "王*" in history  # the old value is masked too
    for record in order.history.all():
        version = client.get(reverse("admin:orders_order_simple_history", args=[order.pk, record.pk]))
        assert version.status_code == 200
        assert FULL["receiver_phone"] not in version.content.decode()

    client.force_login(ops)
    history = client.get(reverse("admin:orders_order_history", args=[order.pk])).content.decode()
    assert "王小二" in history and FULL["receiver_name"] in history


def test_granting_the_permission_reveals_details(client, order):
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(clerk)
    assert client.get(f"/api/v1/orders/{order.pk}/").json()["receiver_phone"] == "139****5678"
    clerk.user_permissions.add(Permission.objects.get(codename="view_receiver_details"))
    clerk = User.objects.get(pk=clerk.pk)  # permission cache
    client.force_login(clerk)
    assert client.get(f"/api/v1/orders/{order.pk}/").json()["receiver_phone"] == "13912345678"
