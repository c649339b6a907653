"""Dispatch: a parcel leaves the warehouse. One service for every way a parcel can leave.

- `parcel_dispatch` ships a parcel that is already identified and checked (the outbound scan calls it
  with the parcel's orders locked): stock of exactly the lines it carries is committed from their
  reservations, the parcel becomes shipped, its orders shipped (or partially shipped) and each order
  gets one write-back and one buyer-notice outbox row.
- `order_dispatch_with_waybill` is the second entry, for an order that left outside OrderHub's
  e-waybill flow with a carrier and a tracking number from a sheet (waybill sheet import): it finds or
  makes the parcel for the order's remaining lines (or the given lines), sets carrier and number (no
  e-waybill call) and then runs the same `parcel_dispatch`.

Parcels OrderHub already numbered for the order (numbered or printed with a platform e-waybill number)
are not silently replaced: the same carrier and number ships that very parcel (a carrier's pickup list
confirming OrderHub's own labels); another number is refused, naming the parcel, so a person voids the
OrderHub label (admin, "void and re-issue") or scans it instead. Voiding here would call the platform's
cancel API from inside an import row, and a label that may already be on a box is not ours to drop.
Unnumbered parcels of the order (pending, or a manual shop's printed parcel that waits for the
carrier's label number) are replaced: reused when they carry exactly what leaves, else voided (keys
never reused) and the units that stay behind re-planned into a new pending parcel.

Lock order as everywhere: orders → stock rows → shipments."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from orders import locks as order_locks
from orders.models import LineRefundState, Order, OrderState, PlatformStatus
from shipping import locks, selectors
from shipping.errors import DispatchRefused
from shipping.models import BuyerNotice, Carrier, Shipment, ShipmentLine, ShipmentState, WriteBack

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from shipping.models import ScannerDevice

#: orders whose remaining lines may leave by an imported waybill
DISPATCHABLE_STATES = (OrderState.READY, OrderState.PRINTED, OrderState.PARTIALLY_SHIPPED)
#: orders that already left (or came back): a sheet row for them is "already shipped"
DONE_STATES = (OrderState.SHIPPED, OrderState.DELIVERED, OrderState.RETURNED)
IMPORT_PERMISSION = "shipping.import_waybills"


def parcel_dispatch(
    *,
    shipment: Shipment,
    orders: list[Order],
    note: str,
    device: ScannerDevice | None = None,
    actor: AbstractBaseUser | None = None,
    data: dict[str, Any] | None = None,
) -> Shipment:
    """Ship an identified and checked parcel whose `orders` the caller holds locked (in its own
        transaction). Commits stock, moves parcel and orders, writes the outbox rows (write-back and notice
    per order, the parcel's tracking subscription). Returns the parcel."""
    from inventory.services import commit_for_lines
    from orders.services import order_transition_locked
    from shipping.services.tracking import tracking_subscription_open
    from shipping.services.writeback import enqueue_drain as enqueue_write_back_drain

    carried: dict[int, dict[int, int]] = defaultdict(dict)
    for line in ShipmentLine.objects.filter(shipment=shipment):
        carried[line.order_id][line.order_line_id] = line.quantity
    for order in orders:
        commit_for_lines(order=order, quantities=carried[order.pk], actor=actor, note=note)
    locks.shipment_for_update(shipment_id=shipment.pk)
    shipment.state = ShipmentState.SHIPPED
    shipment.shipped_at = timezone.now()
    shipment.shipped_by_device = device
    shipment.shipped_by_user = actor
    if actor is not None:
        shipment._history_user = actor
    shipment.save()
    tracking_subscription_open(shipment=shipment)
    event_data = {"shipment": shipment.pk, **(data or {})}
    if device is not None:
        event_data["device"] = device.pk
    for order in orders:
        if _all_shipped(order):
            name = "ship"
        elif order.state == OrderState.PRINTED:
            name = "ship_partially"
        else:
            name = ""  # a ready order partly shipped stays in the print queue for the rest
        if name:
            order_transition_locked(order=order, name=name, actor=actor, note=note, data=event_data)
        WriteBack.objects.create(shipment=shipment, order=order)
        BuyerNotice.objects.create(shipment=shipment, order=order, event=BuyerNotice.EVENT_SHIPPED)
    transaction.on_commit(enqueue_write_back_drain)
    return shipment


def _all_shipped(order: Order) -> bool:
    from shipping.services.parcels import _fully_in

    return _fully_in(order, {ShipmentState.SHIPPED})


# ---- second entry: a waybill from a sheet ---------------------------------------------------------
@transaction.atomic
def order_dispatch_with_waybill(
    *,
    order_id: int,
    carrier: Carrier,
    tracking_number: str,
    lines: dict[int, int] | None = None,
    actor: AbstractBaseUser | None = None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> Shipment:
    """Ship `order` (its remaining units, or `lines`: OrderLine id -> units) in a parcel carrying
    `carrier` + `tracking_number`, exactly as a scan would. Raises DispatchRefused (field "order",
    "tracking_number" or "lines") with nothing changed."""
    if actor is not None and not actor.has_perm(IMPORT_PERMISSION):
        raise DispatchRefused(gettext("You may not import waybills."), code="permission_denied")
    number = tracking_number.strip()
    if not number:
        raise DispatchRefused(
            gettext("The tracking number is missing."), code="number_missing", field="tracking_number"
        )
    # An OrderHub parcel with this very number may carry other orders too (合单): lock all of them
    # together, in pk order, as every other writer of a parcel does.
    numbered_here = (
        Shipment.objects.filter(selectors.LIVE, carrier=carrier, tracking_number=number, lines__order_id=order_id)
        .values_list("pk", flat=True)
        .first()
    )
    order_ids = {order_id}
    if numbered_here is not None:
        order_ids |= set(selectors.order_ids_in_shipments(shipment_ids=[numbered_here]))
    orders = list(order_locks.orders_for_update(order_ids=sorted(order_ids)))
    order = next((o for o in orders if o.pk == order_id), None)
    if order is None:
        raise DispatchRefused(gettext("Order %(id)s does not exist.") % {"id": order_id}, code="order_unknown")
    live = list(
        Shipment.objects.filter(selectors.LIVE, lines__order_id=order.pk)
        .distinct()
        .select_related("carrier", "channel")
        .order_by("pk")
    )
    same = next((s for s in live if s.carrier_id == carrier.pk and s.tracking_number == number), None)
    if same is not None and same.state != ShipmentState.SHIPPED and same.pk == numbered_here:
        return _dispatch_numbered(
            order=order, orders=orders, shipment=same, lines=lines, actor=actor, note=note, data=data
        )
    _refuse_taken_number(carrier=carrier, number=number)  # first: a re-imported sheet reports its numbers
    _refuse_unless_dispatchable(order)
    numbered = [s for s in live if s.state != ShipmentState.SHIPPED and s.tracking_number]
    if numbered:
        first = numbered[0]
        raise DispatchRefused(
            gettext(
                "Order %(order)s already has parcel %(key)s with number %(number)s from OrderHub: scan that "
                "parcel, or void its number in the admin before importing another one."
            )
            % {
                "order": order.external_id,
                "key": first.parcel_key,
                "number": f"{first.carrier.code} {first.tracking_number}",
            },
            code="order_has_numbered_parcel",
        )
    unnumbered = [s for s in live if s.state != ShipmentState.SHIPPED]
    shared = next((s for s in unnumbered if set(s.lines.values_list("order_id", flat=True)) != {order.pk}), None)
    if shared is not None:
        raise DispatchRefused(
            gettext("Order %(order)s is merged with other orders in parcel %(key)s: split or void that parcel first.")
            % {"order": order.external_id, "key": shared.parcel_key},
            code="order_in_merged_parcel",
        )
    shipped_units = _units(order=order, shipments=[s for s in live if s.state == ShipmentState.SHIPPED])
    remaining = {
        line.pk: line.quantity - shipped_units.get(line.pk, 0)
        for line in order.lines.all()
        if line.quantity - shipped_units.get(line.pk, 0) > 0
    }
    leaving = _leaving(order=order, remaining=remaining, lines=lines)
    shipment = _parcel_for(
        order=order, carrier=carrier, unnumbered=unnumbered, leaving=leaving, remaining=remaining, actor=actor
    )
    shipment.carrier = carrier
    shipment.tracking_number = number
    shipment.numbered_at = timezone.now()
    if shipment.account_id and shipment.account.carrier_id != carrier.pk:
        shipment.account = None  # not numbered by that e-waybill account
    if actor is not None:
        shipment._history_user = actor
    shipment.save()
    return parcel_dispatch(shipment=shipment, orders=[order], note=note, actor=actor, data=data)


def _dispatch_numbered(
    *,
    order: Order,
    orders: list[Order],
    shipment: Shipment,
    lines: dict[int, int] | None,
    actor: AbstractBaseUser | None,
    note: str,
    data: dict[str, Any] | None,
) -> Shipment:
    """The sheet names a number OrderHub issued for this order: ship that parcel (and every order it
    carries, all locked by the caller), as a scan would."""
    for each in orders:
        _refuse_unless_dispatchable(each)
    if shipment.state not in (ShipmentState.NUMBERED, ShipmentState.PRINTED):
        raise DispatchRefused(
            gettext("Parcel %(key)s is %(state)s: it cannot leave.")
            % {"key": shipment.parcel_key, "state": shipment.get_state_display()},
            code=f"parcel_{shipment.state}",
        )
    if lines is not None and lines != _units(order=order, shipments=[shipment]):
        raise DispatchRefused(
            gettext("Number %(number)s is OrderHub's parcel %(key)s, which carries other lines than this row.")
            % {"number": shipment.tracking_number, "key": shipment.parcel_key},
            code="lines_differ_from_parcel",
            field="lines",
        )
    return parcel_dispatch(shipment=shipment, orders=orders, note=note, actor=actor, data=data)


def _refuse_unless_dispatchable(order: Order) -> None:
    name = order.external_id
    if order.state == OrderState.CANCELLED:
        raise DispatchRefused(gettext("Order %(order)s is cancelled.") % {"order": name}, code="order_cancelled")
    if order.refund_requested or order.platform_status == PlatformStatus.REFUNDED:
        raise DispatchRefused(
            gettext("The buyer of order %(order)s asked for a refund: do not ship.") % {"order": name},
            code="order_refunded",
        )
    if order.state == OrderState.ON_HOLD:
        raise DispatchRefused(
            gettext("Order %(order)s is on hold (%(reason)s): do not ship.")
            % {"order": name, "reason": order.hold_reason or gettext("no reason given")},
            code="order_on_hold",
        )
    if order.state in DONE_STATES:
        raise DispatchRefused(
            gettext("Order %(order)s is already %(state)s.") % {"order": name, "state": order.get_state_display()},
            code="order_already_shipped",
        )
    if order.state not in DISPATCHABLE_STATES:
        raise DispatchRefused(
            gettext("Order %(order)s is %(state)s: its stock is not reserved yet, so it cannot ship.")
            % {"order": name, "state": order.get_state_display()},
            code="order_not_ready",
        )


def _refuse_taken_number(*, carrier: Carrier, number: str) -> None:
    taken = Shipment.objects.filter(carrier=carrier, tracking_number=number).select_related("channel").first()
    if taken is not None:
        orders = ", ".join(taken.lines.order_by("order_id").values_list("order__external_id", flat=True).distinct())
        raise DispatchRefused(
            gettext("Tracking number %(number)s of %(carrier)s is already on parcel %(key)s (order %(orders)s).")
            % {"number": number, "carrier": carrier.name, "key": taken.parcel_key, "orders": orders or "-"},
            code="number_taken",
            field="tracking_number",
        )


def _units(*, order: Order, shipments: list[Shipment]) -> dict[int, int]:
    """OrderLine id -> units of `order` carried by `shipments`."""
    units: dict[int, int] = defaultdict(int)
    for line_id, quantity in ShipmentLine.objects.filter(shipment__in=shipments, order=order).values_list(
        "order_line_id", "quantity"
    ):
        units[line_id] += quantity
    return dict(units)


def _leaving(*, order: Order, remaining: dict[int, int], lines: dict[int, int] | None) -> dict[int, int]:
    """What the parcel carries: every remaining unit, or the given lines checked against what remains."""
    if lines is None:
        leaving = dict(remaining)
    else:
        leaving = {}
        by_id = {line.pk: line for line in order.lines.all()}
        for line_id, quantity in lines.items():
            line = by_id.get(line_id)
            if line is None:
                raise DispatchRefused(
                    gettext("Line %(line)s is not on order %(order)s.") % {"line": line_id, "order": order.external_id},
                    code="line_not_on_order",
                    field="lines",
                )
            left = remaining.get(line_id, 0)
            if not 0 < quantity <= left:
                raise DispatchRefused(
                    gettext("%(sku)s: %(quantity)s units asked, only %(left)s of order %(order)s left to ship.")
                    % {
                        "sku": line.sku_code or line.platform_sku_id,
                        "quantity": quantity,
                        "left": left,
                        "order": order.external_id,
                    },
                    code="quantity_too_high",
                    field="lines",
                )
            leaving[line_id] = quantity
    if not leaving:
        raise DispatchRefused(
            gettext("Order %(order)s has nothing left to ship.") % {"order": order.external_id},
            code="order_already_shipped",
        )
    refunded = [
        line.sku_code or line.platform_sku_id
        for line in order.lines.filter(pk__in=leaving).exclude(refund_state=LineRefundState.NONE)
    ]
    if refunded:
        raise DispatchRefused(
            gettext("The buyer asked for a refund of %(skus)s on order %(order)s: do not ship it.")
            % {"skus": ", ".join(refunded), "order": order.external_id},
            code="line_refunded",
            field="lines",
        )
    return leaving


def _parcel_for(
    *,
    order: Order,
    carrier: Carrier,
    unnumbered: list[Shipment],
    leaving: dict[int, int],
    remaining: dict[int, int],
    actor: AbstractBaseUser | None,
) -> Shipment:
    """Reuse the order's one unnumbered parcel when it carries exactly `leaving`; else void the
    unnumbered ones, make the imported parcel and re-plan what stays behind into a pending parcel."""
    from shipping.services.parcels import _warehouse_id, next_parcel_key

    locked = locks.shipments_for_update(shipment_ids=[s.pk for s in unnumbered])
    for shipment in locked:
        if _units(order=order, shipments=[shipment]) == leaving:
            return shipment
    now = timezone.now()
    account_id = next((s.account_id for s in locked if s.account_id), None)
    for shipment in locked:
        shipment.state = ShipmentState.VOIDED
        shipment.voided_at = now
        shipment.failure_reason = gettext("Replaced by a parcel from a waybill sheet.")
        if actor is not None:
            shipment._history_user = actor
        shipment.save(update_fields=["state", "voided_at", "failure_reason"])
    first = locked[0] if locked else None
    warehouse_id = first.warehouse_id if first else _warehouse_id([order.pk])
    shipment = Shipment.objects.create(
        parcel_key=next_parcel_key(order_id=order.pk),
        channel_id=order.channel_id,
        carrier_id=carrier.pk,
        warehouse_id=warehouse_id,
    )
    ShipmentLine.objects.bulk_create(
        ShipmentLine(shipment=shipment, order=order, order_line_id=line_id, quantity=quantity)
        for line_id, quantity in sorted(leaving.items())
    )
    if locked:
        stay = {k: v - leaving.get(k, 0) for k, v in remaining.items() if v - leaving.get(k, 0) > 0}
        if stay:
            rest = Shipment.objects.create(
                parcel_key=next_parcel_key(order_id=order.pk),
                channel_id=order.channel_id,
                account_id=account_id,
                carrier_id=first.carrier_id,
                warehouse_id=warehouse_id,
            )
            ShipmentLine.objects.bulk_create(
                ShipmentLine(shipment=rest, order=order, order_line_id=line_id, quantity=quantity)
                for line_id, quantity in sorted(stay.items())
            )
    return shipment
