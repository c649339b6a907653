"""Resolving from "My exceptions": over-long input is a form message, never a database error, and the
view only redirects within the site."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rules.errors import RulesError
from rules.models import BlacklistEntry, ExceptionTask
from rules.services import exception_resolve
from rules.tests.conftest import reload

pytestmark = pytest.mark.django_db


def _task(order, code):
    return ExceptionTask.objects.get(order=order, exception_type__code=code, state="open")


@pytest.mark.parametrize(
    ("field", "value"),
    [("receiver_province", "浙" * 65), ("receiver_phone", "1" * 65), ("receiver_address", "路" * 501)],
)
def test_edit_address_with_a_value_too_long_is_a_message_and_changes_nothing(admin_client, ingest, field, value):
    order = ingest(receiver_phone="12345")
    task = _task(order, "address_invalid")
    response = admin_client.post(
        reverse("admin:rules_exceptiontask_resolve", args=[task.pk]), {"action": "edit_address", field: value}
    )
    assert response.status_code == 400  # the form again, the field's own error under it
    assert "at most" in response.context["form"].errors[field][0]
    assert ExceptionTask.objects.get(pk=task.pk).state == "open"
    assert getattr(reload(order), field) != value


def test_blacklisting_an_address_longer_than_an_entry_is_refused_and_writes_nothing(admin_client, ingest):
    order = ingest(buyer_message="货到了我就退款", receiver_address="幸福路" + "1" * 400 + "号")
    task = _task(order, "remark_review")
    with pytest.raises(RulesError):
        exception_resolve(task_id=task.pk, actor=admin_client.user, action="blacklist", data={"kinds": ["address"]})
    assert not BlacklistEntry.objects.exists()
    assert ExceptionTask.objects.get(pk=task.pk).state == "open"


def test_resolve_redirects_only_within_the_site(admin_client, ingest):
    order = ingest(buyer_message="周末送")
    task = _task(order, "remark_review")
    response = admin_client.post(
        reverse("admin:rules_exceptiontask_resolve", args=[task.pk]),
        {"action": "dismiss", "next": "https://evil.example.com/phish"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:rules_exceptiontask_mine")
