"""What follows every change of available stock, in the same transaction:
outbox rows for every listing of the SKU, the safety-stock presale switch, and (after commit)
a nudge to the workers that drain pushes and allocate waiting orders."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inventory.models import ChannelListing, EventKind, InventoryEvent, Sku, StockPush
from orderhub.db import on_commit_once
from orders import texts
from orders.models import Channel

logger = logging.getLogger(__name__)


def stock_changed(*, available: dict[int, int], increased: bool = False, skus: dict[int, Sku] | None = None) -> None:
    """Call with the stock rows of these SKUs still locked. `available`: SKU id -> available now.

    Lock order: stock levels (caller) → push rows → listings → SKU rows."""
    if not available:
        return
    request_pushes(sku_ids=available.keys())
    sync_presale(available=available, skus=skus)
    sku_ids = sorted(available)
    enqueue_push_drain()
    if increased:
        transaction.on_commit(lambda: _enqueue("inventory.tasks.allocate_waiting", sku_ids, key=None))


def request_pushes(*, sku_ids: Iterable[int] | None = None, listing_ids: Iterable[int] | None = None) -> int:
    """Upsert one pending push per enabled listing, in one statement. A new request keeps a failing
    row's backoff (next_attempt_at) but changes its token, so a drain in flight knows to push again.
    Rows are written in listing-pk order."""
    where, params = [], []
    if sku_ids is not None:
        sku_ids = sorted(set(sku_ids))
        if not sku_ids:
            return 0
        where.append(f"l.sku_id IN ({', '.join(['%s'] * len(sku_ids))})")
        params.extend(sku_ids)
    if listing_ids is not None:
        listing_ids = sorted(set(listing_ids))
        if not listing_ids:
            return 0
        where.append(f"l.id IN ({', '.join(['%s'] * len(listing_ids))})")
        params.extend(listing_ids)
    sql, head = push_request_sql(join="", where=where)
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, [*head, *params])
        return cursor.rowcount


def push_request_sql(*, join: str, where: list[str]) -> tuple[str, list]:
    """The outbox upsert of `request_pushes` as SQL and its leading parameters (token, times, flags),
    for callers that chain it to the statement that changed the stock (`join` may name a CTE aliased
    `r` with a `sku_id` column). `where`'s own parameters follow the returned ones."""
    listing = ChannelListing._meta.db_table
    push = StockPush._meta.db_table
    connection = transaction.get_connection()
    token = StockPush._meta.get_field("token").get_db_prep_value(uuid.uuid4(), connection)
    now = StockPush._meta.get_field("requested_at").get_db_prep_value(timezone.now(), connection)
    sql = (
        f"INSERT INTO {push} (listing_id, token, requested_at, next_attempt_at, attempts, last_error) "  # noqa: S608
        f"SELECT l.id, %s, %s, %s, 0, '' FROM {listing} l "
        f"INNER JOIN {Channel._meta.db_table} c ON c.id = l.channel_id {join}"
        f"WHERE l.enabled = %s AND c.enabled = %s {''.join(' AND ' + w for w in where)} ORDER BY l.id "
        "ON CONFLICT (listing_id) DO UPDATE SET token = excluded.token, requested_at = excluded.requested_at"
    )
    return sql, [token, now, now, True, True]


def presale_switch_due(*, available: dict[int, int], skus: dict[int, Sku]) -> bool:
    """Whether `sync_presale` would switch any of these SKUs (read with their levels, no query): the
    locked section calls it only then, so the usual reservation adds nothing under the stock lock."""
    return any(
        (skus[pk].presale_allowed and level <= skus[pk].safety_stock) != skus[pk].on_presale
        for pk, level in available.items()
        if pk in skus
    ) or not set(available) <= set(skus)


def enqueue_push_drain() -> None:
    """After commit, nudge the stock push drain (coalesced, see `_enqueue`); once per batch of orders
    (`on_commit_coalesced`), which called it per order."""
    on_commit_once(_enqueue_push_drain)


def _enqueue_push_drain() -> None:
    _enqueue("inventory.tasks.drain_stock_pushes", key=PUSH_ENQUEUED_KEY)


def sync_presale(*, available: dict[int, int], skus: dict[int, Sku] | None = None) -> None:
    """Safety stock → presale: a presale-allowed SKU whose available stock falls to its safety
    stock goes presale on every channel; above the threshold it comes back. Both are inventory
    events, not alerts: the switch is the designed answer to low stock, nobody has to act on it (the
    dashboard counts SKUs on presale; a fresh demo opened with two such "alerts"). SKUs that do not
    allow presale never switch (their listings simply sell out)."""
    from orders.services import alert_resolve

    if skus is not None and set(available) <= set(skus):  # read with the locked levels: no query
        candidates = [skus[pk] for pk in available if skus[pk].presale_allowed or skus[pk].on_presale]
    else:
        candidates = Sku.objects.filter(Q(presale_allowed=True) | Q(on_presale=True), pk__in=list(available)).only(
            "pk", "code", "name", "safety_stock", "presale_allowed", "on_presale"
        )
    for sku in candidates:
        level = available[sku.pk]
        should = sku.presale_allowed and level <= sku.safety_stock  # presale just disallowed: off
        if should == sku.on_presale:
            continue
        # Conditional update: it sees the latest committed flag even if `sku` was read stale, so a
        # switch is recorded once.
        switched = Sku.objects.filter(pk=sku.pk, on_presale=not should).update(on_presale=should)
        sku.on_presale = should
        if not switched:
            continue
        ChannelListing.objects.filter(sku_id=sku.pk).update(presale=should)
        note = texts.wording(
            "stock.presale_on" if should else "stock.presale_off",
            sku=sku.code,
            name=sku.name,
            available=level,
            safety=sku.safety_stock,
        )
        InventoryEvent.objects.create(
            kind=EventKind.PRESALE_ON if should else EventKind.PRESALE_OFF,
            sku=sku,
            message=texts.english(note),
            data={"available": level, "wording": note},
        )
        if not should:
            alert_resolve(key=f"inventory:presale:{sku.code}")  # one raised before presale stopped alerting


@transaction.atomic
def sku_settings_changed(*, sku_ids: Iterable[int]) -> None:
    """After ops edit a SKU (safety stock, presale) or a listing (buffer, new listing): re-evaluate
    the presale switch under the stock locks, align every listing's presale flag with its SKU, and
    push the new figures. Runs inside the admin's transaction (hence not durable)."""
    from inventory import locks

    sku_ids = sorted(set(sku_ids))
    levels = locks.stock_levels_for_update(sku_ids=sku_ids)
    available = dict.fromkeys(sku_ids, 0)
    for level in levels:
        if level.warehouse.active:
            available[level.sku_id] += level.on_hand - level.reserved
    request_pushes(sku_ids=sku_ids)
    sync_presale(available=available)
    for sku_id, on_presale in Sku.objects.filter(pk__in=sku_ids).values_list("pk", "on_presale"):
        ChannelListing.objects.filter(sku_id=sku_id).exclude(presale=on_presale).update(presale=on_presale)
    enqueue_push_drain()


PUSH_ENQUEUED_KEY = "inventory:enqueued:push"


def _enqueue(func: str, *args, key: str | None) -> None:
    """Queue a django-q2 task after commit. Coalesced by a cache key that the drain task clears
    when it starts: while a drain is queued and not yet started, more changes need no new task
    (it will see their rows); a change after it started queues the next one. The key expires
    after a few seconds in case a task is lost (with a per-process cache, i.e. no Redis, that is
    the coalescing window); the one-minute drain schedule and the sweep catch anything else."""
    from django.conf import settings

    if not getattr(settings, "INVENTORY_ENQUEUE_TASKS", True):
        return
    if key and not cache.add(key, 1, timeout=5):
        return
    try:
        from django_q.tasks import async_task

        async_task(func, *args)
    except Exception:  # the broker being down must not fail the business transaction
        logger.warning("could not enqueue %s; the periodic sweep will catch up", func, exc_info=True)
