"""Every locking queryset of the rules app. Orders are locked first (orders.locks), then their
tasks, always in primary-key order; only the task rows themselves are locked, never the shared
exception-type rows they join."""

from __future__ import annotations

from datetime import datetime

from django.db import OperationalError, connection, transaction
from django.db.models import Q, QuerySet

from rules.models import ExceptionTask, RoundRobinCursor, TaskState


def task_for_update(*, task_id: int) -> ExceptionTask:
    return ExceptionTask.objects.select_for_update(of=("self",)).select_related("exception_type").get(pk=task_id)


def tasks_for_update(*, task_ids: list[int]) -> list[ExceptionTask]:
    """Several tasks (claim, assign), in primary-key order so two people never deadlock."""
    return list(
        ExceptionTask.objects.select_for_update(of=("self",))
        .filter(pk__in=task_ids)
        .select_related("exception_type")
        .order_by("pk")
    )


#: how long a to-do waits for its group's hand-out cursor before it is given out by load instead
ROUND_ROBIN_LOCK_WAIT = "500ms"


def round_robin_cursor_for_update(*, group_id: int) -> RoundRobinCursor | None:
    """The group's hand-out cursor, created if missing, locked: two to-dos raised at once for the same
    group go to two different people, never both to the same one.

    None when another transaction keeps it past ROUND_ROBIN_LOCK_WAIT (PostgreSQL). Waiting without
    bound could deadlock: a new order takes the cursor and then its stock rows (locked last), a line
    update of another order takes stock rows and then the cursor. The wait is a savepoint with a
    local `lock_timeout`, restored afterwards, so only this statement gives up."""
    RoundRobinCursor.objects.bulk_create([RoundRobinCursor(group_id=group_id)], ignore_conflicts=True)
    cursors = RoundRobinCursor.objects.select_for_update().filter(group_id=group_id)
    if connection.vendor != "postgresql":
        return cursors.get()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [ROUND_ROBIN_LOCK_WAIT]
        )
        previous, _now = cursor.fetchone()
    try:
        with transaction.atomic():
            return cursors.get()
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "55P03":  # lock_not_available: anything else is real
            raise
        return None
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def open_tasks_for_update(*, order_id: int) -> QuerySet[ExceptionTask]:
    return (
        ExceptionTask.objects.select_for_update(of=("self",))
        .filter(order_id=order_id, state=TaskState.OPEN)
        .order_by("pk")
    )


def tasks_to_escalate_for_update(*, now: datetime) -> QuerySet[ExceptionTask]:
    """Overdue or unassigned open tasks; rows another worker holds are skipped, not waited for."""
    return (
        ExceptionTask.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=TaskState.OPEN, escalated_at__isnull=True)
        .filter(Q(due_at__lt=now) | Q(assignee_user__isnull=True, assignee_group__isnull=True))
        .select_related("exception_type")
        .order_by("pk")
    )
