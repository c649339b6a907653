"""Stock push to every storefront: drain the StockPush outbox through each channel's adapter.

Claim (short transaction, skip_locked) → call the platform (no transaction held) → settle (short
transaction). A claim leases the row by moving next_attempt_at forward, so a dying worker only
delays the push until the lease runs out and the next drain or sweep takes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory import locks, selectors
from inventory.models import ChannelListing, EventKind, InventoryEvent, StockPush
from inventory.services.changes import request_pushes
from orders import texts

logger = logging.getLogger(__name__)


def _setting(name: str, default):
    return getattr(settings, name, default)


def backoff(attempts: int) -> timedelta:
    """30 s, 60 s, 120 s … capped at an hour (INVENTORY_PUSH_BACKOFF_SECONDS / _MAX_SECONDS)."""
    base = _setting("INVENTORY_PUSH_BACKOFF_SECONDS", 30)
    cap = _setting("INVENTORY_PUSH_BACKOFF_MAX_SECONDS", 3600)
    return timedelta(seconds=min(cap, base * 2 ** max(attempts - 1, 0)))


def push_quantity(*, listing: ChannelListing, available: int, waiting: int = 0, presale_quota: int = 0) -> int:
    """What one listing shows: available stock less the listing's buffer (percent first, then units),
    never below zero. A presale listing also offers the SKU's presale quota less the units already
    waiting for stock, so presale demand stays bounded by the quota."""
    shown = max(0, available) * (100 - listing.buffer_percent) // 100 - listing.buffer_quantity
    shown = max(0, shown)
    if listing.presale:
        shown = max(0, shown + presale_quota - waiting)
    return shown


def expected_quantities(listings: list[ChannelListing]) -> dict[int, int]:
    """Listing id -> the quantity OrderHub would push now (one availability read per SKU)."""
    sku_ids = {listing.sku_id for listing in listings}
    available = selectors.available_by_sku(sku_ids=sku_ids)
    presale_skus = {listing.sku_id for listing in listings if listing.presale}
    waiting = selectors.waiting_units_by_sku(sku_ids=presale_skus) if presale_skus else {}
    return {
        listing.pk: push_quantity(
            listing=listing,
            available=available.get(listing.sku_id, 0),
            waiting=waiting.get(listing.sku_id, 0),
            presale_quota=listing.sku.presale_quota,
        )
        for listing in listings
    }


@dataclass
class DrainResult:
    pushed: list[int] = field(default_factory=list)  # listing ids
    failed: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


def _claim(*, now: datetime, limit: int) -> list[tuple[int, str, ChannelListing]]:
    with transaction.atomic(durable=True):
        rows = locks.due_pushes_for_update(now=now, limit=limit)
        if rows:
            lease = now + timedelta(seconds=_setting("INVENTORY_PUSH_LEASE_SECONDS", 120))
            StockPush.objects.filter(pk__in=[row.pk for row in rows]).update(next_attempt_at=lease)
        return [(row.pk, row.token, row.listing) for row in rows]


def stock_push_drain(*, limit: int = 200, now: datetime | None = None) -> DrainResult:
    """Push every due row once. Quantities are computed per SKU once for the batch (coalescing)."""
    now = now or timezone.now()
    claimed = _claim(now=now, limit=limit)
    result = DrainResult()
    if not claimed:
        return result
    from orders.channels import get_adapter
    from orders.channels.base import ChannelError, StockUpdate

    live = [listing for _, _, listing in claimed if listing.enabled and listing.channel.enabled]
    quantities = expected_quantities(live)
    for push_id, token, listing in claimed:
        if listing.pk not in quantities:
            _settle(push_id=push_id, token=token, listing=listing, quantity=None, error=None, now=now)
            result.dropped.append(listing.pk)
            continue
        quantity = quantities[listing.pk]
        update = StockUpdate(
            platform_item_id=listing.platform_item_id,
            platform_sku_id=listing.platform_sku_id,
            quantity=quantity,
            last_pushed=listing.last_pushed_quantity,
        )
        try:
            get_adapter(listing.channel).update_stock(update)
        except ChannelError as exc:
            error = f"{type(exc).__name__}: {exc}" + (f" [{exc.code}/{exc.sub_code}]" if exc.code else "")
        except Exception as exc:  # network errors, missing adapter: keep the row, retry with backoff
            logger.warning("stock push to listing %s failed", listing.pk, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = None
        _settle(push_id=push_id, token=token, listing=listing, quantity=quantity, error=error, now=now)
        (result.failed if error else result.pushed).append(listing.pk)
    return result


@transaction.atomic(durable=True)
def _settle(
    *, push_id: int, token, listing: ChannelListing, quantity: int | None, error: str | None, now: datetime
) -> None:
    """Lock order: push row → listing, as in the stock paths (levels → push rows → listings)."""
    from orders.models import AlertSeverity
    from orders.services import alert_raise, alert_resolve

    push = locks.push_for_update(push_id=push_id)
    alert_key = f"inventory:stock_push:listing:{listing.pk}"
    if quantity is None:  # listing or channel disabled: nothing to push
        if push is not None:
            push.delete()
        return
    if error is None:
        if push is not None and push.token == token:
            push.delete()
        elif push is not None:  # stock changed while we pushed: push again now
            StockPush.objects.filter(pk=push.pk).update(next_attempt_at=now, attempts=0, last_error="")
        ChannelListing.objects.filter(pk=listing.pk).update(
            last_pushed_quantity=quantity, last_pushed_at=timezone.now(), last_push_error="", push_failures=0
        )
        if listing.push_failures:
            alert_resolve(key=alert_key)
        return
    attempts = (push.attempts if push is not None else 0) + 1
    if push is not None:
        StockPush.objects.filter(pk=push.pk).update(
            attempts=attempts, next_attempt_at=now + backoff(attempts), last_error=error[:2000]
        )
    ChannelListing.objects.filter(pk=listing.pk).update(
        last_push_error=error[:2000], push_failures=F("push_failures") + 1
    )
    failures = listing.push_failures + 1
    if failures >= _setting("CHANNEL_ALERT_AFTER_FAILURES", 3):
        message = texts.wording(
            "stock.push_failed", channel=str(listing.channel), sku=listing.sku.code, count=failures, error=error
        )
        if failures == _setting("CHANNEL_ALERT_AFTER_FAILURES", 3):
            InventoryEvent.objects.create(
                kind=EventKind.PUSH_FAILED,
                sku_id=listing.sku_id,
                listing=listing,
                message=texts.english(message),
                data={"wording": message},
            )
        alert_raise(
            key=alert_key,
            source="inventory",
            message=message,
            severity=AlertSeverity.WARNING,
            channel=listing.channel,
        )


def stock_push_sweep(*, now: datetime | None = None) -> int:
    """Periodic safety net: request a push for every enabled listing whose last pushed quantity
    differs from what it should show now (or was never pushed), then drain. Returns rows requested."""
    listings = list(
        ChannelListing.objects.filter(enabled=True, channel__enabled=True)
        .select_related("sku")
        .exclude(pending_push__isnull=False)
    )
    expected = expected_quantities(listings)
    stale = [listing.pk for listing in listings if listing.last_pushed_quantity != expected[listing.pk]]
    requested = 0
    if stale:
        with transaction.atomic(durable=True):
            requested = request_pushes(listing_ids=stale)
    stock_push_drain(now=now)
    return requested


def stock_push_request(*, listing_ids: list[int]) -> int:
    """Admin action "push now": due immediately, backoff reset."""
    with transaction.atomic(durable=True):
        count = request_pushes(listing_ids=listing_ids)
        StockPush.objects.filter(listing_id__in=listing_ids).update(next_attempt_at=timezone.now())
    return count
