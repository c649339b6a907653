"""Returns (RMA, 退货): goods of shipped order lines coming back to the warehouse.

Opened when a shipped line's refund is requested or completed on the platform (the
`orders.signals.line_refund_changed` receiver, inside the ingest's transaction) or by ops for chosen
lines; a withdrawn request cancels a platform-opened return that has received nothing. Received by
the scanner (`POST /api/v1/scans/return`) or the admin, per item and condition:

- resellable: a `return` stock movement at the receiving warehouse, through the same ledger path as
  any inbound (inventory.services.movement_record_in_transaction), so every listing of the SKU is
  pushed the new figure and waiting orders are served from it;
- damaged: an entry in the warehouse's quarantine location (inventory.QuarantineEntry), which is not
  sellable: no stock level, push or waiting order moves.

Receiving is idempotent by return + item + condition + request key (the scanner's Idempotency-Key,
or the admin form's own key): a replay answers the same and stores nothing. More than expected is
refused. The order becomes `returned` when every unit that left in its parcels came back (either
condition) and it is shipped or delivered; a partial return leaves the order as it is (docs/shipping.md).

Lock order: order → return → stock rows (inventory) → quarantine rows.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from orders import locks as order_locks
from orders.models import LineRefundState, Order, OrderLine, OrderState
from orders.texts import wording
from shipping import locks, return_selectors
from shipping.errors import ReturnInvalid, ReturnNotFound, ReturnRefused
from shipping.models import (
    Return,
    ReturnCondition,
    ReturnItem,
    ReturnReceipt,
    ReturnSource,
    ReturnState,
    ScannerDevice,
    ScanRecord,
    ShipmentLine,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from inventory.models import Warehouse

#: Crockford's base-32 digits: no I, L, O or U, so a number read aloud or typed is not misread
NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NUMBER_PREFIX = "RMA"
#: the ledger's and the quarantine's source for units received back
RETURN_SOURCE = "return"


def new_return_number() -> str:
    """`RMA` + 8 base-32 digits: short, upper-case, Code 128 friendly, and not guessable."""
    return NUMBER_PREFIX + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))


def normalize_reference(reference: str) -> str:
    return reference.strip().upper()


# ---- opening -------------------------------------------------------------------------------------
@transaction.atomic
def return_open(
    *,
    order_id: int,
    quantities: dict[int, int],
    actor: AbstractBaseUser | None = None,
    platform_refund_id: str = "",
    note: str = "",
) -> Return:
    """Ops open a return for chosen lines of a shipped order (OrderLine id -> units expected back).
    Raises ReturnInvalid (nothing stored) for a line of another order, or more units than left in
    shipped parcels and are not already expected back."""
    order = order_locks.order_for_update(order_id=order_id)
    wanted = {line_id: qty for line_id, qty in quantities.items() if qty}
    if not wanted:
        raise ReturnInvalid(gettext("Choose at least one line and how many units come back."), field="lines")
    lines = {line.pk: line for line in OrderLine.objects.filter(order=order, pk__in=list(wanted))}
    unknown = sorted(set(wanted) - set(lines))
    if unknown:
        raise ReturnInvalid(
            gettext("Line(s) %(lines)s are not lines of order %(order)s.")
            % {"lines": ", ".join(map(str, unknown)), "order": order.external_id},
            field="lines",
        )
    room = _room(line_ids=list(wanted))
    for line_id, qty in sorted(wanted.items()):
        if qty < 0 or qty > room.get(line_id, 0):
            raise ReturnInvalid(
                gettext("%(line)s: %(n)s unit(s) shipped and not yet expected back; %(asked)s asked.")
                % {"line": lines[line_id], "n": room.get(line_id, 0), "asked": qty},
                field="lines",
            )
    return _create(
        order=order,
        quantities=wanted,
        source=ReturnSource.ADMIN,
        actor=actor,
        platform_refund_id=platform_refund_id,
        note=note,
    )


def _room(*, line_ids: list[int]) -> dict[int, int]:
    """OrderLine id -> units shipped that no (non-cancelled) return covers yet."""
    shipped = return_selectors.shipped_quantities(order_line_ids=line_ids)
    covered = return_selectors.expected_back(order_line_ids=line_ids)
    return {line_id: units - covered.get(line_id, 0) for line_id, units in shipped.items()}


def _create(
    *,
    order: Order,
    quantities: dict[int, int],
    source: str,
    actor: AbstractBaseUser | None,
    platform_refund_id: str = "",
    note: str = "",
) -> Return:
    skus, warehouse_id = _skus_and_warehouse(order=order, line_ids=list(quantities))
    rma = Return(
        order=order,
        warehouse_id=warehouse_id,
        source=source,
        platform_refund_id=platform_refund_id[:64],
        note=note,
        created_by=actor,
    )
    if actor is not None:
        rma._history_user = actor
    for _attempt in range(5):  # 32⁸ numbers: a clash is all but impossible, and then retried
        rma.number = new_return_number()
        if not Return.objects.filter(number=rma.number).exists():
            break
    rma.save()
    for line_id, qty in sorted(quantities.items()):
        item = ReturnItem(rma=rma, order_line_id=line_id, sku_id=skus.get(line_id), expected_quantity=qty)
        if actor is not None:
            item._history_user = actor
        item.save()
    return rma


def _skus_and_warehouse(*, order: Order, line_ids: list[int]) -> tuple[dict[int, int], int | None]:
    """The SKU that left for each line (its committed reservation, else the line's mapping) and the
    warehouse the goods left from (where they are expected back)."""
    from inventory.models import ReservationState, StockReservation
    from inventory.selectors import sku_ids_for_lines

    skus: dict[int, int] = {}
    for line_id, sku_id in (
        StockReservation.objects.filter(order_line_id__in=line_ids, state=ReservationState.COMMITTED)
        .order_by("pk")
        .values_list("order_line_id", "sku_id")
    ):
        skus.setdefault(line_id, sku_id)
    missing = [line_id for line_id in line_ids if line_id not in skus]
    if missing:
        skus.update(sku_ids_for_lines(channel_id=order.channel_id, lines=OrderLine.objects.filter(pk__in=missing)))
    warehouse_id = (
        ShipmentLine.objects.filter(order_line_id__in=line_ids, shipment__state__in=return_selectors.LEFT_STATES)
        .exclude(shipment__warehouse__isnull=True)
        .order_by("shipment_id")
        .values_list("shipment__warehouse_id", flat=True)
        .first()
    )
    return skus, warehouse_id


# ---- following the platform ------------------------------------------------------------------------
def return_follow_line_refund(*, order: Order, line: OrderLine, current: str) -> Return | None:
    """A line's refund state changed on the platform (called by the signal receiver, inside the
    transaction that stored it, with the order locked). Requested or refunded: open one return for
    the units of the line that left and no return covers yet (none if an open return already covers
    the line, or nothing shipped). Withdrawn (none): cancel platform-opened returns of the line that
    have received nothing. Returns the return opened, if any."""
    with transaction.atomic(savepoint=False):
        if current in (LineRefundState.REQUESTED, LineRefundState.REFUNDED):
            if return_selectors.open_returns_of_line(order_line_id=line.pk):
                return None
            units = _room(line_ids=[line.pk]).get(line.pk, 0)
            if units <= 0:
                return None
            note = gettext("After-sale on the platform: %(state)s (%(code)s).") % {
                "state": LineRefundState(current).label,
                "code": line.refund_status or "-",
            }
            return _create(
                order=order, quantities={line.pk: units}, source=ReturnSource.PLATFORM, actor=None, note=note
            )
        if current == LineRefundState.NONE:
            for rma in return_selectors.open_returns_of_line(order_line_id=line.pk):
                if rma.source == ReturnSource.PLATFORM and rma.state == ReturnState.EXPECTED:
                    _cancel(rma=locks.return_for_update(return_id=rma.pk), actor=None)
        return None


def _cancel(*, rma: Return, actor: AbstractBaseUser | None) -> None:
    rma.state = ReturnState.CANCELLED
    rma.closed_at = timezone.now()
    if actor is not None:
        rma._history_user = actor
    rma.save(update_fields=["state", "closed_at"])


@transaction.atomic
def return_cancel(*, return_id: int, actor: AbstractBaseUser | None) -> Return:
    """Ops: nothing will come back (only a return that has received nothing)."""
    order_id = Return.objects.filter(pk=return_id).values_list("order_id", flat=True).get()
    order_locks.order_for_update(order_id=order_id)
    rma = locks.return_for_update(return_id=return_id)
    if rma.state != ReturnState.EXPECTED:
        raise ReturnRefused(
            gettext("Return %(number)s is %(state)s: only an expected return can be cancelled.")
            % {"number": rma.number, "state": rma.get_state_display()},
            code="return_not_expected",
        )
    _cancel(rma=rma, actor=actor)
    return rma


@transaction.atomic
def return_close(*, return_id: int, actor: AbstractBaseUser | None) -> Return:
    """Ops: what came back is all that will (a received or partly received return). A closed return
    takes no more goods; what it did not get back may be expected in a new return."""
    order_id = Return.objects.filter(pk=return_id).values_list("order_id", flat=True).get()
    order_locks.order_for_update(order_id=order_id)
    rma = locks.return_for_update(return_id=return_id)
    if rma.state not in (ReturnState.PARTLY_RECEIVED, ReturnState.RECEIVED):
        raise ReturnRefused(
            gettext("Return %(number)s is %(state)s: only a received return can be closed.")
            % {"number": rma.number, "state": rma.get_state_display()},
            code="return_not_received",
        )
    rma.state = ReturnState.CLOSED
    rma.closed_at = timezone.now()
    if actor is not None:
        rma._history_user = actor
    rma.save(update_fields=["state", "closed_at"])
    return rma


# ---- receiving -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReturnedUnits:
    """Units of one item that came back in one condition: the item named by id (admin) or by the
    barcode (or merchant code) of its SKU (scanner)."""

    condition: str
    quantity: int
    item_id: int | None = None
    barcode: str = ""


@dataclass
class ReceiveAnswer:
    body: dict[str, Any]
    replayed: bool = False


def return_receive(
    *,
    reference: str,
    units: list[ReturnedUnits],
    warehouse: Warehouse,
    request_key: str = "",
    device: ScannerDevice | None = None,
    actor: AbstractBaseUser | None = None,
) -> ReceiveAnswer:
    """Receive returned goods into `warehouse`. Raises ReturnNotFound (404), ReturnRefused (409: closed
    or cancelled return, wrong item, more than expected, key reused for other goods), nothing stored.
    Without a `request_key` every call is a new receipt."""
    request_key = request_key or f"once:{uuid.uuid4().hex}"
    try:
        return _receive(
            reference=reference, units=units, warehouse=warehouse, request_key=request_key, device=device, actor=actor
        )
    except IntegrityError:
        # the same request committed first in another transaction: answer what it stored
        answer = _replayed(reference=reference, units=units, request_key=request_key)
        if answer is None:
            raise ReturnRefused(
                gettext("The return changed while it was received: scan it again."), code="conflict"
            ) from None
        return answer


@transaction.atomic
def _receive(
    *,
    reference: str,
    units: list[ReturnedUnits],
    warehouse: Warehouse,
    request_key: str,
    device: ScannerDevice | None,
    actor: AbstractBaseUser | None,
) -> ReceiveAnswer:
    found = Return.objects.filter(number=normalize_reference(reference)).values_list("pk", "order_id").first()
    if found is None:
        raise ReturnNotFound(reference)
    order = order_locks.order_for_update(order_id=found[1])
    rma = locks.return_for_update(return_id=found[0])
    rma.order = order  # one instance: the answer shows the state this receipt leaves it in
    items = list(rma.items.select_related("sku", "order_line").order_by("pk"))
    asked = _assign(rma=rma, items=items, units=units)
    answer = _replay_of(rma=rma, asked=asked, request_key=request_key)
    if answer is not None:
        return answer
    if not rma.is_open:
        raise ReturnRefused(
            gettext("Return %(number)s is %(state)s: it takes no more goods.")
            % {"number": rma.number, "state": rma.get_state_display()},
            code=f"return_{rma.state}",
        )
    by_id = {item.pk: item for item in items}
    _refuse_over_receipt(rma=rma, by_id=by_id, asked=asked)
    for (item_id, condition), quantity in sorted(asked.items()):
        _book(
            rma=rma,
            item=by_id[item_id],
            condition=condition,
            quantity=quantity,
            warehouse=warehouse,
            request_key=request_key,
            device=device,
            actor=actor,
        )
    _settle_state(rma=rma, items=items, actor=actor)
    _mark_order_returned_when_all_back(order=order, rma=rma, actor=actor)
    return ReceiveAnswer(body=return_selectors.return_summary(rma=rma))


def _assign(*, rma: Return, items: list[ReturnItem], units: list[ReturnedUnits]) -> dict[tuple[int, str], int]:
    """(item id, condition) -> units: each request line's item, by id or by its SKU's barcode/code.
    Several items of one SKU are filled in order, each up to what it still expects."""
    if not units:
        raise ReturnRefused(gettext("Nothing to receive: name at least one item."), code="no_items")
    asked: dict[tuple[int, str], int] = defaultdict(int)
    by_id = {item.pk: item for item in items}
    for entry in units:
        if entry.condition not in ReturnCondition.values:
            raise ReturnRefused(
                gettext("Unknown condition %(condition)s.") % {"condition": entry.condition}, code="bad_condition"
            )
        if entry.quantity <= 0:
            continue
        if entry.item_id is not None:
            if entry.item_id not in by_id:
                raise _wrong_item(rma, str(entry.item_id))
            asked[(entry.item_id, entry.condition)] += entry.quantity
            continue
        matching = [item for item in items if _answers_to(item, entry.barcode.strip())]
        if not matching:
            raise _wrong_item(rma, entry.barcode)
        left = entry.quantity
        for item in matching:
            already = sum(q for (item_id, _c), q in asked.items() if item_id == item.pk)
            take = min(left, max(0, item.outstanding - already))
            if item is matching[-1]:
                take = left  # the last one takes the rest: too many is refused with its figures
            if take:
                asked[(item.pk, entry.condition)] += take
                left -= take
            if not left:
                break
    if not asked:
        raise ReturnRefused(gettext("Nothing to receive: every quantity is zero."), code="no_items")
    return dict(asked)


def _answers_to(item: ReturnItem, code: str) -> bool:
    if not code:
        return False
    if item.sku_id:
        return code in (item.sku.barcode, item.sku.code)
    return code == item.order_line.sku_code


def _wrong_item(rma: Return, code: str) -> ReturnRefused:
    return ReturnRefused(
        gettext("Wrong item: %(code)s is not expected back in return %(number)s.")
        % {"code": code, "number": rma.number},
        code="wrong_item",
        data={"barcode": code},
    )


def _replay_of(*, rma: Return, asked: dict[tuple[int, str], int], request_key: str) -> ReceiveAnswer | None:
    """The stored answer when this request key already received these goods. Compared per SKU and
    condition: a replay may spread units of one SKU over its items differently than the first time."""
    receipts = ReturnReceipt.objects.filter(rma=rma, request_key=request_key)
    stored: dict[tuple[int, str], int] = defaultdict(int)
    for sku_id, condition, quantity in receipts.values_list("item__sku_id", "condition", "quantity"):
        stored[(sku_id, condition)] += quantity
    if not stored:
        return None
    sku_of = dict(rma.items.values_list("pk", "sku_id"))
    again: dict[tuple[int, str], int] = defaultdict(int)
    for (item_id, condition), quantity in asked.items():
        again[(sku_of[item_id], condition)] += quantity
    if stored != again:
        raise ReturnRefused(
            gettext("This request key was already used to receive other goods."), code="idempotency_key_reused"
        )
    return ReceiveAnswer(body=return_selectors.return_summary(rma=rma), replayed=True)


def _replayed(*, reference: str, units: list[ReturnedUnits], request_key: str) -> ReceiveAnswer | None:
    rma = Return.objects.filter(number=normalize_reference(reference)).select_related("order").first()
    if rma is None:
        return None
    items = list(rma.items.select_related("sku", "order_line").order_by("pk"))
    try:
        asked = _assign(rma=rma, items=items, units=units)
    except ReturnRefused:
        return None
    return _replay_of(rma=rma, asked=asked, request_key=request_key)


def _refuse_over_receipt(*, rma: Return, by_id: dict[int, ReturnItem], asked: dict[tuple[int, str], int]) -> None:
    per_item: dict[int, int] = defaultdict(int)
    for (item_id, _condition), quantity in asked.items():
        per_item[item_id] += quantity
    for item_id, quantity in sorted(per_item.items()):
        item = by_id[item_id]
        if quantity > item.outstanding:
            raise ReturnRefused(
                gettext(
                    "Too many: return %(number)s expects %(expected)s of %(sku)s, %(received)s already came back, "
                    "so %(asked)s more cannot be received."
                )
                % {
                    "number": rma.number,
                    "expected": item.expected_quantity,
                    "sku": item.sku.code if item.sku_id else item.order_line.sku_code,
                    "received": item.received,
                    "asked": quantity,
                },
                code="over_received",
                data={"item": item.pk, "outstanding": item.outstanding},
            )
        if item.sku_id is None:
            raise ReturnRefused(
                gettext("%(line)s matches no SKU: map it to a SKU before receiving it.") % {"line": item.order_line},
                code="sku_unmatched",
            )


def _book(
    *,
    rma: Return,
    item: ReturnItem,
    condition: str,
    quantity: int,
    warehouse: Warehouse,
    request_key: str,
    device: ScannerDevice | None,
    actor: AbstractBaseUser | None,
) -> ReturnReceipt:
    """One receipt: its stock movement (resellable) or quarantine entry (damaged), and the item's count."""
    from inventory.errors import InventoryError
    from inventory.services import movement_record_in_transaction, quarantine_record_in_transaction

    receipt = ReturnReceipt.objects.create(
        rma=rma,
        item=item,
        condition=condition,
        quantity=quantity,
        warehouse=warehouse,
        request_key=request_key[:128],
        device=device,
        actor=actor,
    )
    reference = f"{rma.number}:{receipt.pk}"
    note = wording("shipping.return_of_order", number=rma.number, order=rma.order.external_id)
    try:
        if condition == ReturnCondition.RESELLABLE:
            result = movement_record_in_transaction(
                warehouse_code=warehouse.code,
                sku_code=item.sku.code,
                kind="return",
                quantity=quantity,
                reference=reference,
                source=RETURN_SOURCE,
                actor=actor,
                note=note,
                order_id=rma.order_id,
            )
            receipt.movement = result.movement
            item.received_resellable += quantity
        else:
            receipt.quarantine = quarantine_record_in_transaction(
                warehouse=warehouse,
                sku=item.sku,
                quantity=quantity,
                source=RETURN_SOURCE,
                reference=reference,
                order_id=rma.order_id,
                actor=actor,
                note=note,
            )
            item.received_damaged += quantity
    except InventoryError as exc:
        raise ReturnRefused(str(exc), code="stock_refused") from exc
    receipt.save(update_fields=["movement", "quarantine"])
    if actor is not None:
        item._history_user = actor
    item.save(update_fields=["received_resellable", "received_damaged"])
    return receipt


def _settle_state(*, rma: Return, items: list[ReturnItem], actor: AbstractBaseUser | None) -> None:
    everything = all(item.outstanding == 0 for item in items)
    state = ReturnState.RECEIVED if everything else ReturnState.PARTLY_RECEIVED
    fields = []
    if state != rma.state:
        rma.state = state
        fields.append("state")
    if everything and rma.received_at is None:
        rma.received_at = timezone.now()
        fields.append("received_at")
    if fields:
        if actor is not None:
            rma._history_user = actor
        rma.save(update_fields=fields)


def _mark_order_returned_when_all_back(*, order: Order, rma: Return, actor: AbstractBaseUser | None) -> None:
    """Every unit that left in the order's parcels came back (any return, either condition): the
    order is `returned`. A partial return leaves it shipped/delivered (its returns show what is back)."""
    from orders.services import order_transition_locked

    if order.state not in (OrderState.SHIPPED, OrderState.DELIVERED):
        return
    line_ids = list(order.lines.values_list("pk", flat=True))
    shipped = return_selectors.shipped_quantities(order_line_ids=line_ids)
    back = return_selectors.returned_quantities(order_id=order.pk)
    if not shipped or any(back.get(line_id, 0) < units for line_id, units in shipped.items()):
        return
    # the receiver's permission is receive_return, checked by the endpoint or the admin; the order's
    # own transition permission (ship_order) is the warehouse's, not necessarily theirs
    who = actor.get_username() if actor is not None else ""
    order_transition_locked(
        order=order,
        name="mark_returned",
        actor=None,
        note=wording("shipping.all_came_back", number=rma.number),
        data={"return": rma.number, "user": who},
    )


# ---- the scanner -------------------------------------------------------------------------------------
def scan_return(
    *, device: ScannerDevice, reference: str, units: list[ReturnedUnits], idempotency_key: str
) -> ReceiveAnswer:
    """退货入库 by a PDA: receive into the scanner's warehouse. The Idempotency-Key is required (a
    receipt adds units, so a blind retry must not add them twice); a replay answers the stored body."""
    request = {
        "reference": normalize_reference(reference),
        "items": [{"barcode": u.barcode, "condition": u.condition, "quantity": u.quantity} for u in units],
    }
    stored = _stored_scan(device=device, key=idempotency_key, request=request)
    if stored is not None:
        return stored
    try:
        with transaction.atomic():
            answer = return_receive(
                reference=reference,
                units=units,
                warehouse=device.warehouse,
                request_key=f"scan:{device.pk}:{idempotency_key}",
                device=device,
            )
            ScanRecord.objects.create(
                device=device,
                idempotency_key=idempotency_key,
                kind="return",
                request=request,
                response_status=200,
                response=answer.body,
            )
            ScannerDevice.objects.filter(pk=device.pk).update(last_used_at=timezone.now())
    except IntegrityError:
        stored = _stored_scan(device=device, key=idempotency_key, request=request)
        if stored is None:
            raise ReturnRefused(
                gettext("The return changed while it was received: scan it again."), code="conflict"
            ) from None
        return stored
    return answer


def _stored_scan(*, device: ScannerDevice, key: str, request: dict) -> ReceiveAnswer | None:
    record = ScanRecord.objects.filter(device=device, idempotency_key=key).first()
    if record is None:
        return None
    if record.kind != "return" or record.request != request:
        raise ReturnRefused(
            gettext("This Idempotency-Key was already used for a different scan."), code="idempotency_key_reused"
        )
    return ReceiveAnswer(body=record.response, replayed=True)
