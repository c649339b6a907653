"""The first reconciliation can be started from its empty list (issue 12, point 7): the list offers
"run now" to those allowed to run one, and the button starts a run."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from inventory.models import ReconciliationRun

pytestmark = pytest.mark.django_db


def test_an_empty_reconciliation_list_offers_run_now_and_the_button_runs_one(client):
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw-lead-12345"))
    url = reverse("admin:inventory_reconciliationrun_changelist")
    page = client.get(url, headers={"accept-language": "zh-hans"}).content.decode()
    assert not ReconciliationRun.objects.exists()
    assert "立即运行一次对账" in page
    answer = client.post(url, {"run_reconciliation": "1"}, follow=True)
    assert answer.status_code == 200
    run = ReconciliationRun.objects.get()
    assert run.trigger == "admin" and run.finished_at is not None


def test_a_reader_without_the_run_permission_sees_no_button_and_cannot_run(client):
    from django.contrib.auth.models import Permission

    reader = get_user_model().objects.create_user("reader", password="pw-reader-12345", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_reconciliationrun"))
    client.force_login(reader)
    url = reverse("admin:inventory_reconciliationrun_changelist")
    assert "run_reconciliation" not in client.get(url).content.decode()
    assert client.post(url, {"run_reconciliation": "1"}).status_code == 403
    assert not ReconciliationRun.objects.exists()
