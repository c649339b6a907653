"""The million-order database: what a merchant at ~33,000 orders a day holds after a month, written
with set-based SQL so it takes minutes, not hours (PostgreSQL only).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_million .venv/bin/python bench/million.py \
        [--orders 1000000] [--days 30] [--open-tasks 10000]

The database named by DATABASE_URL is migrated first; the script refuses one that already holds
orders unless `--force` (then the order tables are emptied first). Benchmarks import `build()` or
reuse a database built once (`bench/scale.py --reuse`, and the other `bench/*_scale.py`).

What it writes, every row shaped as the product writes it (states, events, tasks, parcels):
- six channels (one per platform), one warehouse, 1,000 SKUs with stock and a listing per channel,
  five ops users (assignees);
- `--orders` orders received over `--days` days, newest densest; by age and a deterministic
  spread: 3 % cancelled, one order in `orders / open_tasks` on hold with an open exception task, the
  last two hours' orders ready / printed / awaiting stock, the rest shipped (delivered after 3 days);
- 1–3 lines per order (≈ 2 M), two events per order (≈ 2 M: received, then the route or the
  shipment), a rule hit per held order, resolved tasks on 2 % of the shipped orders;
- one parcel per shipped order with its parcel lines and a done write-back.
Receiver phones are distinct 11-digit numbers, so a search by phone finds one order.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou", "manual")
SKUS = 1000
OPS_USERS = 5


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
    import django

    django.setup()


def build(*, orders: int = 1_000_000, days: int = 30, open_tasks: int = 10_000, force: bool = False) -> dict:
    """Fill the (migrated) default database; returns the row counts it wrote."""
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("bench/million.py needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_million")
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order")
        if cursor.fetchone()[0] and not force:
            sys.exit("this database already holds orders: pass --force to empty the order tables and rebuild")
    ids = _base_rows()
    step = max(orders // max(open_tasks, 1), 2)
    steps = [
        ("emptying order tables", _EMPTY),
        ("orders", _ORDERS),
        ("lines", _LINES),
        ("events", _EVENTS),
        ("open exception tasks", _OPEN_TASKS),
        ("resolved exception tasks", _RESOLVED_TASKS),
        ("rule hits", _RULE_HITS),
        ("parcels", _PARCELS),
        ("parcel lines", _PARCEL_LINES),
        ("write-backs", _WRITE_BACKS),
        ("sequences and statistics", _FINISH),
    ]
    params = {
        "n": orders,
        "days": days,
        "step": step,
        "channels": ids["channels"],
        "users": ids["users"],
        "warehouse": ids["warehouse"],
        "carrier": ids["carrier"],
    }
    started = time.perf_counter()
    for label, sql in steps:
        t0 = time.perf_counter()
        print(f"  {label} …", end="", flush=True)
        with connection.cursor() as cursor:
            for statement in sql.strip().split(";\n"):
                if statement.strip():
                    cursor.execute(statement, params)
        print(f" {time.perf_counter() - t0:.1f} s", flush=True)
    counts = {}
    with connection.cursor() as cursor:
        for table in (
            "orders_order",
            "orders_orderline",
            "orders_orderevent",
            "rules_exceptiontask",
            "rules_rulehit",
            "shipping_shipment",
            "shipping_writeback",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def _base_rows() -> dict:
    """Channels, warehouse, SKUs with stock and listings, assignees: the few rows the ORM writes."""
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from inventory.models import Sku, StockLevel, Warehouse
    from orders.models import Channel
    from shipping.models import Carrier

    channels = []
    for platform in PLATFORMS:
        channel, _ = Channel.objects.get_or_create(
            platform=platform,
            name=f"bench-{platform}",
            defaults={"app_key": f"bench-{platform}", "app_secret": "bench", "webhook_secret": "bench"},
        )
        channels.append(channel.pk)
    warehouse, _ = Warehouse.objects.get_or_create(code="BENCH", defaults={"name": "Bench warehouse"})
    existing = set(Sku.objects.filter(code__startswith="BENCH-").values_list("code", flat=True))
    Sku.objects.bulk_create(
        [Sku(code=f"BENCH-{i:04d}", name=f"商品 {i:04d}") for i in range(SKUS) if f"BENCH-{i:04d}" not in existing]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO inventory_stocklevel (on_hand, reserved, updated_at, sku_id, warehouse_id) "
            "SELECT 100000, 0, now(), s.id, %s FROM inventory_sku s WHERE s.code LIKE 'BENCH-%%' "
            "ON CONFLICT DO NOTHING",
            [warehouse.pk],
        )
    assert StockLevel.objects.filter(warehouse=warehouse).exists()
    ops = Group.objects.filter(name="ops").first()
    users = []
    for i in range(OPS_USERS):
        user, created = User.objects.get_or_create(username=f"bench-ops-{i}", defaults={"is_staff": True})
        if created and ops:
            user.groups.add(ops)
        users.append(user.pk)
    carrier = Carrier.objects.order_by("pk").first()
    if carrier is None:
        carrier = Carrier.objects.create(code="SF", name="顺丰速运")
    return {"channels": channels, "users": users, "warehouse": warehouse.pk, "carrier": carrier.pk}


# Each SQL block runs statement by statement (split on ";\n"). Orders are numbered g = 1..n; g
# decides everything, so a rebuild writes the same database. received_at: newest densest
# (age = days × (g/n)²), so "today" holds ~1/sqrt(days) of the orders… spread evenly enough for
# per-day charts and heavy enough on recent days for the "at risk" and "today" counts.
_EMPTY = """
TRUNCATE orders_order, orders_orderline, orders_orderevent, rules_exceptiontask, rules_rulehit,
    shipping_shipment, shipping_shipmentline, shipping_writeback, shipping_writebackattempt,
    shipping_buyernotice, shipping_trackingsubscription, shipping_trackingevent, shipping_printrecord,
    shipping_scanrecord, inventory_stockreservation, rules_historicalexceptiontask, shipping_historicalwriteback,
    shipping_historicalshipment CASCADE
"""

_ORDERS = """
CREATE TEMP TABLE bench_g AS
SELECT g,
       (%(channels)s::bigint[])[1 + (g %% 6)] AS channel_id,
       now() - make_interval(secs => (%(days)s * 86400.0) * power(g::float / %(n)s, 2)) AS received_at
FROM generate_series(1, %(n)s) g;
INSERT INTO orders_order (
    id, channel_id, external_id, state, platform_status, platform_status_raw, refund_requested, platform_hold,
    buyer_nick, buyer_id, receiver_name, receiver_phone, receiver_province, receiver_city, receiver_district,
    receiver_town, receiver_address, receiver_zip, receiver_masked, receiver_cipher, goods_amount, postage,
    discount_amount, paid_amount, coupons, buyer_message, seller_memo, is_presale, platform_created_at, paid_at,
    platform_modified_at, ship_by, lane, priority, tags, hold_reason, hold_wording, raw_payload, source, received_at,
    updated_at, state_changed_at)
SELECT g, channel_id, 'B' || lpad(g::text, 12, '0'),
       CASE WHEN g %% 100 < 3 THEN 'cancelled'
            WHEN g %% %(step)s = 3 THEN 'on_hold'
            WHEN received_at > now() - interval '2 hours' THEN
                 (ARRAY['ready', 'ready', 'printed', 'awaiting_stock'])[1 + (g %% 4)]
            WHEN received_at < now() - interval '3 days' THEN 'delivered'
            ELSE 'shipped' END,
       CASE WHEN g %% 100 < 3 THEN 'cancelled' ELSE 'awaiting_shipment' END,
       CASE WHEN g %% 100 < 3 THEN 'TRADE_CLOSED' ELSE 'WAIT_SELLER_SEND_GOODS' END,
       false, false,
       'buyer' || (g %% 200000), '', (ARRAY['张三', '李四', '王小明', '赵敏', '欧阳娜娜'])[1 + (g %% 5)],
       '13' || lpad(((g::bigint * 7919) %% 1000000000)::text, 9, '0'),
       (ARRAY['浙江省', '广东省', '江苏省', '上海', '北京'])[1 + (g %% 5)],
       (ARRAY['杭州市', '广州市', '南京市', '上海市', '北京市'])[1 + (g %% 5)],
       (ARRAY['西湖区', '天河区', '鼓楼区', '浦东新区', '朝阳区'])[1 + (g %% 5)],
       '', '文三路 ' || (g %% 500) || ' 号 ' || (g %% 30) || ' 幢', '', false, '{}',
       (40 + g %% 400)::numeric, 0, 0, (40 + g %% 400)::numeric, '[]',
       CASE WHEN g %% 50 = 7 THEN '请尽快发货' ELSE '' END, '', false,
       received_at - interval '5 minutes', received_at - interval '4 minutes', received_at - interval '4 minutes',
       received_at - interval '4 minutes' + interval '48 hours',
       CASE WHEN g %% 20 = 9 THEN 'promotion' ELSE '' END, 0, '[]',
       CASE WHEN g %% %(step)s = 3 THEN 'exception' ELSE '' END, '{}',
       '{}', CASE WHEN g %% 10 = 0 THEN 'push' ELSE 'pull' END, received_at, received_at,
       received_at + interval '1 second'
FROM bench_g
"""

_LINES = """
INSERT INTO orders_orderline (order_id, external_line_id, platform_item_id, platform_sku_id, sku_code, title,
    quantity, unit_price, discount_amount, paid_amount, refund_status, refund_state)
SELECT o.id, o.id || '-' || k, (o.id %% 1000)::text, ((o.id + k) %% 1000)::text,
       'BENCH-' || lpad(((o.id * 31 + k * 17) %% 1000)::text, 4, '0'), '商品 ' || ((o.id + k) %% 1000),
       1 + (o.id + k) %% 2, 20, 0, 20 * (1 + (o.id + k) %% 2), '', ''
FROM orders_order o, generate_series(1, 1 + (o.id %% 3)::int) k
"""

_EVENTS = """
INSERT INTO orders_orderevent (order_id, kind, from_state, to_state, note, data, at, actor_id)
SELECT id, 'received', '', 'new', 'via ' || source, '{}', received_at, NULL FROM orders_order;
INSERT INTO orders_orderevent (order_id, kind, from_state, to_state, note, data, at, actor_id)
SELECT id,
       CASE state WHEN 'on_hold' THEN 'hold' WHEN 'cancelled' THEN 'cancel' WHEN 'awaiting_stock' THEN 'wait_for_stock'
                  WHEN 'shipped' THEN 'ship' WHEN 'delivered' THEN 'ship' WHEN 'printed' THEN 'mark_printed'
                  ELSE 'accept' END,
       'new', state, '', '{}', received_at + interval '1 second', NULL
FROM orders_order
"""

_OPEN_TASKS = """
INSERT INTO rules_exceptiontask (order_id, exception_type_id, rule_id, state, due_at, note, note_wording, resolution,
    resolution_note, resolution_wording, created_at, assignee_group_id, assignee_user_id)
SELECT o.id, t.id, NULL, 'open', o.received_at + make_interval(mins => t.due_minutes), '', '{}', '', '', '{}',
       o.received_at,
       t.default_group_id,
       CASE WHEN o.id %% 3 = 0 THEN (%(users)s::int[])[1 + (o.id %% array_length(%(users)s::int[], 1))] END
FROM orders_order o
JOIN LATERAL (
    SELECT id, due_minutes, default_group_id FROM rules_exceptiontype
    ORDER BY id OFFSET ((o.id / %(step)s) %% 12) LIMIT 1
) t ON true
WHERE o.state = 'on_hold'
"""

_RESOLVED_TASKS = """
INSERT INTO rules_exceptiontask (order_id, exception_type_id, rule_id, state, due_at, note, note_wording, resolution,
    resolution_note, resolution_wording, created_at, resolved_at, resolved_by_id, assignee_group_id, assignee_user_id)
SELECT o.id, (SELECT id FROM rules_exceptiontype WHERE code = 'address_invalid'), NULL, 'resolved',
       o.received_at + interval '30 minutes', '', '{}', 'fixed', '', '{}', o.received_at,
       o.received_at + interval '20 minutes',
       (%(users)s::int[])[1 + (o.id %% array_length(%(users)s::int[], 1))], NULL, NULL
FROM orders_order o WHERE o.state IN ('shipped', 'delivered') AND o.id %% 50 = 1
"""

_RULE_HITS = """
INSERT INTO rules_rulehit (order_id, rule_id, rule_version, enforced, mode, in_rollout, trigger, facts, at)
SELECT t.order_id, r.id, 1, true, 'active', true, 'ingest', '{}', t.created_at
FROM rules_exceptiontask t
JOIN LATERAL (
    SELECT id FROM rules_interceptrule WHERE exception_type_id = t.exception_type_id ORDER BY id LIMIT 1
) r ON true
"""

_PARCELS = """
INSERT INTO shipping_shipment (id, parcel_key, tracking_number, parent_tracking_number, state, failure_code,
    failure_reason, print_data, weight_grams, item_check, created_at, numbered_at, printed_at, shipped_at,
    delivered_at, carrier_id, channel_id, warehouse_id)
SELECT o.id, 'bench-' || o.id, 'SF' || lpad(o.id::text, 12, '0'), '',
       CASE o.state WHEN 'delivered' THEN 'delivered' ELSE 'shipped' END, '', '', '{}', 500, '{}',
       o.received_at + interval '30 minutes', o.received_at + interval '30 minutes',
       o.received_at + interval '40 minutes',
       o.received_at + make_interval(mins => 60 + (o.id %% 240)::int),
       CASE o.state WHEN 'delivered' THEN o.received_at + interval '2 days' END,
       %(carrier)s, o.channel_id, %(warehouse)s
FROM orders_order o WHERE o.state IN ('shipped', 'delivered')
"""

_PARCEL_LINES = """
INSERT INTO shipping_shipmentline (shipment_id, order_id, order_line_id, quantity)
SELECT l.order_id, l.order_id, l.id, l.quantity
FROM orders_orderline l JOIN shipping_shipment s ON s.id = l.order_id
"""

_WRITE_BACKS = """
INSERT INTO shipping_writeback (shipment_id, order_id, state, attempts, next_attempt_at, last_error, created_at,
    done_at, action, claim_token, failure, note, previous_tracking_number)
SELECT s.id, s.id, 'done', 1, s.shipped_at, '', s.shipped_at, s.shipped_at + interval '1 minute', 'ship', '', '', '', ''
FROM shipping_shipment s
"""

_FINISH = """
SELECT setval(pg_get_serial_sequence('orders_order', 'id'), (SELECT max(id) FROM orders_order));
SELECT setval(pg_get_serial_sequence('shipping_shipment', 'id'), (SELECT coalesce(max(id), 1) FROM shipping_shipment));
DROP TABLE bench_g;
ANALYZE
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--open-tasks", type=int, default=10_000)
    parser.add_argument("--force", action="store_true", help="empty the order tables of a database that has orders")
    args = parser.parse_args()
    setup_django()
    counts = build(orders=args.orders, days=args.days, open_tasks=args.open_tasks, force=args.force)
    for name, value in counts.items():
        print(f"{name:>24}: {value:,}")


if __name__ == "__main__":
    main()
