"""Builders for printing tests: a waybill account and numbered parcels of ready orders.

The parcels are set-up rows as number_parcels leaves them (a number and the platform's encrypted
print payload); the printing code under test then moves them."""

from __future__ import annotations

import itertools

from orders.models import Channel, Order
from orders.tests.factories import make_order_in_state
from shipping.models import Carrier, PrintBatch, Shipment, ShipmentLine, ShipmentState, WaybillAccount

_seq = itertools.count(1)


def make_account(channel: Channel, *, carrier_code: str = "ZTO", branch_code: str = "") -> WaybillAccount:
    return WaybillAccount.objects.create(
        channel=channel,
        # seeded by migration; a transactional test's flush removes seeded rows, so create it again then
        carrier=Carrier.objects.get_or_create(code=carrier_code, defaults={"name": carrier_code})[0],
        branch_code=branch_code or f"B{next(_seq):04d}",
        branch_name="杭州西湖网点",
        sender_name="王仓管",
        sender_mobile="13900001111",
        sender_province="浙江省",
        sender_city="杭州市",
        sender_district="余杭区",
        sender_address="仓前街道 1 号仓",
        template_url="https://cloudprint.cainiao.com/template/standard/101/123",
        custom_area_template_url="https://cloudprint.cainiao.com/template/customArea/7001",
    )


def print_payload(tracking_number: str) -> dict:
    """What Cainiao's get-number call returns as print_data: encrypted, signed, with its template."""
    return {
        "encryptedData": f"AES:{tracking_number}:c2VjcmV0LWxhYmVsLWJvZHk=",
        "signature": f"sig-{tracking_number}",
        "templateURL": "https://cloudprint.cainiao.com/template/standard/101/123",
        "ver": "waybill_print_secret_version_1",
    }


def make_parcel(
    account: WaybillAccount,
    orders: list[Order],
    *,
    batch: PrintBatch | None = None,
    tracking_number: str | None = None,
    state: str = ShipmentState.NUMBERED,
    lines: list[tuple] | None = None,
) -> Shipment:
    """A parcel carrying every line of `orders` (or the given (order_line, quantity) pairs)."""
    n = next(_seq)
    number = "" if state == ShipmentState.PENDING else (tracking_number or f"7731{n:08d}")
    shipment = Shipment.objects.create(
        parcel_key=f"{orders[0].pk}-{n}",
        channel=account.channel,
        account=account,
        carrier=account.carrier,
        batch=batch,
        tracking_number=number,
        state=state,
        print_data=print_payload(number) if number else {},
    )
    pairs = lines or [(line, line.quantity) for order in orders for line in order.lines.all()]
    for order_line, quantity in pairs:
        ShipmentLine.objects.create(shipment=shipment, order=order_line.order, order_line=order_line, quantity=quantity)
    return shipment


def ready_order(channel: Channel, **overrides) -> Order:
    return make_order_in_state(channel, "ready", **overrides)
