"""The set-based step of the ingestion pipeline: decide many orders seen for the first time in one
transaction, with one statement per table, and the stock rows locked last and briefly.

Called by `orders.services.ingest_orders()` (which `ingest_order()` calls with a batch of one), never
directly. On PostgreSQL the transaction, top to bottom (`_decide_first`):

1. one SELECT: the orders already stored (they go back to the caller for the per-order update path),
   and ids from the sequences for the others and their lines;
2. map lines to SKUs and read the stock levels *without a lock* (a snapshot), allocate in Python,
   oldest-paid first (inventory.services.allocation);
3. run the rules on each order (rules.engine.decide_new_order: no writes) and move it with its
   state-machine transition in memory;
4. insert the decided orders once, a plain INSERT: an order a concurrent transaction inserted since
   step 1 fails it on the unique key, and the batch is rolled back and decided insert-first;
5. one INSERT each for the lines, the audit events (received + the transition, who/when/why), rule
   hits, exception tasks and reservations;
6. last: the stock rows. One conditional UPDATE (one row) or the rows locked in pk order and one
   UPDATE (several rows), carrying the push outbox upsert in the same statement on PostgreSQL
   (inventory.services.allocation.allocation_confirm); a batch with an order out of stock locks its
   SKUs' rows and finds them as the snapshot had them; COMMIT. A snapshot that no longer holds
   raises PlanOutdated and the caller decides the batch again with the rows locked first.

The insert-first path (`_insert_first`: SQLite, a lost race, the retry after PlanOutdated) inserts
the orders (state new) and lines first, so that it may lock the stock rows before planning, decides,
and writes the decisions with one UPDATE per distinct decision; steps 5 and 6 are the same. Either
way "out of stock" is decided on stock that holds at COMMIT.

Audit: these machine-made changes are recorded in the OrderEvent log (actor empty = the pipeline,
`note` says why, `data` the source), not as django-simple-history rows; see docs/ingestion.md.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import AutoField, DateTimeField, Model
from django.db.models.sql import InsertQuery
from django.utils import timezone
from simple_history.utils import get_change_reason_from_object

from orderhub.db import on_commit_coalesced, prepared_cursor
from orders import services
from orders.models import LineRefundState, Order, OrderEvent, OrderLine, OrderState
from orders.texts import Wording, wording

if TYPE_CHECKING:
    from inventory.models import StockLevel
    from inventory.services.allocation import AllocationPlan, OrderNeeds
    from orders.services import IngestItem, IngestResult
    from rules.engine import CompiledRuleset, NewOrderVerdict

#: the unique key of an order (channel, platform order id): exactly-once
ORDER_UNIQUE_KEY = "order_unique_per_channel"

#: the Order fields the decision writes (one UPDATE for the batch)
DECIDED_FIELDS = ["state", "state_changed_at", "lane", "tags", "priority", "hold_reason", "hold_wording", "updated_at"]


def decide_new_orders(items: Sequence[IngestItem], *, lock_first: bool) -> tuple[dict[int, IngestResult], list[int]]:
    """Decide the items' orders seen for the first time, in one transaction. Returns the results of
    the orders this call created (by position in `items`) and the positions of those already stored.

    On PostgreSQL the orders are decided first and inserted once with their decision (`_decide_first`):
    an INSERT and then an UPDATE of the same rows wrote every order twice, with a second set of entries
    in each of the orders table's indexes. `lock_first` (stock moved since a snapshot), SQLite, and a
    batch the decide-first step gives back take the insert-first path (`_insert_first`)."""
    if connection.vendor == "postgresql" and not lock_first:
        try:
            return _decide_first(items)
        except IntegrityError as exc:
            if not _inserted_concurrently(exc):
                raise
    return _insert_first(items, lock_first=lock_first)


def _inserted_concurrently(exc: IntegrityError) -> bool:
    """Whether the decided orders' INSERT met an order another transaction inserted since the check
    (the unique key of channel and platform order id): the batch is then decided insert-first."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == ORDER_UNIQUE_KEY


def _decide_first(items: Sequence[IngestItem]) -> tuple[dict[int, IngestResult], list[int]]:
    """One SELECT finds the stored orders and takes ids for the rest (orders and lines); decide on an
    unlocked snapshot; INSERT each order once, decided (one a concurrent transaction inserted first
    fails it on the unique key: the batch rolls back, see `decide_new_orders`); then lines, events, hits,
    tasks, reservations, and the stock rows last (`allocation_confirm`). Lock order: orders, stock."""
    from inventory.services.allocation import allocation_plan

    with transaction.atomic(durable=True), on_commit_coalesced():  # a wake-up per batch, not per order
        orders = [_new_order(item) for item in items]
        ids = _stored_or_new_ids(orders=orders, items=items)
        fresh = sorted(ids)
        known = [position for position in range(len(items)) if position not in ids]
        lines = {}
        for p in fresh:
            order_id, line_ids = ids[p]
            orders[p].pk = order_id
            lines[p] = [services._new_line(order=orders[p], line=native) for native in items[p].incoming.lines]
            for line, line_id in zip(lines[p], line_ids, strict=True):
                line.pk = line_id
        needs, snapshot = _stock_needs(orders=orders, lines=lines, positions=fresh)
        # a short plan too: allocation_confirm checks under the lock that the shortage still holds
        plan = allocation_plan(orders=needs, levels=snapshot, locked=False)
        decided = _decide(orders=orders, items=items, lines=lines, positions=fresh, plan=plan, stored=False)
        # a plain INSERT (no ON CONFLICT: cheaper per row); an order inserted concurrently since the
        # check fails it on the unique key and the batch rolls back (decide_new_orders)
        # received and updated when decided: the order's path shows receipt before its rule hits
        raw = _raw_texts(items, fresh)
        bulk_insert(Order, [orders[p] for p in fresh], with_pk=True, now=decided.at, json_texts=raw)
        bulk_insert(OrderLine, [line for p in fresh for line in lines[p]], with_pk=True, now=decided.at)
        _write_decided(orders=orders, positions=fresh, plan=plan, decided=decided)
    return {p: services.IngestResult(order=orders[p], created=True, changed=True) for p in fresh}, known


def _insert_first(items: Sequence[IngestItem], *, lock_first: bool) -> tuple[dict[int, IngestResult], list[int]]:
    """Insert the orders (state new) and their lines, decide, then UPDATE the decided fields: the path
    that can lock the stock rows before planning (they must be taken after the orders)."""
    from inventory.services.allocation import allocation_plan, stock_snapshot

    with transaction.atomic(durable=True), on_commit_coalesced():  # a wake-up per batch, not per order
        orders = [_new_order(item) for item in items]
        created = _insert_orders(orders, positions=range(len(orders)), with_pk=False, items=items)
        known = [position for position in range(len(items)) if position not in created]
        fresh = sorted(created)
        lines = _insert_lines(orders=orders, items=items, positions=fresh)
        needs, snapshot = _stock_needs(orders=orders, lines=lines, positions=fresh)
        sku_ids = {sku_id for need in needs for _, sku_id, _ in need.needs}
        if lock_first:
            snapshot = stock_snapshot(sku_ids=sku_ids, lock=True)
        plan = allocation_plan(orders=needs, levels=snapshot, locked=lock_first)
        if plan.short and not plan.locked:  # decide "out of stock" on locked rows only
            plan = allocation_plan(orders=needs, levels=stock_snapshot(sku_ids=sku_ids, lock=True), locked=True)
        decided = _decide(orders=orders, items=items, lines=lines, positions=fresh, plan=plan, stored=True)
        _save_decisions([orders[p] for p in fresh])
        _write_decided(orders=orders, positions=fresh, plan=plan, decided=decided)
    return {p: services.IngestResult(order=orders[p], created=True, changed=True) for p in fresh}, known


@dataclass
class _Decided:
    """A batch's decisions, before they are written."""

    ruleset: CompiledRuleset
    verdicts: list[tuple[Order, NewOrderVerdict]]
    events: list[NewRow]
    at: datetime


def _decide(
    *,
    orders: list[Order],
    items: Sequence[IngestItem],
    lines: dict[int, list],
    positions: list[int],
    plan: AllocationPlan,
    stored: bool,
) -> _Decided:
    """Run the rules on each order (no writes) and route it in memory, with its audit events (received
    + the first transition). `stored`: whether the orders are in the database yet (batch facts)."""
    from rules.engine import decide_new_order, get_ruleset
    from rules.facts import batch_facts

    ruleset = get_ruleset()
    now = timezone.now()
    events: list[NewRow] = []
    notes: dict = {}
    verdicts = []
    used = {name for rule in ruleset.rules for name in rule.fact_names}
    facts = batch_facts(orders=[orders[p] for p in positions], fact_names=used, stored=stored)
    for position in positions:
        order, item = orders[position], items[position]
        received = services.received_note(item.source)
        events.append(_event(order, "received", to_state=order.state, note=received, at=now, notes=notes))
        verdict = decide_new_order(
            order=order,
            reservation=plan.outcomes[position],
            ruleset=ruleset,
            now=now,
            known_facts=facts[order.pk],
            lines=lines[position],
        )
        events.append(_route(order=order, decision=verdict.decision, at=now, notes=notes))
        order.updated_at = now
        verdicts.append((order, verdict))
    return _Decided(ruleset=ruleset, verdicts=verdicts, events=events, at=now)


def _write_decided(*, orders: list[Order], positions: list[int], plan: AllocationPlan, decided: _Decided) -> None:
    """The rest of the batch's writes, one statement per table, and last the stock rows."""
    from inventory.services.allocation import allocation_confirm, reservations_write
    from rules.services import new_order_verdicts_record

    bulk_insert(OrderEvent, decided.events, set_pks=False)
    new_order_verdicts_record(verdicts=decided.verdicts, ruleset=decided.ruleset, at=decided.at)
    reservations_write(plan=plan, order_ids={p: orders[p].pk for p in positions})
    allocation_confirm(plan=plan)  # the stock rows: last, and only the reservation itself


def _stored_or_new_ids(*, orders: list[Order], items: Sequence[IngestItem]) -> dict[int, tuple[int, list[int]]]:
    """One statement: which orders are not stored yet, each with a new order id and one new line id
    per line (position -> (order id, line ids)). The others are already stored (per-order path)."""
    qn = connection.ops.quote_name
    order_table, line_table = Order._meta.db_table, OrderLine._meta.db_table
    keys = [
        {"k": p, "c": order.channel_id, "e": order.external_id, "n": len(items[p].incoming.lines)}
        for p, order in enumerate(orders)
    ]
    order_seq = f"(SELECT pg_get_serial_sequence('{order_table}', 'id')::regclass)"  # once per statement
    line_seq = f"(SELECT pg_get_serial_sequence('{line_table}', 'id')::regclass)"
    sql = (
        f"SELECT i.k, nextval({order_seq}), "  # noqa: S608
        f"ARRAY(SELECT nextval({line_seq}) FROM generate_series(1, i.n)) "
        "FROM json_to_recordset(%s::json) AS i(k int, c bigint, e text, n int) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {qn(order_table)} o WHERE o.{qn('channel_id')} = i.c "
        f"AND o.{qn('external_id')} = i.e) ORDER BY i.k"
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, [json.dumps(keys)])
        return {k: (order_id, line_ids) for k, order_id, line_ids in cursor.fetchall()}


def takes_the_batch_path(incoming) -> bool:
    """Whether a first-seen order is decided by the set-based step: orders that arrive closed, fully
    refunded or already shipped are rare and take the per-order path (cancel / hold) instead."""
    from orders.services import CLOSED_PLATFORM_STATUSES, SHIPPED_ELSEWHERE_STATUSES, line_refund_state

    if incoming.platform_status in CLOSED_PLATFORM_STATUSES | SHIPPED_ELSEWHERE_STATUSES:
        return False
    states = [line_refund_state(line) for line in incoming.lines]
    return not (states and all(state == LineRefundState.REFUNDED for state in states))


def _new_order(item: IngestItem) -> Order:
    """The unsaved Order of a platform order (as `services._copy_fields` fills it), built with every
    field value at once: `Model.__init__`'s positional form, without a default looked up and then
    overwritten per field (building the orders was ~14 % of a batch's CPU)."""
    attnames, constant, generated = _order_defaults()
    values = dict(constant)
    for field in generated:
        values[field.attname] = field.get_default()
    values.update(services.order_values(item.incoming))
    values.update(channel_id=item.channel.pk, external_id=item.incoming.external_id, source=item.source)
    order = Order(*[values[attname] for attname in attnames])
    order.channel = item.channel  # the related object itself: ship_by and the rules read it
    order.compute_ship_by()
    return order


@functools.cache
def _order_defaults() -> tuple[list[str], dict[str, Any], list]:
    """Order's concrete attnames in field order, the constant defaults, and the fields whose default is
    made per instance (a callable: a new dict or list, the current time)."""
    fields = Order._meta.concrete_fields
    generated = [f for f in fields if f.has_default() and callable(f.default)]
    constant = {f.attname: f.get_default() for f in fields if f not in generated}
    return [f.attname for f in fields], constant, generated


def _insert_orders(
    orders: list[Order], *, positions: Sequence[int], with_pk: bool, items: Sequence[IngestItem]
) -> set[int]:
    """One INSERT … ON CONFLICT DO NOTHING for the orders at `positions`; sets the pk of the rows
    inserted (or, `with_pk`, inserts the pks they carry) and returns their positions (the rest exist)."""
    qn = connection.ops.quote_name
    conflict = (
        f" ON CONFLICT ({qn('channel_id')}, {qn('external_id')}) DO NOTHING"
        f" RETURNING {qn('id')}, {qn('channel_id')}, {qn('external_id')}"
    )
    batch = [orders[p] for p in positions]
    rows = insert_rows(Order, batch, suffix=conflict, with_pk=with_pk, json_texts=_raw_texts(items, positions))
    position = {(orders[p].channel_id, orders[p].external_id): p for p in positions}
    created = set()
    for pk, channel_id, external_id in rows:
        index = position[(channel_id, external_id)]
        orders[index].pk = pk
        orders[index]._state.adding = False
        orders[index]._state.db = connection.alias
        created.add(index)
    return created


def _raw_texts(items: Sequence[IngestItem], positions: Sequence[int]) -> dict[str, list[str | None]]:
    """The orders' raw payloads that are still the JSON text they came as (NormalizedOrder.raw_text)."""
    return {"raw_payload": [items[p].incoming.raw_text for p in positions]}


def insert_rows(
    model,
    objs: Sequence,
    *,
    suffix: str,
    with_pk: bool = False,
    now=None,
    json_texts: dict[str, Sequence[str | None]] | None = None,
) -> list[tuple]:
    """INSERT `objs` in one statement followed by `suffix` (ON CONFLICT, RETURNING); returns the rows.
    `with_pk`: the objects carry their ids (taken from the sequence beforehand), inserted as they are.
    `json_texts`: for a JSON field (by attname), each object's value already as JSON text, or None
    (encode the value); on PostgreSQL the text goes into the rows' JSON as it is.

    On PostgreSQL: `INSERT … SELECT … FROM json_populate_recordset(NULL::table, %s::json)`, the rows
    as one JSON parameter (`json.dumps` in C: the per-value array dumping of psycopg was ~16 % of a
    batch's CPU) and no per-value SQL compilation. Values get the fields' own save preparation where
    JSON cannot carry them as they are; other databases (SQLite) use Django's insert compiler."""
    if not objs:
        return []
    fields = [f for f in model._meta.concrete_fields if with_pk or not isinstance(f, AutoField)]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    if connection.vendor != "postgresql":
        query = InsertQuery(model)
        query.insert_values(fields, objs, raw=False)
        [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    else:
        rows: list[dict] = [{} for _ in objs]
        spliced: list[str] = []
        plain = not isinstance(objs[0], Model)  # NewRows may leave fields out (their defaults)
        now = now or timezone.now()  # one time for the statement's auto_now fields (Django takes one per row)
        for f in fields:
            attname = f.attname
            if isinstance(f, DateTimeField) and (f.auto_now or f.auto_now_add):
                values = [now] * len(objs)
                for obj in objs:
                    setattr(obj, attname, now)
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                values = [f.pre_save(obj, add=True) for obj in objs]
            elif plain:
                values = [getattr(obj, attname, _DEFAULT) for obj in objs]
                if any(value is _DEFAULT for value in values):
                    values = [f.get_default() if value is _DEFAULT else value for value in values]
            else:
                values = [getattr(obj, attname) for obj in objs]
            kind = f.get_internal_type()
            if kind == "DateTimeField":  # as text here: cheaper than the encoder's hook per value
                values = [v.isoformat() if isinstance(v, datetime) else v for v in values]
            elif kind == "DecimalField":
                values = [str(v) if isinstance(v, Decimal) else v for v in values]
            elif kind == "JSONField" and f.encoder is not None:  # the field's own JSON
                values = [v if v is None else json.loads(json.dumps(v, cls=f.encoder)) for v in values]
            if json_texts and attname in json_texts:  # a placeholder, replaced by the text below
                for index, text in enumerate(json_texts[attname]):
                    if text is not None:
                        values[index] = f"{_MARK}{len(spliced)}\x00"
                        spliced.append(text)
            column = f.column
            for row, value in zip(rows, values, strict=True):
                row[column] = value
        columns = ", ".join(qn(f.column) for f in fields)
        sql = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s::json)"  # noqa: S608
        params = [json.dumps(rows, default=_json_value)]  # ASCII: a lone surrogate is the database's to refuse
        if spliced:
            params = [_PLACEHOLDER.sub(lambda found: spliced[int(found[1])], params[0])]
        with prepared_cursor() as cursor:  # the rows travel as a parameter, not quoted into the SQL
            cursor.execute(sql + suffix, params)
            return cursor.fetchall() if cursor.description else []
    with connection.cursor() as cursor:
        cursor.execute(sql + suffix, params)
        return cursor.fetchall() if cursor.description else []


_DEFAULT = object()
#: a `json_texts` placeholder: a string no stored text can hold (PostgreSQL refuses NUL in text and
#: JSON), found in the rows' JSON as json.dumps writes it
_MARK = "\x00\x01orderhub-json:"
_PLACEHOLDER = re.compile(re.escape(json.dumps(_MARK)[:-1]) + r'([0-9]+)\\u0000"')


def _json_value(value: Any) -> Any:
    """A column value JSON has no type for, as text the column's type reads back exactly (numeric,
    timestamptz, date, uuid, interval)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, timedelta):
        return f"{value.days} days {value.seconds} seconds {value.microseconds} microseconds"
    raise TypeError(f"{type(value).__name__} cannot be stored by insert_rows")


def _insert_lines(*, orders: list[Order], items: Sequence[IngestItem], positions: list[int]) -> dict[int, list]:
    from orders.services import _new_line

    lines = {p: [_new_line(order=orders[p], line=native) for native in items[p].incoming.lines] for p in positions}
    bulk_insert(OrderLine, [line for p in positions for line in lines[p]])
    return lines


class NewRow(SimpleNamespace):
    """A new row for `bulk_insert` given as its values by attname (a field left out takes its
    default), for rows nothing reads back as a model instance (audit events, reservations, rule hits):
    it costs a fraction of a model instance to build (`Model.__init__` was ~14 % of a batch's CPU)."""


def bulk_insert(
    model,
    objs: Sequence,
    *,
    with_pk: bool = False,
    set_pks: bool = True,
    now=None,
    json_texts: dict[str, Sequence[str | None]] | None = None,
) -> None:
    """`bulk_create` for new rows of the batch (model instances or `NewRow`s), through `insert_rows` on
    PostgreSQL. Sets the pks unless `set_pks` is False (nothing reads them); `with_pk`: the objects
    carry their ids already; `now`: the time of their auto_now fields (default: the statement's);
    `json_texts`: see `insert_rows`."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        instances = [model(**vars(obj)) if isinstance(obj, NewRow) else obj for obj in objs]
        model.objects.bulk_create(instances)
        pairs = [(obj, instance.pk) for obj, instance in zip(objs, instances, strict=True)]
    elif with_pk or not set_pks:
        insert_rows(model, objs, suffix="", with_pk=with_pk, now=now, json_texts=json_texts)
        pairs = [(obj, obj.pk) for obj in objs] if with_pk else []
    else:
        returned = insert_rows(model, objs, suffix=' RETURNING "id"', json_texts=json_texts)
        pairs = [(obj, pk) for obj, (pk,) in zip(objs, returned, strict=True)]
    for obj, pk in pairs:
        obj.pk = pk
        if not isinstance(obj, NewRow):
            obj._state.adding = False
            obj._state.db = connection.alias


def bulk_insert_with_history(model, objs: Sequence[Model], *, at: datetime) -> None:
    """`bulk_insert` of new model instances (their pks set) and, in one INSERT more, their
    django-simple-history "created" rows, as `simple_history.utils.bulk_create_with_history` writes
    them (user from the request if any, change reason from the instance), dated `at`. Why not that
    helper: Django's bulk_create compiled and quoted every value of both INSERTs, ~15 % of a drainer's
    CPU when half a flash sale's orders open a task."""
    bulk_insert(model, objs)
    if not objs or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    history = model.history.model
    tracked = [field.attname for field in history.tracked_fields]
    user = history._meta.get_field("history_user").attname
    rows = []
    for obj in objs:
        default_user = history.get_default_history_user(obj)
        values = {attname: getattr(obj, attname) for attname in tracked}
        values.update(
            history_date=getattr(obj, "_history_date", at),
            history_change_reason=get_change_reason_from_object(obj) or None,
            history_type="+",
        )
        values[user] = getattr(getattr(obj, "_history_user", default_user), "pk", None)
        rows.append(NewRow(**values))
    bulk_insert(history, rows, set_pks=False)


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


def _route(*, order: Order, decision, at, notes: dict) -> NewRow:
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
    return _event(order, name, from_state=before, to_state=order.state, note=note, at=at, notes=notes)


def _event(
    order: Order, kind: str, *, from_state: str = "", to_state: str = "", note: str | Wording = "", at, notes: dict
) -> NewRow:
    """An audit event of the batch. `notes`: the batch's rendered notes (a coded note's English text is
    rendered once per batch, not once per order: most orders share "checks passed")."""
    # a coded note's key: its code alone in the usual case, else its repr (json.dumps with sorted keys
    # cost more than the rest of the event); equal notes spelled in another key order just miss the cache
    if isinstance(note, dict):
        key = ("code", note["code"]) if note.keys() == {"code"} else ("repr", repr(note))
    else:
        key = note
    try:
        text, data = notes[key]
    except KeyError:
        text, data = notes[key] = services.event_note_fields(note=note, data=None)
    return NewRow(order_id=order.pk, kind=kind, from_state=from_state, to_state=to_state, note=text, data=data, at=at)
