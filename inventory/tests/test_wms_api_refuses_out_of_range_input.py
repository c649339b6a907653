"""WMS API: input the database cannot hold is a 400 naming the field, never a 500, and writes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement
from inventory.tests.factories import make_sku, make_warehouse

URL = "/api/v1/inventory/movements"
INT_MAX = 2**31 - 1


@pytest.fixture
def api(db):
    user = get_user_model().objects.create_user("wms", password="x")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="inventory", codename__in=["add_stockmovement", "view_stocklevel"]
        )
    )
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    make_warehouse("SH")
    make_sku("TEA-1")
    return client


def _post(api, **overrides):
    body = {"warehouse": "SH", "sku": "TEA-1", "kind": "inbound", "quantity": 5, "reference": "GRN-1"}
    body.update(overrides)
    return api.post(URL, body, format="json")


@pytest.mark.parametrize(
    "overrides",
    [
        {"quantity": INT_MAX + 1},
        {"quantity": 10**20},
        {"kind": "adjustment", "quantity": -(10**20)},
        {"kind": "count", "quantity": 10**12},
    ],
)
def test_a_quantity_beyond_the_column_is_400_on_quantity(api, overrides):
    response = _post(api, **overrides)
    assert response.status_code == 400, response.content
    assert "quantity" in response.json()
    assert not StockMovement.objects.exists()


def test_stock_that_would_overflow_on_hand_is_400_and_keeps_the_first_receipt(api):
    assert _post(api, quantity=INT_MAX).status_code == 201
    response = _post(api, quantity=1, reference="GRN-2")
    assert response.status_code == 400, response.content
    assert "quantity" in response.json()
    assert StockMovement.objects.count() == 1
    assert StockLevel.objects.get().on_hand == INT_MAX


@pytest.mark.parametrize("params", [{"sku": "TEA\x00-1"}, {"warehouse": "S\x00H"}, {"sku": "x" * 5000}])
def test_levels_with_unusable_filters_is_400_or_empty_never_500(api, params):
    response = api.get("/api/v1/inventory/levels", params)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert set(response.json()) & set(params)
    else:
        assert response.json()["results"] == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"warehouse": "SH"}', b'{"warehouse": {"a": 1}, "sku": "TEA-1"}'],
)
def test_malformed_bodies_are_400(api, body):
    response = api.post(URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not StockMovement.objects.exists()
