"""Issue 14 finding 4: poison in a signed webhook body is a 400 naming the field (never a 500 that a
pushing platform retries forever), for every platform's native format, and nothing is stored.
Free text is bounded: a megabyte of buyer message is stored cut, with a marker."""

from __future__ import annotations

import pytest

from orders.channels import guard
from orders.models import Order, OrderLine, QuarantinedMessage
from orders.tests.factories import make_channel
from orders.tests.poison import FIELDS, PLATFORMS, Raw, body_with, deep, dotted, native_order, post_signed

pytestmark = pytest.mark.django_db

HUGE_INTEGER = Raw("9" * 5000)

# (name, which field of FIELDS, injected value, expected field: None = the path itself)
CASES = [
    ("nul-in-text", "text", "请周末\x00送货", None),
    ("lone-surrogate", "text", "\ud800", None),
    ("nan", "text", Raw("NaN"), None),
    ("infinity", "amount", Raw("-Infinity"), None),
    ("1e400-number", "amount", Raw("1e400"), None),
    ("1e400-string", "amount", "1e400", None),
    ("1e26-string", "amount", "100000000000000000000000000", None),
    ("5000-digit-integer", "amount", HUGE_INTEGER, None),
    ("string-for-object", "object", "abc", None),
    ("list-for-object", "object", [1], None),
    ("nested-50", "text", deep(50), None),
    ("nested-1000", "text", deep(1000), "body"),
    ("nested-10000", "text", deep(10_000), "body"),
]


def _expected_field(platform: str, kind: str, expected: str | None) -> str:
    if expected is not None:
        return expected
    return dotted(FIELDS[platform][kind])


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(("case", "kind", "value", "expected"), CASES, ids=[c[0] for c in CASES])
def test_poison_in_a_signed_body_is_400_naming_the_field_and_nothing_is_stored(platform, case, kind, value, expected):
    channel = make_channel(platform=platform)
    body = body_with(native_order(platform), {FIELDS[platform][kind]: value})

    response = post_signed(channel, body)

    assert response.status_code == 400, (case, response.status_code, response.content[:300])
    answer = response.json()
    assert answer["detail"]
    assert answer["field"].startswith(_expected_field(platform, kind, expected)), answer
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    assert not QuarantinedMessage.objects.exists()  # a refused push is the sender's to fix, not stored


@pytest.mark.parametrize(
    ("value", "field"),
    [("abc", "buyer"), ([1], "receiver"), ({"cipher": "x"}, "receiver.cipher")],
    ids=["buyer-string", "receiver-list", "cipher-string"],
)
def test_manual_wrong_json_types_name_the_field(value, field):
    channel = make_channel(platform="manual")
    path = ("receiver",) if field.startswith("receiver") else ("buyer",)
    response = post_signed(channel, body_with(native_order("manual"), {path: value}))
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert not Order.objects.exists()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_good_sample_still_goes_through(platform):
    channel = make_channel(platform=platform)
    response = post_signed(channel, body_with(native_order(platform), {}))
    assert response.status_code == 202, response.content
    assert Order.objects.filter(channel=channel).count() == 1


@pytest.mark.parametrize("platform", ["taobao", "manual", "douyin"])
def test_a_megabyte_buyer_message_is_stored_truncated_with_a_marker(platform):
    channel = make_channel(platform=platform)
    message = "很" * 10 + "x" * 1_000_000
    response = post_signed(channel, body_with(native_order(platform), {FIELDS[platform]["text"]: message}))

    assert response.status_code == 202, response.content
    order = Order.objects.get(channel=channel)
    limit = guard.FREE_TEXT_LIMITS["buyer_message"]
    assert len(order.buyer_message) == limit
    assert order.buyer_message.startswith("很" * 10) and order.buyer_message.endswith(guard.TRUNCATION_MARKER)
    stored_raw = order.raw_payload
    for step in FIELDS[platform]["text"]:
        stored_raw = stored_raw[step]
    assert len(stored_raw) == guard.MAX_RAW_STRING and stored_raw.endswith(guard.TRUNCATION_MARKER)


def test_an_overlong_line_title_is_cut_not_refused():
    channel = make_channel(platform="taobao")
    response = post_signed(channel, body_with(native_order("taobao"), {("orders", "order", 0, "title"): "茶" * 5000}))
    assert response.status_code == 202, response.content
    title = OrderLine.objects.get(order__channel=channel, external_line_id__isnull=False, title__startswith="茶").title
    assert len(title) == guard.FREE_TEXT_LIMITS["title"] and title.endswith(guard.TRUNCATION_MARKER)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("tid_str",), "3301234500012345678\x00", "tid_str"),
        (("receiver_address",), "文三路" * 400, "receiver_address"),
        (("pay_time",), "9999-12-31 23:59:59", "pay_time"),
        (("orders", "order", 0, "num"), Raw("1" + "0" * 25), "orders.order[0].num"),
        (("orders", "order", 0, "outer_sku_id"), "S" * 65, "lines[0].sku_code"),
        (("bad\x00key",), "x", "bad"),
    ],
    ids=["nul-in-id", "overlong-address", "year-9999", "huge-quantity", "overlong-sku-code", "nul-in-key"],
)
def test_ids_addresses_and_times_are_refused_not_cut(path, value, field):
    channel = make_channel(platform="taobao")
    response = post_signed(channel, body_with(native_order("taobao"), {path: value}))
    assert response.status_code == 400, response.content
    assert response.json()["field"].startswith(field)
    assert not Order.objects.exists()
