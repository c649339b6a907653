"""WMS API: token-authenticated, idempotent by reference, 400 with field errors and nothing written."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory.models import Sku, StockLevel, StockMovement, Warehouse
from inventory.tests.factories import ingest, make_channel, make_sku, make_warehouse, stock

URL = "/api/v1/inventory/movements"


@pytest.fixture
def api(db):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("wms", password="x")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="inventory", codename__in=["add_stockmovement", "view_stocklevel"]
        )
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    make_warehouse("SH")
    make_sku("TEA-1")
    return client


def _post(api, **overrides):
    body = {"warehouse": "SH", "sku": "TEA-1", "kind": "inbound", "quantity": 5, "reference": "GRN-1"}
    body.update(overrides)
    return api.post(URL, body, format="json")


def test_movement_needs_a_token(db):
    assert APIClient().post(URL, {}, format="json").status_code in (401, 403)


def test_movement_needs_the_add_movement_permission(db):
    user = get_user_model().objects.create_user("viewer", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.post(URL, {}, format="json").status_code == 403
    assert client.get("/api/v1/inventory/levels").status_code == 403


def test_first_receipt_is_201_and_a_replay_returns_the_stored_result_with_200(api):
    first = _post(api)
    assert first.status_code == 201, first.content
    assert first.json()["balance_after"] == 5 and first.json()["replayed"] is False
    again = _post(api)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    assert StockMovement.objects.count() == 1
    assert StockLevel.objects.get().on_hand == 5


def test_reusing_a_reference_for_other_data_is_a_conflict(api):
    _post(api)
    assert _post(api, quantity=7).status_code == 409
    assert StockLevel.objects.get().on_hand == 5


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sku": "NOPE"}, "sku"),
        ({"warehouse": "XX"}, "warehouse"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": -3}, "quantity"),
        ({"kind": "outbound", "quantity": 0}, "quantity"),
        ({"kind": "adjustment", "quantity": 0}, "quantity"),
        ({"kind": "count", "quantity": -1}, "quantity"),
        ({"kind": "teleport"}, "kind"),
        ({"reference": ""}, "reference"),
        ({"quantity": "many"}, "quantity"),
    ],
)
def test_bad_input_is_400_with_field_errors_and_writes_nothing(api, overrides, field):
    response = _post(api, **overrides)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not StockMovement.objects.exists()
    assert not StockLevel.objects.filter(on_hand__gt=0).exists()


def test_outbound_beyond_available_is_refused(api):
    _post(api)
    response = _post(api, kind="outbound", quantity=6, reference="OUT-1")
    assert response.status_code == 400 and "quantity" in response.json()
    assert StockMovement.objects.count() == 1


def test_count_below_reserved_is_accepted_but_flagged(api):
    channel = make_channel()
    level = stock(Sku.objects.get(code="TEA-1"), Warehouse.objects.get(code="SH"), 4)
    order = ingest(channel, "C-1", [("", "TEA-1", 3)])
    level.refresh_from_db()
    assert level.reserved == 3
    response = _post(api, kind="count", quantity=1, reference="COUNT-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["flagged"] is True and str(order.pk) in body["flag_reason"]
    assert body["counted"] == 1 and body["quantity"] == -3 and body["balance_after"] == 1
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (1, 0)
    from inventory.models import EventKind, InventoryEvent

    assert InventoryEvent.objects.filter(kind=EventKind.COUNT_BELOW_RESERVED).exists()


def test_a_scanner_reads_refusals_and_flags_in_its_language(api):
    """The warehouse's PDA asks in Chinese: a refused movement names the field's problem in Chinese,
    a flagged count says why in Chinese, and the event and alert read so too (English kept stored)."""
    from inventory.models import EventKind, InventoryEvent
    from orders.models import Alert

    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    body = {"warehouse": "SH", "sku": "TEA-1", "kind": "outbound", "quantity": 6, "reference": "OUT-1"}
    refused = api.post(URL, {**body, "warehouse": "NOPE"}, format="json", **zh)
    assert refused.status_code == 400 and refused.json()["warehouse"] == ["未知仓库 'NOPE'。"]
    refused = api.post(URL, body, format="json", **zh)
    assert refused.status_code == 400 and refused.json()["quantity"] == ["SH 仅可用 0（在库 0，已占用 0）。"]

    level = stock(Sku.objects.get(code="TEA-1"), Warehouse.objects.get(code="SH"), 4)
    order = ingest(make_channel(), "C-1", [("", "TEA-1", 3)])
    level.refresh_from_db()
    count = {"warehouse": "SH", "sku": "TEA-1", "kind": "count", "quantity": 1, "reference": "COUNT-1"}
    flagged = api.post(URL, count, format="json", **zh).json()
    expected = f"盘点数 1 低于已占用的 3 件；已释放订单 {order.pk} 的占用（它们需要重新分配库存）。"
    assert flagged["flag_reason"] == expected
    movement = StockMovement.objects.get(pk=flagged["id"])
    assert movement.flag_reason.startswith("Counted 1 below the 3 units reserved")  # stored in English
    with translation.override("zh-hans"):
        assert InventoryEvent.objects.get(kind=EventKind.COUNT_BELOW_RESERVED).text == expected
        alert = Alert.objects.get(key="inventory:count_below_reserved:TEA-1:SH", resolved_at__isnull=True)
        assert expected in alert.text


def test_levels_by_sku(api):
    _post(api)
    make_warehouse("GZ", priority=200)
    _post(api, warehouse="GZ", quantity=2, reference="GRN-2")
    response = api.get("/api/v1/inventory/levels", {"sku": "TEA-1"})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["warehouse"], r["on_hand"], r["available"]) for r in rows] == [("SH", 5, 5), ("GZ", 2, 2)]
