"""Tracking numbers from the platform's e-waybill service: one per parcel, never two.

The parcel key is stored (with the parcel) before any call and sent as the platform's request or
package id. A call that times out may have issued numbers: they are read back with `waybill_lookup`
(or asked again under the same key, which returns the same number), never asked for afresh. Each
parcel's result is stored in its own short transaction; no lock is held during an HTTP call."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from orders import locks as order_locks
from orders.channels import get_adapter
from orders.channels.base import (
    ChannelAdapter,
    ChannelError,
    PermanentChannelError,
    RetryableChannelError,
    WaybillAddress,
    WaybillErrorCode,
    WaybillItem,
    WaybillRequest,
    WaybillResult,
)
from orders.models import Order, OrderState
from shipping import locks, selectors
from shipping.errors import VoidRefused
from shipping.models import Shipment, ShipmentLine, ShipmentState

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

#: a parcel is numbered only when every order in it may ship
NUMBERABLE_ORDER_STATES = (OrderState.READY, OrderState.PRINTED)
#: failure codes that are the `waybill_failed` exception's everyday causes; the others also raise an alert
EVERYDAY_FAILURES = {
    WaybillErrorCode.QUOTA_EXHAUSTED,
    WaybillErrorCode.UNREACHABLE,
    WaybillErrorCode.NOT_SUBSCRIBED,
    WaybillErrorCode.BAD_DATA,
}
RETRY_LATER = "retry_later"
DUPLICATE_NUMBER = "duplicate_number"
NO_ACCOUNT = "no_account"

FAILURE_REASONS = {
    WaybillErrorCode.QUOTA_EXHAUSTED: gettext_lazy(
        "The e-waybill account has no numbers left (quota exhausted): top up the branch or choose another account."
    ),
    WaybillErrorCode.UNREACHABLE: gettext_lazy(
        "The carrier does not deliver to this address (out of its area or suspended): choose another carrier."
    ),
    WaybillErrorCode.NOT_SUBSCRIBED: gettext_lazy(
        "The sender address or branch is not subscribed for this carrier on the platform."
    ),
    WaybillErrorCode.BAD_DATA: gettext_lazy(
        "The platform refused the parcel's data (address too long, invalid phone …): correct the order."
    ),
    WaybillErrorCode.NOT_SUPPORTED: gettext_lazy(
        "This shop has no e-waybill service: bind the number by scanning the carrier's own label."
    ),
    WaybillErrorCode.NOT_FOUND: gettext_lazy("The platform knows no number for this parcel."),
    DUPLICATE_NUMBER: gettext_lazy("The platform returned a number another parcel already carries."),
    NO_ACCOUNT: gettext_lazy("The parcel has no e-waybill account."),
    RETRY_LATER: gettext_lazy("The platform did not answer; the parcel will be asked for again with the same key."),
}
OTHER_FAILURE = gettext_lazy("The platform refused the number request.")


def failure_reason(*, code: str, platform_message: str = "") -> str:
    """A failure in plain words (active language), followed by what the platform itself said."""
    reason = str(FAILURE_REASONS.get(code, OTHER_FAILURE))
    return f"{reason} ({platform_message})" if platform_message else reason


@dataclass
class NumberingReport:
    numbered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # shipment id -> reason
    retry_later: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # manual channel, orders not ready, not pending


def number_parcels(*, shipment_ids: Iterable[int]) -> NumberingReport:
    """Ask each pending parcel's platform for its tracking number, in batches of the adapter's
    `waybill_batch_size`, and store every parcel's own result. A refused parcel holds its orders as
    `waybill_failed` with the reason; the rest of the batch is numbered. Call outside a transaction."""
    report = NumberingReport()
    shipments = list(
        Shipment.objects.filter(pk__in=set(shipment_ids)).select_related("account", "carrier", "channel").order_by("pk")
    )
    groups: dict[int | None, list[Shipment]] = defaultdict(list)
    for shipment in shipments:
        manual = shipment.channel.platform == "manual"  # numbered from the carrier's label at the scan
        if shipment.state != ShipmentState.PENDING or manual or not _orders_may_ship(shipment):
            report.skipped.append(shipment.pk)
        elif shipment.account is None:
            _store_failure(shipment.pk, code=NO_ACCOUNT, message="", report=report)
        else:
            groups[shipment.account_id].append(shipment)
    for group in groups.values():
        adapter = get_adapter(group[0].channel)
        size = max(1, adapter.waybill_batch_size)
        for start in range(0, len(group), size):
            chunk = group[start : start + size]
            requests = [waybill_request(shipment=s) for s in chunk]
            for shipment, result in zip(chunk, _get_numbers(adapter, requests), strict=True):
                _store_result(shipment.pk, result, report=report)
    return report


def _orders_may_ship(shipment: Shipment) -> bool:
    states = set(Order.objects.filter(shipment_lines__shipment=shipment).values_list("state", flat=True))
    return bool(states) and states <= set(NUMBERABLE_ORDER_STATES)


def waybill_request(*, shipment: Shipment) -> WaybillRequest:
    """The neutral request for one parcel: its key, its orders' platform ids, sender from the account,
    receiver as the platform sent it (ciphertext stays ciphertext), items and weight."""
    lines = list(
        ShipmentLine.objects.filter(shipment=shipment).select_related("order", "order_line").order_by("order_line_id")
    )
    orders = sorted({pl.order_id: pl.order for pl in lines}.values(), key=lambda o: o.pk)
    first = orders[0]
    account = shipment.account
    return WaybillRequest(
        parcel_key=shipment.parcel_key,
        external_ids=[o.external_id for o in orders],
        carrier_code=shipment.carrier.code_on(shipment.channel.platform),
        branch_code=account.branch_code,
        sender=WaybillAddress(
            name=account.sender_name,
            mobile=account.sender_mobile,
            province=account.sender_province,
            city=account.sender_city,
            district=account.sender_district,
            address=account.sender_address,
        ),
        receiver=WaybillAddress(
            name=first.receiver_name,
            mobile=first.receiver_phone,
            province=first.receiver_province,
            city=first.receiver_city,
            district=first.receiver_district,
            address=first.receiver_address,
            town=first.receiver_town,
            cipher={str(k): str(v) for k, v in (first.receiver_cipher or {}).items()},
        ),
        items=[WaybillItem(name=pl.order_line.title or pl.order_line.sku_code, count=pl.quantity) for pl in lines],
        weight_grams=shipment.weight_grams,
        template_url=account.template_url,
    )


def _get_numbers(adapter: ChannelAdapter, requests: list[WaybillRequest]) -> list[WaybillResult]:
    try:
        results = adapter.waybill_get(requests)
    except RetryableChannelError:
        # The platform may have issued numbers before the answer was lost: read them back by key.
        return [_recover(adapter, request) for request in requests]
    except ChannelError as exc:
        return [WaybillResult(parcel_key=r.parcel_key, error=exc) for r in requests]
    by_key = {r.parcel_key: r for r in results}
    return [
        by_key.get(r.parcel_key)
        or WaybillResult(parcel_key=r.parcel_key, error=PermanentChannelError("no result for this parcel"))
        for r in requests
    ]


def _recover(adapter: ChannelAdapter, request: WaybillRequest) -> WaybillResult:
    """After a timeout: the number already issued under this key, else ask again under the same key."""
    try:
        return adapter.waybill_lookup(request)
    except PermanentChannelError as exc:
        if exc.code != WaybillErrorCode.NOT_FOUND:
            return WaybillResult(parcel_key=request.parcel_key, error=exc)
    except RetryableChannelError as exc:
        return WaybillResult(parcel_key=request.parcel_key, error=exc)
    try:
        return adapter.waybill_get([request])[0]  # none issued: the same key cannot take a second one
    except ChannelError as exc:
        return WaybillResult(parcel_key=request.parcel_key, error=exc)


def _store_result(shipment_id: int, result: WaybillResult, *, report: NumberingReport) -> None:
    error = result.error
    if error is None and not result.tracking_number:
        error = PermanentChannelError("empty tracking number", code=WaybillErrorCode.NOT_FOUND)
    if error is not None:
        if error.retryable:
            _store_retry(shipment_id, message=str(error), report=report)
        else:
            _store_failure(shipment_id, code=error.code, message=str(error), report=report)
        return
    try:
        with transaction.atomic():
            _lock_parcel_orders(shipment_id)
            shipment = locks.shipment_for_update(shipment_id=shipment_id)
            if shipment.state != ShipmentState.PENDING:
                report.skipped.append(shipment_id)
                return
            shipment.tracking_number = result.tracking_number
            shipment.parent_tracking_number = result.parent_tracking_number
            shipment.print_data = result.print_data or {}
            shipment.state = ShipmentState.NUMBERED
            shipment.numbered_at = timezone.now()
            shipment.failure_code = ""
            shipment.failure_reason = ""
            shipment.save()
    except IntegrityError:
        _store_failure(shipment_id, code=DUPLICATE_NUMBER, message=result.tracking_number, report=report)
        return
    report.numbered.append(shipment_id)


def _lock_parcel_orders(shipment_id: int) -> list[Order]:
    return list(order_locks.orders_for_update(order_ids=selectors.order_ids_in_shipments(shipment_ids=[shipment_id])))


def _store_retry(shipment_id: int, *, message: str, report: NumberingReport) -> None:
    with transaction.atomic():
        shipment = locks.shipment_for_update(shipment_id=shipment_id)
        shipment.failure_code = RETRY_LATER
        shipment.failure_reason = failure_reason(code=RETRY_LATER, platform_message=message)
        shipment.save(update_fields=["failure_code", "failure_reason"])
    report.retry_later.append(shipment_id)


@transaction.atomic
def _store_failure(shipment_id: int, *, code: str, message: str, report: NumberingReport) -> None:
    """Record why the parcel got no number and hold each of its orders as `waybill_failed`."""
    from orders.services import alert_raise
    from rules.services import raise_exception

    orders = _lock_parcel_orders(shipment_id)
    shipment = locks.shipment_for_update(shipment_id=shipment_id)
    reason = failure_reason(code=code, platform_message=message)
    shipment.failure_code = code[:32]
    shipment.failure_reason = reason
    shipment.save(update_fields=["failure_code", "failure_reason"])
    for order in orders:
        raise_exception(order=order.pk, exception_type="waybill_failed", note=reason)
    if code not in EVERYDAY_FAILURES:
        alert_raise(
            key=f"shipping:waybill:{shipment.channel_id}:{code}",
            source="shipping",
            message=f"{shipment.channel.name}: {reason}",
            channel=shipment.channel,
        )
    report.failed[shipment_id] = reason


# ---- void and re-issue ---------------------------------------------------------------------------
def parcel_void_and_reissue(*, shipment_id: int, actor: AbstractBaseUser | None = None) -> Shipment:
    """Give the parcel's number back to the platform and take a new one under a new key (a damaged or
    wrong label). Refused once the carrier collected the parcel or it was scanned out. Returns the
    new parcel (numbered, or pending with its failure recorded)."""
    if actor is not None and not actor.has_perm("shipping.void_shipment"):
        raise VoidRefused(gettext("You may not void parcels."), code="permission_denied")
    shipment = Shipment.objects.select_related("channel", "carrier", "account").get(pk=shipment_id)
    if shipment.state not in (ShipmentState.NUMBERED, ShipmentState.PRINTED):
        raise VoidRefused(
            gettext("Parcel %(key)s is %(state)s: only a numbered or printed parcel can be voided.")
            % {"key": shipment.parcel_key, "state": shipment.get_state_display()}
        )
    if shipment.channel.platform != "manual":
        adapter = get_adapter(shipment.channel)
        try:
            adapter.waybill_cancel(
                carrier_code=shipment.carrier.code_on(shipment.channel.platform),
                tracking_number=shipment.tracking_number,
                branch_code=shipment.account.branch_code if shipment.account else "",
            )
        except ChannelError as exc:
            if exc.code == WaybillErrorCode.PICKED_UP:
                raise VoidRefused(
                    gettext("The carrier has already collected parcel %(number)s: its number can no longer be voided.")
                    % {"number": shipment.tracking_number},
                    code=WaybillErrorCode.PICKED_UP,
                ) from exc
            if exc.code != WaybillErrorCode.ALREADY_CANCELLED:
                raise VoidRefused(
                    gettext("The platform did not cancel number %(number)s: %(reason)s")
                    % {"number": shipment.tracking_number, "reason": exc},
                    code=exc.code or "platform_error",
                ) from exc
    new = _void_and_replan(shipment_id=shipment_id, actor=actor)
    if new.channel.platform != "manual":
        number_parcels(shipment_ids=[new.pk])
        new.refresh_from_db()
    return new


@transaction.atomic
def _void_and_replan(*, shipment_id: int, actor: AbstractBaseUser | None) -> Shipment:
    from shipping.services.parcels import next_parcel_key

    orders = _lock_parcel_orders(shipment_id)
    old = locks.shipment_for_update(shipment_id=shipment_id)
    if old.state not in (ShipmentState.NUMBERED, ShipmentState.PRINTED):
        raise VoidRefused(gettext("Parcel %(key)s changed meanwhile; nothing was voided.") % {"key": old.parcel_key})
    old.state = ShipmentState.VOIDED
    old.voided_at = timezone.now()
    if actor is not None:
        old._history_user = actor
    old.save(update_fields=["state", "voided_at"])
    new = Shipment.objects.create(
        parcel_key=next_parcel_key(order_id=orders[0].pk),
        channel_id=old.channel_id,
        account_id=old.account_id,
        carrier_id=old.carrier_id,
        warehouse_id=old.warehouse_id,
        weight_grams=old.weight_grams,
        replaces=old,
    )
    ShipmentLine.objects.bulk_create(
        ShipmentLine(shipment=new, order_id=pl.order_id, order_line_id=pl.order_line_id, quantity=pl.quantity)
        for pl in old.lines.all()
    )
    return new
