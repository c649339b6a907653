"""Two first runs of the workflow rollup at once (issue 13's FlowRollupMark): both find no mark; the
one that inserts second must not fail on the duplicate key but carry on from the other run's mark."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conftest import postgres_only
from orders.models import FlowRollupMark
from orders.workflow_selectors import hour_start
from orders.workflow_services import flow_rollup


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_first_run_meeting_another_first_runs_mark_carries_on_from_it_instead_of_failing():
    """Deterministic, without a second run in a thread: the other run is a second session that has
    inserted its mark and not committed yet (so this run finds no mark); a helper thread commits it
    only once PostgreSQL reports this run waiting on it, and only touches that session's raw
    connection (never the ORM); it commits after 30 s at the latest, so nothing can hang."""
    now = timezone.now()
    upto = hour_start(now)
    theirs = upto - timedelta(hours=5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        this_run = cursor.fetchone()[0]

    other = connection.copy()
    other.ensure_connection()
    other.set_autocommit(False)
    with other.cursor() as cursor:
        cursor.execute("INSERT INTO orders_flowrollupmark (id, since, upto) VALUES (1, %s, %s)", [theirs, theirs])
    raw = other.connection
    waited_on: list[bool] = []

    def commit_once_this_run_waits() -> None:
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                blockers = raw.execute("SELECT pg_blocking_pids(%s)", [this_run]).fetchone()[0]
                if blockers:
                    waited_on.append(True)
                    return
                time.sleep(0.02)
        finally:
            raw.commit()

    helper = threading.Thread(target=commit_once_this_run_waits, daemon=True)
    helper.start()
    try:
        result = flow_rollup(now=now)
    finally:
        helper.join(timeout=40)
        other.close()

    assert waited_on == [True]  # this run met the other's uncommitted mark
    mark = FlowRollupMark.objects.get()
    assert (mark.since, mark.upto) == (theirs, upto)  # the other run's start, moved on by this run
    assert result["from"] == theirs.isoformat()
