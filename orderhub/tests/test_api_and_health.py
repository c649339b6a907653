"""The API skeleton: authentication, order list/detail with filters, 409 on forbidden transitions,
health check, schema and the offline Swagger UI."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders.models import OrderState
from orders.tests.factories import make_channel, make_order_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    user = User.objects.create_superuser("ops", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_orders_api_requires_authentication():
    assert APIClient().get("/api/v1/orders/").status_code in (401, 403)


def test_orders_list_filters_by_state_and_channel(api):
    shop_a, shop_b = make_channel(), make_channel(platform="jd")
    ready = make_order_in_state(shop_a, OrderState.READY)
    make_order_in_state(shop_a, OrderState.ON_HOLD)
    other = make_order_in_state(shop_b, OrderState.READY)

    body = api.get("/api/v1/orders/", {"state": "ready"}).json()
    assert {row["id"] for row in body["results"]} == {ready.pk, other.pk}
    body = api.get("/api/v1/orders/", {"state": "ready", "channel": shop_b.pk}).json()
    assert [row["id"] for row in body["results"]] == [other.pk]
    assert api.get("/api/v1/orders/", {"state": "flying"}).status_code == 400


def test_order_detail_has_lines_and_deadline(api):
    order = make_order_in_state(make_channel(), OrderState.READY)
    body = api.get(f"/api/v1/orders/{order.pk}/").json()
    assert body["external_id"] == order.external_id
    assert body["lines"][0]["sku_code"] == "SKU-TEA-250"
    assert body["paid_amount"] == "178.00"
    assert body["ship_by"] is not None
    assert api.get("/api/v1/orders/999999/").status_code == 404


def test_forbidden_transition_answers_409_with_current_state(api):
    order = make_order_in_state(make_channel(), OrderState.SHIPPED)
    response = api.post(f"/api/v1/orders/{order.pk}/cancel/", {"note": "too late"}, format="json")
    assert response.status_code == 409
    assert response.json()["state"] == "shipped"
    assert response.json()["code"] == "transition_not_allowed"


def test_allowed_transition_through_api_changes_state(api):
    order = make_order_in_state(make_channel(), OrderState.READY)
    response = api.post(f"/api/v1/orders/{order.pk}/hold/", {"note": "check with buyer"}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "on_hold"
    assert response.json()["hold_reason"] == "check with buyer"


def test_transition_without_permission_answers_403():
    clerk = User.objects.create_user("clerk", password="pw")
    client = APIClient()
    client.force_authenticate(clerk)
    order = make_order_in_state(make_channel(), OrderState.READY)
    assert client.post(f"/api/v1/orders/{order.pk}/cancel/", {}, format="json").status_code == 403


def test_healthz_checks_the_database(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"] == "ok"
    if settings.REDIS_URL:
        assert body["checks"]["redis"] == "ok"


def test_healthz_reports_unreachable_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


def test_schema_and_offline_swagger_ui(admin_client):
    schema = admin_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/orders/" in schema.content
    docs = admin_client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"drf_spectacular_sidecar/swagger-ui-dist" in docs.content


def test_admin_index_opens_with_what_needs_attention(admin_client):
    from datetime import timedelta

    from django.utils import timezone

    from orders.models import Order

    channel = make_channel()
    late = make_order_in_state(channel, OrderState.READY)
    Order.objects.filter(pk=late.pk).update(ship_by=timezone.now() - timedelta(minutes=5))
    make_order_in_state(channel, OrderState.ON_HOLD)
    html = admin_client.get("/admin/").content.decode()
    assert "OrderHub order hub" in html and "Operations console" in html
    assert 'id="ops-summary"' in html
    dash = admin_client.get("/admin/").context["dash"]
    assert dash.overdue == 1
    assert dash.print_queue_total == 1  # the late order is ready to print
