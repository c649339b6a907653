"""Builders for return tests: orders that really shipped (ingest → parcel → printed → scanned out by
the PDA over HTTP), and a refund change sent the way the order ingest sends it."""

from __future__ import annotations

import itertools

from django.db import transaction
from rest_framework.test import APIClient

from orders import locks as order_locks
from orders.models import LineRefundState, Order, OrderLine
from orders.signals import line_refund_changed
from shipping import services
from shipping.models import Shipment
from shipping.selectors import order_barcode
from shipping.tests.conftest import account_on, ingest, scan

_seq = itertools.count(1)


def shipped_order(channel, client: APIClient, *, lines) -> tuple[Order, Shipment]:
    """An order of `channel` (a manual shop: the carrier label's number is scanned) that left the
    warehouse in one parcel, scanned out by the PDA behind `client`."""
    if not channel.waybill_accounts.exists():
        account_on(channel, "SF")
    order = ingest(channel, lines=lines)
    assert order.state == "ready", order.state
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    answer = scan(client, order_barcode(order_id=order.pk), key=f"out-{order.pk}", label_number=f"SF{next(_seq):011d}")
    assert answer.status_code == 200, answer.content
    parcel.refresh_from_db()
    return Order.objects.get(pk=order.pk), parcel


def refund_changes(line: OrderLine, current: str, *, raw: str = "") -> None:
    """What the order ingest does when a platform update changes a line's refund state: store it
    and send `line_refund_changed` inside the same transaction, the order locked."""
    with transaction.atomic():
        order = order_locks.order_for_update(order_id=line.order_id)
        line = OrderLine.objects.get(pk=line.pk)
        previous = line.refund_state
        line.refund_state = current
        line.refund_status = raw or {"requested": "WAIT_SELLER_AGREE", "refunded": "SUCCESS"}.get(current, "CLOSED")
        line.save(update_fields=["refund_state", "refund_status"])
        line_refund_changed.send(sender=OrderLine, order=order, line=line, previous=previous, current=current)


def receive_scan(client: APIClient, reference: str, items: list[dict], *, key: str = "", language: str = "en"):
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post("/api/v1/scans/return", {"reference": reference, "items": items}, format="json", **headers)


__all__ = ["LineRefundState", "receive_scan", "refund_changes", "shipped_order"]
