"""Drainers as real processes (`manage.py drain_inbox`): one killed mid-batch loses nothing and decides
nothing twice; two at once share the inbox and never take the same message; SIGTERM stops one cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count, Sum

from inventory.models import StockLevel, StockReservation
from inventory.tests.factories import make_sku, make_warehouse, stock
from orderhub.tests.test_served_by_gunicorn import test_database_url
from orders import inbox
from orders.models import InboxMessage, Order, OrderEvent
from orders.tests.factories import make_channel
from orders.tests.poison import body_with, native_order

ROOT = Path(__file__).resolve().parents[2]
TEE, SOCK = "DEMO-TEE-WHT-L", "DEMO-SOCK-BLK-3P"  # the sample trade's two lines: 2 tees, 1 sock pack
LEASE_SECONDS = 3  # short, so the crash test need not wait long for a dead drainer's claim to run out

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.webhook_inbox]


def accept_orders(count: int) -> None:
    channel = make_channel(platform="taobao")
    warehouse = make_warehouse()
    for code in (TEE, SOCK):
        stock(make_sku(code), warehouse, 100_000)
    for n in range(count):
        body = body_with(native_order("taobao"), {("tid_str",): f"3302000000{n:09d}"})
        inbox.inbox_accept(channel=channel, body=body)


def start_drainer(*args: str, lease: int = LEASE_SECONDS) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "WEBHOOK_INBOX_LEASE_SECONDS": str(lease),
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "drain_inbox", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def assert_each_order_decided_once(count: int) -> None:
    assert not InboxMessage.objects.undecided().exists()
    assert Order.objects.count() == count
    received = OrderEvent.objects.filter(kind="received").values("order").annotate(n=Count("pk"))
    assert {row["n"] for row in received} == {1} and len(received) == count
    reserved = dict(
        StockReservation.objects.filter(state="active").values_list("sku__code").annotate(q=Sum("quantity"))
    )
    assert reserved == {TEE: 2 * count, SOCK: count}  # one reservation per line, never two
    levels = dict(StockLevel.objects.values_list("sku__code", "reserved"))
    assert levels == reserved  # the levels agree with the reservations


def hold_a_claimed_batch():
    """PostgreSQL: once the drainer has claimed a batch, lock its rows from another session, so marking
    them decided (one short statement after the batch's decision) waits and the test can kill the
    drainer between the decision and the mark. The session to roll back, or None (SQLite: no row locks;
    there the mark is a slower bulk_update and the test catches the window by polling)."""
    if connection.vendor != "postgresql":
        return None
    blocker = connection.copy()
    blocker.set_autocommit(False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with blocker.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM orders_inboxmessage WHERE claimed_by <> '' AND decided_at IS NULL FOR UPDATE"
            )
            if cursor.fetchall():
                return blocker
        blocker.rollback()
        time.sleep(0.01)
    return blocker


def test_a_drainer_killed_mid_batch_loses_nothing_and_decides_nothing_twice():
    count = 160
    accept_orders(count)
    doomed = start_drainer("--batch", "80")
    blocker = hold_a_claimed_batch()
    try:
        # mid-batch: the pipeline has decided orders the drainer has not yet marked decided
        killed_mid_batch = wait_for(
            lambda: Order.objects.count() > InboxMessage.objects.filter(decided_at__isnull=False).count() + 5,
            timeout=120,
        )
        doomed.send_signal(signal.SIGKILL)
    finally:
        doomed.kill()
        doomed.wait(timeout=30)
        if blocker is not None:  # the dead drainer's sessions die with it, not finish its mark later
            with blocker.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                )
            blocker.rollback()
            blocker.close()
    assert killed_mid_batch, doomed.stderr.read()[-2000:]
    assert doomed.returncode == -signal.SIGKILL
    left = InboxMessage.objects.undecided().count()
    assert left > 0  # the dead drainer's claim still holds them

    time.sleep(LEASE_SECONDS + 0.5)  # its lease runs out: the rows are claimable again
    survivor = start_drainer("--batch", "50", "--once")
    _out, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err[-2000:]

    assert_each_order_decided_once(count)
    outcomes = dict(InboxMessage.objects.values_list("outcome").annotate(n=Count("pk")))
    # what the dead drainer decided but never marked is decided again as a redelivery: unchanged
    assert outcomes.get("unchanged", 0) > 0
    assert outcomes["created"] + outcomes["unchanged"] == count


def test_two_drainers_share_the_inbox_and_never_take_the_same_message():
    count = 160
    # the default lease: far longer than a batch takes, as in production (a lease shorter than a batch
    # lets another drainer take the batch again: harmless, the pipeline answers "unchanged", but wasted)
    drainers = [start_drainer("--batch", "10", lease=60), start_drainer("--batch", "10", lease=60)]
    try:
        # both wait for work before it arrives: one started a second earlier could drain it all alone
        assert all(drainer.stdout.readline().startswith("draining the webhook inbox") for drainer in drainers)
        accept_orders(count)
        drained = wait_for(lambda: not InboxMessage.objects.undecided().exists(), timeout=300, every=0.2)
    finally:
        for drainer in drainers:
            drainer.send_signal(signal.SIGTERM)  # clean stop: the current batch finishes first
        results = [drainer.communicate(timeout=60) for drainer in drainers]
    assert drained
    assert [d.returncode for d in drainers] == [0, 0], [err[-2000:] for _out, err in results]
    assert all("drainer stopped" in out for out, _err in results)

    assert_each_order_decided_once(count)
    assert set(InboxMessage.objects.values_list("attempts", flat=True)) == {1}  # never claimed twice
    assert set(InboxMessage.objects.values_list("outcome", flat=True)) == {"created"}
    assert InboxMessage.objects.values("claimed_by").distinct().count() == 2  # both took a share
