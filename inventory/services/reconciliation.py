"""Nightly reconciliation: prove the ledger, the levels, the reservations and the channels agree,
store every disagreement as a diff line, and turn chosen lines into audited corrections."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from inventory import locks, selectors, texts
from inventory.models import (
    ChannelListing,
    DiffKind,
    EventKind,
    InventoryEvent,
    MovementKind,
    ReconciliationDiff,
    ReconciliationRun,
    ReservationState,
    StockLevel,
    StockMovement,
    StockPush,
    StockReservation,
)
from inventory.services.changes import request_pushes, stock_changed
from inventory.services.movements import movement_record_in_transaction
from inventory.services.reservation import release_reservations
from orders.texts import Wording, wording

logger = logging.getLogger(__name__)

Progress = Callable[[Iterable], Iterable]


def _no_progress(items: Iterable, **kwargs) -> Iterable:
    return items


def reconciliation_run(*, trigger: str = "command", progress: Progress | None = None) -> ReconciliationRun:
    """Compare (a) ledger sum vs on hand per level, (b) active reservations vs reserved per level and
    vs open orders, (c) each listing's stock as its platform reports it (adapter `fetch_stock`) vs
    what OrderHub last pushed; a platform that cannot be read is a diff line with the error as its
    note. Read-only apart from the run's rows (and the platforms' read APIs)."""
    progress = progress or _no_progress
    run = ReconciliationRun.objects.create(trigger=trigger)
    diffs: list[ReconciliationDiff] = []

    ledger = {
        (row["sku_id"], row["warehouse_id"]): row["total"]
        for row in StockMovement.objects.values("sku_id", "warehouse_id").annotate(total=Sum("quantity"))
    }
    reserved = selectors.active_reserved_by_level()
    levels = list(StockLevel.objects.all().order_by("pk"))
    seen = set()
    for level in progress(levels, desc="levels", unit="level"):
        key = (level.sku_id, level.warehouse_id)
        seen.add(key)
        if ledger.get(key, 0) != level.on_hand:
            diffs.append(
                _diff(run, DiffKind.LEDGER, level, ledger.get(key, 0), level.on_hand, wording("stock.ledger_sum"))
            )
        if reserved.get(level.pk, 0) != level.reserved:
            diffs.append(
                _diff(
                    run,
                    DiffKind.RESERVED,
                    level,
                    reserved.get(level.pk, 0),
                    level.reserved,
                    wording("stock.reservations_vs_reserved"),
                )
            )
    for (sku_id, warehouse_id), total in ledger.items():
        if (sku_id, warehouse_id) not in seen and total:
            diffs.append(
                ReconciliationDiff(
                    run=run, kind=DiffKind.LEDGER, sku_id=sku_id, warehouse_id=warehouse_id, expected=total, actual=0
                )
            )

    from orders.models import OPEN_STATES

    closed = (
        StockReservation.objects.filter(state=ReservationState.ACTIVE)
        .exclude(order__state__in=OPEN_STATES)
        .values("order_id", "sku_id", "warehouse_id", "order__state")
        .annotate(total=Sum("quantity"))
    )
    for row in closed:
        diffs.append(
            ReconciliationDiff(
                run=run,
                kind=DiffKind.CLOSED_ORDER,
                sku_id=row["sku_id"],
                warehouse_id=row["warehouse_id"],
                order_id=row["order_id"],
                expected=0,
                actual=row["total"],
                **_note(wording("stock.order_is", state=texts.order_state(row["order__state"]))),
            )
        )

    diffs.extend(_refunded_line_diffs(run=run))
    diffs.extend(_channel_diffs(run=run, progress=progress))
    ReconciliationDiff.objects.bulk_create(diffs)
    run.diff_count = len(diffs)
    run.finished_at = timezone.now()
    run.checked = {"levels": len(levels), "listings": ChannelListing.objects.filter(enabled=True).count()}
    run.save(update_fields=["diff_count", "finished_at", "checked"])
    if diffs:
        from orders.models import AlertSeverity
        from orders.services import alert_raise

        alert_raise(
            key="inventory:reconciliation",
            source="inventory",
            message=wording("alert.reconciliation_differences", run=run.pk, count=len(diffs)),
            severity=AlertSeverity.WARNING,
        )
    return run


def _refunded_line_diffs(*, run: ReconciliationRun) -> list[ReconciliationDiff]:
    """Stock still held for a line the platform refunded, on an order that is still open (a closed
    order's reservations are reported as closed_order): it should have been released at the refund."""
    from orders.models import OPEN_STATES, LineRefundState

    rows = (
        StockReservation.objects.filter(
            state=ReservationState.ACTIVE,
            order__state__in=OPEN_STATES,
            order_line__refund_state=LineRefundState.REFUNDED,
        )
        .values("order_id", "order_line_id", "order_line__sku_code", "sku_id", "warehouse_id")
        .annotate(total=Sum("quantity"))
        .order_by("order_id", "order_line_id", "sku_id", "warehouse_id")
    )
    return [
        ReconciliationDiff(
            run=run,
            kind=DiffKind.REFUNDED_LINE,
            sku_id=row["sku_id"],
            warehouse_id=row["warehouse_id"],
            order_id=row["order_id"],
            expected=0,
            actual=row["total"],
            **_note(wording("stock.refunded_line", line=row["order_line_id"], sku=row["order_line__sku_code"])),
        )
        for row in rows
    ]


def _diff(run, kind, level: StockLevel, expected: int, actual: int, note: Wording) -> ReconciliationDiff:
    return ReconciliationDiff(
        run=run,
        kind=kind,
        sku_id=level.sku_id,
        warehouse_id=level.warehouse_id,
        expected=expected,
        actual=actual,
        **_note(note),
    )


def _channel_diffs(*, run: ReconciliationRun, progress: Progress) -> list[ReconciliationDiff]:
    """Check (c): each enabled listing's quantity as the platform reports it (`adapter.fetch_stock`)
    against what OrderHub last pushed. A listing whose platform cannot be read (platform error,
    timeout, unknown SKU) gets a diff line saying so; one listing never stops the run."""
    from orders.channels import get_adapter
    from orders.channels.base import ChannelError

    listings = list(
        ChannelListing.objects.filter(enabled=True, channel__enabled=True)
        .select_related("channel", "sku")
        .order_by("pk")
    )
    pending = set(StockPush.objects.values_list("listing_id", flat=True))
    diffs = []
    for listing in progress(listings, desc="listings", unit="listing"):
        if listing.pk in pending:  # a push is on its way: not a difference yet
            continue
        pushed = listing.last_pushed_quantity
        try:
            reported = get_adapter(listing.channel).fetch_stock(listing.platform_item_id, listing.platform_sku_id)
        except (ChannelError, LookupError, OSError, ValueError) as exc:
            logger.warning("reconciliation could not read the stock of listing %s: %s", listing.pk, exc)
            diffs.append(_listing_diff(run, listing, expected=pushed, actual=None, note=_read_failure(exc)))
            continue
        if reported != pushed:
            reports = wording("stock.platform_reports")
            diffs.append(_listing_diff(run, listing, expected=pushed, actual=reported, note=reports))
    return diffs


def _read_failure(exc: Exception) -> Wording:
    """Why the platform's stock is unknown, in words ops can act on: the platform's own error code
    when it answered, else that it could not be reached (the exception itself goes to the log)."""
    logger.warning("stock read failed: %r", exc)
    code = "/".join(part for part in (getattr(exc, "code", ""), getattr(exc, "sub_code", "")) if part)
    if getattr(exc, "retryable", True):
        return wording("stock.read_no_answer_code", error=code) if code else wording("stock.read_no_answer")
    return wording("stock.read_refused", error=code) if code else wording("stock.read_refused_no_code")


def _listing_diff(run, listing, *, expected: int | None, actual: int | None, note: Wording) -> ReconciliationDiff:
    if expected is None or actual is None:
        note = wording("stock.unknown_figure", note=note)
    return ReconciliationDiff(
        run=run,
        kind=DiffKind.CHANNEL,
        sku_id=listing.sku_id,
        listing=listing,
        expected=expected if expected is not None else -1,
        actual=actual if actual is not None else -1,
        **_note(note),
    )


def _note(note: str | Wording) -> dict[str, Any]:
    """A difference's `note` (English) and `wording` (the code, rendered in the reader's language)."""
    text, coded = texts.stored(note)
    return {"note": text, "wording": coded}


@transaction.atomic(durable=True)
def reconciliation_correct(*, diff_ids: list[int], actor=None) -> list[ReconciliationDiff]:
    """Turn chosen diff lines into audited corrections, re-measured under lock at this moment:

    ledger: an adjustment movement marked ledger-only records the unexplained change, so the ledger
      agrees with the level (the level is what channels were shown; count the shelf if in doubt);
    reserved: the level's reserved is set to its active reservations (zero-quantity, ledger-only
      adjustment row as the audit);
    closed_order: the closed order's reservations are released;
    refunded_line: the order (locked first, as every stock path does) gives back what its lines no
      longer need: the refunded lines' reservations;
    channel: a fresh push is requested, starting from the figure the platform reported.
    Lock order: diff rows → stock levels → reservations → push rows → listings."""
    diffs = locks.diffs_for_update(diff_ids=diff_ids)
    now = timezone.now()
    for diff in diffs:
        movement = None
        if diff.kind == DiffKind.LEDGER:
            movement = _correct_ledger(diff, actor)
        elif diff.kind == DiffKind.RESERVED:
            movement = _correct_reserved(diff, actor)
        elif diff.kind == DiffKind.CLOSED_ORDER:
            _correct_closed_order(diff)
        elif diff.kind == DiffKind.REFUNDED_LINE and diff.order_id:
            _correct_refunded_line(diff)
        elif diff.kind == DiffKind.CHANNEL and diff.listing_id:
            _correct_channel(diff)
        diff.corrected_at = now
        diff.corrected_by = actor
        diff.correction = movement
        diff.save(update_fields=["corrected_at", "corrected_by", "correction"])
        corrected = wording(
            "stock.corrected",
            kind={"code": f"diff_kind.{diff.kind}", "fallback": diff.kind},
            expected=diff.expected,
            actual=diff.actual,
        )
        InventoryEvent.objects.create(
            kind=EventKind.CORRECTION,
            sku_id=diff.sku_id,
            listing_id=diff.listing_id,
            message=texts.stored(corrected)[0],
            data={"diff_id": diff.pk, "movement_id": movement.pk if movement else None, "wording": corrected},
        )
    return diffs


def _correct_channel(diff: ReconciliationDiff) -> None:
    """Request a fresh push. When the platform's figure was read (actual ≥ 0), it becomes the listing's
    last pushed quantity first: that is what the storefront shows, so Kuaishou's delta-only push
    starts from it (a delta from the stale figure would be 0 and change nothing), and Douyin's
    idempotent_id differs from the earlier push of the same figure (otherwise a replay, ignored)."""
    request_pushes(listing_ids=[diff.listing_id])
    if diff.actual >= 0:
        ChannelListing.objects.filter(pk=diff.listing_id).update(last_pushed_quantity=diff.actual)


def _correct_ledger(diff: ReconciliationDiff, actor) -> StockMovement | None:
    levels = locks.stock_levels_for_update(sku_ids=[diff.sku_id])
    level = next((lv for lv in levels if lv.warehouse_id == diff.warehouse_id), None)
    on_hand = level.on_hand if level else 0
    ledger = (
        StockMovement.objects.filter(sku_id=diff.sku_id, warehouse_id=diff.warehouse_id).aggregate(s=Sum("quantity"))[
            "s"
        ]
        or 0
    )
    if on_hand == ledger:
        return None
    return movement_record_in_transaction(
        warehouse_code=diff.warehouse.code,
        sku_code=diff.sku.code,
        kind=MovementKind.ADJUSTMENT,
        quantity=on_hand - ledger,
        reference=f"diff:{diff.pk}",
        source="reconciliation",
        actor=actor,
        note=wording("stock.ledger_corrected", run=diff.run_id, ledger=ledger, on_hand=on_hand),
        ledger_only=True,
    ).movement


def _correct_reserved(diff: ReconciliationDiff, actor) -> StockMovement | None:
    levels = locks.stock_levels_for_update(sku_ids=[diff.sku_id])
    level = next(lv for lv in levels if lv.warehouse_id == diff.warehouse_id)
    active = (
        StockReservation.objects.filter(level=level, state=ReservationState.ACTIVE).aggregate(s=Sum("quantity"))["s"]
        or 0
    )
    if active == level.reserved:
        return None
    before = level.reserved
    StockLevel.objects.filter(pk=level.pk).update(reserved=active)
    level.reserved = active
    movement = movement_record_in_transaction(
        warehouse_code=diff.warehouse.code,
        sku_code=diff.sku.code,
        kind=MovementKind.ADJUSTMENT,
        quantity=0,
        reference=f"diff:{diff.pk}",
        source="reconciliation",
        actor=actor,
        note=wording("stock.reserved_corrected", run=diff.run_id, before=before, active=active),
        ledger_only=True,
    ).movement
    stock_changed(available={diff.sku_id: sum(lv.on_hand - lv.reserved for lv in levels if lv.warehouse.active)})
    return movement


def _correct_refunded_line(diff: ReconciliationDiff) -> None:
    from inventory.services.reservation import release_beyond_need
    from orders import locks as order_locks

    order = order_locks.order_for_update(order_id=diff.order_id)
    release_beyond_need(order=order)


def _correct_closed_order(diff: ReconciliationDiff) -> None:
    sku_ids = set(
        StockReservation.objects.filter(order_id=diff.order_id, state=ReservationState.ACTIVE).values_list(
            "sku_id", flat=True
        )
    )
    levels = locks.stock_levels_for_update(sku_ids=sku_ids)
    reservations = locks.active_reservations_for_update(order_id=diff.order_id)
    release_reservations(levels=levels, reservations=reservations)
    available: dict[int, int] = defaultdict(int)
    for level in levels:
        available[level.sku_id] += level.on_hand - level.reserved if level.warehouse.active else 0
    stock_changed(available=dict(available), increased=True)
