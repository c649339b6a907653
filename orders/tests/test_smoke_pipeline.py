from decimal import Decimal

from orders.channels.base import NormalizedLine, NormalizedOrder
from orders.services import ingest_order


def test_clean_order_goes_to_ready(channel):
    from django.utils import timezone

    from inventory.tests.factories import make_sku, make_warehouse, stock

    stock(make_sku("SKU1"), make_warehouse("WH"), 5)  # a real inventory: the line must have stock

    now = timezone.now()
    incoming = NormalizedOrder(
        external_id="T1",
        platform_status="awaiting_shipment",
        platform_status_raw="WAIT_SELLER_SEND_GOODS",
        buyer_nick="b",
        receiver_name="张三",
        receiver_phone="13800000000",
        receiver_province="浙江省",
        receiver_city="杭州市",
        receiver_district="西湖区",
        receiver_address="文三路1号",
        lines=[NormalizedLine("1", "i", "s", "SKU1", "t", 1, Decimal("9.90"))],
        goods_amount=Decimal("9.90"),
        paid_amount=Decimal("9.90"),
        paid_at=now,
        modified_at=now,
    )
    result = ingest_order(channel=channel, incoming=incoming, source="test")
    assert result.created
    assert result.order.state == "ready"
    again = ingest_order(channel=channel, incoming=incoming, source="test")
    assert not again.created and not again.changed and again.outcome == "unchanged"  # a redelivery
