"""Safety stock → presale on every channel, and back when replenished; both are events, not alerts."""

from __future__ import annotations

import pytest
from django.utils import translation

from inventory import services
from inventory.models import ChannelListing, EventKind, InventoryEvent, Sku
from inventory.tests.factories import ingest, make_channel, make_listing, make_sku, make_warehouse, stock
from orders.models import Alert


@pytest.fixture
def presale_sku(db):
    wh = make_warehouse("SH")
    sku = make_sku("PRE-1", safety_stock=3, presale_allowed=True, presale_quota=10)
    stock(sku, wh, 6)
    channels = [make_channel("taobao"), make_channel("pdd")]
    for ch in channels:
        make_listing(ch, sku, f"{ch.platform}-pre")
    return sku, channels


def test_falling_to_safety_stock_switches_every_listing_to_presale_and_back(presale_sku):
    sku, channels = presale_sku
    ingest(channels[0], "P-1", [("taobao-pre", "", 2)])  # available 4 > 3
    assert not Sku.objects.get(pk=sku.pk).on_presale
    ingest(channels[1], "P-2", [("pdd-pre", "", 1)])  # available 3 = safety stock
    assert Sku.objects.get(pk=sku.pk).on_presale
    assert list(ChannelListing.objects.values_list("presale", flat=True)) == [True, True]
    assert InventoryEvent.objects.filter(kind=EventKind.PRESALE_ON, sku=sku).count() == 1
    event = InventoryEvent.objects.get(kind=EventKind.PRESALE_ON, sku=sku)
    assert "safety stock" in event.message  # the English text stays in the row
    with translation.override("zh-hans"):
        assert event.text == "PRE-1 商品 PRE-1：可售 3 ≤ 安全库存 3，商品已转预售"
    assert not Alert.objects.filter(resolved_at__isnull=True).exists()  # designed behaviour: nobody must act

    services.record_movement(warehouse_code="SH", sku_code="PRE-1", kind="inbound", quantity=1, reference="G-1")
    assert not Sku.objects.get(pk=sku.pk).on_presale  # 4 > 3: back from presale
    assert list(ChannelListing.objects.values_list("presale", flat=True)) == [False, False]


def test_replenished_above_the_threshold_switches_back(presale_sku):
    sku, channels = presale_sku
    ingest(channels[0], "P-1", [("taobao-pre", "", 4)])  # available 2
    assert Sku.objects.get(pk=sku.pk).on_presale
    services.record_movement(warehouse_code="SH", sku_code="PRE-1", kind="inbound", quantity=5, reference="G-1")
    assert not Sku.objects.get(pk=sku.pk).on_presale
    assert list(ChannelListing.objects.values_list("presale", flat=True)) == [False, False]
    assert InventoryEvent.objects.filter(kind=EventKind.PRESALE_OFF, sku=sku).count() == 1
    assert not Alert.objects.filter(key="inventory:presale:PRE-1", resolved_at__isnull=True).exists()


def test_orders_beyond_stock_on_a_presale_sku_may_wait_instead_of_overselling(presale_sku):
    _sku, channels = presale_sku
    from django.db import transaction

    from orders import locks

    order = ingest(channels[0], "P-9", [("taobao-pre", "", 9)])
    with transaction.atomic():
        outcome = services.reserve_for_order(order=locks.order_for_update(order_id=order.pk))
    assert not outcome.is_complete and outcome.can_wait


def test_a_sku_without_presale_never_switches(db):
    wh = make_warehouse("SH")
    sku = make_sku("NOPRE", safety_stock=5)
    stock(sku, wh, 6)
    channel = make_channel()
    make_listing(channel, sku, "np")
    ingest(channel, "N-1", [("np", "", 3)])
    assert not Sku.objects.get(pk=sku.pk).on_presale
    assert not ChannelListing.objects.get().presale


def test_editing_a_sku_in_the_admin_re_evaluates_presale_and_aligns_new_listings(presale_sku, admin_client):
    from django.urls import reverse

    sku, _channels = presale_sku
    make_listing(make_channel("jd"), sku, "jd-pre")
    url = reverse("admin:inventory_sku_change", args=[sku.pk])
    form = {
        "code": sku.code,
        "name": sku.name,
        "barcode": "",
        "safety_stock": 6,  # available 6 → now at the threshold
        "presale_allowed": "on",
        "presale_quota": 10,
        "min_price": "0",
        "levels-TOTAL_FORMS": "0",
        "levels-INITIAL_FORMS": "0",
        "listings-TOTAL_FORMS": "0",
        "listings-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Sku.objects.get(pk=sku.pk).on_presale
    assert set(ChannelListing.objects.values_list("presale", flat=True)) == {True}

    form.pop("presale_allowed")  # presale no longer allowed: off everywhere
    assert admin_client.post(url, form).status_code == 302
    assert not Sku.objects.get(pk=sku.pk).on_presale
    assert set(ChannelListing.objects.values_list("presale", flat=True)) == {False}
