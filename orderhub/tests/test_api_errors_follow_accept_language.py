"""API errors follow Accept-Language: service errors with state labels, not raw codes; DRF's own
errors, the JSON parse error included (issue 12, point 5)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orders.models import Order, OrderState
from orders.tests.factories import make_order_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(channel):
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser("api", "api@example.com", "pw-api-12345"))
    return client


def test_a_refused_transition_is_explained_in_chinese_with_the_states_label(api, channel):
    order = make_order_in_state(channel, OrderState.READY)
    answer = api.post(f"/api/v1/orders/{order.pk}/release/", {}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert answer.status_code == 409
    assert answer.json()["state"] == "ready"  # the code stays for programs
    detail = answer.json()["detail"]
    assert "待打印" in detail and "ready" not in detail


def test_the_same_refusal_in_english(api, channel):
    order = make_order_in_state(channel, OrderState.READY)
    answer = api.post(f"/api/v1/orders/{order.pk}/release/", {}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert answer.json()["detail"] == f"Order {order.pk} cannot “release” while it is “Ready to print”."


def test_a_malformed_json_body_is_refused_in_the_readers_language(api, channel):
    order = make_order_in_state(channel, OrderState.READY)
    answer = api.post(
        f"/api/v1/orders/{order.pk}/hold/", "{not json", content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert answer.status_code == 400
    assert answer.json()["detail"] == "请求内容不是有效的 JSON（第 1 行，第 2 列）。"
    assert Order.objects.get(pk=order.pk).state == OrderState.READY


def test_a_missing_credential_is_refused_in_the_readers_language():
    answer = APIClient().get("/api/v1/orders/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert answer.status_code == 401
    assert answer.json()["detail"] == "身份认证信息未提供。"
