"""An exception task changes state only through the services: a history "revert" to a version from
before the resolution would reopen it (state, resolution and resolver restored) behind the order's back."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rules.models import ExceptionTask
from rules.services import exception_resolve

pytestmark = pytest.mark.django_db


def test_reverting_a_resolved_task_to_its_open_version_is_refused(admin_client, ingest):
    order = ingest(buyer_message="周末送")
    task = ExceptionTask.objects.get(order=order, exception_type__code="remark_review")
    exception_resolve(task_id=task.pk, actor=admin_client.user, action="dismiss", note="ok")
    opened = task.history.filter(state="open").earliest("history_date")
    url = reverse("admin:rules_exceptiontask_simple_history", args=[task.pk, opened.history_id])

    page = admin_client.get(url)
    assert page.status_code == 200  # the old version can still be looked at
    assert 'name="_save"' not in page.content.decode()
    response = admin_client.post(
        url, {"assignee_user": "", "assignee_group": "", "due_at_0": "2026-11-25", "due_at_1": "12:00:00", "note": ""}
    )
    assert response.status_code == 403
    task.refresh_from_db()
    assert (task.state, task.resolution, task.resolved_by) == ("resolved", "dismissed", admin_client.user)
