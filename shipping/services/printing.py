"""Printing: ready orders into print batches, the print component's results into parcels and orders,
fresh print data for a reprint.

The print queue is: parcels for ready orders (parcels.parcels_create) → an open batch per waybill
account (one carrier and template) and lane, so the promotion lane never shares a batch with the
normal one → numbers from the platform (numbering.number_parcels) → the print page in the packer's
browser, whose results land in `shipment_record_print_result`.

Lock order: orders (orders.locks) → parcels → print batch, each by pk (shipping.locks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext

from orders import locks as order_locks
from orders.channels import get_adapter
from orders.channels.base import ChannelError, WaybillErrorCode
from orders.models import Lane, Order, OrderState
from shipping import locks, selectors
from shipping.errors import PrintRefused
from shipping.models import PrintBatch, PrintBatchState, PrintRecord, Shipment, ShipmentLine, ShipmentState
from shipping.print_selectors import print_component
from shipping.services.numbering import number_parcels, waybill_request
from shipping.services.parcels import parcels_create, parcels_mark_printed

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

#: parcels a batch may take: not numbered yet, or numbered and not printed
BATCHABLE_STATES = (ShipmentState.PENDING, ShipmentState.NUMBERED)
PRINTABLE_STATES = (ShipmentState.NUMBERED, ShipmentState.PRINTED, ShipmentState.SHIPPED)
#: ready orders taken into parcels per run of the print queue (the schedule runs again a minute later)
QUEUE_CHUNK = 500


# ---- the print queue -----------------------------------------------------------------------------
@dataclass
class BatchFill:
    batches: list[int] = field(default_factory=list)
    parcels: int = 0


@dataclass
class QueueFill:
    parcels_created: int = 0
    batched: BatchFill = field(default_factory=BatchFill)
    numbered: int = 0
    failed: int = 0


def print_queue_fill(*, actor: AbstractBaseUser | None = None) -> QueueFill:
    """Ready orders of shops with an e-waybill account straight into print batches, numbered: run after
    orders become ready (shipping.signals), by the one-minute schedule and by the admin's action. Each
    step is its own transaction; the platform calls run outside any transaction. Running it again
    does nothing new (orders already parcelled are skipped)."""
    result = QueueFill()
    # shops with an e-waybill account print automatically; the others stay with ops (parcels by hand)
    order_ids = list(
        Order.objects.filter(state=OrderState.READY, channel__waybill_accounts__enabled=True)
        .exclude(shipment_lines__shipment__state__in=[s for s in ShipmentState.values if s != ShipmentState.VOIDED])
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()[:QUEUE_CHUNK]
    )
    if order_ids:
        result.parcels_created = len(parcels_create(order_ids=order_ids, actor=actor))
    result.batched = print_batches_fill(actor=actor)
    pending = list(
        Shipment.objects.filter(
            batch__state=PrintBatchState.OPEN, state=ShipmentState.PENDING, account__isnull=False
        ).values_list("pk", flat=True)
    )
    if pending:
        report = number_parcels(shipment_ids=pending)
        result.numbered = len(report.numbered)
        result.failed = len(report.failed)
    return result


@transaction.atomic
def print_batches_fill(*, actor: AbstractBaseUser | None = None) -> BatchFill:
    """Put every parcel outside a batch whose orders are all ready into the open batch of its waybill
    account and its orders' lane. A full batch (PRINT_BATCH_MAX_PARCELS) or one already printing takes
    no more; a new one is opened instead."""
    candidate_ids = list(
        Shipment.objects.filter(batch__isnull=True, state__in=BATCHABLE_STATES, account__isnull=False)
        .annotate(not_ready=Count("lines", filter=~Q(lines__order__state=OrderState.READY)))
        .filter(not_ready=0, lines__isnull=False)
        .values_list("pk", flat=True)
        .distinct()
    )
    fill = BatchFill()
    if not candidate_ids:
        return fill
    parcels = locks.unbatched_shipments_for_update(shipment_ids=candidate_ids)
    lanes = _lanes(shipment_ids=[parcel.pk for parcel in parcels])
    room: dict[tuple[int, str], tuple[PrintBatch, int]] = {}
    for parcel in parcels:
        key = (parcel.account_id, lanes.get(parcel.pk, Lane.NORMAL))
        batch, free = room.get(key) or _open_batch(account_id=key[0], lane=key[1], actor=actor)
        if free <= 0:
            batch, free = _new_batch(account_id=key[0], lane=key[1], actor=actor)
        parcel.batch = batch
        if actor is not None:
            parcel._history_user = actor
        parcel.save(update_fields=["batch"])
        room[key] = (batch, free - 1)
        if batch.pk not in fill.batches:
            fill.batches.append(batch.pk)
        fill.parcels += 1
    return fill


def _lanes(*, shipment_ids: list[int]) -> dict[int, str]:
    """A parcel's lane is its first order's (a merged parcel holds one buyer's orders)."""
    lanes: dict[int, str] = {}
    rows = ShipmentLine.objects.filter(shipment_id__in=shipment_ids).order_by("shipment_id", "order_id")
    for shipment_id, lane in rows.values_list("shipment_id", "order__lane"):
        lanes.setdefault(shipment_id, lane)
    return lanes


def _open_batch(*, account_id: int, lane: str, actor: AbstractBaseUser | None) -> tuple[PrintBatch, int]:
    batch = locks.open_batch_for_update(account_id=account_id, lane=lane)
    if batch is None:
        return _new_batch(account_id=account_id, lane=lane, actor=actor)
    return batch, settings.PRINT_BATCH_MAX_PARCELS - batch.shipments.count()


def _new_batch(*, account_id: int, lane: str, actor: AbstractBaseUser | None) -> tuple[PrintBatch, int]:
    batch = PrintBatch.objects.create(account_id=account_id, lane=lane, created_by=actor)
    return batch, settings.PRINT_BATCH_MAX_PARCELS


# ---- print results -------------------------------------------------------------------------------
@dataclass
class PrintOutcome:
    record: PrintRecord
    shipment: Shipment
    batch: PrintBatch
    printed_orders: list[int]


@transaction.atomic
def shipment_record_print_result(
    *,
    batch_id: int,
    shipment_id: int,
    tracking_number: str,
    ok: bool,
    actor: AbstractBaseUser | None,
    message: str = "",
    printer: str = "",
    task_id: str = "",
) -> PrintOutcome:
    """Record what the print component reported for one label (a PrintRecord: who, which printer,
    what it said). Printed: parcels_mark_printed moves the parcel numbered → printed and each order
    ready → printed once all its parcels are. Failed: the record only; the packer prints again.
    The batch shows "printing" from its first result until its last label is out."""
    order_ids = selectors.order_ids_in_shipments(shipment_ids=[shipment_id])
    orders_before = {order.pk: order.state for order in order_locks.orders_for_update(order_ids=order_ids)}
    shipment = locks.shipments_for_update(shipment_ids=[shipment_id])
    if not shipment or shipment[0].batch_id != batch_id:
        raise PrintRefused(gettext("This parcel is not in this print batch."), field="shipment")
    shipment = shipment[0]
    if not shipment.tracking_number or shipment.tracking_number != tracking_number:
        raise PrintRefused(
            gettext("%(number)s is not this parcel's current waybill number (voided or re-issued).")
            % {"number": tracking_number},
            field="tracking_number",
        )
    if shipment.state not in PRINTABLE_STATES:
        raise PrintRefused(gettext("A %(state)s parcel cannot be printed.") % {"state": shipment.get_state_display()})
    earlier = shipment.print_records.filter(ok=True).exists()
    record = PrintRecord.objects.create(
        shipment=shipment,
        batch_id=batch_id,
        tracking_number=tracking_number,
        ok=ok,
        message=message[:500],
        printer=printer[:200],
        task_id=task_id[:64],
        reprint=earlier or shipment.state != ShipmentState.NUMBERED,
        actor=actor,
    )
    if ok:
        parcels_mark_printed(shipment_ids=[shipment.pk], actor=actor)
        shipment.refresh_from_db(fields=["state", "printed_at"])
    batch = locks.batch_for_update(batch_id=batch_id)
    if batch.state == PrintBatchState.OPEN:
        batch.state = PrintBatchState.PRINTING
        batch.save(update_fields=["state"])
    after = dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "state"))
    printed_orders = [pk for pk, state in after.items() if state != orders_before.get(pk)]
    return PrintOutcome(record=record, shipment=shipment, batch=batch, printed_orders=sorted(printed_orders))


@transaction.atomic
def batch_mark_printed_elsewhere(*, batch_id: int, actor: AbstractBaseUser | None) -> list[Shipment]:
    """A batch whose labels have no print component (the manual channel: the carrier's own software
    prints them, and the number is bound at the scan): the packer confirms they are printed, which
    moves its parcels and orders to printed like a component's result would."""
    batch = PrintBatch.objects.select_related("account__channel").get(pk=batch_id)
    if print_component(platform=batch.account.channel.platform)[0] is not None:
        raise PrintRefused(gettext("This batch prints through its platform's print component."))
    waiting = list(batch.shipments.filter(state__in=BATCHABLE_STATES).values_list("pk", flat=True))
    printed = parcels_mark_printed(shipment_ids=waiting, actor=actor) if waiting else []
    locked = locks.batch_for_update(batch_id=batch_id)
    if locked.state == PrintBatchState.OPEN and batch.shipments.filter(state__in=BATCHABLE_STATES).exists():
        locked.state = PrintBatchState.PRINTING
        locked.save(update_fields=["state"])
    return printed


# ---- reprint -------------------------------------------------------------------------------------
def shipment_refresh_print_data(*, batch_id: int, shipment_id: int) -> Shipment:
    """A reprint asks the platform for the parcel's print data again: the payload it issued may have
    expired, and only the platform can sign a new one. Read by number (waybill_print_data), or where
    the platform has no such read (Kuaishou) by repeating the request under the parcel's own key
    (waybill_lookup), which answers the same number and never a new one. The call runs outside any
    transaction; the result is stored under the parcel's lock only if its number did not change."""
    shipment = Shipment.objects.select_related("channel", "carrier", "account").filter(pk=shipment_id).first()
    if shipment is None or shipment.batch_id != batch_id:
        raise PrintRefused(gettext("This parcel is not in this print batch."), field="shipment")
    if not shipment.tracking_number or shipment.state not in PRINTABLE_STATES:
        raise PrintRefused(gettext("This parcel has no waybill number to reprint."))
    try:
        print_data = _fresh_print_data(shipment)
    except ChannelError as exc:
        raise PrintRefused(
            gettext("The platform refused to send the print data again: %(reason)s") % {"reason": exc}
        ) from exc
    return _store_print_data(shipment_id=shipment.pk, tracking_number=shipment.tracking_number, print_data=print_data)


def _fresh_print_data(shipment: Shipment) -> dict[str, Any]:
    adapter = get_adapter(shipment.channel)
    try:
        return adapter.waybill_print_data(
            carrier_code=shipment.carrier.code_on(shipment.channel.platform), tracking_number=shipment.tracking_number
        )
    except ChannelError as exc:
        if exc.code != WaybillErrorCode.NOT_SUPPORTED:
            raise
    result = adapter.waybill_lookup(waybill_request(shipment=shipment))
    if result.error is not None:
        raise result.error
    if result.tracking_number != shipment.tracking_number:
        raise PrintRefused(gettext("The platform answered another number for this parcel; void and re-issue it."))
    return result.print_data


@transaction.atomic
def _store_print_data(*, shipment_id: int, tracking_number: str, print_data: dict[str, Any]) -> Shipment:
    shipment = locks.shipment_for_update(shipment_id=shipment_id)
    if shipment.tracking_number != tracking_number:  # voided and re-issued meanwhile
        raise PrintRefused(gettext("The parcel's number changed while reprinting; reload the page."))
    shipment.print_data = print_data
    shipment.save(update_fields=["print_data"])
    return shipment
