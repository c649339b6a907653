from __future__ import annotations

from django.db.models import Sum

from inventory import demo
from inventory.models import ChannelListing, Sku, StockLevel, StockMovement
from inventory.tests.factories import make_channel


def test_demo_load_creates_stock_and_listings_for_each_channel_and_is_idempotent(db):
    channels = [make_channel(p) for p in ("taobao", "tmall", "jd", "kuaishou")]
    demo.load(channels)
    demo.load(channels)
    assert Sku.objects.count() == 10
    assert any("龙井" in name for name in Sku.objects.values_list("name", flat=True))
    assert ChannelListing.objects.count() == 40
    assert (
        StockLevel.objects.aggregate(s=Sum("on_hand"))["s"] == StockMovement.objects.aggregate(s=Sum("quantity"))["s"]
    )
    assert Sku.objects.get(code="DEMO-HOODIE-GRY-XL").on_presale
    from inventory import services

    assert services.reconciliation_run().checked["levels"] == StockLevel.objects.count()
