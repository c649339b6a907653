"""Builders for realistic orders in tests."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from orders.channels.base import NormalizedLine, NormalizedOrder
from orders.models import Channel, Order

_seq = itertools.count(1)


def make_channel(**overrides) -> Channel:
    n = next(_seq)
    fields = {
        "platform": "taobao",
        "name": f"店铺{n}",
        "app_key": f"key{n}",
        "app_secret": "test",
        "webhook_secret": "whsec",
    }
    fields.update(overrides)
    return Channel.objects.create(**fields)


def make_incoming(**overrides) -> NormalizedOrder:
    """A clean, paid order with one line: goes straight to ready unless overridden."""
    now = timezone.now()
    n = next(_seq)
    fields = {
        "external_id": f"E{n:08d}",
        "platform_status": "awaiting_shipment",
        "platform_status_raw": "WAIT_SELLER_SEND_GOODS",
        "buyer_nick": f"buyer{n}",
        "receiver_name": "张三",
        "receiver_phone": "13812345678",
        "receiver_province": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "文三路 100 号 3 幢 502",
        "lines": [
            NormalizedLine(
                external_line_id=f"L{n}",
                platform_item_id="1001",
                platform_sku_id="2001",
                sku_code="SKU-TEA-250",
                title="西湖龙井 250g",
                quantity=2,
                unit_price=Decimal("89.00"),
                paid_amount=Decimal("178.00"),
            )
        ],
        "goods_amount": Decimal("178.00"),
        "paid_amount": Decimal("178.00"),
        "created_at": now - timedelta(minutes=5),
        "paid_at": now - timedelta(minutes=4),
        "modified_at": now - timedelta(minutes=4),
    }
    fields.update(overrides)
    return NormalizedOrder(**fields)


def make_order_in_state(channel: Channel, state: str, **overrides) -> Order:
    """An order already in `state`, written past the state machine as fixture set-up only."""
    from orders.services import ingest_order

    result = ingest_order(channel=channel, incoming=make_incoming(**overrides), source="test")
    Order.objects.filter(pk=result.order.pk).update(state=state)
    return Order.objects.get(pk=result.order.pk)


def two_line_draft(serial: int):
    """A clean paid order in the fakes' neutral form (render it with `fakes.RENDERERS[platform]`):
    2 × DEMO-TEE-WHT-L and 1 × DEMO-SOCK-BLK-3P, the shared sample's shape, to a plain address."""
    from orders.channels import common as c
    from orders.channels.fakes import CATALOG, Draft, DraftLine

    now = c.now_shanghai() - timedelta(minutes=10)
    return Draft(
        serial=serial,
        status="awaiting_shipment",
        lines=[DraftLine(CATALOG[0], 2), DraftLine(CATALOG[2], 1)],
        name="李四",
        phone="13812345678",
        region=("浙江省", "杭州市", "西湖区", "文新街道", "310012"),
        street=f"文三路{serial % 900 + 1}号2幢301室",
        buyer_nick=f"buyer{serial}",
        buyer_id=f"fakeBuyer{serial:012d}",
        created=now,
        paid=now + timedelta(seconds=30),
        modified=now + timedelta(seconds=40),
    )


def open_task(order_id: int, code: str):
    """The order's open exception task of type `code`, or None."""
    from rules.models import ExceptionTask, TaskState

    return ExceptionTask.objects.filter(order_id=order_id, exception_type__code=code, state=TaskState.OPEN).first()
