"""Finding 7 on the rules pages: the workbench's resolve page (receiver line, order facts, the facts a
rule saw), the workbench table and the rule hit page mask receiver name, phone and street address without
orders.view_receiver_details, and show them with it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rules.models import ExceptionTask, RuleHit
from rules.tests.test_exception_workflow import CS, staff

pytestmark = pytest.mark.django_db

PHONE, NAME, STREET = "13987654321", "司马相如", "文一西路 969 号 5 幢"


def _held(ingest):
    return ingest(buyer_message="请周末送", receiver_phone=PHONE, receiver_name=NAME, receiver_address=STREET)


def _resolve_page(client, order) -> str:
    task = ExceptionTask.objects.get(order=order, state="open")
    return client.get(reverse("admin:rules_exceptiontask_resolve", args=[task.pk])).content.decode()


def test_workbench_and_resolve_page_mask_receiver_and_facts_without_the_permission(client, ingest):
    order = _held(ingest)
    client.force_login(staff("agent", CS, "rules.view_exceptiontask"))
    table = client.get(reverse("admin:rules_exceptiontask_mine")).content.decode()
    assert order.external_id in table
    html = _resolve_page(client, order)
    for page in (table, html):
        for value in (PHONE, NAME, STREET):
            assert value not in page
    assert "139****4321" in html and "司*" in html
    assert order.receiver_district in html  # province/city/district stay


def test_resolve_page_shows_receiver_with_the_permission(client, ingest):
    order = _held(ingest)
    client.force_login(staff("lead", CS, "rules.view_exceptiontask", "orders.view_receiver_details"))
    html = _resolve_page(client, order)
    assert PHONE in html and NAME in html and STREET in html


def test_my_exceptions_needs_the_task_view_permission(client, ingest):
    _held(ingest)
    client.force_login(staff("nobody", CS))
    assert client.get(reverse("admin:rules_exceptiontask_mine")).status_code == 403


def test_rule_hit_page_masks_the_facts_seen(client, ingest):
    order = _held(ingest)
    hit = RuleHit.objects.filter(order=order).first()
    hit.facts = {**hit.facts, "receiver_phone": PHONE, "receiver_name": NAME}
    hit.save()
    client.force_login(staff("reader", CS, "rules.view_rulehit"))
    html = client.get(reverse("admin:rules_rulehit_change", args=[hit.pk])).content.decode()
    assert PHONE not in html and NAME not in html and "139****4321" in html

    client.force_login(staff("lead", CS, "rules.view_rulehit", "orders.view_receiver_details"))
    html = client.get(reverse("admin:rules_rulehit_change", args=[hit.pk])).content.decode()
    assert PHONE in html
