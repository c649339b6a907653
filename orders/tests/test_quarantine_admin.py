"""Quarantined orders in the admin: listed and readable (poison payload shown as escapes), and the
"retry" and "mark resolved" actions need the change permission and leave an audit trail."""

from __future__ import annotations

import copy

import pytest
from django.contrib.auth.models import Permission, User

from orders import services
from orders.models import Alert, Order, QuarantinedMessage, QuarantineSource
from orders.tests.factories import make_channel
from orders.tests.test_channel_parsing import MANUAL_ORDER

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/orders/quarantinedmessage/"


def quarantined(channel, native, *, field="buyer_message", reason="contains a NUL character") -> QuarantinedMessage:
    return services.quarantine_record(
        channel=channel,
        source=QuarantineSource.PULL,
        native=native,
        field=field,
        reason=reason,
        external_id=str(native.get("external_id", "")),
    )


def staff(client, *codenames: str) -> User:
    user = User.objects.create_user(f"u{len(codenames)}", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


def test_changelist_and_change_page_show_the_reason_and_the_escaped_payload(admin_client):
    channel = make_channel(platform="manual")
    message = quarantined(channel, {**MANUAL_ORDER, "buyer_message": "a\x00b\ud800"})

    listing = admin_client.get(CHANGELIST)
    assert listing.status_code == 200
    assert "M-1001" in listing.content.decode() and "buyer_message" in listing.content.decode()
    page = admin_client.get(f"{CHANGELIST}{message.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "\\u0000" in html and "\\ud800" in html and "contains a NUL character" in html
    assert Alert.objects.filter(key=f"quarantine:{channel.pk}", resolved_at__isnull=True).exists()


def test_the_same_payload_again_counts_an_occurrence_not_a_row():
    channel = make_channel(platform="manual")
    first = quarantined(channel, {**MANUAL_ORDER, "buyer_message": "\x00"})
    again = quarantined(channel, {**MANUAL_ORDER, "buyer_message": "\x00"})
    assert again.pk == first.pk and again.occurrences == 2
    assert Alert.objects.get(key=f"quarantine:{channel.pk}").count == 1


def test_a_viewer_cannot_retry_or_resolve(client):
    channel = make_channel(platform="manual")
    message = quarantined(channel, copy.deepcopy(MANUAL_ORDER))
    staff(client, "view_quarantinedmessage")

    assert client.get(CHANGELIST).status_code == 200
    for action in ("retry", "mark_resolved"):
        client.post(CHANGELIST, {"action": action, "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert message.resolved_at is None and message.retries == 0
    assert not Order.objects.exists()


def test_mark_resolved_needs_change_permission_and_is_audited(client):
    channel = make_channel(platform="manual")
    message = quarantined(channel, {**MANUAL_ORDER, "buyer_message": "\x00"})
    user = staff(client, "view_quarantinedmessage", "change_quarantinedmessage")

    response = client.post(CHANGELIST, {"action": "mark_resolved", "_selected_action": [message.pk]}, follow=True)

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.resolved_at is not None and message.resolved_by == user
    assert message.resolution == "dismissed by a person"
    latest = message.history.latest()
    assert latest.history_user == user and latest.resolved_at is not None
    assert not Alert.objects.filter(key=f"quarantine:{channel.pk}", resolved_at__isnull=True).exists()


def test_retry_from_the_stored_payload_takes_the_order_in_once_the_parser_accepts_it(client):
    channel = make_channel(platform="manual")  # no API: a retry re-reads the stored payload
    refused = quarantined(channel, {**MANUAL_ORDER, "buyer_message": "\x00"})
    accepted = quarantined(channel, copy.deepcopy(MANUAL_ORDER), field="status", reason="refused by an old parser")
    user = staff(client, "view_quarantinedmessage", "change_quarantinedmessage")

    client.post(CHANGELIST, {"action": "retry", "_selected_action": [refused.pk, accepted.pk]}, follow=True)

    accepted.refresh_from_db()
    refused.refresh_from_db()
    assert accepted.resolved_at is not None and accepted.resolved_by == user
    assert accepted.history.latest().history_user == user
    assert Order.objects.get(channel=channel).external_id == "M-1001"
    assert refused.resolved_at is None and refused.retries == 1
    assert refused.field == "buyer_message" and "NUL" in refused.reason
