"""Warehouse scanners: device tokens, the item check (扫描验货) and the outbound scan.

An outbound scan ships one parcel in one transaction: the parcel, its orders (shipped, or partially
shipped while other parcels wait), the stock of exactly the lines it carries, and the write-back
and buyer-notice outbox rows (shipping.services.dispatch, shared with the waybill sheet import).
A retry (same Idempotency-Key, or a parcel already shipped) answers the same and changes nothing;
concurrent scans of one parcel queue on the order rows."""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from orders import locks as order_locks
from orders.models import Order, OrderState, PlatformStatus
from shipping import locks, selectors
from shipping.errors import ItemCheckFailed, ParcelNotFound, ScanForbidden, ScanInputInvalid, ScanRefused
from shipping.models import (
    ScannerDevice,
    ScanRecord,
    Shipment,
    ShipmentState,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from inventory.models import Warehouse

TOKEN_PREFIX = "ohs_"


# ---- devices -------------------------------------------------------------------------------------
def token_hash(token: str) -> str:
    """Tokens are 256 random bits, so one SHA-256 is enough (no password stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def scanner_device_create(
    *, name: str, warehouse: Warehouse, actor: AbstractBaseUser | None = None
) -> tuple[ScannerDevice, str]:
    """A new PDA for one warehouse. Returns the device and its token, which exists only in this answer."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = ScannerDevice(
        name=name,
        warehouse=warehouse,
        token_prefix=token[: len(TOKEN_PREFIX) + 8],
        token_hash=token_hash(token),
        created_by=actor,
    )
    if actor is not None:
        device._history_user = actor
    device.save()
    return device, token


@transaction.atomic
def scanner_device_revoke(*, device_id: int, actor: AbstractBaseUser | None = None) -> ScannerDevice:
    device = locks.device_for_update(device_id=device_id)
    if device.revoked_at is None:
        device.revoked_at = timezone.now()
        if actor is not None:
            device._history_user = actor
        device.save(update_fields=["revoked_at"])
    return device


def scanner_device_for_token(token: str) -> ScannerDevice | None:
    """The device a token belongs to (revoked ones included: the caller answers 403 for those)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return ScannerDevice.objects.select_related("warehouse").filter(token_hash=token_hash(token)).first()


# ---- finding the parcel --------------------------------------------------------------------------
def _find_parcel(*, code: str, label_number: str) -> Shipment:
    shipment = selectors.shipment_for_code(code=code)
    if shipment is not None:
        return shipment
    candidates = selectors.shipments_for_order_barcode(code=code)
    if not candidates:
        raise ParcelNotFound(code)
    if label_number:
        labelled = [s for s in candidates if s.tracking_number == label_number]
        if labelled:
            return labelled[0]
        candidates = [s for s in candidates if not s.tracking_number]
    open_ones = [s for s in candidates if s.state != ShipmentState.SHIPPED]
    if len(candidates) == 1:
        return candidates[0]
    if len(open_ones) == 1 and not label_number:
        return open_ones[0]
    if not open_ones and candidates:
        return candidates[0]
    raise ScanRefused(
        gettext("This order travels in several parcels: scan each parcel's label instead."), code="several_parcels"
    )


# ---- item check ------------------------------------------------------------------------------------
def _sku_ids_for_barcodes(barcodes: list[str]) -> dict[str, int | None]:
    from django.db.models import Q

    from inventory.models import Sku

    wanted = {b.strip() for b in barcodes if b.strip()}
    found: dict[str, int | None] = dict.fromkeys(wanted)
    for pk, code, barcode in Sku.objects.filter(Q(barcode__in=wanted) | Q(code__in=wanted)).values_list(
        "pk", "code", "barcode"
    ):
        for key in (barcode, code):
            if key in found and found[key] is None:
                found[key] = pk
    return found


def _check_items(*, shipment: Shipment, barcodes: list[str], require_complete: bool) -> dict[str, int]:
    """Add `barcodes` to the parcel's checked items; refuse a wrong or extra item (nothing stored).
    Returns the new checked counts by Sku id (as strings, JSON keys)."""
    from inventory.models import Sku

    expected = selectors.expected_items(shipment=shipment)
    checked: dict[str, int] = defaultdict(int, {str(k): int(v) for k, v in (shipment.item_check or {}).items()})
    mapping = _sku_ids_for_barcodes(barcodes)
    for barcode in barcodes:
        sku_id = mapping.get(barcode.strip())
        if sku_id is None or sku_id not in expected:
            raise ItemCheckFailed(
                gettext("Wrong item: %(barcode)s does not belong in this parcel.") % {"barcode": barcode},
                code="wrong_item",
                field="items",
                data={"barcode": barcode},
            )
        checked[str(sku_id)] += 1
        if checked[str(sku_id)] > expected[sku_id]:
            raise ItemCheckFailed(
                gettext("Extra item: the parcel holds only %(count)s of %(barcode)s.")
                % {"count": expected[sku_id], "barcode": barcode},
                code="extra_item",
                field="items",
                data={"barcode": barcode},
            )
    if require_complete:
        missing = {sku_id: qty - checked.get(str(sku_id), 0) for sku_id, qty in expected.items()}
        missing = {k: v for k, v in missing.items() if v > 0}
        if missing:
            codes = dict(Sku.objects.filter(pk__in=missing).values_list("pk", "code"))
            listing = ", ".join(f"{codes[k]} × {v}" for k, v in sorted(missing.items()))
            raise ItemCheckFailed(
                gettext("Items missing from the parcel: %(items)s.") % {"items": listing},
                code="items_missing",
                field="items",
                data={"missing": {codes[k]: v for k, v in missing.items()}},
            )
    return dict(checked)


def item_check_progress(*, shipment: Shipment) -> dict[str, Any]:
    from inventory.models import Sku

    expected = selectors.expected_items(shipment=shipment)
    checked = {int(k): int(v) for k, v in (shipment.item_check or {}).items()}
    codes = dict(Sku.objects.filter(pk__in=expected).values_list("pk", "code"))
    return {
        "parcel": shipment.pk,
        "expected": {codes[k]: v for k, v in sorted(expected.items())},
        "checked": {codes[k]: v for k, v in sorted(checked.items()) if k in codes},
        "complete": all(checked.get(k, 0) >= v for k, v in expected.items()),
    }


@transaction.atomic
def scan_items(*, device: ScannerDevice, code: str, barcodes: list[str]) -> dict[str, Any]:
    """扫描验货 before the parcel scan: record the item barcodes scanned into a parcel, refusing a
    wrong or extra item with nothing stored. Returns what is expected and checked so far."""
    found = _find_parcel(code=code, label_number="")
    if found.warehouse_id and found.warehouse_id != device.warehouse_id:
        raise ScanForbidden(gettext("This parcel ships from another warehouse."))
    _lock_orders_of(found)
    shipment = locks.shipment_for_update(shipment_id=found.pk)
    if shipment.state in (ShipmentState.SHIPPED, ShipmentState.VOIDED):
        raise ScanRefused(
            gettext("Parcel %(number)s is %(state)s: nothing to check.")
            % {"number": shipment.tracking_number or shipment.parcel_key, "state": shipment.get_state_display()},
            code=f"parcel_{shipment.state}",
        )
    shipment.item_check = _check_items(shipment=shipment, barcodes=barcodes, require_complete=False)
    shipment.save(update_fields=["item_check"])
    return item_check_progress(shipment=shipment)


def _lock_orders_of(shipment: Shipment) -> list[Order]:
    order_ids = selectors.order_ids_in_shipments(shipment_ids=[shipment.pk])
    return list(order_locks.orders_for_update(order_ids=order_ids))  # the order rows only, not their shops


# ---- outbound scan ---------------------------------------------------------------------------------
@dataclass
class ScanAnswer:
    body: dict[str, Any]
    replayed: bool = False


def scan_outbound(
    *,
    device: ScannerDevice,
    code: str,
    label_number: str = "",
    item_barcodes: list[str] | None = None,
    idempotency_key: str = "",
) -> ScanAnswer:
    """Ship the parcel the scanned code names. Raises ParcelNotFound (404), ScanForbidden (403),
    ScanRefused / ItemCheckFailed (409, 400 for a missing label number), with nothing changed."""
    request = {"code": code, "label_number": label_number, "items": list(item_barcodes or [])}
    if idempotency_key:
        stored = _stored_answer(device=device, key=idempotency_key, request=request)
        if stored is not None:
            return stored
    try:
        return _scan_outbound(
            device=device,
            code=code,
            label_number=label_number,
            item_barcodes=list(item_barcodes or []),
            idempotency_key=idempotency_key,
            request=request,
        )
    except IntegrityError:
        # A concurrent scan under the same key committed first: answer what it answered.
        stored = _stored_answer(device=device, key=idempotency_key, request=request) if idempotency_key else None
        if stored is None:  # e.g. the same label number bound to another parcel at the same moment
            raise ScanRefused(
                gettext("The parcel changed while it was scanned: scan it again."), code="conflict"
            ) from None
        return stored


def _stored_answer(*, device: ScannerDevice, key: str, request: dict) -> ScanAnswer | None:
    record = ScanRecord.objects.filter(device=device, idempotency_key=key).first()
    if record is None:
        return None
    if record.request != request:
        raise ScanRefused(
            gettext("This Idempotency-Key was already used for a different scan."), code="idempotency_key_reused"
        )
    return ScanAnswer(body=record.response, replayed=True)


@transaction.atomic
def _scan_outbound(
    *,
    device: ScannerDevice,
    code: str,
    label_number: str,
    item_barcodes: list[str],
    idempotency_key: str,
    request: dict,
) -> ScanAnswer:
    from shipping.services.dispatch import parcel_dispatch

    found = _find_parcel(code=code, label_number=label_number)
    if found.warehouse_id and found.warehouse_id != device.warehouse_id:
        raise ScanForbidden(gettext("This parcel ships from another warehouse."))
    # Lock order: orders → stock rows → the shipment. Every writer of a parcel locks its orders first,
    # so the parcel read fresh under the order locks cannot change before its own lock below.
    orders = _lock_orders_of(found)
    shipment = Shipment.objects.select_related("carrier", "channel").get(pk=found.pk)
    replayed = shipment.state == ShipmentState.SHIPPED
    if not replayed:
        _refuse_unless_shippable(shipment=shipment, orders=orders)
        _bind_label(shipment=shipment, label_number=label_number)
        if item_barcodes or shipment.item_check:
            shipment.item_check = _check_items(shipment=shipment, barcodes=item_barcodes, require_complete=True)
        note = gettext("scanned out by %(device)s, parcel %(number)s") % {
            "device": device.name,
            "number": shipment.tracking_number,
        }
        parcel_dispatch(shipment=shipment, orders=orders, note=note, device=device)
    body = selectors.shipment_summary(shipment=shipment)
    if idempotency_key:
        ScanRecord.objects.create(
            device=device,
            idempotency_key=idempotency_key,
            kind="outbound",
            request=request,
            response_status=200,
            response=body,
            shipment=shipment,
        )
    ScannerDevice.objects.filter(pk=device.pk).update(last_used_at=timezone.now())
    return ScanAnswer(body=body, replayed=replayed)


def _refuse_unless_shippable(*, shipment: Shipment, orders: list[Order]) -> None:
    number = shipment.tracking_number or shipment.parcel_key
    if shipment.state == ShipmentState.VOIDED:
        raise ScanRefused(
            gettext("Label %(number)s was voided: use the re-issued label.") % {"number": number},
            code="parcel_voided",
        )
    for order in orders:
        if order.state == OrderState.CANCELLED:
            raise ScanRefused(
                gettext("Order %(order)s is cancelled: take the parcel off the line.") % {"order": order.external_id},
                code="order_cancelled",
            )
        if order.refund_requested or order.platform_status == PlatformStatus.REFUNDED:
            raise ScanRefused(
                gettext("The buyer of order %(order)s asked for a refund: do not ship.") % {"order": order.external_id},
                code="order_refunded",
            )
        if order.platform_hold or order.platform_status == PlatformStatus.HOLD:
            # the platform forbids shipping (risk control, 暂停发货): its write-back would be refused
            raise ScanRefused(
                gettext("The platform holds order %(order)s (shipping forbidden there): do not ship.")
                % {"order": order.external_id},
                code="order_held_by_platform",
            )
        if order.state == OrderState.ON_HOLD:
            raise ScanRefused(
                gettext("Order %(order)s is on hold (%(reason)s): do not ship.")
                % {"order": order.external_id, "reason": order.hold_reason or gettext("no reason given")},
                code="order_on_hold",
            )
        if order.state not in (OrderState.PRINTED, OrderState.PARTIALLY_SHIPPED):
            raise ScanRefused(
                gettext("Order %(order)s is %(state)s, not printed: print it before it leaves.")
                % {"order": order.external_id, "state": order.get_state_display()},
                code="order_not_printed",
            )
    if shipment.state != ShipmentState.PRINTED:
        raise ScanRefused(
            gettext("Parcel %(number)s is %(state)s, not printed: print its label first.")
            % {"number": number, "state": shipment.get_state_display()},
            code="parcel_not_printed",
        )


def _bind_label(*, shipment: Shipment, label_number: str) -> None:
    """Manual channel: the number is the one on the label the carrier's own software printed."""
    label_number = label_number.strip()
    if shipment.tracking_number:
        if label_number and label_number != shipment.tracking_number:
            raise ScanRefused(
                gettext("The label says %(label)s but this parcel's number is %(number)s.")
                % {"label": label_number, "number": shipment.tracking_number},
                code="label_mismatch",
            )
        return
    if not label_number:
        raise ScanInputInvalid(
            gettext("This parcel has no number yet: scan the carrier label's number too."),
            code="label_number_required",
            field="label_number",
        )
    taken = (
        Shipment.objects.filter(carrier_id=shipment.carrier_id, tracking_number=label_number)
        .exclude(pk=shipment.pk)
        .first()
    )
    if taken is not None:
        raise ScanRefused(
            gettext("Number %(number)s is already on another parcel (%(key)s).")
            % {"number": label_number, "key": taken.parcel_key},
            code="number_taken",
        )
    shipment.tracking_number = label_number
    shipment.numbered_at = timezone.now()
