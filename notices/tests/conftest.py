"""Fixtures for notice tests: the gateway stand-in on a free port (real HTTP, real signatures), each
backend pointed at it through settings, and parcels shipped to a buyer with a plaintext number."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from notices.gateway_emulator import GatewayEmulator
from notices.models import NoticeTemplate
from orders.models import Channel, Order
from shipping.models import BuyerNotice, Carrier, Shipment, ShipmentState, WaybillAccount
from shipping.tests.conftest import emulator, scanner, shop, warehouse  # noqa: F401  (the scan end to end)

PHONE = "13812345678"


@pytest.fixture(autouse=True)
def _no_task_broker(settings):
    settings.INVENTORY_ENQUEUE_TASKS = False
    settings.NOTICE_ENQUEUE_TASKS = False


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


def shipped_notice(
    *, phone: str = PHONE, masked: bool = False, platform: str = "manual", buyer_id: str = ""
) -> BuyerNotice:
    """An order on a shop, shipped in one parcel (ZTO, from Shanghai to Zhejiang) and its `shipped` notice."""
    n = Order.objects.count() + 1
    channel = Channel.objects.filter(platform=platform).first() or Channel.objects.create(
        platform=platform, name="自建商城" if platform == "manual" else f"{platform} 旗舰店"
    )
    now = timezone.now()
    order = Order.objects.create(
        channel=channel,
        external_id=f"N{n:06d}",
        state="shipped",
        platform_status="shipped",
        buyer_id=buyer_id,
        receiver_name="张三",
        receiver_phone=phone,
        receiver_masked=masked,
        receiver_province="浙江省",
        receiver_city="杭州市",
        paid_at=now - timedelta(hours=2),
        ship_by=now + timedelta(hours=2),
    )
    carrier = Carrier.objects.get(code="ZTO")
    account = WaybillAccount.objects.filter(channel=channel).first() or WaybillAccount.objects.create(
        channel=channel,
        carrier=carrier,
        sender_name="王仓管",
        sender_mobile="13800000000",
        sender_province="上海市",
        sender_city="上海市",
        sender_address="科苑路 88 号",
    )
    shipment = Shipment.objects.create(
        parcel_key=f"{order.pk}-1",
        channel=channel,
        account=account,
        carrier=carrier,
        tracking_number=f"7312345{n:06d}",
        state=ShipmentState.SHIPPED,
        shipped_at=now,
    )
    return BuyerNotice.objects.create(shipment=shipment, order=order, event=BuyerNotice.EVENT_SHIPPED)


def reload(notice: BuyerNotice) -> BuyerNotice:
    return BuyerNotice.objects.get(pk=notice.pk)
