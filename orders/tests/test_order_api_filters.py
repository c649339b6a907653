"""Order list filters refuse values the database cannot hold with 400 naming the parameter
(found by the schema fuzz: `channel=-3.25e+249` answered 500)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders.models import OrderState
from orders.tests.factories import make_channel, make_order_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    user = User.objects.create_superuser("ops", password="pw")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize("value", ["-3.2519850285283767e+249", "9" * 30, "1.5", "0", "abc"])
def test_a_channel_id_that_is_no_whole_positive_number_is_400_naming_channel(api, value):
    response = api.get("/api/v1/orders/", {"channel": value})
    assert response.status_code == 400
    assert "channel" in response.json()


def test_a_valid_channel_id_still_filters(api):
    shop = make_channel()
    order = make_order_in_state(shop, OrderState.READY)
    make_order_in_state(make_channel(), OrderState.READY)
    assert [row["id"] for row in api.get("/api/v1/orders/", {"channel": shop.pk}).json()["results"]] == [order.pk]
