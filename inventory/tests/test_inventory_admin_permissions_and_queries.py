"""Inventory admin: actions that write need a write permission; changelists do not query per row."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from inventory.models import EventKind, InventoryEvent, ReconciliationRun
from inventory.tests.factories import make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="inventory", codename__startswith="view_")
    )
    client.force_login(user)
    client.user = user
    return client


def _run_now(client):
    run = ReconciliationRun.objects.create(trigger="test")
    return client.post(
        reverse("admin:inventory_reconciliationrun_changelist"),
        {"action": "run_now", "_selected_action": [str(run.pk)]},
    )


def test_a_viewer_cannot_start_a_reconciliation(viewer):
    _run_now(viewer)
    assert ReconciliationRun.objects.count() == 1  # only the one the test made


def test_a_user_allowed_to_add_runs_can_start_one(viewer):
    viewer.user.user_permissions.add(Permission.objects.get(codename="add_reconciliationrun"))
    _run_now(viewer)
    assert ReconciliationRun.objects.filter(trigger="admin").count() == 1


def test_inventory_event_changelist_reads_skus_in_the_same_query(admin_client, django_assert_max_num_queries):
    for n in range(30):
        InventoryEvent.objects.create(kind=EventKind.PRESALE_ON, sku=make_sku(f"EV-{n}"), message=f"event {n}")
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:inventory_inventoryevent_changelist"))
    assert response.status_code == 200
    assert "EV-29" in response.content.decode()
