"""CPU per order of the inbox's two halves, in one process (a profiling aid, not a target benchmark).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/inbox_cpu.py \
        [--orders 4000] [--rounds 3] [--profile drain.prof]

Each round stores `--orders` flash-sale pushes with `inbox_accept` (the webhook's own work, without
gunicorn and Django's request handling) and then drains them with `inbox_drain_batch` (batches of 100),
and prints the Python CPU per order of each half and PostgreSQL's execution time per order
(pg_stat_statements, when the extension can be created; else "n/a"). The stock covers half of all
rounds: the first rounds' orders are reserved (ready), the last ones' held out of stock (a task each).

Why: the flash sale over HTTP (`bench/flash_sale.py`) shares two CPUs between the client, gunicorn,
the drainers and PostgreSQL, and this machine's speed moves by up to 2.5× within an hour; comparing two
commits needs a measurement of one half at a time, run alternately (e.g. from two worktrees).
`--profile` writes cProfile statistics of the last round's drain.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import BenchDatabase
from flash_sale import SKU, flash_bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=4000, help="pushes per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="cProfile output of the last round's drain")
    args = parser.parse_args()

    with BenchDatabase() as db:
        from django.db import DatabaseError, connection

        from inventory.services import record_movement
        from inventory.tests.factories import make_sku, make_warehouse
        from orders import inbox
        from orders.models import Order
        from orders.tests.factories import make_channel
        from rules.tests.factories import bulk_orders

        make_warehouse("FLASH")
        make_sku(SKU, name="限时秒杀")
        total = args.orders * args.rounds
        record_movement(warehouse_code="FLASH", sku_code=SKU, kind="inbound", quantity=total // 2, reference="bench")
        channel = make_channel(platform="taobao")
        bulk_orders(make_channel(platform="jd"), 20000, seed=5)  # a shop's history, as in the flash sale
        Order.objects.update(state="shipped")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        try:
            with connection.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                cursor.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
            statements = True
        except DatabaseError:  # not preloaded on this server
            statements = False

        def postgres_seconds() -> float:
            if not statements:
                return 0.0
            with connection.cursor() as cursor:
                cursor.execute("SELECT coalesce(sum(total_exec_time), 0) / 1000 FROM pg_stat_statements")
                return float(cursor.fetchone()[0])

        bodies = flash_bodies(total)
        inbox.tune_gc_for_draining()
        print(f"{db.name}: {args.rounds} rounds of {args.orders} pushes, stock {total // 2}", flush=True)
        for round_ in range(args.rounds):
            chunk = bodies[round_ * args.orders : (round_ + 1) * args.orders]
            cpu, sql = time.process_time(), postgres_seconds()
            for body in chunk:
                inbox.inbox_accept(channel=channel, body=body)
            accept_cpu, accept_sql = time.process_time() - cpu, postgres_seconds() - sql
            profile = None
            if args.profile and round_ == args.rounds - 1:
                import cProfile

                profile = cProfile.Profile()
                profile.enable()
            cpu, sql = time.process_time(), postgres_seconds()
            while inbox.inbox_drain_batch(limit=100, drainer="bench").claimed:
                pass
            drain_cpu, drain_sql = time.process_time() - cpu, postgres_seconds() - sql
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)

            count = len(chunk)
            print(
                f"round {round_}: accept python {_per_order(accept_cpu, count)}, "
                f"postgres {_per_order(accept_sql, count, statements)} | drain python {_per_order(drain_cpu, count)}, "
                f"postgres {_per_order(drain_sql, count, statements)} ms per order",
                flush=True,
            )


def _per_order(seconds: float, count: int, measured: bool = True) -> str:
    return f"{seconds * 1000 / count:.3f}" if measured else "n/a"


if __name__ == "__main__":
    main()
