"""Scan → drain → exactly one ship call per parcel with the platform's carrier code and the parcel's
number, over real HTTP to the emulator; an order in two parcels goes through the platform's
multi-parcel call (Taobao sub_tid + is_split, JD one call with `,` groups, PDD online.send then
upload.extra.logistics, Douyin logisticsAddMultiPack, Kuaishou goods.split.deliver). JD waits for
the order's last parcel."""

from __future__ import annotations

import pytest

from orders.channels.carriers import platform_key
from shipping import services
from shipping.models import AttemptOutcome, OutboxState, WriteBack
from shipping.tests.conftest import account_on
from shipping.tests.writeback_world import (
    emulator_shipments,
    manual_shop,
    platform_orders,
    ship_parcels,
    stock_catalog,
)

pytestmark = pytest.mark.django_db

PLATFORMS = ["taobao", "tmall", "jd", "pdd", "douyin", "kuaishou"]
#: the API a whole order ships with, and the one for a second parcel / a part of the order
WHOLE = {
    "taobao": "taobao.logistics.offline.send",
    "jd": "jingdong.pop.order.shipment",
    "pdd": "pdd.logistics.online.send",
    "douyin": "order.logisticsAdd",
    "kuaishou": "open.seller.order.goods.deliver",
    "manual": "orders/ship",
}
SPLIT = {
    "taobao": "taobao.logistics.offline.send",
    "jd": "jingdong.pop.order.shipment",
    "pdd": "pdd.order.upload.extra.logistics",
    "douyin": "order.logisticsAddMultiPack",
    "kuaishou": "open.order.goods.split.deliver",
    "manual": "orders/ship",
}


@pytest.fixture
def channel_for(shop, emulator):
    stock_catalog()

    def make(platform: str):
        channel = manual_shop(emulator) if platform == "manual" else shop(platform)
        account_on(channel, "ZTO")
        return channel

    return make


@pytest.mark.parametrize("platform", [*PLATFORMS, "manual"])
def test_one_parcel_is_written_back_once_with_the_platforms_carrier_code(platform, channel_for, emulator, scanner):
    _device, client = scanner
    channel = channel_for(platform)
    (order,) = platform_orders(channel, emulator, lines=[(0, 2)])
    assert order.state == "ready", order.state
    (parcel,) = ship_parcels(order, client, manual_numbers=["ZT1234567890"])
    row = WriteBack.objects.get(order=order)
    assert row.state == OutboxState.PENDING

    report = services.write_backs_drain()
    assert report.done == [row.pk], report
    services.write_backs_drain()  # a second drain (the sweep) finds nothing to do
    row.refresh_from_db()
    assert row.state == OutboxState.DONE and row.done_at is not None and row.attempts == 0

    (shipped,) = emulator_shipments(emulator, platform, order.external_id)
    expected_code = "ZTO" if platform == "manual" else parcel.carrier.code_on(platform_key(platform))
    assert shipped["tracking_number"] == parcel.tracking_number
    assert shipped["carrier_code"] == str(expected_code)
    assert shipped["api"] == WHOLE[platform_key(platform)]
    (attempt,) = row.attempt_log.all()
    assert attempt.outcome == AttemptOutcome.SHIPPED and attempt.api == WHOLE[platform_key(platform)]
    assert parcel.tracking_number in str(attempt.request) and "secret" not in str(attempt.request)
    assert attempt.duration_ms is not None


@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin"])
def test_an_order_in_two_parcels_uses_the_platforms_multi_parcel_call(platform, channel_for, emulator, scanner):
    _device, client = scanner
    channel = channel_for(platform)
    (order,) = platform_orders(channel, emulator, lines=[(0, 1), (1, 1)])
    first, second = ship_parcels(order, client, split_lines=[1])
    report = services.write_backs_drain()
    assert sorted(report.done) == sorted(WriteBack.objects.filter(order=order).values_list("pk", flat=True))

    shipped = emulator_shipments(emulator, platform, order.external_id)
    numbers = sorted(n for s in shipped for n in s.get("tracking_numbers") or [s["tracking_number"]])
    assert numbers == sorted([first.tracking_number, second.tracking_number])
    assert {s["kind"] for s in shipped} == {"ship"}
    if platform == "jd":  # JD ships an order once: both numbers in one call, `,` within one carrier
        (call,) = shipped
        assert call["tracking_number"] == f"{first.tracking_number},{second.tracking_number}"
        assert call["carrier_code"] == first.carrier.code_on("jd")
    elif platform == "pdd":  # first parcel online.send, the second as an extra parcel
        assert [s["api"] for s in shipped] == [WHOLE["pdd"], SPLIT["pdd"]]
    else:
        assert [s["api"] for s in shipped] == [SPLIT[platform], SPLIT[platform]]
        lines = order.lines.order_by("pk")
        assert [s["line_ids"] for s in shipped] == [[ln.external_line_id] for ln in lines]


def test_a_kuaishou_line_split_over_two_parcels_goes_through_split_deliver(channel_for, emulator, scanner):
    _device, client = scanner
    channel = channel_for("kuaishou")
    (order,) = platform_orders(channel, emulator, lines=[(0, 2)])
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    line = order.lines.get()
    services.parcel_split(shipment_id=parcel.pk, moves={line.pk: 1})
    order.refresh_from_db()
    # the builder parcels afresh; here both parcels exist already: number, print and scan them
    from shipping.models import Shipment
    from shipping.tests.conftest import scan

    ids = list(Shipment.objects.filter(lines__order=order).values_list("pk", flat=True).order_by("pk"))
    services.number_parcels(shipment_ids=ids)
    services.parcels_mark_printed(shipment_ids=ids)
    for pk in ids:
        assert scan(client, Shipment.objects.get(pk=pk).tracking_number).status_code == 200
    services.write_backs_drain()
    shipped = emulator_shipments(emulator, "kuaishou", order.external_id)
    assert [s["api"] for s in shipped] == ["open.order.goods.split.deliver"] * 2
    assert sorted(s["tracking_number"] for s in shipped) == sorted(
        Shipment.objects.filter(pk__in=ids).values_list("tracking_number", flat=True)
    )
    assert WriteBack.objects.filter(order=order, state=OutboxState.DONE).count() == 2


def test_jd_waits_for_the_last_parcel_and_then_ships_the_order_once(channel_for, emulator, scanner):
    from shipping.models import Shipment
    from shipping.tests.conftest import scan

    _device, client = scanner
    channel = channel_for("jd")
    (order,) = platform_orders(channel, emulator, lines=[(0, 1), (1, 1)])
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    second = services.parcel_split(shipment_id=parcel.pk, moves={order.lines.order_by("pk").last().pk: 1})
    services.number_parcels(shipment_ids=[parcel.pk, second.pk])
    services.parcels_mark_printed(shipment_ids=[parcel.pk, second.pk])
    parcel, second = Shipment.objects.get(pk=parcel.pk), Shipment.objects.get(pk=second.pk)

    assert scan(client, parcel.tracking_number).status_code == 200
    report = services.write_backs_drain()
    assert report.deferred and not report.done  # JD would take the first number as the whole order
    assert emulator_shipments(emulator, "jd", order.external_id) == []
    assert not WriteBack.objects.get(order=order).attempt_log.exists()

    assert scan(client, second.tracking_number).status_code == 200
    report = services.write_backs_drain()  # the last parcel's row brings the waiting one along
    assert len(report.done) == 2
    (call,) = emulator_shipments(emulator, "jd", order.external_id)
    assert call["tracking_numbers"] == [parcel.tracking_number, second.tracking_number]
