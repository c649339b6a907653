"""The demo sets up an e-waybill account on the emulator for every shop, a scanner, and printed
parcels a visitor can scan; `simulate_orders --ship-share` numbers, prints and scans out a share of
the ready orders through the real scanner API of a live server."""

from __future__ import annotations

import re

import pytest
import requests
from django.core.management import CommandError, call_command

from orderhub import demo
from orders.models import Channel, Order
from shipping.models import Shipment, ShipmentState, WaybillAccount


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_demo_sets_up_accounts_a_scanner_and_printed_parcels_to_scan(emulator, live_server):
    summary = demo.load(emulator_url=emulator.base_url)
    channels = Channel.objects.all()
    assert WaybillAccount.objects.values("channel").distinct().count() == channels.count() == 7
    taobao = WaybillAccount.objects.get(channel__platform="taobao")
    assert taobao.quota == 500 and taobao.quota_checked_at is not None  # read from the emulator
    tokens = dict(re.findall(r"scanner 'PDA (\w+)' token \(shown once\): (ohs_\S+)", summary))
    assert set(tokens) == {"SH", "GZ"}  # one scanner per demo warehouse

    printed = Shipment.objects.filter(state=ShipmentState.PRINTED).exclude(tracking_number="")
    assert printed.exists()
    parcel = printed.first()
    response = requests.post(
        f"{live_server.url}/api/v1/scans/outbound",
        json={"code": parcel.tracking_number},
        headers={"Authorization": f"Bearer {tokens[parcel.warehouse.code]}"},
        timeout=30,
    )
    assert response.status_code == 200 and response.json()["parcel"]["state"] == "shipped"

    again = demo.load(emulator_url=emulator.base_url)
    assert "token" not in again  # nothing created twice
    assert WaybillAccount.objects.count() == 7


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulate_orders_can_drive_the_outbound_side(emulator, live_server, capsys):
    from inventory import demo as inventory_demo

    channel = Channel.objects.create(
        platform="taobao", name="模拟淘宝店", app_key="sim-key", app_secret="sim-secret", webhook_secret="sim-hook"
    )
    emulator.add_shop("taobao", "sim-key", "sim-secret")
    Channel.objects.filter(pk=channel.pk).update(api_base_url=emulator.url_for("taobao"))
    inventory_demo.load([channel])
    from shipping.demo import load as shipping_demo_load

    shipping_demo_load([channel])
    call_command(
        "simulate_orders",
        channel=channel.pk,
        count=12,
        concurrency=2,
        exception_rate=0,
        duplicate_rate=0,
        seed=7,
        url=live_server.url,
        ship_share=0.5,
    )
    out = capsys.readouterr().out
    chosen = int(re.search(r"chosen (\d+)", out).group(1))
    assert chosen >= 1
    assert f"shipped {chosen}" in out and "refused 0" in out
    assert Order.objects.filter(channel=channel, state="shipped").count() == chosen
    with pytest.raises(CommandError, match="--ship-share"):
        call_command("simulate_orders", channel=channel.pk, count=1, ship_share=2)
