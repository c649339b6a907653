"""A fresh demo opens with no open alert: an alert is something a person must act on, and nothing in
the demo data is a problem (it opened with two, SKUs switched to presale by design)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from inventory.models import EventKind, InventoryEvent, Sku
from orders.models import Alert


@pytest.mark.django_db
def test_a_fresh_demo_raises_no_alert_for_skus_switched_to_presale(admin_client):
    call_command("demo", no_serve=True)
    on_presale = Sku.objects.filter(on_presale=True)
    assert on_presale.exists()  # the demo does put SKUs on presale (its stock plan starts one there)
    assert InventoryEvent.objects.filter(kind=EventKind.PRESALE_ON).count() >= on_presale.count()
    assert list(Alert.objects.filter(resolved_at__isnull=True).values_list("key", flat=True)) == []
    page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.context["dash"].open_alerts == 0
    assert page.context["dash"].presale_skus == on_presale.count()  # shown where it belongs, as a figure
