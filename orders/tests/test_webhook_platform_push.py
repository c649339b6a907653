"""Douyin and Kuaishou native pushes: verified, deduplicated on the message id, and treated as a
trigger — the order is re-read with the platform's detail API before anything changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from orders.gateway import process_push_message, sweep_push_messages
from orders.models import Channel, InboundMessage, Order, OrderState
from orders.tests.factories import make_channel

pytestmark = pytest.mark.django_db
MESSAGE_KEY = "MDEyMzQ1Njc4OWFiY2RlZg=="  # Base64 of a 16-byte AES key


def push_channel(emulator, platform: str) -> Channel:
    channel = make_channel(
        platform=platform,
        app_key=f"{platform}-app",
        app_secret=f"{platform}-secret",
        access_token="tok",
        message_key=MESSAGE_KEY,
        api_base_url=emulator.url_for(platform),
    )
    emulator.add_shop(platform, channel.app_key, channel.app_secret, access_token="tok", message_key=MESSAGE_KEY)
    return channel


def deliver(channel, headers: dict[str, str], body: bytes):
    return APIClient().post(
        f"/api/v1/channels/{channel.pk}/webhook", data=body, content_type=headers.pop("Content-Type"), headers=headers
    )


@pytest.mark.parametrize(
    ("platform", "reply"), [("douyin", {"code": 0, "msg": "success"}), ("kuaishou", {"result": 1})]
)
def test_push_is_recorded_once_then_order_is_read_from_the_detail_api(channel_emulator, platform, reply):
    channel = push_channel(channel_emulator, platform)
    [external_id] = channel_emulator.generate(platform, 1, seed=4)

    headers, body = channel_emulator.push_message(platform, channel.app_key, external_id, "pay")
    first = deliver(channel, dict(headers), body)
    again = deliver(channel, dict(headers), body)  # the platform redelivers the same message

    assert first.status_code == again.status_code == 200
    assert first.json() == reply
    message = InboundMessage.objects.get(channel=channel)
    assert message.external_id == external_id and message.processed_at is None
    assert not Order.objects.exists()  # a trigger only: nothing changes before the re-read

    result = process_push_message(message_id=message.pk)
    order = Order.objects.get(channel=channel, external_id=external_id)
    assert result.created and order.source == "push"
    assert order.raw_payload  # the native detail payload, as the platform returned it
    message.refresh_from_db()
    assert message.processed_at is not None
    assert process_push_message(message_id=message.pk) is None  # running twice changes nothing


def test_bad_douyin_event_sign_is_401(channel_emulator):
    channel = push_channel(channel_emulator, "douyin")
    [external_id] = channel_emulator.generate("douyin", 1, seed=4)
    headers, body = channel_emulator.push_message("douyin", channel.app_key, external_id, "pay")
    headers["event-sign"] = "0" * 32
    assert deliver(channel, headers, body).status_code == 401
    assert not InboundMessage.objects.exists()


def test_kuaishou_body_under_another_key_is_401(channel_emulator):
    channel = push_channel(channel_emulator, "kuaishou")
    [external_id] = channel_emulator.generate("kuaishou", 1, seed=4)
    headers, body = channel_emulator.push_message("kuaishou", channel.app_key, external_id, "pay")
    Channel.objects.filter(pk=channel.pk).update(message_key="ZmVkY2JhOTg3NjU0MzIxMA==")
    assert deliver(channel, headers, body).status_code == 401
    assert not InboundMessage.objects.exists()


def test_kuaishou_heartbeat_is_acknowledged_and_records_nothing(channel_emulator):
    from orders.channels.kuaishou import encrypt_push

    channel = push_channel(channel_emulator, "kuaishou")
    body = encrypt_push('{"test":true}', MESSAGE_KEY).encode()
    response = deliver(channel, {"Content-Type": "text/plain"}, body)
    assert response.status_code == 200 and response.json() == {"result": 1}
    assert not InboundMessage.objects.exists()


def test_later_push_updates_the_order_through_the_state_machine(channel_emulator):
    channel = push_channel(channel_emulator, "douyin")
    [external_id] = channel_emulator.generate("douyin", 1, seed=8)
    headers, body = channel_emulator.push_message("douyin", channel.app_key, external_id, "pay")
    deliver(channel, headers, body)
    process_push_message(message_id=InboundMessage.objects.get().pk)
    assert Order.objects.get().state != OrderState.CANCELLED

    channel_emulator.apply_event("douyin", external_id, "cancel")
    headers, body = channel_emulator.push_message("douyin", channel.app_key, external_id, "cancel")
    deliver(channel, headers, body)
    process_push_message(message_id=InboundMessage.objects.latest("id").pk)
    order = Order.objects.get()
    assert order.state == OrderState.CANCELLED
    assert order.platform_status == "cancelled"


def test_sweep_processes_messages_a_lost_task_left_behind(channel_emulator):
    channel = push_channel(channel_emulator, "kuaishou")
    ids = channel_emulator.generate("kuaishou", 3, seed=9)
    for external_id in ids:
        headers, body = channel_emulator.push_message("kuaishou", channel.app_key, external_id, "pay")
        deliver(channel, headers, body)
    assert InboundMessage.objects.filter(processed_at__isnull=True).count() == 3

    assert sweep_push_messages(older_than=timedelta(0)) == 3
    assert set(Order.objects.values_list("external_id", flat=True)) == set(ids)
    assert not InboundMessage.objects.filter(processed_at__isnull=True).exists()


def test_failed_re_read_keeps_the_message_for_the_sweep(channel_emulator):
    from orders.channels.base import RetryableChannelError

    channel = push_channel(channel_emulator, "douyin")
    [external_id] = channel_emulator.generate("douyin", 1, seed=4)
    headers, body = channel_emulator.push_message("douyin", channel.app_key, external_id, "pay")
    deliver(channel, headers, body)
    channel_emulator.add_fault("douyin", "http500", count=1)
    message = InboundMessage.objects.get()
    with pytest.raises(RetryableChannelError):
        process_push_message(message_id=message.pk)
    message.refresh_from_db()
    assert message.processed_at is None and message.attempts == 1 and "500" in message.last_error
    assert sweep_push_messages(older_than=timedelta(0)) == 1
    assert Order.objects.filter(external_id=external_id).exists()
