"""Fixtures for shipping tests: the platform emulator on a free port (real HTTP, real signatures),
channels registered on it, e-waybill accounts read from it, real stock and a scanner device; the
buyer-notice gateway stand-in with each notice backend pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from rest_framework.test import APIClient

from orders.channels import get_adapter
from orders.emulator import ChannelEmulator
from orders.models import Channel, Order
from orders.services import ingest_order
from shipping.models import Carrier, NoticeTemplate, ScannerDevice, WaybillAccount
from shipping.notices.gateway_emulator import GatewayEmulator
from shipping.tests.factories import incoming, make_account, make_stock

SKUS = ("SKU-TEE-L", "SKU-MUG-1", "SKU-CAP-9")


@pytest.fixture(autouse=True)
def _no_task_broker(settings):
    settings.INVENTORY_ENQUEUE_TASKS = False
    settings.NOTICE_ENQUEUE_TASKS = False


@pytest.fixture
def emulator() -> Iterator[ChannelEmulator]:
    emu = ChannelEmulator("127.0.0.1", 0).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def warehouse(db):
    return make_stock(*SKUS, quantity=100)


@pytest.fixture
def shop(db, emulator) -> Callable[..., Channel]:
    """Factory: a Channel of `platform` registered on the emulator (manual shops need no emulator)."""

    def make(platform: str) -> Channel:
        if platform == "manual":
            return Channel.objects.create(platform="manual", name="自建商城", webhook_secret="s")
        key = f"{platform}-ship-{Channel.objects.count() + 1}"
        secrets = {
            "app_secret": f"{platform}-secret",
            "sign_secret": f"{platform}-sign",
            "access_token": f"{platform}-token",
        }
        emulator.add_shop(
            platform,
            key,
            secrets["app_secret"],
            sign_secret=secrets["sign_secret"],
            access_token=secrets["access_token"],
        )
        return Channel.objects.create(
            platform=platform,
            name=f"{platform} 旗舰店",
            app_key=key,
            api_base_url=emulator.url_for(platform),
            webhook_secret="s",
            **secrets,
        )

    return make


def account_on(channel: Channel, carrier_code: str = "ZTO", **fields) -> WaybillAccount:
    """The account as ops set it up: the branch the platform subscribed (read from its search API),
    then "refresh" fills the approved sender address and the quota."""
    from shipping.services import waybill_account_refresh

    if channel.platform == "manual":
        return make_account(channel, carrier_code, **fields)
    carrier = Carrier.objects.get(code=carrier_code)
    (branch, *_rest) = get_adapter(channel).waybill_branches(carrier_code=carrier.code_on(channel.platform))
    account = make_account(channel, carrier_code, branch_code=branch.branch_code, sender_address="-", **fields)
    return waybill_account_refresh(account_id=account.pk)


def ingest(channel: Channel, *, lines=(("SKU-TEE-L", 2),), **overrides) -> Order:
    result = ingest_order(channel=channel, incoming=incoming(lines=list(lines), **overrides), source="test")
    return Order.objects.get(pk=result.order.pk)


def assert_ledger_equals_levels() -> None:
    from django.db.models import Sum

    from inventory.models import StockLevel, StockMovement

    for level in StockLevel.objects.all():
        ledger = StockMovement.objects.filter(sku=level.sku, warehouse=level.warehouse).aggregate(s=Sum("quantity"))
        assert ledger["s"] == level.on_hand, level


def reload(order: Order) -> Order:
    return Order.objects.select_related("channel").get(pk=order.pk)


@pytest.fixture
def scanner(warehouse) -> tuple[ScannerDevice, APIClient]:
    from shipping.services import scanner_device_create

    device, token = scanner_device_create(name="PDA-01", warehouse=warehouse)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return device, client


def scan(client: APIClient, code: str, *, key: str = "", language: str = "en", **body):
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post("/api/v1/scans/outbound", {"code": code, **body}, format="json", **headers)


def issued_numbers(emulator: ChannelEmulator, platform: str) -> dict[str, list[str]]:
    response = requests.get(f"{emulator.base_url}/_emulator/waybills", params={"platform": platform}, timeout=5)
    return response.json()["by_parcel_key"]


def control(emulator: ChannelEmulator, action: str, **body) -> dict:
    response = requests.post(f"{emulator.base_url}/_emulator/{action}", json=body, timeout=5)
    assert response.status_code in (200, 201), response.text
    return response.json()


# the `tracking` fixture: both tracking services pointed at the emulator (kept with its helpers)
from shipping.tests.tracking_helpers import tracking  # noqa: E402, F401


# buyer notices: the gateway stand-in on a free port (real HTTP, real signatures) and each backend
# pointed at it through settings
@pytest.fixture
def gateway() -> Iterator[GatewayEmulator]:
    gw = GatewayEmulator(slow_seconds=1.5).start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def use_backend(settings, gateway):
    """use_backend("aliyun" | "tencent" | "wechat" | "generic"): that gateway's settings at the stand-in."""

    def configure(name: str) -> GatewayEmulator:
        settings.NOTICE_HTTP_TIMEOUT = 0.5
        settings.NOTICE_LOOKUP_DELAY_SECONDS = 0
        if name == "wechat":
            settings.NOTICE_MEDIUMS = ["wechat"]
            settings.NOTICE_WECHAT_BACKEND = "wechat"
            settings.WECHAT_SUBSCRIBE = {
                "app_id": gateway.wechat_app[0],
                "app_secret": gateway.wechat_app[1],
                "api_base": gateway.url,
                "page": "pages/order/detail",
                "miniprogram_state": "formal",
                "lang": "zh_CN",
            }
        else:
            settings.NOTICE_MEDIUMS = ["sms"]
            settings.NOTICE_SMS_BACKEND = name
        settings.ALIYUN_SMS = {
            "access_key_id": gateway.aliyun_key[0],
            "access_key_secret": gateway.aliyun_key[1],
            "sign_name": "示例旗舰店",
            "endpoint": gateway.address,
            "protocol": "http",
        }
        settings.TENCENT_SMS = {
            "secret_id": gateway.tencent_key[0],
            "secret_key": gateway.tencent_key[1],
            "sdk_app_id": "1400000001",
            "sign_name": "示例旗舰店",
            "region": "ap-guangzhou",
            "endpoint": gateway.address,
            "protocol": "http",
        }
        settings.NOTICE_GATEWAY = {"url": gateway.url, "secret": gateway.generic_secret}
        NoticeTemplate.objects.filter(event="shipped").update(vendor_template_code="SMS_000001")
        return gateway

    return configure
