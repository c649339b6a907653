"""The outbound half of the traffic simulator (`simulate_orders --ship-share`): a share of a channel's
ready orders is parcelled, numbered on the platform's e-waybill service, printed, and scanned out
through the real scanner API with a temporary device per warehouse (revoked afterwards)."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

from orders.models import Order, OrderState
from shipping.models import Shipment, ShipmentState


@dataclass
class OutboundTally:
    chosen: int = 0
    numbered: int = 0
    printed: int = 0
    shipped: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"outbound: chosen {self.chosen}  numbered {self.numbered}  printed {self.printed}  "
            f"shipped {self.shipped}  refused {sum(self.failures.values())}"
        )


def drive_outbound(*, channel_id: int, share: float, base_url: str, rng: random.Random) -> OutboundTally:
    from inventory.models import Warehouse
    from shipping.services import (
        number_parcels,
        parcels_create,
        parcels_mark_printed,
        scanner_device_create,
        scanner_device_revoke,
    )

    ready = list(
        Order.objects.filter(channel_id=channel_id, state=OrderState.READY).order_by("pk").values_list("pk", flat=True)
    )
    chosen = sorted(rng.sample(ready, round(len(ready) * share))) if ready else []
    tally = OutboundTally(chosen=len(chosen))
    if not chosen:
        return tally
    parcels_create(order_ids=chosen)
    # the chosen orders' live parcels, new or already queued by the print queue (make demo runs it)
    parcels = list(
        Shipment.objects.filter(lines__order_id__in=chosen)
        .exclude(state=ShipmentState.VOIDED)
        .distinct()
        .order_by("pk")
    )
    number_parcels(shipment_ids=[p.pk for p in parcels if p.state == ShipmentState.PENDING])
    tally.numbered = Shipment.objects.filter(pk__in=[p.pk for p in parcels]).exclude(tracking_number="").count()
    printed = parcels_mark_printed(shipment_ids=[p.pk for p in parcels])
    tally.printed = len(printed)
    tokens: dict[int, str] = {}
    devices = []
    try:
        for parcel in Shipment.objects.filter(pk__in=[p.pk for p in printed]).order_by("pk"):
            if parcel.warehouse_id not in tokens:
                device, token = scanner_device_create(
                    name=f"simulator {uuid.uuid4().hex[:6]}", warehouse=Warehouse.objects.get(pk=parcel.warehouse_id)
                )
                devices.append(device)
                tokens[parcel.warehouse_id] = token
            body = {"code": parcel.tracking_number}
            if not parcel.tracking_number:  # manual channel: the carrier label's number
                from shipping.selectors import order_barcode

                first_order = parcel.lines.values_list("order_id", flat=True).first()
                body = {"code": order_barcode(order_id=first_order), "label_number": f"SIM{parcel.pk:012d}"}
            response = requests.post(
                f"{base_url.rstrip('/')}/api/v1/scans/outbound",
                json=body,
                headers={"Authorization": f"Bearer {tokens[parcel.warehouse_id]}", "Idempotency-Key": uuid.uuid4().hex},
                timeout=30,
            )
            if response.status_code == 200 and response.json()["parcel"]["state"] == ShipmentState.SHIPPED:
                tally.shipped += 1
            else:
                tally.failures[f"HTTP {response.status_code}: {response.text[:80]}"] += 1
    finally:
        for device in devices:
            scanner_device_revoke(device_id=device.pk)
    return tally
