"""A pushed order's raw payload goes into the batch INSERT as the JSON text it arrived as
(NormalizedOrder.raw_text) instead of being encoded again, and reads back exactly as the encoded copy
would: only for a body that was the order alone and whose text proved itself safe and short."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.db import connection

from orders import gateway, services
from orders.channels import guard
from orders.models import Order
from orders.tests.factories import make_channel
from orders.tests.poison import FIELDS, PLATFORMS, Raw, body_with, native_order

pytestmark = pytest.mark.django_db

#: numbers JSON spells several ways, text beyond ASCII raw and escaped, nesting, an empty object
ODD_BUT_FINE = Raw(
    '{"amount": 19.90, "big": 123456789012345678901234567890, "tiny": 1e-7, "neg": -0, '
    '"zh": "王小明", "esc": "\\u00e9\\n\\"q\\"", "nested": [[{"a": [1, null, true]}]], "empty": {}}'
)


def _ingest(channel, incoming) -> Order:
    [outcome] = services.ingest_orders([services.IngestItem(channel, incoming, "push")])
    assert outcome.ok, outcome.error
    return Order.objects.get(pk=outcome.result.order.pk)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_bare_pushed_order_stores_its_own_text_and_reads_back_as_the_encoded_copy(platform):
    channel = make_channel(platform=platform)
    # as platforms send it: UTF-8 text, not \u escapes
    body = json.dumps({**native_order(platform), "extra": "__extra__"}, ensure_ascii=False)
    body = body.replace('"__extra__"', ODD_BUT_FINE.text).encode()
    incoming = gateway.read_signed_order(channel=channel, body=body)
    # the text stands for the raw copy when it shows that no string in it is clipped: it is short, or
    # no run between quotes is long (Douyin's sample is over 4,000 characters; an escaped quote, as in
    # ODD_BUT_FINE, hides a run's length)
    text = body.decode()
    vouched = len(text) <= guard.MAX_RAW_STRING or '\\"' not in text
    assert incoming.raw_text == (text if vouched else None)

    from_text = _ingest(channel, incoming)
    encoded = dataclasses.replace(incoming, external_id=incoming.external_id + "-B", raw_text=None)
    from_dict = _ingest(channel, encoded)

    assert from_text.raw_payload == from_dict.raw_payload == json.loads(body)
    if connection.vendor == "postgresql":  # the stored jsonb values themselves are equal
        with connection.cursor() as cursor:
            pair = "FROM orders_order a, orders_order b WHERE a.id = %s AND b.id = %s"
            cursor.execute(f"SELECT a.raw_payload = b.raw_payload {pair}", [from_text.pk, from_dict.pk])
            assert cursor.fetchone() == (True,)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_pushed_order_longer_than_the_clip_but_with_no_long_string_keeps_its_text(platform):
    """Douyin's orders run over 4,000 characters: their text is stored as it came, not re-encoded."""
    channel = make_channel(platform=platform)
    padding = {"padding": ["地址补充说明" * 60 for _ in range(4)]}  # 360 characters each, 1,440 in all
    body = json.dumps({**native_order(platform), **padding}, ensure_ascii=False)
    if len(body) <= guard.MAX_RAW_STRING:
        body = json.dumps({**native_order(platform), **padding, "more": ["补充" * 1000]}, ensure_ascii=False)
    assert len(body) > guard.MAX_RAW_STRING

    incoming = gateway.read_signed_order(channel=channel, body=body.encode())

    assert incoming.raw_text == body
    assert _ingest(channel, incoming).raw_payload == json.loads(body)


def test_a_batch_mixing_texts_and_copies_stores_each_order_its_own_payload():
    channel = make_channel(platform="taobao")
    incomings = []
    for n in range(5):
        body = body_with(native_order("taobao"), {("tid_str",): f"MIX-{n}", ("extra",): {"n": n}})
        incoming = gateway.read_signed_order(channel=channel, body=body)
        incomings.append(incoming if n % 2 else dataclasses.replace(incoming, raw_text=None))
    outcomes = services.ingest_orders([services.IngestItem(channel, incoming, "push") for incoming in incomings])
    assert all(outcome.ok for outcome in outcomes)
    for n in range(5):
        assert Order.objects.get(external_id=f"MIX-{n}").raw_payload["extra"] == {"n": n}


def test_a_body_that_is_not_the_raw_copy_as_it_is_keeps_no_text():
    channel = make_channel(platform="taobao")
    adapter = gateway.get_adapter(channel)
    # clipped: a string longer than a raw copy keeps
    long = body_with(native_order("taobao"), {FIELDS["taobao"]["text"]: "x" * (guard.MAX_RAW_STRING + 10)})
    assert gateway.read_signed_order(channel=channel, body=long).raw_text is None
    # a long string split by an escaped quote: the text cannot show its length, so it is clipped too
    memo = "y" * 3000 + '"' + "y" * (guard.MAX_RAW_STRING - 2000)
    quoted = body_with(native_order("taobao"), {("tid_str",): "3301234500000999", FIELDS["taobao"]["text"]: memo})
    incoming = gateway.read_signed_order(channel=channel, body=quoted)
    assert incoming.raw_text is None
    memo = _ingest(channel, incoming).raw_payload["buyer_message"]
    assert len(memo) == guard.MAX_RAW_STRING and memo.endswith(guard.TRUNCATION_MARKER)
    # not proved safe by its text (an escaped surrogate pair, here a whole emoji), so walked: the text
    # is not vouched for
    walked = body_with(native_order("taobao"), {("extra",): Raw('"smile \\ud83d\\ude00"')})
    assert not guard.decode(walked).safe
    incoming = gateway.read_signed_order(channel=channel, body=walked)
    assert incoming.raw_text is None
    assert _ingest(channel, incoming).raw_payload["extra"] == "smile \U0001f600"
    # an order inside a larger text: its raw copy is only part of that text
    decoded = guard.decode(json.dumps({"wrapped": native_order("taobao")}))
    assert adapter.read_order(decoded.value["wrapped"], decoded=decoded).raw_text is None
    # pulled orders are read from an already decoded page
    assert adapter.read_order(native_order("taobao")).raw_text is None
