"""The set-based step of the ingestion pipeline: decide many orders seen for the first time in one
transaction, with one statement per table, and the stock rows locked last and briefly.

Called by `orders.services.ingest_orders()` (which `ingest_order()` calls with a batch of one), never
directly. The transaction, top to bottom:

1. insert the orders, `INSERT … ON CONFLICT (channel, external_id) DO NOTHING RETURNING`: an order
   already stored (or being inserted by a concurrent transaction, which the unique index makes us
   wait for) is not inserted and goes back to the caller for the per-order update path;
2. insert every line in one statement;
3. map lines to SKUs and read the stock levels *without a lock* (a snapshot), allocate in Python,
   oldest-paid first (inventory.services.allocation); a batch with an order left short locks the
   rows now and plans again, so "out of stock" is always decided on locked stock;
4. run the rules on each order (rules.engine.decide_new_order: no writes) and move it with its
   state-machine transition in memory;
5. write: one UPDATE for the orders' state, lane, tags, priority and hold reason; one INSERT for the
   audit events (received + the transition, who/when/why); one each for rule hits, exception tasks
   and reservations;
6. last: the stock rows. One conditional UPDATE (one row) or the rows locked in pk order and one
   UPDATE (several rows), carrying the push outbox upsert in the same statement on PostgreSQL
   (inventory.services.allocation.allocation_confirm); COMMIT. A snapshot that no longer holds raises
   PlanOutdated and the caller decides the batch again with the rows locked first.

Audit: these machine-made changes are recorded in the OrderEvent log (actor empty = the pipeline,
`note` says why, `data` the source), not as django-simple-history rows; see docs/ingestion.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import AutoField
from django.db.models.sql import InsertQuery
from django.utils import timezone

from orders import services
from orders.models import LineRefundState, Order, OrderEvent, OrderLine, OrderState
from orders.texts import Wording, wording

if TYPE_CHECKING:
    from inventory.models import StockLevel
    from inventory.services.allocation import OrderNeeds
    from orders.services import IngestItem, IngestResult

#: the Order fields the decision writes (one UPDATE for the batch)
DECIDED_FIELDS = ["state", "state_changed_at", "lane", "tags", "priority", "hold_reason", "hold_wording", "updated_at"]


def decide_new_orders(items: Sequence[IngestItem], *, lock_first: bool) -> tuple[dict[int, IngestResult], list[int]]:
    """Insert and decide the items' orders in one transaction. Returns the results of the orders this
    call created (by position in `items`) and the positions of those already stored."""
    from inventory.services.allocation import (
        allocation_confirm,
        allocation_plan,
        reservations_write,
        stock_snapshot,
    )
    from orders.services import IngestResult
    from rules.engine import decide_new_order, get_ruleset
    from rules.facts import batch_facts
    from rules.services import new_order_verdicts_record

    with transaction.atomic(durable=True):
        orders = [_new_order(item) for item in items]
        created = _insert_orders(orders)
        known = [position for position in range(len(items)) if position not in created]
        fresh = sorted(created)
        lines = _insert_lines(orders=orders, items=items, positions=fresh)
        ruleset = get_ruleset()
        needs, snapshot = _stock_needs(orders=orders, lines=lines, positions=fresh)
        sku_ids = {sku_id for need in needs for _, sku_id, _ in need.needs}
        if lock_first:
            snapshot = stock_snapshot(sku_ids=sku_ids, lock=True)
        plan = allocation_plan(orders=needs, levels=snapshot, locked=lock_first)
        if plan.short and not plan.locked:  # decide "out of stock" on locked rows only
            plan = allocation_plan(orders=needs, levels=stock_snapshot(sku_ids=sku_ids, lock=True), locked=True)

        now = timezone.now()
        events: list[OrderEvent] = []
        verdicts = []
        used = {name for rule in ruleset.rules for name in rule.fact_names}
        facts = batch_facts(orders=[orders[p] for p in fresh], fact_names=used)
        for position in fresh:
            order, item = orders[position], items[position]
            events.append(
                _event(order, "received", to_state=order.state, note=services.received_note(item.source), at=now)
            )
            verdict = decide_new_order(
                order=order, reservation=plan.outcomes[position], ruleset=ruleset, now=now, known_facts=facts[order.pk]
            )
            events.extend(_route(order=order, decision=verdict.decision, at=now))
            order.updated_at = now
            verdicts.append((order, verdict))
        _save_decisions([orders[p] for p in fresh])
        if events:
            bulk_insert(OrderEvent, events)
        new_order_verdicts_record(verdicts=verdicts, ruleset=ruleset, at=now)
        reservations_write(plan=plan, order_ids={p: orders[p].pk for p in fresh})
        allocation_confirm(plan=plan)  # the stock rows: last, and only the reservation itself
    results = {p: IngestResult(order=orders[p], created=True, changed=True) for p in fresh}
    return results, known


def takes_the_batch_path(incoming) -> bool:
    """Whether a first-seen order is decided by the set-based step: orders that arrive closed, fully
    refunded or already shipped are rare and take the per-order path (cancel / hold) instead."""
    from orders.services import CLOSED_PLATFORM_STATUSES, SHIPPED_ELSEWHERE_STATUSES, line_refund_state

    if incoming.platform_status in CLOSED_PLATFORM_STATUSES | SHIPPED_ELSEWHERE_STATUSES:
        return False
    states = [line_refund_state(line) for line in incoming.lines]
    return not (states and all(state == LineRefundState.REFUNDED for state in states))


def _new_order(item: IngestItem) -> Order:
    from orders.services import _copy_fields

    order = Order(channel=item.channel, external_id=item.incoming.external_id, source=item.source)
    _copy_fields(order=order, incoming=item.incoming)
    return order


def _insert_orders(orders: list[Order]) -> set[int]:
    """One INSERT … ON CONFLICT DO NOTHING for every order; sets the pk of the rows inserted and
    returns their positions (the rest already exist)."""
    qn = connection.ops.quote_name
    conflict = (
        f" ON CONFLICT ({qn('channel_id')}, {qn('external_id')}) DO NOTHING"
        f" RETURNING {qn('id')}, {qn('channel_id')}, {qn('external_id')}"
    )
    rows = insert_rows(Order, orders, suffix=conflict)
    position = {(order.channel_id, order.external_id): index for index, order in enumerate(orders)}
    created = set()
    for pk, channel_id, external_id in rows:
        index = position[(channel_id, external_id)]
        orders[index].pk = pk
        orders[index]._state.adding = False
        orders[index]._state.db = connection.alias
        created.add(index)
    return created


def insert_rows(model, objs: Sequence, *, suffix: str) -> list[tuple]:
    """INSERT `objs` in one statement followed by `suffix` (ON CONFLICT, RETURNING); returns the rows.

    On PostgreSQL: `INSERT … SELECT * FROM unnest(%s::type[], …)`, one array parameter per column. It
    binds ~30 parameters where a multi-row VALUES binds one per value (thousands per batch, slower to
    bind than to run) and skips Django's per-value compilation, the largest Python cost of a batch
    (docs/performance.md). Values get the fields' own save preparation; other databases (SQLite)
    use Django's insert compiler."""
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoField)]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    if connection.vendor != "postgresql":
        query = InsertQuery(model)
        query.insert_values(fields, objs, raw=False)
        [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    else:
        real = transaction.get_connection()  # not the proxy: its attribute lookups add up per value
        arrays = []
        for f in fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                values = [f.pre_save(obj, add=True) for obj in objs]
            else:
                attname = f.attname
                values = [getattr(obj, attname) for obj in objs]
            kind = f.get_internal_type()
            if kind == "DecimalField":  # the column rounds; only non-Decimal values need converting
                values = [v if v is None or isinstance(v, Decimal) else f.get_db_prep_save(v, real) for v in values]
            elif kind in _PREPARED_TYPES:
                values = [f.get_db_prep_save(value, real) for value in values]
            arrays.append(values)
        columns = ", ".join(qn(f.column) for f in fields)
        unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({unnest})"  # noqa: S608
        params = arrays
    with connection.cursor() as cursor:
        cursor.execute(sql + suffix, params)
        return cursor.fetchall() if cursor.description else []


#: field types whose Python value needs the field's save preparation before psycopg can send it (JSON
#: wrapped as jsonb); the rest (text, numbers, booleans, datetimes) go as they are
_PREPARED_TYPES = {"JSONField", "UUIDField", "DurationField"}


def _insert_lines(*, orders: list[Order], items: Sequence[IngestItem], positions: list[int]) -> dict[int, list]:
    from orders.services import _new_line

    lines = {p: [_new_line(order=orders[p], line=native) for native in items[p].incoming.lines] for p in positions}
    bulk_insert(OrderLine, [line for p in positions for line in lines[p]])
    return lines


def bulk_insert(model, objs: list) -> None:
    """`bulk_create` for new rows of the batch, through `insert_rows` on PostgreSQL (sets the pks)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    for obj, (pk,) in zip(objs, insert_rows(model, objs, suffix=' RETURNING "id"'), strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def _stock_needs(
    *, orders: list[Order], lines: dict[int, list], positions: list[int]
) -> tuple[list[OrderNeeds], list[StockLevel]]:
    """What each order asks of the stock (lines that ship, mapped to SKUs), sorted oldest-paid first
    (the allocation order of a batch), and an unlocked snapshot of those SKUs' stock rows: one query
    per channel in the usual case (inventory.selectors.stock_for_lines)."""
    from inventory.selectors import line_ships, stock_for_lines
    from inventory.services.allocation import OrderNeeds

    by_channel: dict[int, list] = defaultdict(list)
    for p in positions:
        by_channel[orders[p].channel_id].extend(line for line in lines[p] if line_ships(line))
    mapping: dict[int, int] = {}
    snapshot: dict[int, StockLevel] = {}
    for channel_id, channel_lines in by_channel.items():
        channel_mapping, levels = stock_for_lines(channel_id=channel_id, lines=channel_lines)
        mapping.update(channel_mapping)
        snapshot.update((level.pk, level) for level in levels)
    needs = []
    for p in positions:
        shipping = [line for line in lines[p] if line_ships(line)]
        needs.append(
            OrderNeeds(
                key=p,
                needs=[(line.pk, mapping[line.pk], line.quantity) for line in shipping if line.pk in mapping],
                unmatched=[line.pk for line in shipping if line.pk not in mapping],
                requested={line.pk: line.quantity for line in shipping},
            )
        )
    latest = timezone.now()
    needs.sort(key=lambda need: (orders[need.key].paid_at or latest, need.key))
    return needs, [snapshot[pk] for pk in sorted(snapshot)]


def _save_decisions(orders: list[Order]) -> None:
    """Write the decided fields: one UPDATE per distinct decision (a flash sale's orders mostly share
    one: ready, no lane, no tag), cheaper to build and run than a per-row CASE over the batch."""
    groups: dict[str, tuple[dict, list[int]]] = {}
    for order in orders:
        values = {name: getattr(order, name) for name in DECIDED_FIELDS}
        key = json.dumps(values, sort_keys=True, default=str)
        groups.setdefault(key, (values, []))[1].append(order.pk)
    for values, pks in groups.values():
        Order.objects.filter(pk__in=pks).update(**values)


def _route(*, order: Order, decision, at) -> list[OrderEvent]:
    """`services.apply_decision()` for a new order, in memory: lane, tags, priority and the first
    transition, returned as its audit event (written with the batch's)."""
    order.lane = decision.lane
    order.tags = sorted(set(order.tags) | set(decision.tags))
    if decision.priority is not None:
        order.priority = decision.priority
    reason = services.decision_reason(decision)
    before = order.state
    if decision.route == OrderState.ON_HOLD:
        order.hold()
        services.set_hold_reason(order=order, reason=reason)
        name, note = "hold", reason
    elif decision.route == OrderState.AWAITING_STOCK:
        order.wait_for_stock()
        name, note = "wait_for_stock", reason
    else:
        order.accept()
        services.set_hold_reason(order=order, reason="")
        name, note = "accept", reason or wording("order.checks_passed")
    order.state_changed_at = at
    return [_event(order, name, from_state=before, to_state=order.state, note=note, at=at)]


def _event(
    order: Order, kind: str, *, from_state: str = "", to_state: str = "", note: str | Wording = "", at
) -> OrderEvent:
    text, data = services.event_note_fields(note=note, data=None)
    return OrderEvent(order=order, kind=kind, from_state=from_state, to_state=to_state, note=text, data=data, at=at)
