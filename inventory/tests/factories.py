"""Plain builders for inventory tests (real rows, no mocks)."""

from __future__ import annotations

import itertools
import zlib
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from inventory.models import ChannelListing, MovementKind, Sku, StockLevel, StockMovement, Warehouse
from orders.channels.base import NormalizedLine, NormalizedOrder

_seq = itertools.count(1)


def make_channel(platform: str = "taobao", name: str | None = None, api_base_url: str = ""):
    from orders.models import Channel

    return Channel.objects.create(
        platform=platform,
        name=name or f"{platform} shop {next(_seq)}",
        webhook_secret="s",
        app_key="k",
        app_secret="test",
        api_base_url=api_base_url,
    )


def make_warehouse(code: str = "WH1", priority: int = 100, name: str = "") -> Warehouse:
    return Warehouse.objects.create(code=code, name=name or code, priority=priority)


def make_sku(code: str = "SKU-A", **kwargs) -> Sku:
    kwargs.setdefault("name", f"商品 {code}")
    return Sku.objects.create(code=code, **kwargs)


def stock(sku: Sku, warehouse: Warehouse, quantity: int) -> StockLevel:
    """Put stock on hand through the ledger, as an inbound movement would (ledger and level agree)."""
    level, _ = StockLevel.objects.get_or_create(sku=sku, warehouse=warehouse)
    level.on_hand += quantity
    level.save(update_fields=["on_hand"])
    StockMovement.objects.create(
        sku=sku,
        warehouse=warehouse,
        kind=MovementKind.INBOUND,
        quantity=quantity,
        balance_after=level.on_hand,
        source="test",
        reference=f"seed-{next(_seq)}",
    )
    return level


def make_listing(channel, sku: Sku, platform_sku_id: str | None = None, **kwargs) -> ChannelListing:
    n = next(_seq)
    return ChannelListing.objects.create(
        channel=channel,
        sku=sku,
        platform_item_id=kwargs.pop("platform_item_id", f"item-{n}"),
        platform_sku_id=platform_sku_id if platform_sku_id is not None else f"psku-{n}",
        **kwargs,
    )


def incoming_order(external_id: str, lines: list[tuple[str, str, int]], paid: bool = True) -> NormalizedOrder:
    """lines: (platform_sku_id, sku_code, quantity)."""
    now = timezone.now()
    # A different buyer and address per order (stable across forked test processes): otherwise the
    # rules engine sees mergeable orders.
    n = zlib.crc32(external_id.encode()) % 10**8
    return NormalizedOrder(
        external_id=external_id,
        platform_status="awaiting_shipment",
        platform_status_raw="WAIT_SELLER_SEND_GOODS",
        buyer_nick=f"buyer{n}",
        receiver_name="张三",
        receiver_phone=f"138{n:08d}",
        receiver_province="浙江省",
        receiver_city="杭州市",
        receiver_district="西湖区",
        receiver_address=f"文三路{n}号",
        lines=[
            NormalizedLine(f"{external_id}-{i}", "item", psku, code, "商品", qty, Decimal("10.00"))
            for i, (psku, code, qty) in enumerate(lines)
        ],
        goods_amount=Decimal("10.00"),
        paid_amount=Decimal("10.00"),
        paid_at=now if paid else None,
        modified_at=now,
    )


def ingest(channel, external_id: str, lines: list[tuple[str, str, int]]):
    from orders.services import ingest_order

    return ingest_order(channel=channel, incoming=incoming_order(external_id, lines), source="test").order


def route(order, route_to: str, reason: str = "") -> None:
    """Move an order where the rules engine would (the placeholder engine knows no stock rules)."""
    from orders import locks
    from orders.services import apply_decision
    from rules.engine import Decision

    with transaction.atomic():
        locked = locks.order_for_update(order_id=order.pk)
        apply_decision(order=locked, decision=Decision(route=route_to, reasons=[reason] if reason else []))
