"""A Douyin shop's after-sale on one sub-order, as the platform does it: the emulator changes the order
(its control API, over HTTP), pushes a signed trigger to the webhook, and OrderHub re-reads the order
with the detail API. The line follows: requested (order held), withdrawn (released, task cleared),
refunded (stock back, the rest ready)."""

from __future__ import annotations

import pytest
import requests
from rest_framework.test import APIClient

from inventory.models import ReservationState, StockReservation
from inventory.tests.factories import make_sku, make_warehouse, stock
from orders.channels.fakes import CATALOG, RENDERERS
from orders.gateway import process_push_message
from orders.models import InboundMessage, LineRefundState, Order, OrderLine
from orders.tests.factories import make_channel, open_task, two_line_draft
from rules.models import Resolution, TaskState

pytestmark = pytest.mark.django_db
TEE, SOCK = CATALOG[0].code, CATALOG[2].code


@pytest.fixture(autouse=True)
def _no_task_broker(settings):
    settings.INVENTORY_ENQUEUE_TASKS = False


def push_and_read(emulator, channel, external_id: str, event: str, *, line: int) -> Order:
    """The platform's side (event over the control API, then its signed push), then OrderHub's re-read."""
    reply = requests.post(
        f"{emulator.base_url}/_emulator/events",
        json={"platform": "douyin", "external_id": external_id, "event": event, "line": line},
        timeout=5,
    )
    assert reply.status_code == 200, reply.text
    headers, body = emulator.push_message("douyin", channel.app_key, external_id, event)
    content_type = headers.pop("Content-Type")
    answer = APIClient().post(
        f"/api/v1/channels/{channel.pk}/webhook", data=body, content_type=content_type, headers=headers
    )
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "success"}
    message = InboundMessage.objects.filter(channel=channel, processed_at__isnull=True).get()
    process_push_message(message_id=message.pk)
    return Order.objects.get(channel=channel, external_id=external_id)


def test_douyin_after_sale_on_one_sub_order_is_followed(channel_emulator):
    warehouse = make_warehouse("WH-DY")
    for code in (TEE, SOCK):
        stock(make_sku(code), warehouse, 5)
    channel = make_channel(
        platform="douyin",
        app_key="douyin-app",
        app_secret="douyin-secret",
        access_token="tok",
        api_base_url=channel_emulator.url_for("douyin"),
    )
    channel_emulator.add_shop("douyin", channel.app_key, channel.app_secret, access_token="tok")
    [external_id] = channel_emulator.add_orders("douyin", RENDERERS["douyin"](two_line_draft(serial=5100)))

    order = push_and_read(channel_emulator, channel, external_id, "refund_request", line=1)
    socks = OrderLine.objects.get(order=order, sku_code=SOCK)
    assert socks.refund_state == LineRefundState.REQUESTED and order.state == "on_hold"
    task = open_task(order.pk, "refund_requested")

    order = push_and_read(channel_emulator, channel, external_id, "refund_withdraw", line=1)
    socks.refresh_from_db()
    task.refresh_from_db()
    assert socks.refund_state == LineRefundState.NONE and order.state == "ready"
    assert task.state == TaskState.RESOLVED and task.resolution == Resolution.CLEARED

    push_and_read(channel_emulator, channel, external_id, "refund_request", line=1)
    order = push_and_read(channel_emulator, channel, external_id, "refund_complete", line=1)
    socks.refresh_from_db()
    assert socks.refund_state == LineRefundState.REFUNDED and order.state == "ready"
    held = StockReservation.objects.filter(order=order, state=ReservationState.ACTIVE)
    assert list(held.values_list("order_line__sku_code", "quantity")) == [(TEE, 2)]


def test_the_emulator_refuses_a_line_the_order_does_not_have(channel_emulator):
    [external_id] = channel_emulator.add_orders("douyin", RENDERERS["douyin"](two_line_draft(serial=5200)))
    reply = requests.post(
        f"{channel_emulator.base_url}/_emulator/events",
        json={"platform": "douyin", "external_id": external_id, "event": "refund_complete", "line": 5},
        timeout=5,
    )
    assert reply.status_code == 400 and "no line 5" in reply.json()["error"]


def test_a_pull_after_a_refund_reports_the_order_updated_and_the_line_follows(channel_emulator):
    from orders.gateway import channel_pull

    warehouse = make_warehouse("WH-PULL")
    for code in (TEE, SOCK):
        stock(make_sku(code), warehouse, 5)
    channel = make_channel(
        platform="taobao", app_key="tb-pull", app_secret="tb-secret", api_base_url=channel_emulator.url_for("taobao")
    )
    channel_emulator.add_shop("taobao", channel.app_key, channel.app_secret)
    [external_id] = channel_emulator.add_orders("taobao", RENDERERS["taobao"](two_line_draft(serial=5300)))

    first = channel_pull(channel_id=channel.pk, backoff=0)
    channel_emulator.apply_event("taobao", external_id, "refund_complete", line=1)
    second = channel_pull(channel_id=channel.pk, backoff=0)
    third = channel_pull(channel_id=channel.pk, backoff=0)  # the overlap window reads it again: a redelivery

    assert (first.created, first.received) == (1, 1)
    assert (second.created, second.updated, second.unchanged, second.stale) == (0, 1, 0, 0)
    assert (third.received, third.updated, third.unchanged) == (1, 0, 1)
    order = Order.objects.get(channel=channel, external_id=external_id)
    assert OrderLine.objects.get(order=order, sku_code=SOCK).refund_state == LineRefundState.REFUNDED
    held = StockReservation.objects.filter(order=order, state=ReservationState.ACTIVE)
    assert list(held.values_list("order_line__sku_code", "quantity")) == [(TEE, 2)]
