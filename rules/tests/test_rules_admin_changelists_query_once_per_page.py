"""Rules admin changelists read the users they show in the page's query, not one query per row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rules.models import BlacklistEntry, ExceptionTask
from rules.services import blacklist_add

pytestmark = pytest.mark.django_db


def _page_queries(client, url, django_assert_max_num_queries, limit):
    with django_assert_max_num_queries(limit):
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_resolved_tasks_changelist(admin_client, ingest, django_assert_max_num_queries):
    orders = [ingest(buyer_message=f"请周末送 {n}") for n in range(25)]
    assert ExceptionTask.objects.filter(order__in=orders).count() == 25
    ExceptionTask.objects.update(state="resolved", resolution="dismissed", resolved_by=admin_client.user)
    html = _page_queries(
        admin_client, reverse("admin:rules_exceptiontask_changelist"), django_assert_max_num_queries, 15
    )
    assert html.count(">boss<") >= 25


def test_blacklist_changelist(admin_client, django_assert_max_num_queries):
    for n in range(25):
        blacklist_add(kind="buyer_nick", value=f"刷单王{n}", actor=admin_client.user)
    assert BlacklistEntry.objects.count() == 25
    html = _page_queries(
        admin_client, reverse("admin:rules_blacklistentry_changelist"), django_assert_max_num_queries, 12
    )
    assert html.count(">boss<") >= 25


def test_workbench_reads_one_page_in_a_bounded_number_of_queries(client, ingest, django_assert_max_num_queries):
    from rules.tests.test_exception_workflow import CS, staff

    orders = [ingest(buyer_message=f"请周末送 {n}") for n in range(25)]
    client.force_login(staff("agent", CS, "rules.view_exceptiontask"))
    # session, user, groups, the page, its count, counts by type, types, channels: none per row
    html = _page_queries(client, reverse("admin:rules_exceptiontask_mine"), django_assert_max_num_queries, 12)
    assert all(order.external_id in html for order in orders)
