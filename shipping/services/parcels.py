"""Parcels: one per ready order by default, split by line or quantity, several orders of one buyer
and address merged into one (合单), and the print result that moves parcels and orders to printed.

Lock order: orders (orders.locks, pk order) → shipments (shipping.locks, pk order)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from orders import locks as order_locks
from orders.models import LineRefundState, Order, OrderLine, OrderState
from orders.texts import wording
from shipping import locks, selectors
from shipping.errors import ParcelPlanInvalid
from shipping.models import PrintBatch, PrintBatchState, Shipment, ShipmentLine, ShipmentState, WaybillAccount

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

#: an order whose lines may be put into parcels (numbering waits until every order of a parcel is ready)
PARCELLABLE_STATES = (OrderState.READY, OrderState.PRINTED)
#: orders a merge may join: open and not printed yet
MERGEABLE_STATES = (OrderState.NEW, OrderState.READY, OrderState.ON_HOLD, OrderState.AWAITING_STOCK)
MERGE_MATCH_FIELDS = (
    "buyer_nick",
    "receiver_name",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_district",
    "receiver_address",
)


def next_parcel_key(*, order_id: int) -> str:
    """`<order id>-<n>`: deterministic, short (Douyin's pack_id takes ≤15 characters) and never reused,
    so a re-issued parcel asks the platform under a key it has not seen."""
    n = Shipment.objects.filter(parcel_key__startswith=f"{order_id}-").count() + 1
    while Shipment.objects.filter(parcel_key=f"{order_id}-{n}").exists():
        n += 1
    return f"{order_id}-{n}"


def _warehouse_id(order_ids: list[int]) -> int | None:
    """Where the parcel's stock is reserved (the first reservation decides; one warehouse per order
    is what reservation aims for)."""
    from inventory.models import ReservationState, StockReservation

    return (
        StockReservation.objects.filter(order_id__in=order_ids, state=ReservationState.ACTIVE)
        .order_by("pk")
        .values_list("warehouse_id", flat=True)
        .first()
    )


def _remaining(order: Order, parcelled: dict[int, int]) -> list[tuple[int, int]]:
    """(OrderLine id, units not yet in a live parcel) for the lines that carry something. A refunded
    line carries nothing: it is never parcelled, picked or packed."""
    return [
        (line.pk, line.quantity - parcelled.get(line.pk, 0))
        for line in order.lines.all().order_by("pk")
        if line.refund_state != LineRefundState.REFUNDED and line.quantity - parcelled.get(line.pk, 0) > 0
    ]


def _new_shipment(
    *, orders: list[Order], account: WaybillAccount, lines: list[tuple[Order, int, int]], weight_grams: int = 0
) -> Shipment:
    first = orders[0]
    shipment = Shipment.objects.create(
        parcel_key=next_parcel_key(order_id=first.pk),
        channel_id=first.channel_id,
        account=account,
        carrier_id=account.carrier_id,
        warehouse_id=_warehouse_id([o.pk for o in orders]),
        weight_grams=weight_grams,
    )
    ShipmentLine.objects.bulk_create(
        ShipmentLine(shipment=shipment, order=order, order_line_id=line_id, quantity=qty)
        for order, line_id, qty in lines
    )
    return shipment


@transaction.atomic
def parcels_create(
    *, order_ids: Iterable[int], account_id: int | None = None, actor: AbstractBaseUser | None = None
) -> list[Shipment]:
    """One parcel per ready (or printed) order for every unit not yet in a live parcel. Orders already
    fully parcelled are left alone, so calling it again creates nothing. A shop without an e-waybill
    account holds its order as `waybill_failed`, with that reason, instead of failing the batch."""
    from rules.services import raise_exception

    created: list[Shipment] = []
    orders = list(order_locks.orders_for_update(order_ids=list(order_ids)))
    parcelled = selectors.parcelled_quantities(order_ids=[o.pk for o in orders])
    forced = WaybillAccount.objects.select_related("carrier").get(pk=account_id) if account_id else None
    for order in orders:
        if order.state not in PARCELLABLE_STATES:
            continue
        remaining = _remaining(order, parcelled)
        if not remaining:
            continue
        account = forced if forced is not None else selectors.default_account(channel_id=order.channel_id)
        if account is None or account.channel_id != order.channel_id:
            raise_exception(
                order=order,
                exception_type="waybill_failed",
                note=wording("shipping.no_waybill_account", shop=order.channel.name),
                actor=actor,
            )
            continue
        created.append(
            _new_shipment(orders=[order], account=account, lines=[(order, lid, qty) for lid, qty in remaining])
        )
    return created


@transaction.atomic
def parcel_split(
    *, shipment_id: int, moves: dict[int, int], actor: AbstractBaseUser | None = None, weight_grams: int = 0
) -> Shipment:
    """Move `moves` (OrderLine id -> units) out of a parcel into a new one: split by line or by quantity.
    Only a parcel without a number can be split (a numbered one is voided and re-planned)."""
    source = Shipment.objects.filter(pk=shipment_id).first()
    if source is None:
        raise ParcelPlanInvalid(gettext("Parcel %(id)s does not exist.") % {"id": shipment_id}, field="shipment")
    order_ids = selectors.order_ids_in_shipments(shipment_ids=[source.pk])
    orders = list(order_locks.orders_for_update(order_ids=order_ids))
    source = locks.shipment_for_update(shipment_id=shipment_id)
    if source.state != ShipmentState.PENDING:
        raise ParcelPlanInvalid(
            gettext("Parcel %(key)s already has a number: void it before splitting.") % {"key": source.parcel_key},
            field="shipment",
        )
    held = {pl.order_line_id: pl for pl in source.lines.all()}
    moves = {int(k): int(v) for k, v in moves.items() if int(v) != 0}
    if not moves:
        raise ParcelPlanInvalid(gettext("Choose at least one line and quantity to move."), field="lines")
    for line_id, qty in moves.items():
        line = held.get(line_id)
        if line is None:
            raise ParcelPlanInvalid(
                gettext("Line %(line)s is not in this parcel.") % {"line": line_id}, field=f"lines.{line_id}"
            )
        if not 0 < qty <= line.quantity:
            raise ParcelPlanInvalid(
                gettext("Line %(line)s: move between 1 and %(max)s units.") % {"line": line_id, "max": line.quantity},
                field=f"lines.{line_id}",
            )
    if sum(moves.values()) >= sum(pl.quantity for pl in held.values()):
        raise ParcelPlanInvalid(gettext("A split must leave something in the original parcel."), field="lines")
    by_id = {o.pk: o for o in orders}
    moved = [(by_id[held[lid].order_id], lid, qty) for lid, qty in sorted(moves.items())]
    for line_id, qty in moves.items():
        line = held[line_id]
        if qty == line.quantity:
            line.delete()
        else:
            line.quantity -= qty
            line.save(update_fields=["quantity"])
    moved_orders = sorted({o.pk: o for o, _, _ in moved}.values(), key=lambda o: o.pk)
    new = Shipment.objects.create(
        parcel_key=next_parcel_key(order_id=moved_orders[0].pk),
        channel_id=source.channel_id,
        account_id=source.account_id,
        carrier_id=source.carrier_id,
        warehouse_id=source.warehouse_id,
        weight_grams=weight_grams,
    )
    ShipmentLine.objects.bulk_create(
        ShipmentLine(shipment=new, order=order, order_line_id=lid, quantity=qty) for order, lid, qty in moved
    )
    return new


@transaction.atomic
def parcels_merge(*, order_ids: Iterable[int], actor: AbstractBaseUser | None = None) -> Shipment:
    """合单: several open orders of one buyer and address on one shop travel in one parcel. Their
    unnumbered parcels are voided (keys kept, never reused) and one parcel carries every line; each
    order is later written back with the same number."""
    ids = sorted(set(order_ids))
    if len(ids) < 2:
        raise ParcelPlanInvalid(gettext("Merging needs at least two orders."), field="order_ids")
    orders = list(order_locks.orders_for_update(order_ids=ids))
    if len(orders) != len(ids):
        missing = sorted(set(ids) - {o.pk for o in orders})
        raise ParcelPlanInvalid(gettext("Orders %(ids)s do not exist.") % {"ids": missing}, field="order_ids")
    first = orders[0]
    for order in orders:
        if order.state not in MERGEABLE_STATES:
            raise ParcelPlanInvalid(
                gettext("Order %(id)s is %(state)s: only open, unprinted orders can be merged.")
                % {"id": order.pk, "state": order.get_state_display()},
                field="order_ids",
            )
        if order.channel_id != first.channel_id:
            raise ParcelPlanInvalid(gettext("Only orders of the same shop can share a parcel."), field="order_ids")
        if any(getattr(order, f) != getattr(first, f) for f in MERGE_MATCH_FIELDS):
            raise ParcelPlanInvalid(
                gettext("Orders %(a)s and %(b)s go to different buyers or addresses.") % {"a": first.pk, "b": order.pk},
                field="order_ids",
            )
    existing = list(
        Shipment.objects.filter(selectors.LIVE, lines__order_id__in=ids).distinct().values_list("pk", flat=True)
    )
    shipments = locks.shipments_for_update(shipment_ids=existing)
    for shipment in shipments:
        if shipment.state != ShipmentState.PENDING:
            raise ParcelPlanInvalid(
                gettext("Parcel %(number)s already has a number: void it before merging.")
                % {"number": shipment.tracking_number or shipment.parcel_key},
                field="order_ids",
            )
        if not set(shipment.lines.values_list("order_id", flat=True)) <= set(ids):
            raise ParcelPlanInvalid(
                gettext("Parcel %(key)s also carries other orders.") % {"key": shipment.parcel_key},
                field="order_ids",
            )
    account = next((s.account for s in shipments if s.account is not None), None)
    account = account or selectors.default_account(channel_id=first.channel_id)
    if account is None:
        raise ParcelPlanInvalid(
            gettext("No e-waybill account is set up for the shop %(shop)s.") % {"shop": first.channel.name},
            field="order_ids",
        )
    now = timezone.now()
    for shipment in shipments:
        shipment.state = ShipmentState.VOIDED
        shipment.voided_at = now
        shipment.failure_reason = gettext("Merged into another parcel.")
        if actor is not None:
            shipment._history_user = actor
        shipment.save(update_fields=["state", "voided_at", "failure_reason"])
    parcelled = selectors.parcelled_quantities(order_ids=ids)
    lines = [(order, lid, qty) for order in orders for lid, qty in _remaining(order, parcelled)]
    if not lines:
        raise ParcelPlanInvalid(gettext("These orders have nothing left to ship."), field="order_ids")
    return _new_shipment(orders=orders, account=account, lines=lines)


@transaction.atomic
def parcels_mark_printed(*, shipment_ids: Iterable[int], actor: AbstractBaseUser | None = None) -> list[Shipment]:
    """The print component reported these labels printed: numbered → printed (a manual-channel parcel,
    which gets its number from the carrier's label at the scan, goes from pending). An order moves
    ready → printed once every unit of it is in printed parcels. Reprints change nothing. Returns the
    parcels now printed; parcels that cannot be printed (no number, voided, shipped) are left out."""
    from orders.services import order_transition_locked

    ids = sorted(set(shipment_ids))
    order_ids = selectors.order_ids_in_shipments(shipment_ids=ids)
    orders = list(order_locks.orders_for_update(order_ids=order_ids))
    shipments = locks.shipments_for_update(shipment_ids=ids)
    now = timezone.now()
    printed: list[Shipment] = []
    for shipment in shipments:
        manual = shipment.channel.platform == "manual"
        if shipment.state == ShipmentState.PRINTED:
            printed.append(shipment)
            continue
        if not (shipment.state == ShipmentState.NUMBERED or (manual and shipment.state == ShipmentState.PENDING)):
            continue
        shipment.state = ShipmentState.PRINTED
        shipment.printed_at = now
        if actor is not None:
            shipment._history_user = actor
        shipment.save(update_fields=["state", "printed_at"])
        printed.append(shipment)
    for order in orders:
        if order.state == OrderState.READY and _fully_in(order, {ShipmentState.PRINTED, ShipmentState.SHIPPED}):
            order_transition_locked(
                order=order, name="mark_printed", actor=actor, note=wording("shipping.labels_printed")
            )
    _close_batches({s.batch_id for s in printed if s.batch_id}, now=now)
    return printed


def _fully_in(order: Order, states: set[str]) -> bool:
    """Every unit of the order is in live parcels, all of them in `states`."""
    live = list(selectors.live_shipments(order_id=order.pk).values_list("state", flat=True))
    if not live or any(state not in states for state in live):
        return False
    parcelled = selectors.parcelled_quantities(order_ids=[order.pk])
    return not _remaining(order, parcelled)


def _close_batches(batch_ids: set[int], *, now) -> None:
    for batch in PrintBatch.objects.filter(pk__in=batch_ids).exclude(state=PrintBatchState.PRINTED):
        waiting = batch.shipments.filter(state__in=[ShipmentState.PENDING, ShipmentState.NUMBERED]).exists()
        if not waiting:
            batch.state = PrintBatchState.PRINTED
            batch.printed_at = now
            batch.save(update_fields=["state", "printed_at"])


def order_parcel_states(*, order_id: int) -> dict[str, int]:
    """How many of an order's live parcels are in each state (for messages and the admin)."""
    counts: dict[str, int] = defaultdict(int)
    for state in selectors.live_shipments(order_id=order_id).values_list("state", flat=True):
        counts[state] += 1
    return dict(counts)


#: parcel states a refunded line can still be taken out of (it has not left the warehouse)
UNSHIPPED_STATES = (ShipmentState.PENDING, ShipmentState.NUMBERED, ShipmentState.PRINTED)


def parcels_drop_refunded_line(*, order: Order, line: OrderLine) -> list[Shipment]:
    """A line refunded before it left: take it out of every unshipped parcel of its (locked) order, so
    no pick list, packing slip or scan carries it. A parcel left with nothing in it is voided; one that
    had a number keeps it only as history (the number is never scanned again), and the order's event
    says which parcels changed, so a printed label or slip can be taken off the shelf. Returns the
    parcels changed. Runs inside the transaction that stored the refund."""
    from orders.services import order_event_record, order_transition_locked

    rows = list(
        ShipmentLine.objects.filter(order_line=line, shipment__state__in=UNSHIPPED_STATES).values_list(
            "shipment_id", flat=True
        )
    )
    shipments = locks.shipments_for_update(shipment_ids=rows)
    now = timezone.now()
    changed: list[Shipment] = []
    for shipment in shipments:
        if shipment.state not in UNSHIPPED_STATES:
            continue
        ShipmentLine.objects.filter(shipment=shipment, order_line=line).delete()
        if not shipment.lines.exists():
            numbered = bool(shipment.tracking_number) and shipment.channel.platform != "manual"
            shipment.state = ShipmentState.VOIDED
            shipment.voided_at = now
            shipment.failure_reason = gettext("Every line in it was refunded.")
            shipment.save(update_fields=["state", "voided_at", "failure_reason"])
            if numbered:  # give the unused number back to the platform once this is stored
                transaction.on_commit(lambda pk=shipment.pk: _enqueue_number_give_back(pk))
        changed.append(shipment)
    if changed:
        order_event_record(
            order=order,
            kind="parcel_line_removed",
            data={
                "line_id": line.pk,
                "sku_code": line.sku_code,
                "parcels": [
                    {"parcel_key": s.parcel_key, "tracking_number": s.tracking_number, "state": s.state}
                    for s in changed
                ],
            },
        )
    if order.state == OrderState.PARTIALLY_SHIPPED and _fully_in(
        order, {ShipmentState.SHIPPED, ShipmentState.DELIVERED}
    ):
        # what was still waiting was the refunded line: everything that ships has left
        order_transition_locked(order=order, name="ship", note=wording("shipping.rest_refunded"))
    return changed


def _enqueue_number_give_back(shipment_id: int) -> None:
    from django.conf import settings

    if not getattr(settings, "SHIPPING_ENQUEUE_TASKS", True):
        return
    try:
        from django_q.tasks import async_task

        async_task("shipping.tasks.give_back_number", shipment_id)
    except Exception:  # the broker being down must not fail the refund; the number just stays unused
        logger.warning("could not enqueue giving back the number of parcel %s", shipment_id, exc_info=True)


def parcel_number_give_back(*, shipment_id: int) -> bool:
    """Cancel the e-waybill number of a parcel voided because every line in it was refunded, so the
    platform returns it to the account's quota. Outside any transaction (a platform call). Idempotent:
    a number the platform already cancelled counts as given back. A number the carrier already
    collected, or that the platform refuses to cancel, raises an alert for a person (the parcel stays
    voided either way: it is never scanned or written back). Transport trouble raises
    `RetryableChannelError` for the task's retry. Returns whether the number is given back."""
    from orders.channels import get_adapter
    from orders.channels.base import ChannelError, WaybillErrorCode
    from orders.services import alert_raise

    shipment = Shipment.objects.select_related("channel", "carrier", "account").get(pk=shipment_id)
    if shipment.state != ShipmentState.VOIDED or not shipment.tracking_number or shipment.channel.platform == "manual":
        return False
    try:
        get_adapter(shipment.channel).waybill_cancel(
            carrier_code=shipment.carrier.code_on(shipment.channel.platform),
            tracking_number=shipment.tracking_number,
            branch_code=shipment.account.branch_code if shipment.account else "",
        )
    except ChannelError as exc:
        if exc.code == WaybillErrorCode.ALREADY_CANCELLED:
            return True
        if exc.retryable:
            raise
        alert_raise(
            key=f"waybill-give-back:{shipment.pk}",
            source="shipping",
            message=gettext("Number %(number)s of refunded parcel %(key)s could not be given back: %(reason)s")
            % {"number": shipment.tracking_number, "key": shipment.parcel_key, "reason": exc},
            channel=shipment.channel,
        )
        return False
    return True
