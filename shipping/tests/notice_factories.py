"""Buyer-notice test data: parcels shipped to a buyer with a plaintext number and their `shipped` notice
(the gateway stand-in fixtures are in shipping/tests/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from orders.models import Channel, Order
from shipping.models import BuyerNotice, Carrier, Shipment, ShipmentState, WaybillAccount

PHONE = "13812345678"


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
