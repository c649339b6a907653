"""The API filters orders by the same exact keys as the admin search (external id, buyer nick,
receiver phone, tracking number), masks the phone comparison for a reader without receiver
details, and says when its `count` is not exact (issue 15: no COUNT(*) over a million rows)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orderhub import pagination
from orders.models import Order
from orders.tests.factories import make_channel
from shipping.models import Carrier, Shipment, ShipmentLine

pytestmark = pytest.mark.django_db


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def orders() -> list[Order]:
    shop = make_channel()
    rows = [("T-1001", "tea_lover", "13912345678"), ("T-1002", "Tea_Lover", "13900005678"), ("T-1003", "sam", "")]
    return [
        Order.objects.create(
            channel=shop,
            external_id=external_id,
            platform_status="awaiting_shipment",
            buyer_nick=nick,
            receiver_phone=phone,
        )
        for external_id, nick, phone in rows
    ]


def _ids(client: APIClient, **params) -> list[int]:
    response = client.get("/api/v1/orders/", params)
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def test_the_api_filters_by_each_exact_key(orders):
    api = _client(User.objects.create_superuser("ops", password="pw"))
    carrier, _ = Carrier.objects.get_or_create(code="ZTO", defaults={"name": "中通"})
    parcel = Shipment.objects.create(
        parcel_key="P-9", channel=orders[2].channel, carrier=carrier, tracking_number="ZT1"
    )
    line = orders[2].lines.create(title="茶", quantity=1, unit_price=Decimal("9.90"))
    ShipmentLine.objects.create(shipment=parcel, order=orders[2], order_line=line, quantity=1)

    assert _ids(api, external_id="T-1002") == [orders[1].pk]
    assert _ids(api, buyer_nick="tea_lover") == [orders[0].pk]  # exact: the other nick differs in case
    assert _ids(api, receiver_phone="+86 139-1234-5678") == [orders[0].pk]
    assert _ids(api, tracking_number="ZT1") == [orders[2].pk]
    assert _ids(api, tracking_number="ZT2") == []
    assert _ids(api, external_id="T-1001", buyer_nick="sam") == []


def test_a_reader_without_receiver_details_filters_the_phone_by_its_masked_form(orders):
    viewer = User.objects.create_user("viewer", password="pw")
    viewer.groups.add(Group.objects.get(name="viewer"))
    api = _client(viewer)
    # both orders share 139****5678: the answer cannot tell which full number is whose
    assert _ids(api, receiver_phone="13912345678") == [orders[0].pk, orders[1].pk]
    assert _ids(api, receiver_phone="13900005678") == [orders[0].pk, orders[1].pk]
    assert _ids(api, receiver_phone="13912340000") == []
    body = api.get("/api/v1/orders/", {"receiver_phone": "13912345678"}).content.decode()
    assert "13912345678" not in body


def test_a_key_longer_than_any_stored_one_is_400_naming_it(orders):
    api = _client(User.objects.create_superuser("ops", password="pw"))
    response = api.get("/api/v1/orders/", {"external_id": "9" * 65})
    assert response.status_code == 400 and "external_id" in response.json()


def test_the_api_count_is_capped_when_filtered_and_says_so(orders, monkeypatch):
    monkeypatch.setattr(pagination.EstimatedCountPaginator, "count_cap", 2)
    api = _client(User.objects.create_superuser("ops", password="pw"))
    capped = api.get("/api/v1/orders/", {"channel": orders[0].channel_id}).json()
    assert capped["count"] == 2 and capped["count_is_exact"] is False
    assert len(capped["results"]) == 2  # the list offers the first `cap` matches, no more
    exact = api.get("/api/v1/orders/", {"external_id": "T-1001"}).json()
    assert exact["count"] == 1 and exact["count_is_exact"] is True
    unfiltered = api.get("/api/v1/orders/").json()  # a small table is counted exactly
    assert unfiltered["count"] == 3 and unfiltered["count_is_exact"] is True
