"""Switching a warehouse off in the admin takes its stock out of what storefronts show at once:
a push for every listing of its SKUs, and the presale switch re-evaluated."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inventory.models import Sku, StockPush
from inventory.tests.factories import make_channel, make_listing, make_sku, make_warehouse, stock

pytestmark = pytest.mark.django_db


def test_deactivating_a_warehouse_pushes_and_switches_presale(admin_client):
    sh, gz = make_warehouse("SH", priority=1), make_warehouse("GZ", priority=2)
    sku = make_sku("WH-1", presale_allowed=True, safety_stock=2)
    other = make_sku("WH-2")
    stock(sku, sh, 10)
    stock(sku, gz, 1)
    stock(other, gz, 3)
    channel = make_channel()
    listing = make_listing(channel, sku, "wh1")
    make_listing(channel, other, "wh2")
    assert not StockPush.objects.exists()

    response = admin_client.post(
        reverse("admin:inventory_warehouse_change", args=[sh.pk]),
        {"code": "SH", "name": "SH", "priority": "1"},  # "active" unticked
    )
    assert response.status_code == 302
    assert list(StockPush.objects.values_list("listing_id", flat=True)) == [listing.pk]
    assert Sku.objects.get(pk=sku.pk).on_presale is True  # 1 left at GZ ≤ safety stock 2
