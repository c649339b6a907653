"""Adapters over real HTTP against the in-process emulator: signed pulls, detail, ship, stock, typed failures."""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from orders.channels import adapter_class, common, fakes
from orders.channels.base import (
    AlreadyDoneError,
    ChannelCredentials,
    PermanentChannelError,
    RetryableChannelError,
    ShipRequest,
    StockUpdate,
)
from orders.tests.conftest import load_sample

PLATFORMS = ["taobao", "tmall", "jd", "pdd", "douyin", "kuaishou", "manual"]
CARRIERS = {"taobao": "ZTO", "tmall": "ZTO", "jd": "1499", "pdd": "115", "douyin": "zhongtong", "kuaishou": "9"}
SAMPLE_ORDERS = {  # the native order object inside each sample, and its id
    "taobao": (lambda s: s["trade_fullinfo_get_response"]["trade"], "3301234500012345678"),
    "jd": (
        lambda s: s["jingdong_pop_order_search_responce"]["searchorderinfo_result"]["orderInfoList"][0],
        "290000000000001",
    ),
    "pdd": (lambda s: s["order_info_get_response"]["order_info"], "240308-123456789012345"),
    "douyin": (lambda s: s["data"]["shop_order_detail"], "6900000000000000001"),
    "kuaishou": (lambda s: s["data"]["orderList"][0], "2400000000000001"),
}


def pull_all(adapter, *, hours: int = 6, page_size: int = 5):
    now = common.now_shanghai()
    orders, page, calls = [], None, 0
    while True:
        result = adapter.pull_orders(
            start=now - timedelta(hours=hours), end=now + timedelta(minutes=1), page=page, page_size=page_size
        )
        orders.extend(result.orders)
        calls += 1
        if not result.has_next:
            return orders, calls
        page = result.next_page


def native_sample(platform: str, **changes) -> dict:
    getter, _ = SAMPLE_ORDERS[platform]
    order = copy.deepcopy(getter(load_sample(f"{platform}_order.json")))
    order.update(changes)
    return order


# ---- pulling ---------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_pull_orders_pages_through_every_order_modified_in_the_window(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    ids = channel_emulator.generate(platform, 23, seed=5)
    orders, calls = pull_all(adapter)
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert calls > 1  # it really paged
    assert all(o.modified_at.tzinfo is not None for o in orders)


def test_taobao_pull_lists_tids_then_reads_each_trade_in_full(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("taobao")
    channel_emulator.generate("taobao", 3, seed=1)
    orders, _ = pull_all(adapter, page_size=10)
    apis = [call["api"] for call in channel_emulator.calls]
    assert apis == ["taobao.trades.sold.increment.get"] + ["taobao.trade.fullinfo.get"] * 3
    assert channel_emulator.calls[0]["params"]["fields"] == "tid,tid_str,modified"
    assert all(o.lines for o in orders)


def test_pull_ignores_orders_modified_outside_the_window(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("douyin")
    old = fakes.generate_orders("douyin", 2, seed=2, now=common.now_shanghai() - timedelta(days=3))
    recent = channel_emulator.generate("douyin", 2, seed=3)
    channel_emulator.add_orders("douyin", old)
    orders, _ = pull_all(adapter)
    assert sorted(o.external_id for o in orders) == sorted(recent)


def test_pdd_pull_cuts_the_window_into_30_minute_calls(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("pdd")
    channel_emulator.generate("pdd", 4, seed=8)
    pull_all(adapter, hours=2)
    spans = [
        int(call["params"]["end_updated_at"]) - int(call["params"]["start_updated_at"])
        for call in channel_emulator.calls
    ]
    assert len(spans) == 5  # 2 h + 1 min
    assert max(spans) <= 1800


def test_jd_and_pdd_lists_do_not_return_unpaid_orders(channel_emulator, emulator_adapter):
    jd = emulator_adapter("jd")
    unpaid = native_sample("jd", orderId="290000000000099", paymentConfirmTime="0001-01-01 00:00:00")
    unpaid["modified"] = common.format_local_time(common.now_shanghai())
    channel_emulator.add_orders("jd", [unpaid])
    orders, _ = pull_all(jd)
    assert orders == []


def test_orders_posted_for_one_shop_are_invisible_to_another(channel_emulator, emulator_adapter):
    mine = emulator_adapter("kuaishou", app_key="shop-a")
    other = emulator_adapter("kuaishou", app_key="shop-b")
    channel_emulator.add_orders("kuaishou", fakes.generate_orders("kuaishou", 3, seed=4), app_key="shop-a")
    assert len(pull_all(mine)[0]) == 3
    assert pull_all(other)[0] == []


# ---- detail ----------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", list(SAMPLE_ORDERS))
def test_fetch_order_reads_the_sample_through_the_detail_api(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    _, external_id = SAMPLE_ORDERS[platform]
    channel_emulator.add_orders(platform, [native_sample(platform)])
    order = adapter.fetch_order(external_id)
    assert order.external_id == external_id
    assert order.platform_status == "awaiting_shipment"
    assert order.lines[0].sku_code == "DEMO-TEE-WHT-L"
    assert order.discount_amount == Decimal("20.00")
    expected_paid = Decimal("158.00") if platform == "kuaishou" else Decimal("197.90")
    assert order.paid_amount == expected_paid


@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin", "kuaishou", "manual"])
def test_fetch_of_an_unknown_order_is_permanent(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    with pytest.raises(PermanentChannelError):
        adapter.fetch_order("999" if platform != "pdd" else "240101-000000000000999")


# ---- ship write-back -------------------------------------------------------------------------
@pytest.mark.parametrize("platform", list(SAMPLE_ORDERS))
def test_ship_writes_back_and_a_second_ship_is_already_done(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    _, external_id = SAMPLE_ORDERS[platform]
    channel_emulator.add_orders(platform, [native_sample(platform)])
    adapter.ship(
        ShipRequest(external_id=external_id, tracking_number="73500000000001", carrier_code=CARRIERS[platform])
    )
    (shipment,) = channel_emulator.shipments
    assert (shipment["external_id"], shipment["tracking_number"], shipment["carrier_code"]) == (
        external_id,
        "73500000000001",
        CARRIERS[platform],
    )
    assert adapter.fetch_order(external_id).platform_status == "shipped"
    with pytest.raises(AlreadyDoneError):
        adapter.ship(
            ShipRequest(external_id=external_id, tracking_number="73500000000001", carrier_code=CARRIERS[platform])
        )
    assert len(channel_emulator.shipments) == 1


def test_taobao_already_shipped_carries_the_b04_sub_code(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("taobao")
    channel_emulator.add_orders("taobao", [native_sample("taobao", status="WAIT_BUYER_CONFIRM_GOODS")])
    with pytest.raises(AlreadyDoneError) as caught:
        adapter.ship(ShipRequest("3301234500012345678", "7350", "ZTO"))
    assert caught.value.sub_code == "isv.logistics-offline-service-error:B04"


def test_taobao_b04_for_a_closed_trade_is_not_success(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("taobao")
    channel_emulator.add_orders("taobao", [native_sample("taobao", status="TRADE_CLOSED")])
    with pytest.raises(PermanentChannelError) as caught:
        adapter.ship(ShipRequest("3301234500012345678", "7350", "ZTO"))
    assert not isinstance(caught.value, AlreadyDoneError)


def test_douyin_already_shipped_is_sub_code_60110(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("douyin")
    channel_emulator.add_orders("douyin", [native_sample("douyin", order_status=3)])
    with pytest.raises(AlreadyDoneError) as caught:
        adapter.ship(ShipRequest("6900000000000000001", "7350", "zhongtong"))
    assert caught.value.sub_code == "isv.business-failed:60110"


def test_douyin_cancelled_order_refuses_shipment_permanently(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("douyin")
    channel_emulator.add_orders("douyin", [native_sample("douyin", order_status=4)])
    with pytest.raises(PermanentChannelError) as caught:
        adapter.ship(ShipRequest("6900000000000000001", "7350", "zhongtong"))
    assert caught.value.sub_code == "isv.business-failed:60021"


def test_taobao_partial_shipment_sends_sub_tid_and_leaves_the_trade_part_shipped(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("taobao")
    channel_emulator.add_orders("taobao", [native_sample("taobao")])
    adapter.ship(ShipRequest("3301234500012345678", "7350", "ZTO", line_ids=["3301234500012345679"]))
    params = channel_emulator.calls[-1]["params"]
    assert (params["sub_tid"], params["is_split"]) == ("3301234500012345679", "1")
    assert adapter.fetch_order("3301234500012345678").platform_status == "partially_shipped"


def test_douyin_partial_shipment_uses_multi_pack(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("douyin")
    channel_emulator.add_orders("douyin", [native_sample("douyin")])
    adapter.ship(ShipRequest("6900000000000000001", "7350", "zhongtong", line_ids=["6900000000000000002"]))
    assert channel_emulator.calls[-1]["api"] == "order.logisticsAddMultiPack"
    assert adapter.fetch_order("6900000000000000001").platform_status == "partially_shipped"


def test_kuaishou_ship_sends_numeric_ids_like_the_sample(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("kuaishou")
    channel_emulator.add_orders("kuaishou", [native_sample("kuaishou")])
    adapter.ship(ShipRequest("2400000000000001", "73500000000005", "9"))
    sample_param = json.loads(load_sample("kuaishou_ship_request.json")["form_body"]["param"])
    assert channel_emulator.calls[-1]["params"] == sample_param


# ---- stock -----------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin", "manual"])
def test_stock_update_overwrites_the_quantity(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    adapter.update_stock(StockUpdate("700000000001", "5100000000001", 12))
    adapter.update_stock(StockUpdate("700000000001", "5100000000001", 9))
    (level,) = [lv for key, lv in channel_emulator.stock_levels.items() if key[3] == "5100000000001"]
    assert level == 9
    assert not any(u["delta"] for u in channel_emulator.stock_updates)


def test_kuaishou_stock_pushes_the_delta_from_last_pushed(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("kuaishou")
    adapter.update_stock(StockUpdate("800000000001", "900000000001", quantity=10, last_pushed=4))
    adapter.update_stock(StockUpdate("800000000001", "900000000001", quantity=7, last_pushed=10))
    params = [call["params"] for call in channel_emulator.calls]
    assert [(p["skuChangeStock"], p["changeType"]) for p in params] == [(6, 1), (3, 2)]
    assert channel_emulator.stock_levels[("kuaishou", "kuaishou-app-key", "800000000001", "900000000001")] == 3
    result = adapter.update_stock(StockUpdate("800000000001", "900000000001", quantity=7, last_pushed=7))
    assert result["skipped"] is True
    assert len(channel_emulator.calls) == 2
    with pytest.raises(PermanentChannelError):
        adapter.update_stock(StockUpdate("800000000001", "900000000001", quantity=7))


# ---- failures --------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_http_500_is_retryable_and_the_next_call_succeeds(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    channel_emulator.generate(platform, 2, seed=9)
    channel_emulator.add_fault(platform, "http500", count=1)
    with pytest.raises(RetryableChannelError) as caught:
        pull_all(adapter)
    assert caught.value.code == "http500"
    assert len(pull_all(adapter)[0]) == 2


def test_timeout_is_retryable(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("jd", timeout=0.3)
    channel_emulator.add_fault("jd", "timeout", count=1, delay=1.5)
    with pytest.raises(RetryableChannelError) as caught:
        adapter.update_stock(StockUpdate("1", "100000000011", 5))
    assert caught.value.code == "timeout"


def test_connection_refused_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = adapter_class("pdd")(ChannelCredentials("pdd", api_base_url=f"http://127.0.0.1:{port}/pdd/api/router"))
    with pytest.raises(RetryableChannelError) as caught:
        adapter.fetch_order("240308-123456789012345")
    assert caught.value.code == "connection"


@pytest.mark.parametrize(
    ("platform", "code", "sub_code", "msg", "retryable"),
    [
        ("taobao", "7", "accesscontrol.limited-by-app-access-count", "App Call Limited", True),
        ("taobao", "15", "isp.top-remote-connection-timeout", "Remote service error", True),
        ("taobao", "15", "isv.invalid-parameter", "Remote service error", False),
        ("taobao", "27", "", "Invalid session", False),
        ("jd", "66", "", "参数错误", False),
        ("pdd", "70031", "", "调用过于频繁", True),
        ("pdd", "10019", "", "access_token已过期", False),
        ("douyin", "20000", "isp.service-error:1000", "服务异常", True),
        ("douyin", "50002", "isv.business-failed:60017", "运单号不合法", False),
        ("kuaishou", "20", "", "Exceed qps limit", True),
        ("kuaishou", "21", "", "bad param", False),
    ],
)
def test_platform_error_codes_are_typed(platform, code, sub_code, msg, retryable, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    channel_emulator.add_fault(platform, "error_code", count=1, code=code, sub_code=sub_code, msg=msg)
    with pytest.raises(RetryableChannelError if retryable else PermanentChannelError) as caught:
        pull_all(adapter)
    assert caught.value.retryable is retryable
    assert caught.value.code == code
    assert caught.value.sub_code == sub_code


def test_fault_can_target_one_api_method(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("taobao")
    channel_emulator.add_orders("taobao", [native_sample("taobao")])
    channel_emulator.add_fault(
        "taobao",
        "error_code",
        count=1,
        method="taobao.logistics.offline.send",
        code="15",
        sub_code="isv.logistics-offline-service-error:B150",
    )
    adapter.fetch_order("3301234500012345678")  # unaffected
    with pytest.raises(RetryableChannelError):
        adapter.ship(ShipRequest("3301234500012345678", "7350", "ZTO"))
    adapter.ship(ShipRequest("3301234500012345678", "7350", "ZTO"))
    assert len(channel_emulator.shipments) == 1


@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin", "kuaishou", "manual"])
def test_a_wrong_secret_fails_the_emulators_signature_check(platform, channel_emulator, emulator_adapter):
    emulator_adapter(platform)  # registers the shop with the right secrets
    credentials = channel_emulator.credentials(platform, f"{platform}-app-key")
    credentials.app_secret = credentials.sign_secret = "wrong"
    with pytest.raises(PermanentChannelError):
        adapter_class(platform)(credentials).update_stock(StockUpdate("1", "2", 3, last_pushed=1))
    assert channel_emulator.stock_updates == []


# ---- the emulator's own control API and command ----------------------------------------------
def test_emulator_control_endpoints(channel_emulator):
    base = channel_emulator.base_url + "/_emulator"
    assert requests.get(f"{base}/health", timeout=5).json()["ok"] is True
    shop = {"platform": "douyin", "app_key": "dk", "app_secret": "ds"}
    reply = requests.post(f"{base}/shops", json=shop, timeout=5)
    assert reply.status_code == 201
    assert reply.json()["api_base_url"] == channel_emulator.base_url + "/douyin"
    ids = requests.post(f"{base}/orders", json={"platform": "douyin", "generate": 3, "seed": 1}, timeout=5).json()[
        "ids"
    ]
    assert len(ids) == 3
    posted = requests.post(
        f"{base}/orders", json={"platform": "douyin", "orders": [native_sample("douyin")]}, timeout=5
    ).json()["ids"]
    assert posted == ["6900000000000000001"]
    assert len(requests.get(f"{base}/orders?platform=douyin", timeout=5).json()["orders"]["douyin"]) == 4
    fault = {"platform": "douyin", "kind": "http500", "count": 2}
    assert requests.post(f"{base}/faults", json=fault, timeout=5).status_code == 201
    assert requests.get(f"{base}/faults", timeout=5).json()["faults"][0]["count"] == 2
    assert requests.delete(f"{base}/faults", timeout=5).json()["ok"] is True

    adapter = adapter_class("douyin")(channel_emulator.credentials("douyin", "dk"))
    adapter.ship(ShipRequest("6900000000000000001", "7350", "zhongtong"))
    adapter.update_stock(StockUpdate("3600000000000000001", "1700000000000000001", 4))
    assert requests.get(f"{base}/shipments?platform=douyin", timeout=5).json()["shipments"][0]["external_id"] == (
        "6900000000000000001"
    )
    stock = requests.get(f"{base}/stock", timeout=5).json()
    assert stock["levels"][0]["quantity"] == 4
    assert requests.post(f"{base}/reset", timeout=5).json()["ok"] is True
    assert requests.get(f"{base}/shipments", timeout=5).json()["shipments"] == []
    assert requests.post(f"{base}/faults", json={"platform": "douyin", "kind": "nope"}, timeout=5).status_code == 400


def test_channel_emulator_command_serves_seeded_orders():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "manage.py", "channel_emulator", "--port", "0", "--seed-orders", "3", "--seed", "1"]
    command += ["--shop", "taobao:tk:ts"]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first_line = process.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", first_line)
        assert match, first_line + process.stderr.read()
        base = match.group(0)
        assert requests.get(f"{base}/_emulator/health", timeout=5).json()["ok"] is True
        adapter = adapter_class("taobao")(
            ChannelCredentials("taobao", app_key="tk", app_secret="ts", api_base_url=f"{base}/taobao/router/rest")
        )
        assert len(pull_all(adapter)[0]) == 3
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- events and pushes (what the traffic simulator drives) ------------------------------------
@pytest.mark.parametrize(
    ("event", "check"),
    [
        ("cancel", lambda o: o.platform_status in ("cancelled", "refunded")),
        ("refund_request", lambda o: o.refund_requested),
        ("address_change", lambda o: "新华路" in o.receiver_address),
        ("memo", lambda o: o.seller_memo == "客服备注：已核对地址"),
    ],
)
@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin", "kuaishou", "manual"])
def test_emulator_events_change_the_order_and_its_modified_time(
    platform, event, check, channel_emulator, emulator_adapter
):
    adapter = emulator_adapter(platform)
    (order_id,) = channel_emulator.add_orders(platform, fakes.generate_orders(platform, 1, seed=30))
    before = adapter.fetch_order(order_id)
    reply = requests.post(
        channel_emulator.base_url + "/_emulator/events",
        json={"platform": platform, "external_id": order_id, "event": event},
        timeout=5,
    )
    assert reply.json()["ok"] is True
    after = adapter.fetch_order(order_id)
    assert check(after)
    assert after.modified_at > before.modified_at


@pytest.mark.parametrize("platform", ["taobao", "douyin", "kuaishou", "manual"])
def test_emulator_pay_event_turns_an_unpaid_order_awaiting_shipment(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    natives = fakes.generate_orders(platform, 60, seed=2)
    unpaid = next(n for n in natives if adapter.parse_order(n).platform_status == "unpaid")
    (order_id,) = channel_emulator.add_orders(platform, [unpaid])
    channel_emulator.apply_event(platform, order_id, "pay")
    paid = adapter.fetch_order(order_id)
    assert paid.platform_status == "awaiting_shipment"
    assert paid.paid_at is not None
    assert paid.goods_amount + paid.postage - paid.discount_amount == paid.paid_amount


@pytest.mark.parametrize("platform", ["douyin", "kuaishou"])
def test_emulator_builds_pushes_the_adapter_accepts(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform, message_key="MDEyMzQ1Njc4OWFiY2RlZg==")
    (order_id,) = channel_emulator.add_orders(platform, fakes.generate_orders(platform, 1, seed=31))
    headers, body = channel_emulator.push_message(platform, f"{platform}-app-key", order_id, "pay")
    (message,) = adapter.verify_push(headers, body)
    assert message.external_id == order_id
    assert message.message_id
    assert not message.is_heartbeat


def test_emulator_event_can_post_the_push_to_a_webhook(channel_emulator, emulator_adapter):
    emulator_adapter("douyin")
    (order_id,) = channel_emulator.add_orders("douyin", fakes.generate_orders("douyin", 1, seed=32))
    with ChannelEmulatorSink() as sink:
        reply = requests.post(
            channel_emulator.base_url + "/_emulator/events",
            json={
                "platform": "douyin",
                "external_id": order_id,
                "event": "address_change",
                "app_key": "douyin-app-key",
                "push_url": sink.url,
            },
            timeout=5,
        ).json()
    assert reply["push_status"] == 200
    headers, body = sink.received[0]
    adapter = adapter_class("douyin")(channel_emulator.credentials("douyin", "douyin-app-key"))
    (message,) = adapter.verify_push(headers, body)
    assert (message.topic, message.external_id) == ("105", order_id)


class ChannelEmulatorSink:
    """A tiny HTTP receiver standing in for OrderHub's webhook endpoint."""

    def __enter__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_douyin_stock_idempotent_id_is_stable_for_a_retry_and_new_for_a_change(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("douyin")
    update = StockUpdate("3600000000000000001", "1700000000000000001", quantity=5, last_pushed=8)
    adapter.update_stock(update)
    adapter.update_stock(update)  # an outbox retry
    adapter.update_stock(StockUpdate("3600000000000000001", "1700000000000000001", quantity=4, last_pushed=5))
    ids = [u["idempotent_id"] for u in channel_emulator.stock_updates]
    assert ids[0] == ids[1] != ids[2]
