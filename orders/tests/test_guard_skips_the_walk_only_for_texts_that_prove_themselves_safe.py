"""The poison guard's shortcut (guard.decode): a body is read without walking its tree only when its
text alone proves the walk would refuse nothing, and then it reads to the same order as when walked."""

from __future__ import annotations

import json

import pytest

from orders import gateway
from orders.channels import guard
from orders.channels.base import PayloadError
from orders.tests.factories import make_channel
from orders.tests.poison import FIELDS, PLATFORMS, Raw, body_with, deep, native_order
from orders.tests.test_webhook_poison import CASES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(("case", "kind", "value", "expected"), CASES, ids=[c[0] for c in CASES])
def test_no_body_the_walk_refuses_is_ever_proved_safe(platform, case, kind, value, expected):
    body = body_with(native_order(platform), {FIELDS[platform][kind]: value})
    try:
        decoded = guard.decode(body)
    except PayloadError:
        return  # refused while decoding (nested past the decoder's limit): never read at all
    try:
        guard.check_tree(decoded.value)
    except PayloadError:
        assert not decoded.safe, case
    else:  # wrong types and amounts are the parser's to refuse, not the walk's: proving it safe is right
        assert case in {"1e400-string", "1e26-string", "string-for-object", "list-for-object"}, case


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "\\u0000"}',  # an escaped NUL
        '{"a": "\\uD800"}',  # an escaped lone surrogate, upper-case hex
        '{"a": "\\udfff"}',
        '{"\\u0000": 1}',  # in a key
        '{"a": NaN}',
        '{"a": [-Infinity]}',
        '{"a": 1e400}',
        '{"a": -1.5E+999}',
        '{"a": ' + "1" * 31 + "}",
        '{"a": ' + "1" * 400 + ".5}",
        "[" * 33 + "]" * 33,  # deeper than an order may nest
        '{"a": "x\ud800"}',  # a str (as the inbox hands it over) holding a raw surrogate
    ],
)
def test_every_way_to_hide_poison_in_a_json_text_defeats_the_proof(text):
    assert not guard.decode(text).safe
    if "\ud800" not in text:
        assert not guard.decode(text.encode()).safe


def test_what_the_proof_lets_through_is_what_the_walk_accepts():
    """Look-alikes of poison inside strings, escapes of ordinary characters and numbers near the limits
    are proved safe, and walking them indeed refuses nothing."""
    text = json.dumps(
        {
            "oaid": "1Fake000e123NaN Infinity",
            "hex": "3e451",
            "digits": "1" * 40,
            "name": "王小明 \u00e9 [{not brackets}]",
            "amount": 12.5e30,
            "id": int("9" * 30),
            "nested": [[[{"a": [1]}]]],
        },
        ensure_ascii=False,
    )
    decoded = guard.decode(text)
    assert decoded.safe and decoded.short
    guard.check_tree(decoded.value)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_proved_body_reads_to_the_same_order_as_a_walked_one(platform):
    channel = make_channel(platform=platform)
    body = body_with(native_order(platform), {})
    decoded = guard.decode(body)
    assert decoded.safe, "a platform's own sample takes the shortcut"

    proved = gateway.read_signed_order(channel=channel, body=body)
    walked = gateway.get_adapter(channel).read_order(json.loads(body))

    assert proved == walked


def test_a_text_longer_than_a_raw_string_may_be_is_clipped_as_before():
    channel = make_channel(platform="taobao")
    body = body_with(native_order("taobao"), {FIELDS["taobao"]["text"]: "x" * (guard.MAX_RAW_STRING + 10)})
    assert guard.decode(body).safe and not guard.decode(body).short

    incoming = gateway.read_signed_order(channel=channel, body=body)

    assert len(incoming.raw["buyer_message"]) == guard.MAX_RAW_STRING
    assert incoming.raw["buyer_message"].endswith(guard.TRUNCATION_MARKER)


def test_a_look_alike_escape_is_proved_safe_and_a_real_one_after_escaped_backslashes_is_not():
    look_alike = json.dumps({"note": "a backslash, then u0000: \\u0000"})  # the text: \\u0000
    assert "\\\\u0000" in look_alike and guard.decode(look_alike).safe
    assert guard.decode_json(look_alike)["note"].endswith("\\u0000")
    for backslashes in (1, 3, 5):  # an escaped NUL after 0, 1, 2 escaped backslashes
        text = '{"note": "' + "\\" * backslashes + 'u0000"}'
        assert not guard.decode(text).safe, text
        with pytest.raises(PayloadError):
            guard.decode_json(text)  # walked, and refused: a NUL
    for backslashes in (2, 4):  # escaped backslashes only, then the letters
        text = '{"note": "' + "\\" * backslashes + 'u0000"}'
        assert guard.decode(text).safe and guard.decode_json(text)["note"].endswith("u0000")


def test_many_brackets_are_measured_for_depth_and_a_shallow_body_is_still_proved():
    channel = make_channel(platform="taobao")
    siblings = Raw("[" + ", ".join(["[]"] * (guard.MAX_ORDER_DEPTH + 10)) + "]")
    body = body_with(native_order("taobao"), {("extra",): siblings})
    assert guard.decode(body).safe  # more brackets than the limit, but nested two deep
    assert gateway.read_signed_order(channel=channel, body=body).external_id

    deeper = body_with(native_order("taobao"), {("extra",): deep(guard.MAX_ORDER_DEPTH)})
    assert not guard.decode(deeper).safe  # the order's own nesting on top: past the limit, walked


def test_neutral_order_texts_are_checked_at_once_and_a_find_is_named_field_by_field():
    channel = make_channel(platform="taobao")
    order = gateway.read_signed_order(channel=channel, body=body_with(native_order("taobao"), {}))
    guard.check_normalized(order)

    order.lines[0].title = "ok\x00"
    with pytest.raises(PayloadError) as refused:
        guard.check_normalized(order)
    assert refused.value.field == "lines[0].title"

    order.lines[0].title = "ok"
    order.receiver_city = 42  # an adapter's mistake: not text, so the careful walk runs (and passes it)
    guard.check_normalized(order)
    order.receiver_city = "\ud800"
    with pytest.raises(PayloadError) as refused:
        guard.check_normalized(order)
    assert refused.value.field == "receiver_city"


def test_a_raw_value_only_the_hooks_see_is_still_refused_through_the_webhook_reader():
    channel = make_channel(platform="taobao")
    body = body_with(native_order("taobao"), {FIELDS["taobao"]["amount"]: Raw("1e400")})
    with pytest.raises(PayloadError) as refused:
        gateway.read_signed_order(channel=channel, body=body)
    assert refused.value.field == "payment"
