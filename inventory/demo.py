"""Demo stock: two warehouses, ten SKUs with Chinese names, stock through the ledger, and a listing
per SKU on every demo channel. Idempotent: loading twice changes nothing.

The first eight SKUs are the channels emulator's catalog (orders.channels.fakes.CATALOG), with the
same merchant codes and platform ids, so simulated orders map to them and reserve stock."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from inventory.models import ChannelListing, MovementKind, Sku, StockLevel, Warehouse
from orders.texts import wording

WAREHOUSES = (("SH", "上海主仓", 10), ("GZ", "广州分仓", 20))
EXTRA_SKUS = (  # code, name, price: not in the emulator catalog, only sold through listings here
    ("DEMO-TEA-LJ-250", "西湖龙井 250g 礼盒", "268.00"),
    ("DEMO-VASE-QH", "景德镇青花瓷花瓶", "399.00"),
)
# code -> (stock in SH, stock in GZ, safety stock, presale allowed)
STOCK_PLAN = {
    "DEMO-TEE-WHT-L": (600, 400, 20, False),
    "DEMO-TEE-BLK-M": (450, 300, 20, False),
    "DEMO-SOCK-BLK-3P": (2000, 1000, 50, False),
    "DEMO-CAP-NVY": (40, 0, 10, True),  # runs low first: switches to presale
    "DEMO-MUG-350": (300, 200, 20, False),
    "DEMO-BAG-CANVAS": (30, 10, 8, True),
    "DEMO-TOWEL-GRY-2P": (800, 800, 50, False),
    "DEMO-HOODIE-GRY-XL": (5, 0, 5, True),  # starts at its safety stock: on presale
    "DEMO-TEA-LJ-250": (200, 0, 10, True),
    "DEMO-VASE-QH": (3, 2, 1, False),  # sells out: orders held as out_of_stock
}


def _catalog() -> list[tuple[str, str, Decimal, object]]:
    from orders.channels.fakes import CATALOG

    rows = [(sku.code, f"{sku.title} {sku.spec}", sku.price, sku) for sku in CATALOG]
    rows += [(code, name, Decimal(price), None) for code, name, price in EXTRA_SKUS]
    return rows


def _platform_ids(catalog_sku, platform: str, index: int) -> tuple[str, str]:
    if catalog_sku is not None:
        return catalog_sku.item_id(platform), catalog_sku.sku_id(platform)
    from orders.channels.fakes import ID_BASES

    item_base, sku_base = ID_BASES.get(platform, (9000, 9900))
    return str(item_base + 500 + index), str(sku_base + 500 + index)


@transaction.atomic
def load(channels: list) -> None:
    from inventory.services import movement_record_in_transaction

    for code, name, priority in WAREHOUSES:
        Warehouse.objects.update_or_create(code=code, defaults={"name": name, "priority": priority})
    for index, (code, name, price, catalog_sku) in enumerate(_catalog()):
        on_sh, on_gz, safety, presale = STOCK_PLAN[code]
        sku, _ = Sku.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "barcode": f"69{index:011d}",
                "safety_stock": safety,
                "presale_allowed": presale,
                "presale_quota": 20 if presale else 0,
                "min_price": (price * Decimal("0.7")).quantize(Decimal("0.01")),
            },
        )
        for warehouse_code, quantity in (("SH", on_sh), ("GZ", on_gz)):
            if quantity and not StockLevel.objects.filter(sku=sku, warehouse__code=warehouse_code).exists():
                movement_record_in_transaction(
                    warehouse_code=warehouse_code,
                    sku_code=code,
                    kind=MovementKind.INBOUND,
                    quantity=quantity,
                    reference=f"demo:{code}:{warehouse_code}",
                    source="demo",
                    note=wording("stock.demo_opening"),
                )
        for channel in channels:
            platform = channel.adapter_platform
            item_id, sku_id = _platform_ids(catalog_sku, platform, index)
            ChannelListing.objects.get_or_create(
                channel=channel,
                platform_item_id=item_id,
                platform_sku_id=sku_id,
                defaults={
                    "sku": sku,
                    "buffer_percent": 10 if platform == "pdd" else 0,
                    "buffer_quantity": 1 if platform == "douyin" else 0,
                    # Kuaishou takes stock deltas only: a new listing starts from a known 0.
                    "last_pushed_quantity": 0 if platform == "kuaishou" else None,
                },
            )
    from inventory.services import request_pushes

    request_pushes(sku_ids=Sku.objects.filter(code__in=STOCK_PLAN).values_list("pk", flat=True))
