"""Channel credentials are write-only: shown as ••••1234 or "not set", set or replaced through an
empty input, never rendered by any admin page or API answer, never kept in history."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from orderhub import roles
from orderhub.tests.world import SECRETS, SUPERUSER, build_world
from orders.models import Channel
from orders.tests.factories import make_channel

pytestmark = pytest.mark.django_db


def _assert_no_secret(text: str, where: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"{name} rendered on {where}"


def test_view_only_staff_sees_no_channel_secret(client):
    """Finding 2: a staff user who may only view channels read every credential on the change page."""
    channel = make_channel(**SECRETS)
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_channel"))
    client.force_login(clerk)
    html = client.get(reverse("admin:orders_channel_change", args=[channel.pk])).content.decode()
    _assert_no_secret(html, "the channel change page")
    assert "••••0005" in html  # the webhook secret, last 4 only
    assert 'value="APPSECRET' not in html


def test_unset_secret_shows_not_set(admin_client):
    channel = make_channel(sign_secret="", message_key="")
    html = admin_client.get(reverse("admin:orders_channel_change", args=[channel.pk])).content.decode()
    assert html.count("not set") >= 2


def _form_data(channel: Channel, **secrets: str) -> dict:
    data = {
        "platform": channel.platform,
        "name": channel.name,
        "enabled": "on",
        "ship_within_hours": channel.ship_within_hours,
        "api_base_url": channel.api_base_url,
        "app_key": channel.app_key,
        "pull_enabled": "on",
        "pull_interval_minutes": channel.pull_interval_minutes,
        "app_secret": "",
        "access_token": "",
        "sign_secret": "",
        "message_key": "",
        "webhook_secret": "",
    }
    data.update(secrets)
    return data


def test_empty_input_keeps_a_secret_and_a_typed_one_replaces_it(admin_client):
    channel = make_channel(**SECRETS)
    url = reverse("admin:orders_channel_change", args=[channel.pk])
    response = admin_client.post(url, _form_data(channel, name="renamed"))
    assert response.status_code == 302, response.content.decode()[:2000]
    channel.refresh_from_db()
    assert channel.name == "renamed"
    assert {name: getattr(channel, name) for name in SECRETS} == SECRETS

    new_secret = "WEBHOOKSECRET-replaced-9999"
    assert admin_client.post(url, _form_data(channel, webhook_secret=new_secret)).status_code == 302
    channel.refresh_from_db()
    assert channel.webhook_secret == new_secret and channel.app_secret == SECRETS["app_secret"]
    latest = channel.history.order_by("-history_id").first()
    assert latest.history_change_reason == "credentials set: webhook_secret"  # who, and which field
    assert latest.history_user.is_superuser
    assert not hasattr(latest, "webhook_secret")  # history never stores the value

    history = admin_client.get(reverse("admin:orders_channel_history", args=[channel.pk])).content.decode()
    assert new_secret not in history
    _assert_no_secret(history, "the channel history")
    for record in channel.history.all():
        page = admin_client.get(reverse("admin:orders_channel_simple_history", args=[channel.pk, record.pk]))
        assert page.status_code == 200
        assert new_secret not in page.content.decode()
        _assert_no_secret(page.content.decode(), f"history version {record.pk}")


def test_new_channel_takes_its_secrets_from_the_add_form(admin_client):
    response = admin_client.post(
        reverse("admin:orders_channel_add"),
        _form_data(
            Channel(platform="jd", name="京东店", app_key="jdk", ship_within_hours=4, pull_interval_minutes=2),
            app_secret="JD-APP-SECRET-123456",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get(name="京东店")
    assert channel.app_secret == "JD-APP-SECRET-123456" and channel.webhook_secret == ""


@pytest.mark.parametrize("role", [roles.VIEWER, SUPERUSER])
def test_no_admin_page_or_api_answer_renders_a_secret(client, role, settings):
    """Every admin changelist, change, add and history page and every history version, and every
    API GET, as a reader and as the superuser: the secret values never appear."""
    settings.INVENTORY_ENQUEUE_TASKS = False
    world = build_world()
    client.force_login(world.users[role])
    pages = 0
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        urls = [reverse("admin:{}_{}_changelist".format(*info)), reverse("admin:{}_{}_add".format(*info))]
        for obj in model._default_manager.order_by("pk")[:3]:
            urls += [
                reverse("admin:{}_{}_change".format(*info), args=[obj.pk]),
                reverse("admin:{}_{}_history".format(*info), args=[obj.pk]),
            ]
            if hasattr(obj, "history") and hasattr(model_admin, "history_form_view"):
                urls += [
                    reverse("admin:{}_{}_simple_history".format(*info), args=[obj.pk, record.pk])
                    for record in obj.history.all()
                ]
        for url in urls:
            response = client.get(url)
            if response.status_code == 200:
                pages += 1
                _assert_no_secret(response.content.decode(), f"{url} as {role}")
    for url in ("/api/v1/orders/", f"/api/v1/orders/{world.order.pk}/", "/api/v1/inventory/levels", "/api/schema/"):
        response = client.get(url)
        assert response.status_code == 200
        _assert_no_secret(response.content.decode(), f"{url} as {role}")
    assert pages > 40  # the walk really read pages
