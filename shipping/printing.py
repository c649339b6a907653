"""Printing writes (re-exported by shipping.services): parcels into print batches, the print
component's results into parcels and orders, fresh print data for a reprint.

Each public function is one transaction, except the reprint's platform call, which runs outside any
transaction so no row stays locked while the platform answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders import locks as order_locks
from orders.channels import get_adapter
from orders.channels.base import ChannelError
from orders.models import Lane, OrderState
from shipping import print_locks
from shipping.models import PrintBatch, PrintBatchState, PrintRecord, Shipment, ShipmentLine, ShipmentState

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

BATCHABLE_STATES = (ShipmentState.PENDING, ShipmentState.NUMBERED)
#: parcel states a label print may still change (a shipped parcel's reprint is recorded only)
PRINTED_OR_LATER = (ShipmentState.PRINTED, ShipmentState.SHIPPED)


class PrintError(Exception):
    """A print request that cannot be honoured; `field` names the offending input (400 vs 409)."""

    def __init__(self, message: str, *, field: str = "", conflict: bool = False):
        super().__init__(message)
        self.message = message
        self.field = field
        self.conflict = conflict


# ---- batches ---------------------------------------------------------------------------------
@dataclass
class BatchFill:
    batches: list[int]
    parcels: int


@transaction.atomic
def print_batches_fill(*, actor: AbstractBaseUser | None = None) -> BatchFill:
    """Put every parcel that is not in a batch yet, and whose orders are all ready, into an open
    batch of its waybill account (one carrier and template) and its orders' lane: the normal lane
    and the promotion lane never share a batch. Full batches (PRINT_BATCH_MAX_PARCELS) are not filled
    further; a batch already printing takes no new parcels."""
    candidate_ids = list(
        Shipment.objects.filter(batch__isnull=True, state__in=BATCHABLE_STATES, account__isnull=False)
        .annotate(not_ready=Count("lines", filter=~Q(lines__order__state=OrderState.READY)))
        .filter(not_ready=0, lines__isnull=False)
        .values_list("pk", flat=True)
        .distinct()
    )
    if not candidate_ids:
        return BatchFill(batches=[], parcels=0)
    parcels = print_locks.unbatched_shipments_for_update(shipment_ids=candidate_ids)
    lanes = _lanes(shipment_ids=[parcel.pk for parcel in parcels])
    touched: list[int] = []
    capacity: dict[tuple[int, str], tuple[PrintBatch, int]] = {}
    for parcel in parcels:
        key = (parcel.account_id, lanes.get(parcel.pk, Lane.NORMAL))
        batch, room = capacity.get(key) or _open_batch(account_id=key[0], lane=key[1], actor=actor)
        if room <= 0:
            batch, room = _new_batch(account_id=key[0], lane=key[1], actor=actor)
        parcel.batch = batch
        parcel.save(update_fields=["batch"])
        capacity[key] = (batch, room - 1)
        if batch.pk not in touched:
            touched.append(batch.pk)
    return BatchFill(batches=touched, parcels=len(parcels))


def _lanes(*, shipment_ids: list[int]) -> dict[int, str]:
    """A parcel's lane is its first order's (merged parcels share one buyer's orders)."""
    lanes: dict[int, str] = {}
    rows = ShipmentLine.objects.filter(shipment_id__in=shipment_ids).order_by("shipment_id", "order_id")
    for shipment_id, lane in rows.values_list("shipment_id", "order__lane"):
        lanes.setdefault(shipment_id, lane)
    return lanes


def _open_batch(*, account_id: int, lane: str, actor: AbstractBaseUser | None) -> tuple[PrintBatch, int]:
    batch = print_locks.open_batch_for_update(account_id=account_id, lane=lane)
    if batch is None:
        return _new_batch(account_id=account_id, lane=lane, actor=actor)
    return batch, settings.PRINT_BATCH_MAX_PARCELS - batch.shipments.count()


def _new_batch(*, account_id: int, lane: str, actor: AbstractBaseUser | None) -> tuple[PrintBatch, int]:
    batch = PrintBatch.objects.create(account_id=account_id, lane=lane, created_by=actor)
    return batch, settings.PRINT_BATCH_MAX_PARCELS


# ---- print results ---------------------------------------------------------------------------
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
    """Record what the print component reported for one label. Printed: the parcel moves numbered ->
    printed, each of its orders ready -> printed once all its live parcels are printed, and the batch
    printing -> printed when its last label is out. Failed: only the record (the packer reprints).

    Locks orders, then the parcel, then the batch, each in pk order (DESIGN.md)."""
    order_ids = sorted(
        set(ShipmentLine.objects.filter(shipment_id=shipment_id).values_list("order_id", flat=True).distinct())
    )
    orders = list(order_locks.orders_for_update(order_ids=order_ids))
    shipment = print_locks.shipment_for_update(shipment_id=shipment_id)
    if shipment is None or shipment.batch_id != batch_id:
        raise PrintError(str(_("This parcel is not in this print batch.")), field="shipment")
    if not shipment.tracking_number or shipment.tracking_number != tracking_number:
        raise PrintError(
            str(_("%(number)s is not this parcel's current waybill number (voided or re-issued)."))
            % {"number": tracking_number},
            field="tracking_number",
        )
    if shipment.state not in (ShipmentState.NUMBERED, *PRINTED_OR_LATER):
        raise PrintError(
            str(_("A %(state)s parcel cannot be printed.")) % {"state": shipment.get_state_display()}, conflict=True
        )
    batch = print_locks.batch_for_update(batch_id=batch_id)
    record = PrintRecord.objects.create(
        shipment=shipment,
        batch=batch,
        tracking_number=tracking_number,
        ok=ok,
        message=message[:500],
        printer=printer[:200],
        task_id=task_id[:64],
        reprint=shipment.state in PRINTED_OR_LATER or shipment.print_records.filter(ok=True).exists(),
        actor=actor,
    )
    printed_orders: list[int] = []
    if ok and shipment.state == ShipmentState.NUMBERED:
        shipment.state = ShipmentState.PRINTED
        shipment.printed_at = timezone.now()
        if actor is not None:
            shipment._history_user = actor
        shipment.save(update_fields=["state", "printed_at"])
        printed_orders = _orders_printed(order_ids=[order.pk for order in orders], actor=actor)
    if batch.state == PrintBatchState.OPEN:
        batch.state = PrintBatchState.PRINTING
    if not batch.shipments.filter(state__in=BATCHABLE_STATES).exists():
        batch.state = PrintBatchState.PRINTED
        batch.printed_at = batch.printed_at or timezone.now()
    batch.save(update_fields=["state", "printed_at"])
    return PrintOutcome(record=record, shipment=shipment, batch=batch, printed_orders=printed_orders)


def _orders_printed(*, order_ids: list[int], actor: AbstractBaseUser | None) -> list[int]:
    """Ready orders all of whose live parcels are printed (or later) move ready -> printed."""
    from orders.services import order_mark_printed

    done = []
    for order_id in order_ids:
        live = Shipment.objects.filter(lines__order_id=order_id).exclude(state=ShipmentState.VOIDED).distinct()
        if live.exclude(state__in=PRINTED_OR_LATER).exists():
            continue
        order = order_locks.order_for_update(order_id=order_id)
        if order.state == OrderState.READY:
            order_mark_printed(order_id=order_id, actor=actor)
            done.append(order_id)
    return done


# ---- reprint ---------------------------------------------------------------------------------
def shipment_refresh_print_data(*, shipment_id: int, batch_id: int) -> Shipment:
    """Fetch the parcel's print data again from the platform (waybill_print_data) for a reprint: the
    payload the platform issued may have expired, and only the platform can sign a new one."""
    shipment = Shipment.objects.select_related("channel", "carrier").filter(pk=shipment_id, batch_id=batch_id).first()
    if shipment is None:
        raise PrintError(str(_("This parcel is not in this print batch.")), field="shipment")
    if not shipment.tracking_number or shipment.state not in (ShipmentState.NUMBERED, *PRINTED_OR_LATER):
        raise PrintError(str(_("This parcel has no waybill number to reprint.")), conflict=True)
    adapter = get_adapter(shipment.channel)
    try:
        print_data = adapter.waybill_print_data(
            carrier_code=shipment.carrier.code_on(shipment.channel.platform),
            tracking_number=shipment.tracking_number,
        )
    except ChannelError as exc:
        raise PrintError(
            str(_("The platform refused to send the print data again: %(reason)s")) % {"reason": exc}, conflict=True
        ) from exc
    return _store_print_data(shipment_id=shipment.pk, tracking_number=shipment.tracking_number, print_data=print_data)


@transaction.atomic
def _store_print_data(*, shipment_id: int, tracking_number: str, print_data: dict[str, Any]) -> Shipment:
    shipment = print_locks.shipment_for_update(shipment_id=shipment_id)
    if shipment is None or shipment.tracking_number != tracking_number:  # voided and re-issued meanwhile
        raise PrintError(str(_("The parcel's number changed while reprinting; reload the page.")), conflict=True)
    shipment.print_data = print_data
    shipment.save(update_fields=["print_data"])
    return shipment
