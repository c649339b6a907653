"""Every stock change leaves an outbox row per listing in its transaction; the drain pushes the
coalesced figure to each listing's platform (the channels emulator: real adapters, real signed
HTTP), retries with backoff, alerts after repeated failure, and catches up once the platform
recovers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from inventory import services
from inventory.models import ChannelListing, EventKind, InventoryEvent, StockPush
from inventory.tests.factories import ingest, make_listing, make_sku, make_warehouse
from orders.channels import douyin
from orders.channels.base import StockUpdate
from orders.models import Alert


@pytest.fixture
def shops(emulated_channel):
    make_warehouse("SH")
    sku = make_sku("MUG-1")
    channels = [emulated_channel(p, name=n) for p, n in (("taobao", "tb"), ("jd", "jd"), ("douyin", "dy"))]
    listings = [
        make_listing(channels[0], sku, "tb-mug", platform_item_id="700000000041"),
        make_listing(channels[1], sku, "jd-mug", platform_item_id="700000000042", buffer_percent=10),
        make_listing(channels[2], sku, "dy-mug", platform_item_id="700000000043", buffer_quantity=3),
    ]
    return sku, channels, listings


def updates(emulator, channel) -> list[dict]:
    """The stock updates the platform accepted from this channel's shop, oldest first."""
    return [u for u in emulator.stock_updates if u["app_key"] == channel.app_key]


def pushed(emulator, channel) -> list[int]:
    return [u["quantity"] for u in updates(emulator, channel)]


def _inbound(quantity: int, ref: str) -> None:
    services.record_movement(warehouse_code="SH", sku_code="MUG-1", kind="inbound", quantity=quantity, reference=ref)


def test_a_movement_is_pushed_to_every_listing_of_its_sku_after_its_buffer(shops, emulator):
    _sku, (tb, jd, dy), listings = shops
    _inbound(20, "GRN-1")
    assert StockPush.objects.count() == 3  # written in the movement's transaction
    result = services.stock_push_drain()
    assert sorted(result.pushed) == sorted(lst.pk for lst in listings)
    assert [(u["platform"], u["sku_id"], u["quantity"], u["delta"]) for u in updates(emulator, tb)] == [
        ("taobao", "tb-mug", 20, False)
    ]
    assert pushed(emulator, jd)[-1] == 18  # 10 % held back
    assert pushed(emulator, dy)[-1] == 17  # 3 units held back
    assert not StockPush.objects.exists()
    assert ChannelListing.objects.get(pk=listings[0].pk).last_pushed_quantity == 20


def test_many_changes_coalesce_into_one_push_of_the_newest_figure(shops, emulator):
    _sku, (tb, _jd, dy), _listings = shops
    _inbound(5, "GRN-1")
    _inbound(5, "GRN-2")
    services.record_movement(warehouse_code="SH", sku_code="MUG-1", kind="outbound", quantity=2, reference="O-1")
    assert StockPush.objects.count() == 3
    services.stock_push_drain()
    assert pushed(emulator, tb) == [8]
    # the first push carried no "last pushed" figure: Douyin's idempotent_id is derived from it
    (first,) = updates(emulator, dy)
    assert first["idempotent_id"] == douyin.idempotent_id(StockUpdate("700000000043", "dy-mug", 5, last_pushed=None))


def test_a_reservation_at_ingestion_pushes_the_lower_figure(shops, emulator):
    _sku, (tb, jd, dy), _ = shops
    _inbound(10, "GRN-1")
    services.stock_push_drain()
    ingest(tb, "T-1", [("tb-mug", "", 4)])
    services.stock_push_drain()
    assert pushed(emulator, jd) == [9, 5]
    last = updates(emulator, tb)[-1]
    assert (last["platform"], last["item_id"], last["sku_id"], last["quantity"], last["delta"]) == (
        "taobao",
        "700000000041",
        "tb-mug",
        6,
        False,
    )
    assert pushed(emulator, dy) == [7, 3]
    # the second push carried the figure pushed before it (Douyin's idempotent_id is derived from it)
    assert updates(emulator, dy)[-1]["idempotent_id"] == douyin.idempotent_id(
        StockUpdate("700000000043", "dy-mug", 3, last_pushed=7)
    )


def test_a_failing_channel_is_visible_alerts_and_catches_up_once_it_recovers(shops, emulator, settings):
    _sku, (tb, jd_channel, _dy), listings = shops
    settings.CHANNEL_ALERT_AFTER_FAILURES = 3
    emulator.add_fault("jd", "http500", count=4)
    _inbound(10, "GRN-1")
    now = timezone.now()
    services.stock_push_drain(now=now)
    jd = ChannelListing.objects.get(pk=listings[1].pk)
    assert jd.push_failures == 1 and "http500" in jd.last_push_error
    row = StockPush.objects.get(listing=jd)
    assert row.attempts == 1 and row.next_attempt_at >= now + timedelta(seconds=29)
    assert services.stock_push_drain(now=now).pushed == []  # not due yet: backoff

    _inbound(5, "GRN-2")  # stock keeps changing while jd is down; the others follow
    for attempt in range(2, 5):
        now += services.backoff(attempt - 1) + timedelta(seconds=1)
        services.stock_push_drain(now=now)
    jd.refresh_from_db()
    assert jd.push_failures == 4
    alert = Alert.objects.get(key=f"inventory:stock_push:listing:{jd.pk}", resolved_at__isnull=True)
    assert alert.count == 2  # raised at the 3rd failure, bumped at the 4th
    assert InventoryEvent.objects.filter(kind=EventKind.PUSH_FAILED, listing=jd).count() == 1
    with translation.override("zh-hans"):  # the event and the alert read in the reader's language
        event = InventoryEvent.objects.get(kind=EventKind.PUSH_FAILED, listing=jd)
        assert event.text.startswith("向 ") and "推送 MUG-1 的库存已连续失败 3 次：" in event.text
        assert "已连续失败 4 次" in alert.text
    assert "for MUG-1 failed 3 times" in event.message
    assert pushed(emulator, tb)[-1] == 15
    assert pushed(emulator, jd_channel) == []  # every call so far failed

    now += services.backoff(4) + timedelta(seconds=1)
    assert services.stock_push_drain(now=now).pushed == [jd.pk]
    jd.refresh_from_db()
    assert (jd.last_pushed_quantity, jd.push_failures, jd.last_push_error) == (13, 0, "")
    assert pushed(emulator, jd_channel) == [13]  # only the newest figure
    assert not Alert.objects.filter(key=alert.key, resolved_at__isnull=True).exists()
    assert not StockPush.objects.exists()


def test_a_change_during_a_push_leaves_the_row_for_the_next_drain(shops, emulator):
    _sku, (tb, _jd, _dy), _ = shops
    _inbound(10, "GRN-1")
    claimed = services.push._claim(now=timezone.now(), limit=10)
    _inbound(1, "GRN-2")  # new token on every row
    for push_id, token, listing in claimed:
        services.push._settle(
            push_id=push_id, token=token, listing=listing, quantity=10, error=None, now=timezone.now()
        )
    assert StockPush.objects.count() == 3
    services.stock_push_drain()
    assert pushed(emulator, tb)[-1] == 11


def test_the_sweep_repushes_listings_left_behind(shops, emulator):
    _sku, (tb, _jd, _dy), _ = shops
    _inbound(7, "GRN-1")
    StockPush.objects.all().delete()  # a lost task and a lost row
    assert services.stock_push_sweep() == 3
    assert pushed(emulator, tb)[-1] == 7
    assert services.stock_push_sweep() == 0  # nothing stale any more


@pytest.mark.parametrize(
    ("available", "percent", "units", "presale", "quota", "waiting", "expected"),
    [
        (10, 0, 0, False, 0, 0, 10),
        (10, 25, 0, False, 0, 0, 7),
        (10, 25, 2, False, 0, 0, 5),
        (1, 0, 5, False, 0, 0, 0),  # never below zero
        (-3, 0, 0, False, 0, 0, 0),
        (2, 0, 0, True, 20, 5, 17),  # presale: stock + quota − units already waiting
        (0, 0, 0, True, 5, 9, 0),
    ],
)
def test_push_quantity_policy(available, percent, units, presale, quota, waiting, expected):
    listing = ChannelListing(buffer_percent=percent, buffer_quantity=units, presale=presale)
    got = services.push_quantity(listing=listing, available=available, waiting=waiting, presale_quota=quota)
    assert got == expected
