"""Inbound pushes: Douyin's signed JSON, Kuaishou's AES body, the manual bridge; others refuse HTTP pushes."""

from __future__ import annotations

import json

import pytest

from orders.channels import adapter_class, douyin, kuaishou
from orders.channels.base import ChannelCredentials, PayloadError, PushMessage, SignatureError
from orders.tests.test_channel_signing import KUAISHOU_CIPHERTEXT

DOUYIN_KEY, DOUYIN_SECRET = "7000000000000000001", "testsecret"
DOUYIN_BODY = (
    b'[{"tag":"101","msg_id":"7000000000000000000","data":"{\\"p_id\\":6900000000000000001,\\"order_status\\":2}"}]'
)
KS_KEY = "MDEyMzQ1Njc4OWFiY2RlZg=="


def douyin_adapter() -> douyin.Adapter:
    return douyin.Adapter(ChannelCredentials("douyin", app_key=DOUYIN_KEY, app_secret=DOUYIN_SECRET))


def kuaishou_adapter(key: str = KS_KEY) -> kuaishou.Adapter:
    return kuaishou.Adapter(ChannelCredentials("kuaishou", message_key=key))


def test_douyin_push_with_the_vector_signature_is_accepted():
    messages = douyin_adapter().verify_push(
        {"App-Id": DOUYIN_KEY, "Event-Sign": "1919ba011a239c8dd1743c8698b1304f"}, DOUYIN_BODY
    )
    assert messages == [PushMessage(message_id="7000000000000000000", topic="101", external_id="6900000000000000001")]


def test_douyin_push_batch_reads_p_id_or_shop_order_id():
    items = [
        {"tag": "105", "msg_id": "m1", "data": json.dumps({"p_id": 6900000000000000007})},
        {"tag": "200", "msg_id": "m2", "data": json.dumps({"shop_order_id": "6900000000000000008", "aftersale_id": 1})},
    ]
    body = json.dumps(items).encode()
    headers = {"app-id": DOUYIN_KEY, "event-sign": douyin.push_sign(DOUYIN_KEY, body, DOUYIN_SECRET)}
    messages = douyin_adapter().verify_push(headers, body)
    assert [(m.message_id, m.topic, m.external_id) for m in messages] == [
        ("m1", "105", "6900000000000000007"),
        ("m2", "200", "6900000000000000008"),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {"app-id": DOUYIN_KEY, "event-sign": "0" * 32},
        {"app-id": "someone-else", "event-sign": "1919ba011a239c8dd1743c8698b1304f"},
        {"app-id": DOUYIN_KEY},
        {},
    ],
)
def test_douyin_push_with_bad_or_missing_signature_is_refused(headers):
    with pytest.raises(SignatureError):
        douyin_adapter().verify_push(headers, DOUYIN_BODY)


def test_douyin_push_with_a_tampered_body_is_refused():
    tampered = DOUYIN_BODY.replace(b"6900000000000000001", b"6900000000000000002")
    with pytest.raises(SignatureError):
        douyin_adapter().verify_push({"app-id": DOUYIN_KEY, "event-sign": "1919ba011a239c8dd1743c8698b1304f"}, tampered)


def test_douyin_signed_push_without_order_id_is_a_payload_error():
    body = json.dumps([{"tag": "101", "msg_id": "m", "data": "{}"}]).encode()
    headers = {"app-id": DOUYIN_KEY, "event-sign": douyin.push_sign(DOUYIN_KEY, body, DOUYIN_SECRET)}
    with pytest.raises(PayloadError) as caught:
        douyin_adapter().verify_push(headers, body)
    assert caught.value.field == "[0].data.p_id"


def test_kuaishou_push_vector_decrypts_to_the_event():
    (message,) = kuaishou_adapter().verify_push({}, KUAISHOU_CIPHERTEXT.encode())
    assert message == PushMessage(
        message_id="267_2345_147402", topic="kwaishop_order_paySuccess", external_id="2215900000000001"
    )


def test_kuaishou_test_message_is_a_heartbeat():
    body = kuaishou.encrypt_push('{"test":true}', KS_KEY).encode()
    (message,) = kuaishou_adapter().verify_push({}, body)
    assert message.is_heartbeat is True
    assert message.external_id == ""


@pytest.mark.parametrize(
    "body",
    [
        b"not base64 at all!!",
        b"c2hvcnQ=",  # valid Base64, not a whole AES block
        kuaishou.encrypt_push('{"bizId":1,"eventId":"e"}', "ZmVkY2JhOTg3NjU0MzIxMA==").encode(),  # other key
    ],
)
def test_kuaishou_push_that_does_not_decrypt_is_refused(body):
    with pytest.raises(SignatureError):
        kuaishou_adapter().verify_push({}, body)


def test_kuaishou_push_without_a_configured_key_is_refused():
    with pytest.raises(SignatureError):
        kuaishou_adapter(key="").verify_push({}, KUAISHOU_CIPHERTEXT.encode())


@pytest.mark.parametrize("platform", ["taobao", "tmall", "jd", "pdd", "manual"])
def test_platforms_without_http_push_refuse_every_push(platform):
    adapter = adapter_class(platform)(ChannelCredentials(platform, app_key="k", app_secret="s"))
    assert adapter.http_push is False
    with pytest.raises(SignatureError):
        adapter.verify_push({"x": "y"}, b"[]")
