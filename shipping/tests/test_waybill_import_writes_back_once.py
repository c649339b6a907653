"""Issue 9's Excel point end to end on the platform emulator: a carrier's sheet with good and bad rows
is previewed (per-row errors, nothing written), then imported — only the good rows ship, and the
write-back drain tells each platform exactly once, with the sheet's carrier and number, over HTTP."""

from __future__ import annotations

import pytest
from django.utils import translation

from orders.channels.carriers import platform_key
from orders.services import order_hold
from shipping import services
from shipping.models import Carrier, OutboxState, Shipment, WriteBack
from shipping.tests.test_waybill_sheet_import import errors_by_row, good_numbers, run, sheet
from shipping.tests.writeback_world import emulator_shipments, platform_orders, stock_catalog

pytestmark = pytest.mark.django_db

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou")


def test_a_sheet_with_bad_rows_ships_only_the_good_ones_each_written_back_once(shop, emulator):
    stock_catalog()
    orders = {p: platform_orders(shop(p), emulator, lines=[(0, 1)])[0] for p in PLATFORMS}
    held = platform_orders(shop("taobao"), emulator, lines=[(0, 1)])[0]
    order_hold(order_id=held.pk, actor=None, reason="buyer called")
    rows = [[orders[p].external_id, orders[p].channel.name, "中通", f"ZT77000{n}", ""] for n, p in enumerate(PLATFORMS)]
    rows += [
        ["NO-SUCH-ORDER", "", "中通", "ZT7700099", ""],  # unknown order
        [held.external_id, held.channel.name, "中通", "ZT7700098", ""],  # held
        [orders["pdd"].external_id, orders["pdd"].channel.name, "中通", "ZT770000", ""],  # number twice in the sheet
    ]

    with translation.override("en"):
        preview = run(sheet(rows), dry_run=True)
    assert sorted(errors_by_row(preview)) == [6, 7, 8]
    assert good_numbers(preview) == [f"ZT77000{n}" for n in range(len(PLATFORMS))]
    assert not Shipment.objects.exists() and not WriteBack.objects.exists()

    with translation.override("en"):
        imported = run(sheet(rows), dry_run=False)
    assert sorted(errors_by_row(imported)) == [6, 7, 8]
    assert WriteBack.objects.count() == len(PLATFORMS)
    assert held.write_backs.count() == 0

    report = services.write_backs_drain()
    assert len(report.done) == len(PLATFORMS), report
    services.write_backs_drain()  # the sweep: nothing left, nothing sent again
    assert not WriteBack.objects.exclude(state=OutboxState.DONE).exists()
    zto = Carrier.objects.get(code="ZTO")
    for n, platform in enumerate(PLATFORMS):
        (call,) = emulator_shipments(emulator, platform, orders[platform].external_id)
        assert call["tracking_number"] == f"ZT77000{n}"
        assert call["carrier_code"] == str(zto.code_on(platform_key(platform)))
    assert emulator_shipments(emulator, "taobao", held.external_id) == []
