"""Signed mutation fuzz of the webhook (issue 14): hypothesis mutates each platform's native sample
order (wrong types, NUL, lone surrogates, huge and non-finite numbers, deep nesting, missing keys,
extra keys, long text), signs it, and sends it through the real webhook view. Whatever arrives, the
answer is never a server error, and a refusal stores nothing.

The profile is fixed (derandomized, bounded example counts, no example database) so the run is the
same on every machine and takes about a minute per database."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from orders.channels import douyin, kuaishou
from orders.models import InboundMessage, Order, OrderEvent, OrderLine
from orders.tests.factories import make_channel
from orders.tests.poison import PLATFORMS, Raw, deep, native_order, post_signed

pytestmark = pytest.mark.django_db

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
PUSH_FUZZ = settings(FUZZ, max_examples=80)
MESSAGE_KEY = "MDEyMzQ1Njc4OWFiY2RlZg=="

RAW_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "9" * 5000, "1" + "0" * 31, "-0"]
POISON_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "",
    " ",
    "abc",
    "1e400",
    "1e26",
    "100000000000000000000000000",
    "-1",
    "NaN",
    "Infinity",
    "0.001",
    "9" * 40,
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "2024-02-30 25:61:61",
    "\u202e\u200b",
]
POISON_VALUES = [None, True, False, 0, -1, 2**31, 2**63, 10**25, 1.5, -0.0, 1e308, [], {}, [1], {"cipher": "x"}, [[[]]]]

values = st.one_of(
    st.sampled_from(POISON_TEXT),
    st.sampled_from(POISON_VALUES),
    st.sampled_from(RAW_NUMBERS).map(Raw),
    st.integers(min_value=33, max_value=10_000).map(deep),
    st.text(max_size=40),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=60, max_value=100_000).map(lambda n: "长" * n),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value (objects and lists), the root excluded."""
    found: list[tuple] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths_of(child, (*prefix, key)))
    return found


def mutations(base: Any) -> st.SearchStrategy:
    paths = paths_of(base)
    containers = [()] + [p for p in paths if isinstance(_value_at(base, p), dict)]
    op = st.one_of(
        st.tuples(st.just("set"), st.sampled_from(paths), values),
        st.tuples(st.just("delete"), st.sampled_from(paths), st.none()),
        st.tuples(st.just("add"), st.sampled_from(containers), st.tuples(st.text(max_size=12), values)),
    )
    return st.lists(op, min_size=1, max_size=4)


def _value_at(payload: Any, path: tuple) -> Any:
    node = payload
    for step in path:
        node = node[step]
    return node


def _lookup(payload: Any, path: tuple) -> Any | None:
    """The value at `path`, or None when an earlier mutation removed or replaced the way there."""
    try:
        return _value_at(payload, path)
    except (KeyError, IndexError, TypeError):
        return None


def mutated_body(base: Any, ops: list[tuple]) -> bytes:
    """Apply the mutations, then write the JSON with Raw values as their exact text."""
    payload = copy.deepcopy(base)
    raws: dict[str, str] = {}

    def place(value: Any) -> Any:
        if isinstance(value, Raw):
            marker = f"__raw_{len(raws)}__"
            raws[marker] = value.text
            return marker
        return value

    for kind, path, arg in ops:
        if kind == "add":
            target = _lookup(payload, path)
            if isinstance(target, dict):
                key, value = arg
                target[key] = place(value)
            continue
        parent = _lookup(payload, path[:-1])
        if not isinstance(parent, dict | list):
            continue
        step = path[-1]
        in_dict = isinstance(parent, dict) and step in parent
        in_list = isinstance(parent, list) and isinstance(step, int) and step < len(parent)
        if in_dict or in_list:
            if kind == "delete":
                del parent[step]
            else:
                parent[step] = place(arg)
    text = json.dumps(payload, ensure_ascii=True)
    for marker, raw in raws.items():
        text = text.replace(json.dumps(marker), raw)
    return text.encode("utf-8")


def snapshot() -> tuple:
    return (
        sorted(Order.objects.values_list("pk", "updated_at", "state")),
        OrderLine.objects.count(),
        OrderEvent.objects.count(),
        InboundMessage.objects.count(),
    )


def assert_answered(response, before: tuple) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert snapshot() == before  # refused: nothing stored, nothing changed
        if response.status_code == 400:
            answer = response.json()
            assert answer["detail"] and answer["field"], answer


@pytest.mark.parametrize("platform", PLATFORMS)
def test_signed_mutations_of_native_orders_never_answer_5xx(platform):
    channel = make_channel(platform=platform)
    base = native_order(platform)
    client = APIClient()
    assert post_signed(channel, mutated_body(base, []), client).status_code == 202  # the sample itself

    @FUZZ
    @given(ops=mutations(base))
    def check(ops):
        before = snapshot()
        assert_answered(post_signed(channel, mutated_body(base, ops), client), before)

    check()


DOUYIN_PUSH = [{"tag": "101", "msg_id": "7300000000000000001", "data": '{"p_id":6900000000000000001,"shop_id":1}'}]
KUAISHOU_PUSH = {"eventId": "e-1", "bizId": 2400000000000001, "event": "kwaishop_order_paySuccess", "test": False}


def test_mutated_douyin_pushes_never_answer_5xx():
    channel = make_channel(platform="douyin", app_key="dy-app", app_secret="dy-secret")
    client = APIClient()

    @PUSH_FUZZ
    @given(ops=mutations(DOUYIN_PUSH))
    def check(ops):
        body = mutated_body(DOUYIN_PUSH, ops)
        sign = douyin.push_sign(channel.app_key, body, channel.app_secret)
        before = snapshot()
        response = client.post(
            f"/api/v1/channels/{channel.pk}/webhook",
            data=body,
            content_type="application/json",
            headers={"app-id": channel.app_key, "event-sign": sign},
        )
        assert_answered(response, before)

    check()


def test_mutated_kuaishou_pushes_never_answer_5xx():
    channel = make_channel(platform="kuaishou", app_key="ks-app", message_key=MESSAGE_KEY)
    client = APIClient()

    @PUSH_FUZZ
    @given(ops=mutations(KUAISHOU_PUSH))
    def check(ops):
        body = kuaishou.encrypt_push(mutated_body(KUAISHOU_PUSH, ops).decode("utf-8"), MESSAGE_KEY)
        before = snapshot()
        response = client.post(f"/api/v1/channels/{channel.pk}/webhook", data=body, content_type="text/plain")
        assert_answered(response, before)

    check()
