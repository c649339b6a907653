"""Each adapter maps every line's own after-sale codes to LineRefundState, keeping the raw code
(README §3.2 "line status / refund", §4 "refund_requested flag"), and the order-level flag derives
from the lines wherever the platform reports them per line."""

from __future__ import annotations

import pytest

from orders.channels import adapter_class
from orders.channels import common as c
from orders.channels.base import ChannelCredentials, PayloadError
from orders.channels.fakes import RENDERERS, apply_event
from orders.models import LineRefundState
from orders.tests.factories import two_line_draft

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou", "manual")
#: what the platform reports after each event, per line (tee, socks), and the order's flag
EXPECTED = {
    # platform: {event on line 1 (the socks): ((tee, socks) states, refund_requested)}
    "taobao": {
        "refund_request": (("none", "requested"), True),
        "refund_complete": (("none", "refunded"), False),
        "refund_withdraw": (("none", "none"), False),
    },
    "douyin": {
        "refund_request": (("none", "requested"), True),
        "refund_complete": (("none", "refunded"), False),
        "refund_withdraw": (("none", "none"), False),
    },
    "manual": {
        "refund_request": (("none", "requested"), True),
        "refund_complete": (("none", "refunded"), False),
        "refund_withdraw": (("none", "none"), False),
    },
    # order-level after-sales only: every line carries the order's state
    "pdd": {
        "refund_request": (("requested", "requested"), True),
        "refund_complete": (("refunded", "refunded"), False),
        "refund_withdraw": (("none", "none"), False),
    },
    # no line-level after-sales in the order search; LOCKED (u) flags the order
    "jd": {
        "refund_request": (("none", "none"), True),
        "refund_complete": (("none", "none"), False),
        "refund_withdraw": (("none", "none"), False),
    },
}


def adapter(platform: str):
    return adapter_class(platform)(ChannelCredentials(platform=platform))


def test_the_adapters_vocabulary_is_the_models():
    assert tuple(LineRefundState.values) == c.LINE_REFUND_STATES


@pytest.mark.parametrize("event", ["refund_request", "refund_complete", "refund_withdraw"])
@pytest.mark.parametrize("platform", sorted(EXPECTED))
def test_line_refund_states_per_platform(platform, event):
    (native,) = RENDERERS[platform](two_line_draft(serial=7000))
    if event == "refund_withdraw":
        apply_event(platform, native, "refund_request", line=1)
    apply_event(platform, native, event, line=1)
    order = adapter(platform).parse_order(native)
    states, flag = EXPECTED[platform][event]
    assert tuple(line.refund_state for line in order.lines) == states
    assert order.refund_requested is flag


def test_taobao_keeps_the_raw_codes_and_a_closed_line_is_closed():
    (trade,) = RENDERERS["taobao"](two_line_draft(serial=7100))
    apply_event("taobao", trade, "refund_complete", line=1)
    order = adapter("taobao").parse_order(trade)
    tee, socks = order.lines
    assert (tee.refund_status, tee.closed) == ("NO_REFUND", False)
    assert (socks.refund_status, socks.closed, socks.refund_state) == ("SUCCESS", True, "refunded")
    apply_event("taobao", trade, "refund_complete", line=0)
    assert adapter("taobao").parse_order(trade).platform_status == "refunded"  # TRADE_CLOSED


def test_kuaishou_one_line_per_order_follows_its_refund_list():
    tee, _socks = RENDERERS["kuaishou"](two_line_draft(serial=7200))
    steps = [
        ("refund_request", "requested", True, "awaiting_shipment"),
        ("refund_withdraw", "none", False, "awaiting_shipment"),
        ("refund_complete", "refunded", False, "refunded"),
    ]
    for event, state, flag, status in steps:
        apply_event("kuaishou", tee, event)
        order = adapter("kuaishou").parse_order(tee)
        assert (order.lines[0].refund_state, order.refund_requested, order.platform_status) == (state, flag, status)


def test_a_closed_douyin_sub_order_is_closed():
    (native,) = RENDERERS["douyin"](two_line_draft(serial=7300))
    native["sku_order_list"][1]["order_status"] = 4
    order = adapter("douyin").parse_order(native)
    assert [line.closed for line in order.lines] == [False, True]


def test_a_manual_bridge_names_the_state_in_our_vocabulary():
    (native,) = RENDERERS["manual"](two_line_draft(serial=7400))
    native["lines"][0]["refund_state"] = "partly"
    with pytest.raises(PayloadError) as refused:
        adapter("manual").parse_order(native)
    assert refused.value.field == "lines[0].refund_state"
    native["lines"][0]["refund_state"] = "none"
    native["lines"][0]["closed"] = "yes"
    with pytest.raises(PayloadError) as refused:
        adapter("manual").parse_order(native)
    assert refused.value.field == "lines[0].closed"
