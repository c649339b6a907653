"""POST /api/v1/channels/{id}/webhook: authentication, bad input, idempotency — nothing stored on error."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from orders.models import Order, OrderLine
from orders.tests.factories import make_channel

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures" / "channels"


def taobao_trade() -> dict:
    return json.loads((FIXTURES / "taobao_order.json").read_text())["trade_fullinfo_get_response"]["trade"]


def post_signed(channel, body: bytes, *, secret: str | None = None, stamp: int | None = None, client=None):
    stamp_text = str(stamp if stamp is not None else int(time.time()))
    signature = webhook_signature(secret=secret or channel.webhook_secret, timestamp=stamp_text, body=body)
    return (client or APIClient()).post(
        f"/api/v1/channels/{channel.pk}/webhook",
        data=body,
        content_type="application/json",
        headers={TIMESTAMP_HEADER: stamp_text, SIGNATURE_HEADER: signature},
    )


def dumps(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def test_signed_native_order_is_accepted_with_order_id_and_state():
    channel = make_channel(platform="taobao")
    response = post_signed(channel, dumps(taobao_trade()))
    assert response.status_code == 202, response.content
    body = response.json()
    order = Order.objects.get(pk=body["order_id"])
    assert body["state"] == order.state
    assert body["created"] is True and body["result"] == "created"
    assert order.external_id == "3301234500012345678"
    assert order.source == "push"
    assert order.raw_payload["tid_str"] == "3301234500012345678"
    assert order.lines.count() == 2


def test_platform_envelope_is_accepted_too():
    channel = make_channel(platform="taobao")
    envelope = json.loads((FIXTURES / "taobao_order.json").read_text())
    assert post_signed(channel, dumps(envelope)).status_code == 202
    assert Order.objects.filter(external_id="3301234500012345678").count() == 1


def test_replayed_delivery_is_one_order():
    channel = make_channel(platform="taobao")
    body = dumps(taobao_trade())
    first, second = post_signed(channel, body), post_signed(channel, body)
    assert first.status_code == second.status_code == 202
    assert second.json()["result"] == "unchanged" and second.json()["changed"] == []
    assert second.json()["order_id"] == first.json()["order_id"]
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 2


@pytest.mark.parametrize(
    "tamper",
    [
        lambda ch, body: post_signed(ch, body, secret="wrong-secret"),
        lambda ch, body: post_signed(ch, body, stamp=int(time.time()) - 330),
        lambda ch, body: post_signed(ch, body, stamp=int(time.time()) + 330),
        lambda ch, body: APIClient().post(
            f"/api/v1/channels/{ch.pk}/webhook", data=body, content_type="application/json"
        ),
        lambda ch, body: APIClient().post(
            f"/api/v1/channels/{ch.pk}/webhook",
            data=body,
            content_type="application/json",
            headers={TIMESTAMP_HEADER: "yesterday", SIGNATURE_HEADER: "00"},
        ),
    ],
    ids=["wrong-secret", "too-old", "from-the-future", "no-headers", "bad-timestamp"],
)
def test_bad_or_missing_signature_is_401_and_nothing_stored(tamper):
    channel = make_channel(platform="taobao")
    response = tamper(channel, dumps(taobao_trade()))
    assert response.status_code == 401
    assert "authentication failed" in response.json()["detail"]
    assert not Order.objects.exists()


def test_body_signed_then_altered_is_401():
    channel = make_channel(platform="taobao")
    stamp = str(int(time.time()))
    signature = webhook_signature(secret=channel.webhook_secret, timestamp=stamp, body=dumps(taobao_trade()))
    altered = taobao_trade()
    altered["payment"] = "0.01"
    response = APIClient().post(
        f"/api/v1/channels/{channel.pk}/webhook",
        data=dumps(altered),
        content_type="application/json",
        headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature},
    )
    assert response.status_code == 401
    assert not Order.objects.exists()


def _without(path: list, payload: dict) -> dict:
    payload = copy.deepcopy(payload)
    node = payload
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return payload


def _with(path: list, value, payload: dict) -> dict:
    payload = copy.deepcopy(payload)
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("make_body", "field_word"),
    [
        (lambda: b"{not json", "body"),
        (lambda: b"[1, 2]", "body"),
        (lambda: "订单".encode("gbk"), "body"),
        (lambda: dumps(_without(["tid_str"], _without(["tid"], taobao_trade()))), "tid"),
        (lambda: dumps(_without(["orders"], taobao_trade())), "orders"),
        (lambda: dumps(_with(["orders", "order", 0, "num"], -2, taobao_trade())), "num"),
        (lambda: dumps(_with(["orders", "order", 0, "price"], "-89.00", taobao_trade())), "price"),
    ],
    ids=["malformed", "not-an-object", "not-utf8", "no-order-id", "no-lines", "negative-quantity", "negative-price"],
)
def test_bad_input_is_400_naming_the_field_and_nothing_stored(make_body, field_word):
    channel = make_channel(platform="taobao")
    response = post_signed(channel, make_body())
    assert response.status_code == 400, response.content
    body = response.json()
    assert field_word in body["field"]
    assert body["detail"]
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()


def test_unknown_or_disabled_channel_is_401_like_a_bad_signature():
    disabled = make_channel(platform="taobao", enabled=False)
    assert post_signed(disabled, dumps(taobao_trade())).status_code == 401
    missing = APIClient().post("/api/v1/channels/999999/webhook", data=b"{}", content_type="application/json")
    assert missing.status_code == 401
    assert not Order.objects.exists()


def test_body_over_one_megabyte_is_413():
    channel = make_channel(platform="taobao")
    trade = taobao_trade()
    trade["buyer_message"] = "很" * 400_000  # > 1 MB once UTF-8 encoded
    response = post_signed(channel, dumps(trade))
    assert response.status_code == 413
    assert not Order.objects.exists()


def test_push_only_platforms_refuse_unsigned_native_push():
    """A Taobao channel has no HTTP push of its own: only OrderHub's signed format is accepted."""
    channel = make_channel(platform="taobao")
    response = APIClient().post(
        f"/api/v1/channels/{channel.pk}/webhook", data=dumps(taobao_trade()), content_type="application/json"
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "value", "field_word"),
    [
        (["tid_str"], "9" * 80, "external_id"),
        (["receiver_city"], "市" * 100, "receiver_city"),
        (["orders", "order", 0, "outer_sku_id"], "X" * 100, "lines[0].sku_code"),
        (["payment"], "123456789012.00", "paid_amount"),
    ],
    ids=["long-order-id", "long-city", "long-sku-code", "huge-amount"],
)
def test_values_the_database_cannot_hold_are_400_not_500(path, value, field_word):
    channel = make_channel(platform="taobao")
    response = post_signed(channel, dumps(_with(path, value, taobao_trade())))
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field_word
    assert not Order.objects.exists()
