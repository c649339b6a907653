"""The exception workbench at scale: server time and queries of the workbench page with 10,000 open
tasks, against a raw-SQL baseline of the same page (its rows and its count) measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python bench/workbench.py [--open 10000] [--resolved 40000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_workbench_m python bench/workbench.py --existing

Without --existing the run fills a throw-away database (bench/_setup.py): `--open` held orders with
one open to-do each (types, groups, due times and ages spread) and `--resolved` resolved to-dos on the
same orders. With --existing it measures the database as it is (e.g. a copy of the million-order
database, migrated to this branch) and only adds the measuring user (an ops lead).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import BenchDatabase, ratio


def fill(*, open_count: int, resolved_count: int, seed: int = 12) -> None:
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from orders.models import Order
    from orders.tests.factories import make_channel
    from rules.labels import SEEDED_GROUP_NAMES
    from rules.models import ExceptionTask, ExceptionType
    from rules.tests.factories import bulk_orders

    rng = random.Random(seed)
    channels = [make_channel(platform=p, name=f"bench {p}") for p in ("taobao", "jd", "pinduoduo")]
    orders = []
    for index, channel in enumerate(channels):
        share = open_count // len(channels) + (1 if index < open_count % len(channels) else 0)
        orders += bulk_orders(channel, share, seed=seed + index)
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(state="on_hold")
    types = list(ExceptionType.objects.order_by("id"))
    groups = list(Group.objects.filter(name__in=SEEDED_GROUP_NAMES))
    now = timezone.now()
    tasks = []
    for order in orders:
        etype = rng.choice(types)
        created = now - timedelta(minutes=rng.randint(1, 3 * 24 * 60))
        tasks.append(
            ExceptionTask(
                order=order,
                exception_type=etype,
                assignee_group=rng.choice(groups),
                due_at=created + timedelta(minutes=etype.due_minutes),
                created_at=created,
                note="bench",
            )
        )
    for _n in range(resolved_count):
        order = rng.choice(orders)
        created = now - timedelta(days=rng.randint(1, 30))
        tasks.append(
            ExceptionTask(
                order=order,
                exception_type=rng.choice(types),
                state="resolved",
                resolution="dismissed",
                due_at=created,
                created_at=created,
                resolved_at=created + timedelta(minutes=30),
            )
        )
    ExceptionTask.objects.bulk_create(tasks, batch_size=2000)


def measure(*, runs: int) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from orderhub import roles
    from rules.labels import SEEDED_GROUP_NAMES
    from rules.models import ExceptionTask, ExceptionType

    user, _created = User.objects.get_or_create(username="bench-ops-lead", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=roles.OPS), *Group.objects.filter(name__in=SEEDED_GROUP_NAMES))
    client = Client()
    client.force_login(user)
    url = reverse("admin:rules_exceptiontask_mine")
    open_count = ExceptionTask.objects.open().count()
    busiest = (
        ExceptionTask.objects.open().values("exception_type").order_by().annotate(n=Count("pk")).order_by("-n").first()
    )
    etype = ExceptionType.objects.get(pk=busiest["exception_type"]) if busiest else ExceptionType.objects.first()
    pages = {
        "everyone, page 1": "?assignee=everyone",
        "mine (my groups), page 1": "",
        f"one type ({etype.code}), page 1": f"?exception_type={etype.pk}&assignee=everyone",
        "everyone, overdue, page 1": "?assignee=everyone&due=overdue",
        "everyone, last page": f"?assignee=everyone&p={max(1, (open_count + 49) // 50)}",
    }
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}   open tasks: {open_count}")
    baseline = _baseline(runs=runs)
    print(f"{'page':42} {'median':>9} {'p90':>9} {'cpu':>8} {'sql':>8} {'queries':>8}  vs raw SQL")
    reference = {"reference: stock admin list (exception types)": reverse("admin:rules_exceptiontype_changelist")}
    for name, target in [*((n, url + q) for n, q in pages.items()), *reference.items()]:
        client.get(target)  # warm
        timings, cpu, sql = [], [], []
        for _n in range(runs):
            with CaptureQueriesContext(connection) as captured:
                start, start_cpu = time.perf_counter(), time.process_time()
                response = client.get(target)
                timings.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
            sql.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
            assert response.status_code == 200, response.status_code
        median = statistics.median(timings)
        p90 = sorted(timings)[max(0, int(len(timings) * 0.9) - 1)]
        print(
            f"{name:42} {median:8.1f}ms {p90:8.1f}ms {statistics.median(cpu):6.1f}ms {statistics.median(sql):6.1f}ms "
            f"{len(captured):8d}  {ratio(median, baseline)}"
        )
    print(f"{'raw SQL baseline (page rows + count)':42} {baseline:8.1f}ms")
    print(f"load average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print("median/p90: wall time of the request in-process (server time); cpu: this process's CPU time;")
    print("sql: time spent in the queries (wall, as seen by Django). Target: under 300 ms server time.")


def _baseline(*, runs: int) -> float:
    """The page's data in raw SQL: 50 open tasks with order, channel, type, person and group, soonest
    due first, and the count of open tasks: what the page cannot do with less."""
    from django.db import connection

    rows_sql = """
        SELECT t.id, t.due_at, t.created_at, o.external_id, o.state, o.ship_by, c.name, et.name, u.username, g.name
        FROM rules_exceptiontask t
        JOIN orders_order o ON o.id = t.order_id
        JOIN orders_channel c ON c.id = o.channel_id
        JOIN rules_exceptiontype et ON et.id = t.exception_type_id
        LEFT JOIN auth_user u ON u.id = t.assignee_user_id
        LEFT JOIN auth_group g ON g.id = t.assignee_group_id
        WHERE t.state = 'open' ORDER BY t.due_at, t.id LIMIT 50"""
    timings = []
    with connection.cursor() as cursor:
        for _n in range(runs + 1):
            start = time.perf_counter()
            cursor.execute(rows_sql)
            cursor.fetchall()
            cursor.execute("SELECT count(*) FROM rules_exceptiontask WHERE state = 'open'")
            cursor.fetchone()
            timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--resolved", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--existing", action="store_true", help="measure DATABASE_URL as it is")
    args = parser.parse_args()
    if args.existing:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
        import django

        django.setup()
        measure(runs=args.runs)
        return
    with BenchDatabase():
        fill(open_count=args.open, resolved_count=args.resolved)
        measure(runs=args.runs)


if __name__ == "__main__":
    main()
