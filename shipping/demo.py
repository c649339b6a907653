"""Demo outbound: an e-waybill account on the emulator for every demo shop (ZTO; SF for the manual
shop, whose numbers come from the carrier's own label), a scanner for each warehouse, and a few
ready orders numbered and printed so a visitor can scan them out. Idempotent."""

from __future__ import annotations

import logging

from orders.channels.base import ChannelError
from orders.models import Channel
from shipping.errors import ShippingError
from shipping.models import Carrier, ScannerDevice, WaybillAccount

logger = logging.getLogger(__name__)

DEMO_CARRIER = "ZTO"
MANUAL_CARRIER = "SF"
#: the emulator's seeded sender and branch (orders/emulator_waybills.py), used when it is not running
SENDER = {
    "sender_name": "王仓管",
    "sender_mobile": "13800000000",
    "sender_province": "上海市",
    "sender_city": "上海市",
    "sender_district": "浦东新区",
    "sender_address": "科苑路 88 号 3 号楼",
}


def load(channels: list[Channel], *, online: bool = True) -> str:
    """Accounts for every shop (refreshed from the emulator when `online`), one scanner per warehouse.
    Returns what to tell the visitor (a new scanner's token is shown only here)."""
    for channel in channels:
        _account(channel, online=online)
    return _scanners()


def _account(channel: Channel, *, online: bool) -> WaybillAccount:
    from shipping.services import waybill_account_refresh

    carrier = Carrier.objects.get(code=MANUAL_CARRIER if channel.platform == "manual" else DEMO_CARRIER)
    account = WaybillAccount.objects.filter(channel=channel, carrier=carrier).order_by("pk").first()
    if account is None:
        account = WaybillAccount.objects.create(
            channel=channel,
            carrier=carrier,
            branch_code="" if channel.platform == "manual" else _branch_code(channel, carrier),
            branch_name="上海浦东张江网点",
            quota_alert_below=50,
            **SENDER,
        )
    if online and channel.platform != "manual":
        try:
            account = waybill_account_refresh(account_id=account.pk)
        except (ShippingError, ChannelError) as exc:  # an adapter without e-waybills yet: keep the seed
            logger.info("demo account %s not refreshed: %s", account, exc)
    return account


def _branch_code(channel: Channel, carrier: Carrier) -> str:
    """The branch the emulator subscribes a shop to for this carrier (its seed order)."""
    from orders.channels.carriers import platform_carriers

    codes = [code for code, _name in platform_carriers(channel.adapter_platform)]
    code = carrier.code_on(channel.platform)
    return f"{310115 + codes.index(code):06d}" if code in codes else ""


def _scanners() -> str:
    from inventory.models import Warehouse
    from shipping.services import scanner_device_create

    notes = []
    for warehouse in Warehouse.objects.filter(active=True).order_by("pk"):
        if ScannerDevice.objects.filter(warehouse=warehouse, revoked_at__isnull=True).exists():
            continue
        device, token = scanner_device_create(name=f"PDA {warehouse.code}", warehouse=warehouse)
        notes.append(f"scanner '{device.name}' token (shown once): {token}")
    return "\n".join(notes)


def print_orders(order_ids: list[int]) -> list[int]:
    """Parcel, number and print these ready orders through the real services; returns the orders
    now printed (numbering needs the emulator: without it, none)."""
    from orders.models import Order, OrderState
    from shipping.services import number_parcels, parcels_create, parcels_mark_printed

    parcels = parcels_create(order_ids=order_ids)
    number_parcels(shipment_ids=[p.pk for p in parcels])
    parcels_mark_printed(shipment_ids=[p.pk for p in parcels])
    return list(Order.objects.filter(pk__in=order_ids, state=OrderState.PRINTED).values_list("pk", flat=True))
