"""A real django-q2 cluster (`manage.py qcluster`, a subprocess on the test database and broker)
drains 200 write-backs and is killed with SIGKILL in the middle: some rows are leased by the dead
worker, some calls reached the platform without their answer being recorded. After the leases run
out, the sweep writes every parcel back, and the platform received exactly one ship per order (the
calls whose answer was lost are reconciled by re-reading the order, not repeated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.conf import Conf
from django_q.tasks import async_task

from orderhub.tests.test_served_by_gunicorn import test_database_url
from orders.channels import get_adapter
from orders.channels.fakes import CATALOG, REGIONS, RENDERERS, Draft, DraftLine, native_id
from orders.models import Order
from orders.services import ingest_order
from shipping import services
from shipping.models import AttemptOutcome, OutboxState, Shipment, WriteBack, WriteBackAttempt
from shipping.tasks import drain_write_backs
from shipping.tests.conftest import account_on
from shipping.tests.writeback_world import stock_catalog

ROOT = Path(__file__).resolve().parents[2]
PARCELS = 200
LEASE_SECONDS = 3


def _orders_on_the_platform(channel, emulator, count: int) -> list[int]:
    """`count` one-line orders put on the emulator at once, then read and taken in one by one."""
    now = timezone.now()
    drafts = [
        Draft(
            serial=90_000 + n,
            status="awaiting_shipment",
            lines=[DraftLine(CATALOG[n % 3], 1)],
            name=f"赵{'一二三四五六七八九十'[n % 10]}{'甲乙丙丁戊己庚辛壬癸'[n // 10 % 10]}{n // 100}",
            phone=f"138{n:08d}",
            region=REGIONS[n % len(REGIONS)],
            street=f"工业路{n}号",
            buyer_nick=f"killbuyer{n}",
            buyer_id=f"kill{n:012d}",
            created=now,
            paid=now,
            modified=now,
        )
        for n in range(count)
    ]
    natives = [native for draft in drafts for native in RENDERERS["taobao"](draft)]
    emulator.add_orders("taobao", natives, app_key=channel.app_key)
    adapter = get_adapter(channel)
    ids = []
    for native in natives:
        result = ingest_order(channel=channel, incoming=adapter.fetch_order(native_id("taobao", native)), source="t")
        ids.append(result.order.pk)
    return ids


def _start_cluster(name: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {
        "DATABASE_URL": test_database_url(),
        "SECRET_KEY": settings.SECRET_KEY,  # django-q2 signs queued tasks with it
        "Q_CLUSTER_NAME": name,
        "Q_WORKERS": "2",
        "WRITEBACK_LEASE_SECONDS": str(LEASE_SECONDS),
        "WRITEBACK_BATCH_SIZE": "5",
        "LOG_LEVEL": "WARNING",
    }
    if settings.Q_CLUSTER.get("redis"):
        env["REDIS_URL"] = settings.Q_CLUSTER["redis"]
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),  # a file, not a pipe: a full pipe would stall the cluster
        start_new_session=True,  # its own process group: SIGKILL reaches the workers too
    )


def _wait_for(condition, *, seconds: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the cluster exited (its log: {process.args})")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_cluster_killed_mid_batch_leaves_nothing_unwritten_and_nothing_twice(
    shop, emulator, scanner, settings, monkeypatch, tmp_path
):
    settings.SHIPPING_ENQUEUE_TASKS = False  # the test queues the drains on the subprocess's queue itself
    device, _client = scanner
    stock_catalog()
    channel = shop("taobao")
    account_on(channel, "ZTO", quota=None)
    order_ids = _orders_on_the_platform(channel, emulator, PARCELS)
    assert Order.objects.filter(pk__in=order_ids, state="ready").count() == PARCELS
    parcels = services.parcels_create(order_ids=order_ids)
    services.number_parcels(shipment_ids=[p.pk for p in parcels])
    services.parcels_mark_printed(shipment_ids=[p.pk for p in parcels])
    for parcel in Shipment.objects.filter(pk__in=[p.pk for p in parcels]):  # the scan service (the API throttles)
        services.scan_outbound(device=device, code=parcel.tracking_number)
    assert WriteBack.objects.filter(state=OutboxState.PENDING).count() == PARCELS

    # every ship call takes effect at once and answers 0.4 s later: a worker killed while waiting
    # leaves a shipment on the platform whose answer it never recorded
    emulator.add_fault("taobao", "slow", count=10_000, delay=0.4, method="taobao.logistics.offline.send")
    name = f"wb-kill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "qcluster.log"
    cluster = _start_cluster(name, log)
    try:
        monkeypatch.setattr(Conf, "PREFIX", name)  # the subprocess's cluster signs and reads with its name
        for _ in range(2):
            async_task("shipping.tasks.drain_write_backs", cluster=name)

        def mid_batch() -> bool:
            done = WriteBack.objects.filter(state=OutboxState.DONE).count()
            shipped = {s["tracking_number"] for s in emulator.shipments}
            waiting = WriteBackAttempt.objects.filter(outcome=AttemptOutcome.UNKNOWN).values_list(
                "request__out_sid", flat=True
            )
            return done >= 20 and any(str(number) in shipped for number in waiting)

        try:
            _wait_for(mid_batch, seconds=120, what="the cluster to be mid-batch", process=cluster)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; cluster log: {log.read_text()[-3000:]}") from None
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=30)
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=30)

    done_by_cluster = WriteBack.objects.filter(state=OutboxState.DONE).count()
    assert 20 <= done_by_cluster < PARCELS
    lost = list(WriteBackAttempt.objects.filter(outcome=AttemptOutcome.UNKNOWN).values_list("write_back_id", flat=True))
    assert lost and WriteBack.objects.filter(pk__in=lost, state=OutboxState.PENDING, claimed_until__isnull=False)
    with emulator.lock:
        emulator.faults.clear()

    # the sweep: rows come due again once the dead worker's leases run out
    _wait_for(
        lambda: not WriteBack.objects.filter(claimed_until__gt=timezone.now()).exists(),
        seconds=LEASE_SECONDS + 30,
        what="the dead worker's leases to run out",
    )
    result = drain_write_backs()
    assert result["failed"] == 0, result
    assert WriteBack.objects.exclude(state=OutboxState.DONE).count() == 0

    shipments = [s for s in emulator.shipments if s["kind"] == "ship"]
    per_order = Counter(s["external_id"] for s in shipments)
    assert len(per_order) == PARCELS and set(per_order.values()) == {1}, per_order.most_common(3)
    expected = {
        o.external_id: o.shipment_lines.get().shipment.tracking_number
        for o in Order.objects.filter(pk__in=order_ids).prefetch_related("shipment_lines__shipment")
    }
    assert {s["external_id"]: s["tracking_number"] for s in shipments} == expected
    # the calls whose answer died with the worker were settled by re-reading the order, not repeated
    reconciled = WriteBackAttempt.objects.filter(write_back_id__in=lost, api="re-read")
    assert reconciled.filter(outcome=AttemptOutcome.ALREADY_SHIPPED).exists()
