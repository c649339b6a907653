"""Builders for shipping tests: real rows, real stock, real channels (no mocks)."""

from __future__ import annotations

import itertools
import zlib
from decimal import Decimal

from django.utils import timezone

from orders.channels.base import NormalizedLine, NormalizedOrder
from shipping.models import Carrier, WaybillAccount

_seq = itertools.count(1)


def make_account(channel, carrier_code: str = "ZTO", **fields) -> WaybillAccount:
    """A waybill account with a plain sender address (the manual channel, or tests that never call out)."""
    defaults = {
        "branch_code": f"B{next(_seq)}",
        "branch_name": "上海浦东张江网点",
        "sender_name": "王仓管",
        "sender_mobile": "13800000000",
        "sender_province": "上海市",
        "sender_city": "上海市",
        "sender_district": "浦东新区",
        "sender_address": "科苑路 88 号 3 号楼",
    }
    defaults.update(fields)
    return WaybillAccount.objects.create(channel=channel, carrier=Carrier.objects.get(code=carrier_code), **defaults)


def make_stock(*codes: str, quantity: int = 100, warehouse_code: str = "WH-SHIP"):
    """A warehouse holding `quantity` of each SKU (through the ledger, so ledger = levels)."""
    from inventory.models import Warehouse
    from inventory.tests.factories import make_sku, stock

    warehouse = Warehouse.objects.filter(code=warehouse_code).first()
    if warehouse is None:
        warehouse = Warehouse.objects.create(code=warehouse_code, name=warehouse_code, priority=1)
    for code in codes:
        from inventory.models import Sku

        sku = Sku.objects.filter(code=code).first() or make_sku(
            code, barcode=f"69{zlib.crc32(code.encode()) % 10**11:011d}"
        )
        stock(sku, warehouse, quantity)
    return warehouse


def incoming(*, lines: list[tuple[str, int]], buyer: str = "", address: str = "", **overrides) -> NormalizedOrder:
    """A paid order; lines: (merchant SKU code, quantity). Each order gets its own buyer and address
    unless given, so the rules do not see mergeable orders."""
    n = next(_seq)
    now = timezone.now()
    fields = {
        "external_id": f"S{n:09d}",
        "platform_status": "awaiting_shipment",
        "platform_status_raw": "WAIT_SELLER_SEND_GOODS",
        "buyer_nick": buyer or f"shipbuyer{n}",
        "receiver_name": "张三",
        "receiver_phone": "13812345678",
        "receiver_province": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": address or f"文三路 {n} 号",
        "lines": [
            NormalizedLine(f"L{n}-{i}", f"I-{code}", "", code, f"商品 {code}", qty, Decimal("10.00"), Decimal("0"))
            for i, (code, qty) in enumerate(lines)
        ],
        "goods_amount": Decimal("10.00") * sum(q for _, q in lines),
        "paid_amount": Decimal("10.00") * sum(q for _, q in lines),
        "created_at": now,
        "paid_at": now,
        "modified_at": now,
    }
    fields.update(overrides)
    return NormalizedOrder(**fields)
