"""Poison payloads for the hardening tests: each platform's native sample order, signed through the
real webhook, with values injected as raw JSON text (so `1e400`, `NaN` and 5,000-digit integers reach
the server exactly as a broken platform would send them)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from rest_framework.test import APIClient

from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from orders.tests.test_channel_parsing import MANUAL_ORDER

FIXTURES = Path(__file__).parent / "fixtures" / "channels"
PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou", "manual")


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def native_order(platform: str) -> dict[str, Any]:
    """One bare native order of `platform`, from the shared samples (manual: the neutral example)."""
    if platform == "taobao":
        return _fixture("taobao_order.json")["trade_fullinfo_get_response"]["trade"]
    if platform == "jd":
        return _fixture("jd_order.json")["jingdong_pop_order_search_responce"]["searchorderinfo_result"][
            "orderInfoList"
        ][0]
    if platform == "pdd":
        return _fixture("pdd_order.json")["order_info_get_response"]["order_info"]
    if platform == "douyin":
        return _fixture("douyin_order.json")["data"]["shop_order_detail"]
    if platform == "kuaishou":
        return _fixture("kuaishou_order.json")["data"]["orderList"][0]
    return copy.deepcopy(MANUAL_ORDER)


#: per platform: a free-text field, an amount field, a nested object field (paths in the native order)
FIELDS: dict[str, dict[str, tuple]] = {
    "taobao": {"text": ("buyer_message",), "amount": ("payment",), "object": ("orders",)},
    "jd": {"text": ("orderRemark",), "amount": ("orderPayment",), "object": ("consigneeInfo",)},
    "pdd": {"text": ("buyer_memo",), "amount": ("pay_amount",), "object": ("item_list",)},
    "douyin": {"text": ("buyer_words",), "amount": ("pay_amount",), "object": ("post_addr",)},
    "kuaishou": {
        "text": ("orderBaseInfo", "remark"),
        "amount": ("orderBaseInfo", "totalFee"),
        "object": ("orderAddress",),
    },
    "manual": {"text": ("buyer_message",), "amount": ("paid",), "object": ("receiver",)},
}


def dotted(path: tuple) -> str:
    out = ""
    for step in path:
        out = f"{out}[{step}]" if isinstance(step, int) else (f"{out}.{step}" if out else step)
    return out


def set_path(payload: Any, path: tuple, value: Any) -> Any:
    node = payload
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return payload


class Raw:
    """A value to be written into the body as this exact JSON text."""

    def __init__(self, text: str):
        self.text = text


def body_with(payload: Any, injections: dict[tuple, Any]) -> bytes:
    """`payload` with each path set to its value; Raw values land as their exact text."""
    payload = copy.deepcopy(payload)
    raws: dict[str, str] = {}
    for index, (path, value) in enumerate(injections.items()):
        if isinstance(value, Raw):
            marker = f"__raw_{index}__"
            raws[marker] = value.text
            value = marker
        set_path(payload, path, value)
    text = json.dumps(payload, ensure_ascii=True)
    for marker, raw in raws.items():
        text = text.replace(json.dumps(marker), raw)
    return text.encode("utf-8")


def deep(levels: int) -> Raw:
    return Raw("[" * levels + "]" * levels)


def post_signed(channel, body: bytes, client: APIClient | None = None):
    """POST `body` to the channel's webhook signed with OrderHub's own format."""
    stamp = str(int(time.time()))
    signature = webhook_signature(secret=channel.webhook_secret, timestamp=stamp, body=body)
    return (client or APIClient()).post(
        f"/api/v1/channels/{channel.pk}/webhook",
        data=body,
        content_type="application/json",
        headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature},
    )
