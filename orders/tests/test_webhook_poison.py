"""Issue 14 finding 4: poison in a signed webhook body is a 400 naming the field (never a 500 that a
pushing platform retries forever), for every platform's native format, and nothing is stored.
Free text is bounded: a megabyte of buyer message is stored cut, with a marker."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from orders.channels import douyin, guard, kuaishou
from orders.models import InboundMessage, Order, OrderLine, QuarantinedMessage
from orders.tests.factories import make_channel
from orders.tests.poison import FIELDS, PLATFORMS, Raw, body_with, deep, dotted, native_order, post_signed
from orders.tests.test_pull_quarantine import REFUSED_TITLE, TRIGGERS

pytestmark = pytest.mark.django_db

HUGE_INTEGER = Raw("9" * 5000)

# (name, which field of FIELDS, injected value, expected field: None = the path itself)
CASES = [
    ("nul-in-text", "text", "请周末\x00送货", None),
    ("lone-surrogate", "text", "\ud800", None),
    ("nan", "text", Raw("NaN"), None),
    ("infinity-in-amount", "amount", Raw("-Infinity"), None),
    ("1e400-in-amount", "amount", Raw("1e400"), None),
    ("1e400-in-text", "text", Raw("1e400"), None),
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


# ---- Douyin and Kuaishou native pushes (triggers, not signed with OrderHub's headers) ----------
MESSAGE_KEY = "MDEyMzQ1Njc4OWFiY2RlZg=="


def _douyin_push(channel, items_json: str):
    body = items_json.encode("utf-8")
    headers = {"app-id": channel.app_key, "event-sign": douyin.push_sign(channel.app_key, body, channel.app_secret)}
    return APIClient().post(
        f"/api/v1/channels/{channel.pk}/webhook", data=body, content_type="application/json", headers=headers
    )


def _kuaishou_push(channel, message_json: str):
    body = kuaishou.encrypt_push(message_json, MESSAGE_KEY).encode("ascii")
    return APIClient().post(f"/api/v1/channels/{channel.pk}/webhook", data=body, content_type="text/plain")


DOUYIN_PUSHES = [
    ('[{"tag":"101","msg_id":"m\\u0000","data":"{\\"p_id\\":1}"}]', "[0].msg_id"),
    ('[{"tag":"101","msg_id":"m1","data":"{\\"p_id\\":\\"\\\\ud800\\"}"}]', "[0].data.p_id"),
    ('[{"tag":"101","msg_id":"m1","data":"{\\"p_id\\":NaN}"}]', "[0].data.p_id"),
    ('[{"tag":"101","msg_id":' + "9" * 5000 + ',"data":"{}"}]', "[0].msg_id"),
    ('[{"tag":"101","msg_id":"' + "m" * 129 + '","data":"{\\"p_id\\":1}"}]', "[0].msg_id"),
    ("[" * 5000 + "]" * 5000, "body"),
    ('{"tag":"101"}', "body"),
]
KUAISHOU_PUSHES = [
    ('{"eventId":"e\\u0000","bizId":1,"event":"x"}', "eventId"),
    ('{"eventId":"e1","bizId":"\\ud800","event":"x"}', "bizId"),
    ('{"eventId":"e1","bizId":1e400,"event":"x"}', "bizId"),
    ('{"eventId":"e1","bizId":' + "1" * 5000 + ',"event":"x"}', "bizId"),
    ('{"eventId":"e1","bizId":1,"event":' + "[" * 3000 + "]" * 3000 + "}", "body"),
    ("[1]", "body"),
]


@pytest.mark.parametrize(("items", "field"), DOUYIN_PUSHES)
def test_poison_douyin_push_is_400_naming_the_field(items, field):
    channel = make_channel(platform="douyin", app_key="dy-app", app_secret="dy-secret", message_key=MESSAGE_KEY)
    response = _douyin_push(channel, items)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["field"] == field
    assert not InboundMessage.objects.exists()


@pytest.mark.parametrize(("message", "field"), KUAISHOU_PUSHES)
def test_poison_kuaishou_push_is_400_naming_the_field(message, field):
    channel = make_channel(platform="kuaishou", app_key="ks-app", message_key=MESSAGE_KEY)
    response = _kuaishou_push(channel, message)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["field"] == field
    assert not InboundMessage.objects.exists()


def test_a_douyin_push_body_that_is_not_utf8_is_answered_not_crashed():
    channel = make_channel(platform="douyin", app_key="dy-app", app_secret="dy-secret")
    body = "订单".encode("gbk")
    headers = {"app-id": channel.app_key, "event-sign": douyin.push_sign(channel.app_key, body, channel.app_secret)}
    response = APIClient().post(
        f"/api/v1/channels/{channel.pk}/webhook", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 400 and response.json()["field"] == "body"


def test_a_value_only_the_database_refuses_is_a_400_and_nothing_is_half_written():
    """The last gate: should a value pass every check and still be refused by the database, the
    order's one transaction rolls back whole and the sender gets a 400, not a 500 to retry forever."""
    with connection.cursor() as cursor:
        for statement in TRIGGERS[connection.vendor]:
            cursor.execute(statement)
    channel = make_channel(platform="taobao")
    body = body_with(native_order("taobao"), {("orders", "order", 1, "title"): REFUSED_TITLE})

    response = post_signed(channel, body)

    assert response.status_code == 400, response.content
    assert response.json()["field"] == "body"
    assert not Order.objects.exists() and not OrderLine.objects.exists()


def test_nesting_is_measured_only_when_a_body_has_more_brackets_than_the_limit_and_strings_never_count():
    """decode_json skips the nesting scan when the brackets cannot reach MAX_DECODE_DEPTH; when they can,
    brackets inside strings still do not count, and a body nested past the limit is refused by depth."""
    shallow_with_bracket_text = '{"note": "' + "[" * (2 * guard.MAX_DECODE_DEPTH) + '", "a": [[1]]}'
    assert guard.decode_json(shallow_with_bracket_text)["a"] == [[1]]
    limit = guard.MAX_DECODE_DEPTH
    assert guard.decode_json("[" * limit + "]" * limit, check=False) is not None
    with pytest.raises(guard.PayloadError) as refused:
        guard.decode_json("[" * (limit + 1) + "]" * (limit + 1))
    assert refused.value.field == "body" and f"nested {limit + 1} levels" in refused.value.message


@pytest.mark.parametrize(
    ("tree", "path", "field"),
    [
        ({"a": {"b": [1, {"c": "x\x00"}]}}, "", "a.b[1].c"),
        ({"a": [{"k" * 150 + "\ud800": 1}]}, "", "a[0]." + "k" * 100),
        ([[1], [2, guard.Unreadable("1e400")]], "coupons", "coupons[1][1]"),
        ({"a": {"b": {"c": 1}}}, "", "a.b.c"),
    ],
    ids=["nul-deep-in-lists", "bad-key-cut-to-100", "unreadable-under-a-path", "too-deep"],
)
def test_the_guard_names_the_exact_path_of_the_first_unsafe_spot(tree, path, field):
    """Paths are spelled only for the spot refused: the same path as when every node carried its own."""
    with pytest.raises(guard.PayloadError) as refused:
        guard.check_tree(tree, path, max_depth=2 if field == "a.b.c" else guard.MAX_ORDER_DEPTH)
    assert refused.value.field == field
