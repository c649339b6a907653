"""Issue 10, part 1 and 3: order lines follow the platform, through the signed HTTP webhook.

The three defects of the issue, each written to fail on the code before it (lines frozen at first
sight, `refund_requested` only counted false→true, `"duplicate": true` for a message that changed
the row), then the webhook's answers."""

from __future__ import annotations

import copy
import json
import time

import pytest
from django.db.models import Sum
from rest_framework.test import APIClient

from inventory.models import ReservationState, StockLevel, StockMovement, StockReservation
from inventory.tests.factories import make_sku, make_warehouse, stock
from orders.channels.fakes import apply_event
from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from orders.models import LineRefundState, Order, OrderEvent, OrderLine
from orders.signals import line_refund_changed
from orders.tests.conftest import load_sample
from orders.tests.factories import make_channel, open_task
from rules.models import Resolution, TaskState

pytestmark = pytest.mark.django_db

TEE, SOCK = "DEMO-TEE-WHT-L", "DEMO-SOCK-BLK-3P"  # the two lines of the Taobao sample (2 × tee, 1 × socks)


@pytest.fixture(autouse=True)
def _no_task_broker(settings):
    settings.INVENTORY_ENQUEUE_TASKS = False


@pytest.fixture
def shelf():
    """Ten of each sample SKU on hand, put there through the ledger."""
    warehouse = make_warehouse("WH-REFUND")
    for code in (TEE, SOCK):
        stock(make_sku(code), warehouse, 10)
    return warehouse


def sample_trade() -> dict:
    """The shared Taobao sample without its buyer message and memo (those hold it for a person)."""
    trade = copy.deepcopy(load_sample("taobao_order.json")["trade_fullinfo_get_response"]["trade"])
    trade["buyer_message"] = trade["seller_memo"] = ""
    return trade


def post_signed(channel, payload: dict):
    body = json.dumps(payload, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    signature = webhook_signature(secret=channel.webhook_secret, timestamp=stamp, body=body)
    return APIClient().post(
        f"/api/v1/channels/{channel.pk}/webhook",
        data=body,
        content_type="application/json",
        headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature},
    )


def accepted(response) -> dict:
    assert response.status_code == 202, response.content
    body = response.json()
    assert "duplicate" not in body
    return body


def line(order_id: int, sku_code: str) -> OrderLine:
    return OrderLine.objects.get(order_id=order_id, sku_code=sku_code)


def active_reserved(order_id: int) -> dict[str, int]:
    rows = (
        StockReservation.objects.filter(order_id=order_id, state=ReservationState.ACTIVE)
        .values_list("order_line__sku_code")
        .annotate(total=Sum("quantity"))
    )
    return dict(rows)


def assert_stock_agrees() -> None:
    """Ledger sum = on hand, and active reservations = reserved, on every level."""
    for level in StockLevel.objects.all():
        ledger = StockMovement.objects.filter(sku=level.sku, warehouse=level.warehouse).aggregate(s=Sum("quantity"))
        active = StockReservation.objects.filter(level=level, state=ReservationState.ACTIVE).aggregate(
            s=Sum("quantity")
        )
        assert (ledger["s"] or 0) == level.on_hand, level
        assert (active["s"] or 0) == level.reserved, level


# ---- defect 1: a line that arrives refunded is reserved and would be packed ----------------------
def test_a_new_order_with_a_line_already_refunded_never_reserves_it(shelf):
    channel = make_channel(platform="taobao")
    trade = sample_trade()
    socks = trade["orders"]["order"][1]
    socks.update(refund_status="SUCCESS", status="TRADE_CLOSED")

    body = accepted(post_signed(channel, trade))

    assert body["result"] == "created"
    order = Order.objects.get(pk=body["order_id"])
    assert order.state == "ready"
    assert line(order.pk, SOCK).refund_state == LineRefundState.REFUNDED
    assert line(order.pk, SOCK).refund_status == "SUCCESS"
    assert line(order.pk, TEE).refund_state == LineRefundState.NONE
    assert active_reserved(order.pk) == {TEE: 2}
    assert StockLevel.objects.get(sku__code=SOCK).reserved == 0
    assert_stock_agrees()


# ---- defect 2: later updates never change stored lines --------------------------------------------
def test_refund_request_then_refund_on_one_line_follows_the_platform(shelf):
    channel = make_channel(platform="taobao")
    trade = sample_trade()
    order = Order.objects.get(pk=accepted(post_signed(channel, trade))["order_id"])
    assert order.state == "ready" and active_reserved(order.pk) == {TEE: 2, SOCK: 1}
    seen: list[tuple[str, str, str]] = []

    def listener(sender, order, line, previous, current, **kwargs):
        seen.append((line.sku_code, previous, current))

    line_refund_changed.connect(listener, sender=OrderLine)
    try:
        apply_event("taobao", trade, "refund_request", line=1)
        requested = accepted(post_signed(channel, trade))
        order.refresh_from_db()
        assert requested["result"] == "updated"
        assert {"refund_requested", "lines"} <= set(requested["changed"])
        assert order.state == "on_hold" and open_task(order.pk, "refund_requested") is not None
        assert line(order.pk, SOCK).refund_status == "WAIT_SELLER_AGREE"
        assert line(order.pk, SOCK).refund_state == LineRefundState.REQUESTED
        assert requested["lines"] == [
            {
                "line_id": line(order.pk, SOCK).pk,
                "external_line_id": "3301234500012345680",
                "sku_code": SOCK,
                "title": "示例棉袜三双装",
                "added": False,
                "changes": {
                    "refund_state": {"from": "none", "to": "requested"},
                    "refund_status": {"from": "NO_REFUND", "to": "WAIT_SELLER_AGREE"},
                },
            }
        ]

        apply_event("taobao", trade, "refund_complete", line=1)
        refunded = accepted(post_signed(channel, trade))
    finally:
        line_refund_changed.disconnect(listener, sender=OrderLine)

    order.refresh_from_db()
    assert refunded["result"] == "updated"
    assert line(order.pk, SOCK).refund_state == LineRefundState.REFUNDED
    # the refunded line's stock is back on the shelf; the rest ships
    assert active_reserved(order.pk) == {TEE: 2}
    assert StockLevel.objects.get(sku__code=SOCK).reserved == 0
    assert order.state == "ready" and open_task(order.pk, "refund_requested") is None
    assert seen == [(SOCK, "none", "requested"), (SOCK, "requested", "refunded")]
    # what changed per line is on the order's audit trail, in words
    described = [e.description for e in OrderEvent.objects.filter(order=order, kind="lines_changed")]
    assert len(described) == 2 and SOCK in described[1] and "Refunded" in described[1]
    assert_stock_agrees()


def test_every_line_refunded_cancels_the_order_and_releases_everything(shelf):
    channel = make_channel(platform="taobao")
    trade = sample_trade()
    order = Order.objects.get(pk=accepted(post_signed(channel, trade))["order_id"])
    apply_event("taobao", trade, "refund_complete", line=0)
    accepted(post_signed(channel, trade))
    assert active_reserved(order.pk) == {SOCK: 1}
    apply_event("taobao", trade, "refund_request", line=1)
    accepted(post_signed(channel, trade))
    task = open_task(order.pk, "refund_requested")
    apply_event("taobao", trade, "refund_complete", line=1)
    body = accepted(post_signed(channel, trade))

    order.refresh_from_db()
    task.refresh_from_db()
    assert body["state"] == order.state == "cancelled"
    assert task.state == TaskState.RESOLVED and task.resolution == Resolution.CANCELLED  # nothing left to decide
    assert active_reserved(order.pk) == {}
    assert StockLevel.objects.aggregate(r=Sum("reserved"))["r"] == 0
    assert_stock_agrees()


def test_a_lower_quantity_gives_back_the_excess_and_a_new_line_is_reserved(shelf):
    channel = make_channel(platform="manual")
    native = {
        "external_id": "M-QTY-1",
        "status": "awaiting_shipment",
        "receiver": {"name": "王五", "phone": "13912345678", "province": "浙江省", "city": "杭州市",
                     "district": "西湖区", "address": "文三路 1 号"},
        "lines": [{"line_id": "1", "sku_code": TEE, "quantity": 3, "unit_price": "89.00"}],
        "paid": "267.00",
        "paid_at": "2026-01-01T10:00:00+08:00",
        "modified_at": "2026-01-01T10:00:00+08:00",
    }  # fmt: skip
    order = Order.objects.get(pk=accepted(post_signed(channel, native))["order_id"])
    assert active_reserved(order.pk) == {TEE: 3}

    native["lines"][0]["quantity"] = 1
    native["lines"].append({"line_id": "2", "sku_code": SOCK, "quantity": 2, "unit_price": "39.90"})
    native["modified_at"] = "2026-01-01T10:05:00+08:00"
    body = accepted(post_signed(channel, native))

    assert body["result"] == "updated" and "lines" in body["changed"]
    assert {(x["sku_code"], x["added"]) for x in body["lines"]} == {(TEE, False), (SOCK, True)}
    assert active_reserved(order.pk) == {TEE: 1, SOCK: 2}
    assert StockLevel.objects.get(sku__code=TEE).reserved == 1
    assert_stock_agrees()


# ---- defect 3: a withdrawn request leaves the order held; "duplicate" for a change ----------------
def test_a_withdrawn_refund_request_releases_the_order_and_clears_its_task(shelf):
    channel = make_channel(platform="taobao")
    trade = sample_trade()
    order = Order.objects.get(pk=accepted(post_signed(channel, trade))["order_id"])
    apply_event("taobao", trade, "refund_request", line=0)
    accepted(post_signed(channel, trade))
    task = open_task(order.pk, "refund_requested")
    assert task is not None

    apply_event("taobao", trade, "refund_withdraw", line=0)
    body = accepted(post_signed(channel, trade))

    order.refresh_from_db()
    task.refresh_from_db()
    assert body["result"] == "updated" and {"refund_requested", "lines"} <= set(body["changed"])
    assert body["lines"][0]["changes"]["refund_state"] == {"from": "requested", "to": "none"}
    assert line(order.pk, TEE).refund_status == "CLOSED"
    assert line(order.pk, TEE).refund_state == LineRefundState.NONE
    assert order.refund_requested is False
    assert task.state == TaskState.RESOLVED and task.resolution == Resolution.CLEARED
    assert order.state == "ready" and body["state"] == "ready"
    assert active_reserved(order.pk) == {TEE: 2, SOCK: 1}
    assert_stock_agrees()


def test_the_webhook_answers_what_happened():
    channel = make_channel(platform="taobao")
    trade = sample_trade()
    older = copy.deepcopy(trade)
    first = accepted(post_signed(channel, trade))
    assert (first["result"], first["created"], first["changed"], first["lines"]) == ("created", True, [], [])

    again = accepted(post_signed(channel, trade))
    assert (again["result"], again["created"], again["changed"]) == ("unchanged", False, [])

    apply_event("taobao", trade, "memo")
    memo = accepted(post_signed(channel, trade))
    assert (memo["result"], memo["changed"], memo["lines"]) == ("updated", ["seller_memo"], [])

    older["modified"] = "2024-03-08 20:16:00"  # older than the stored order: out of order
    stale = accepted(post_signed(channel, older))
    assert (stale["result"], stale["changed"]) == ("stale", [])
    assert Order.objects.get(pk=first["order_id"]).seller_memo == trade["seller_memo"]


def test_the_admin_shows_what_changed_on_each_line_in_the_readers_language(admin_client, shelf):
    channel = make_channel(platform="taobao")
    trade = sample_trade()
    order_id = accepted(post_signed(channel, trade))["order_id"]
    apply_event("taobao", trade, "refund_complete", line=1)
    accepted(post_signed(channel, trade))

    page = f"/admin/orders/order/{order_id}/change/"
    chinese = admin_client.get(page, headers={"Accept-Language": "zh-hans"}).content.decode()
    english = admin_client.get(page, headers={"Accept-Language": "en"}).content.decode()
    assert f"订单行 {SOCK}：退款 无退款 → 已退款" in chinese
    assert f"line {SOCK}: refund No refund → Refunded" in english
    assert "平台订单行变更" in chinese and "lines changed on the platform" in english
