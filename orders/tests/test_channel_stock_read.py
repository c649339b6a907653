"""`fetch_stock` over real signed HTTP against the emulator: every adapter reads back what it pushed,
sees a quantity changed on the platform side, and types the platform's failures."""

from __future__ import annotations

import pytest
import requests

from orders.channels import adapter_class
from orders.channels.base import PermanentChannelError, RetryableChannelError, StockUpdate

PLATFORMS = ["taobao", "tmall", "jd", "pdd", "douyin", "kuaishou", "manual"]
ITEM, SKU = "700000000001", "5100000000001"
#: the read API each adapter calls (README §7 has none; chosen per platform, see docs/channels.md)
READ_API = {
    "taobao": "taobao.item.sku.get",
    "tmall": "taobao.item.sku.get",
    "jd": "jingdong.stock.read.findSkuStock",
    "pdd": "pdd.goods.information.get",
    "douyin": "sku.stockNum",
    "kuaishou": "open.item.get",
    "manual": "stock/get",
}
#: a limit/transient error each platform answers with, which its adapter must type retryable
LIMIT_FAULTS = {
    "taobao": {"code": "7", "sub_code": "accesscontrol.limited-by-app-access-count", "msg": "App Call Limited"},
    "pdd": {"code": "70031", "msg": "调用过于频繁"},
    "douyin": {"code": "20000", "sub_code": "isp.service-error:1000", "msg": "服务异常"},
    "kuaishou": {"code": "20", "msg": "Exceed qps limit"},
    "manual": {"code": "rate_limited", "msg": "slow down"},
}


def push(adapter, quantity: int, last_pushed: int | None, *, item: str = ITEM, sku: str = SKU) -> None:
    """Kuaishou's API is delta-only: it needs the last pushed figure; the others overwrite."""
    adapter.update_stock(StockUpdate(item, sku, quantity, last_pushed=last_pushed))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_fetch_stock_returns_what_update_stock_pushed(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    push(adapter, 12, 0)
    assert adapter.fetch_stock(ITEM, SKU) == 12
    push(adapter, 9, 12)
    assert adapter.fetch_stock(ITEM, SKU) == 9
    reads = [call for call in channel_emulator.calls if call["api"] == READ_API[platform]]
    assert len(reads) == 2  # really asked the platform, through its signed read API


@pytest.mark.parametrize("platform", PLATFORMS)
def test_fetch_stock_sees_a_quantity_changed_on_the_platform(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    push(adapter, 5, 0)
    channel_emulator.set_stock(platform, f"{platform}-app-key", ITEM, SKU, 42)  # e.g. edited in the seller console
    assert adapter.fetch_stock(ITEM, SKU) == 42
    assert [u["quantity"] for u in channel_emulator.stock_updates] == [5]  # not an API push


def test_platform_stock_can_be_set_through_the_control_endpoint(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("pdd")
    push(adapter, 3, None)
    body = {"platform": "pdd", "app_key": "pdd-app-key", "item_id": ITEM, "sku_id": SKU, "quantity": 17}
    reply = requests.post(f"{channel_emulator.base_url}/_emulator/stock", json=body, timeout=5)
    assert reply.status_code == 200
    assert adapter.fetch_stock(ITEM, SKU) == 17
    levels = requests.get(f"{channel_emulator.base_url}/_emulator/stock?platform=pdd", timeout=5).json()["levels"]
    assert levels == [{"platform": "pdd", "app_key": "pdd-app-key", "item_id": ITEM, "sku_id": SKU, "quantity": 17}]
    bad = {"platform": "nowhere", "app_key": "k", "item_id": "1", "sku_id": "2", "quantity": 1}
    assert requests.post(f"{channel_emulator.base_url}/_emulator/stock", json=bad, timeout=5).status_code == 400


def test_the_taobao_read_asks_for_quantity_by_num_iid_and_sku_id(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("taobao")
    push(adapter, 4, None)
    adapter.fetch_stock(ITEM, SKU)
    params = channel_emulator.calls[-1]["params"]
    assert (params["method"], params["num_iid"], params["sku_id"]) == ("taobao.item.sku.get", ITEM, SKU)
    assert "quantity" in params["fields"].split(",")


@pytest.mark.parametrize("platform", ["taobao", "pdd"])
def test_an_item_without_skus_reads_the_item_quantity(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    push(adapter, 6, None, sku="")
    assert adapter.fetch_stock(ITEM, "") == 6


def test_each_sku_of_an_item_reads_its_own_quantity(emulator_adapter):
    for platform in ("pdd", "kuaishou"):  # both read the whole item and pick the SKU's row
        adapter = emulator_adapter(platform)
        push(adapter, 3, 0, sku="5100000000001")
        push(adapter, 8, 0, sku="5100000000002")
        assert adapter.fetch_stock(ITEM, "5100000000001") == 3
        assert adapter.fetch_stock(ITEM, "5100000000002") == 8


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_unknown_sku_is_a_permanent_error(platform, emulator_adapter):
    adapter = emulator_adapter(platform)
    with pytest.raises(PermanentChannelError) as caught:
        adapter.fetch_stock("799999999999", "5199999999999")
    assert caught.value.retryable is False


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_platform_fault_on_the_read_is_retryable_and_the_next_read_succeeds(
    platform, channel_emulator, emulator_adapter
):
    adapter = emulator_adapter(platform)
    push(adapter, 7, 0)
    channel_emulator.add_fault(platform, "http500", count=1, method=READ_API[platform])
    with pytest.raises(RetryableChannelError) as caught:
        adapter.fetch_stock(ITEM, SKU)
    assert caught.value.code == "http500"
    assert adapter.fetch_stock(ITEM, SKU) == 7


def test_a_timeout_on_the_read_is_retryable(channel_emulator, emulator_adapter):
    adapter = emulator_adapter("douyin", timeout=0.3)
    push(adapter, 7, None)
    channel_emulator.add_fault("douyin", "timeout", count=1, delay=1.5)
    with pytest.raises(RetryableChannelError) as caught:
        adapter.fetch_stock(ITEM, SKU)
    assert caught.value.code == "timeout"


@pytest.mark.parametrize("platform", sorted(LIMIT_FAULTS))
def test_a_platform_limit_error_on_the_read_is_retryable(platform, channel_emulator, emulator_adapter):
    adapter = emulator_adapter(platform)
    push(adapter, 7, 0)
    channel_emulator.add_fault(platform, "error_code", count=1, **LIMIT_FAULTS[platform])
    with pytest.raises(RetryableChannelError) as caught:
        adapter.fetch_stock(ITEM, SKU)
    assert caught.value.code == LIMIT_FAULTS[platform]["code"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_read_with_a_wrong_secret_fails_the_signature_check(platform, channel_emulator, emulator_adapter):
    push(emulator_adapter(platform), 7, 0)
    credentials = channel_emulator.credentials(platform, f"{platform}-app-key")
    credentials.app_secret = credentials.sign_secret = "wrong"
    with pytest.raises(PermanentChannelError):
        adapter_class(platform)(credentials).fetch_stock(ITEM, SKU)
