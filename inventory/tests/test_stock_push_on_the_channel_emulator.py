"""A movement's stock push reaches every listing of its SKU on every platform of the channels
emulator (real adapters, real signed HTTP); a channel failing for a while catches up on recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import ChannelListing, StockPush
from inventory.tests.factories import make_listing, make_sku, make_warehouse

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou", "manual")


@pytest.fixture
def everywhere(emulated_channel):
    make_warehouse("SH")
    sku = make_sku("EMU-1", name="龙井茶")
    listings = {}
    for n, platform in enumerate(PLATFORMS, start=1):
        channel = emulated_channel(platform)
        listings[platform] = make_listing(
            channel,
            sku,
            f"2000{n}",
            platform_item_id=f"1000{n}",
            # Kuaishou's stock API is delta-only: a listing starts from the platform's known figure.
            last_pushed_quantity=0 if platform == "kuaishou" else None,
        )
    return sku, listings


def _levels(emulator) -> dict[str, int]:
    return {platform: level for (platform, _key, _item, _sku), level in emulator.stock_levels.items()}


def _inbound(quantity: int, reference: str) -> None:
    services.record_movement(
        warehouse_code="SH", sku_code="EMU-1", kind="inbound", quantity=quantity, reference=reference
    )


def test_a_movement_reaches_every_listing_on_every_platform(everywhere, emulator):
    _inbound(12, "GRN-1")
    result = services.stock_push_drain()
    assert len(result.pushed) == len(PLATFORMS), ChannelListing.objects.values_list("last_push_error", flat=True)
    assert _levels(emulator) == dict.fromkeys(PLATFORMS, 12)
    services.record_movement(warehouse_code="SH", sku_code="EMU-1", kind="outbound", quantity=5, reference="OUT-1")
    services.stock_push_drain()
    assert _levels(emulator) == dict.fromkeys(PLATFORMS, 7)  # Kuaishou got a −5 delta
    assert not StockPush.objects.exists()
    assert set(ChannelListing.objects.values_list("last_pushed_quantity", flat=True)) == {7}


def test_a_channel_failing_for_a_while_catches_up_once_it_recovers(everywhere, emulator):
    _sku, listings = everywhere
    emulator.add_fault("jd", "http500", count=3)
    _inbound(10, "GRN-1")
    now = timezone.now()
    services.stock_push_drain(now=now)
    jd = ChannelListing.objects.get(pk=listings["jd"].pk)
    assert jd.push_failures == 1 and jd.last_push_error
    assert "jd" not in _levels(emulator) and _levels(emulator)["taobao"] == 10

    _inbound(4, "GRN-2")  # life goes on while JD is down
    for attempt in (1, 2):
        now += services.backoff(attempt) + timedelta(seconds=1)
        services.stock_push_drain(now=now)
    assert ChannelListing.objects.get(pk=jd.pk).push_failures == 3
    from orders.models import Alert

    assert Alert.objects.filter(key=f"inventory:stock_push:listing:{jd.pk}", resolved_at__isnull=True).exists()

    now += services.backoff(3) + timedelta(seconds=1)
    services.stock_push_drain(now=now)
    assert _levels(emulator) == dict.fromkeys(PLATFORMS, 14)
    jd.refresh_from_db()
    assert (jd.last_pushed_quantity, jd.push_failures, jd.last_push_error) == (14, 0, "")
    assert not StockPush.objects.exists()
    assert services.reconciliation_run().diff_count == 0


def test_reconciliation_reads_every_platform_and_a_correction_puts_drift_right(everywhere, emulator):
    _sku, listings = everywhere
    _inbound(9, "GRN-1")
    services.stock_push_drain()
    assert services.reconciliation_run().diff_count == 0  # each adapter's fetch_stock reads back 9
    for platform, listing in listings.items():  # someone edits every storefront by hand
        emulator.set_stock(platform, listing.channel.app_key, listing.platform_item_id, listing.platform_sku_id, 4)

    run = services.reconciliation_run()
    found = {(d.listing.channel.platform, d.expected, d.actual, d.note) for d in run.diffs.all()}
    assert found == {(platform, 9, 4, "platform reports") for platform in PLATFORMS}

    services.reconciliation_correct(diff_ids=list(run.diffs.values_list("pk", flat=True)))
    services.stock_push_drain()
    assert _levels(emulator) == dict.fromkeys(PLATFORMS, 9)  # Kuaishou too: its delta starts from the platform's 4
    assert services.reconciliation_run().diff_count == 0
