"""Builders for write-back tests: an order that exists on the platform emulator (so the ship call has
something to ship), taken into OrderHub through the adapter's detail read, parcelled, numbered by the
platform's e-waybill service, printed and scanned out by a PDA — the real path to a WriteBack row."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import requests
from rest_framework.test import APIClient

from orders.channels import get_adapter
from orders.channels.carriers import platform_key
from orders.channels.fakes import CATALOG, REGIONS, RENDERERS, Draft, DraftLine, native_id
from orders.emulator import ChannelEmulator
from orders.models import Channel, Order
from orders.services import ingest_order
from shipping import services
from shipping.models import Shipment
from shipping.selectors import order_barcode
from shipping.tests.conftest import scan
from shipping.tests.factories import make_stock

_serial = itertools.count(7_000)
#: SKU rows of the fake catalog the builders order from (stocked by `stock_catalog`)
CATALOG_SKUS = CATALOG[:3]


def stock_catalog():
    return make_stock(*(sku.code for sku in CATALOG_SKUS), quantity=1000)


def manual_shop(emulator: ChannelEmulator) -> Channel:
    """A manual shop with a bridge (the emulator's /manual API), so its parcels are written back too."""
    key = f"manual-wb-{Channel.objects.count() + 1}"
    emulator.add_shop("manual", key, "manual-secret")
    return Channel.objects.create(
        platform="manual",
        name="自建商城",
        app_key=key,
        app_secret="manual-secret",
        api_base_url=emulator.url_for("manual"),
        webhook_secret="s",
    )


def platform_orders(
    channel: Channel, emulator: ChannelEmulator, *, lines: list[tuple[int, int]] = ((0, 1),)
) -> list[Order]:
    """Put a clean paid order on the emulator (lines: (catalog index, quantity)) and take it in the
    way a pull does: the adapter's detail read, then the pipeline. Kuaishou renders one order per line."""
    now = timezone_now()
    serial = next(_serial)
    draft = Draft(
        serial=serial,
        status="awaiting_shipment",
        lines=[DraftLine(CATALOG_SKUS[i], qty) for i, qty in lines],
        name="李四",
        phone="13812345678",
        region=REGIONS[0],
        street=f"文三路{serial}号",
        buyer_nick=f"wbbuyer{serial}",
        buyer_id=f"wbBuyer{serial:012d}",
        created=now - timedelta(minutes=10),
        paid=now - timedelta(minutes=9),
        modified=now - timedelta(minutes=9),
    )
    platform = platform_key(channel.platform)
    natives = RENDERERS[platform](draft)
    emulator.add_orders(platform, natives, app_key=channel.app_key)
    adapter = get_adapter(channel)
    orders = []
    for native in natives:
        incoming = adapter.fetch_order(native_id(platform, native))
        result = ingest_order(channel=channel, incoming=incoming, source="test")
        orders.append(Order.objects.select_related("channel").get(pk=result.order.pk))
    return orders


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def ship_parcels(
    order: Order, client: APIClient, *, split_lines: list[int] | None = None, manual_numbers: list[str] = ()
) -> list[Shipment]:
    """Parcel the order (one parcel; with `split_lines`, those order lines — by index — move to a
    second parcel), number, print and scan every parcel out. Returns the parcels, scanned."""
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    parcels = [parcel]
    if split_lines:
        lines = list(order.lines.order_by("pk"))
        moves = {lines[i].pk: lines[i].quantity for i in split_lines}
        parcels.append(services.parcel_split(shipment_id=parcel.pk, moves=moves))
    ids = [p.pk for p in parcels]
    if order.channel.platform != "manual":
        report = services.number_parcels(shipment_ids=ids)
        assert sorted(report.numbered) == sorted(ids), report
    services.parcels_mark_printed(shipment_ids=ids)
    for n, parcel in enumerate(parcels):
        parcel.refresh_from_db()
        if order.channel.platform == "manual":
            code = order_barcode(order_id=order.pk)  # a manual parcel has no number before its label is scanned
            response = scan(client, code, label_number=manual_numbers[n], key=f"wb-{parcel.pk}")
        else:
            response = scan(client, parcel.tracking_number, key=f"wb-{parcel.pk}")
        assert response.status_code == 200, response.content
    return [Shipment.objects.select_related("carrier").get(pk=pk) for pk in ids]


def emulator_shipments(emulator: ChannelEmulator, platform: str, external_id: str = "") -> list[dict[str, Any]]:
    """Every ship call that took effect on the platform (as the emulator's control API lists them)."""
    platform = platform_key(platform)
    response = requests.get(f"{emulator.base_url}/_emulator/shipments", params={"platform": platform}, timeout=5)
    rows = response.json()["shipments"]
    return [r for r in rows if not external_id or r["external_id"] == external_id]


def ship_calls(emulator: ChannelEmulator, platform: str, apis: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every call (accepted or refused) to the given APIs, as the emulator received it."""
    platform = platform_key(platform)
    response = requests.get(f"{emulator.base_url}/_emulator/calls", params={"platform": platform}, timeout=5)
    return [call for call in response.json()["calls"] if call["api"] in apis]
