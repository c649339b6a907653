"""Finding 1: the order API answered every logged-in user. Reading now needs orders.view_order,
each transition its own permission; a user without them gets 403 and nothing changes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token

from orders.models import Order, OrderState
from orders.tests.factories import make_channel, make_order_in_state

pytestmark = pytest.mark.django_db


def _user(name: str, *codenames: str) -> User:
    user = User.objects.create_user(name, password="pw")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def test_logged_in_user_without_permission_reads_no_order(client):
    order = make_order_in_state(make_channel(), OrderState.READY)
    client.force_login(_user("nobody"))
    for url in ("/api/v1/orders/", f"/api/v1/orders/{order.pk}/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert order.receiver_phone not in response.content.decode()


def test_token_user_with_view_permission_reads_orders(client):
    order = make_order_in_state(make_channel(), OrderState.READY)
    token = Token.objects.create(user=_user("reader", "view_order"))
    response = client.get("/api/v1/orders/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [order.pk]


def test_transition_needs_its_own_permission_and_changes_nothing_without_it(client):
    order = make_order_in_state(make_channel(), OrderState.READY)
    client.force_login(_user("reader", "view_order"))
    response = client.post(f"/api/v1/orders/{order.pk}/hold/", {"note": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).state == OrderState.READY

    client.force_login(_user("holder", "view_order", "hold_order"))
    response = client.post(f"/api/v1/orders/{order.pk}/hold/", {"note": "x"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["state"] == OrderState.ON_HOLD
    assert Order.objects.get(pk=order.pk).state == OrderState.ON_HOLD


def test_a_write_the_view_names_no_permission_for_is_refused():
    """ModelActionPermission is closed by default: a write without a named permission is refused
    even for a user who holds every model permission (only a superuser passes has_perms)."""
    from rest_framework.test import APIRequestFactory, force_authenticate
    from rest_framework.views import APIView

    from orderhub.permissions import ModelActionPermission

    class Unnamed(APIView):
        permission_model = Order

        def post(self, request):
            return None

    user = _user("all", "view_order", "add_order", "change_order", "delete_order")
    request = APIRequestFactory().post("/x", {})
    force_authenticate(request, user=user)
    response = Unnamed.as_view()(request)
    assert response.status_code == 403
    assert ModelActionPermission in [type(p) for p in Unnamed().get_permissions()]
