"""The SQL of the rules app's locking paths: task rows only (never the shared exception-type rows
they join), in primary-key order."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import postgres_only
from rules import locks
from rules.models import ExceptionTask
from rules.services import raise_exception

pytestmark = [postgres_only, pytest.mark.django_db]


def for_update(queries) -> list[str]:
    return [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]


def test_task_locks_take_task_rows_only_in_primary_key_order(ingest):
    order = ingest()
    raise_exception(order=order, exception_type="waybill_failed", note="no waybill")
    task = ExceptionTask.objects.get(order=order)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locks.task_for_update(task_id=task.pk)
        list(locks.open_tasks_for_update(order_id=order.pk))
        list(locks.tasks_to_escalate_for_update(now=timezone.now()))
    single, per_order, escalation = for_update(queries)
    for sql in (single, per_order, escalation):
        assert 'FOR UPDATE OF "rules_exceptiontask"' in sql, sql
    for sql in (per_order, escalation):
        assert 'ORDER BY "rules_exceptiontask"."id" ASC' in sql
    assert escalation.endswith("SKIP LOCKED")
