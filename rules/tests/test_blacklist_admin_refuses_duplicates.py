"""Blacklist admin: an entry that normalises to one already there is a form error on the value, not
an IntegrityError (HTTP 500)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rules.models import BlacklistEntry
from rules.services import blacklist_add

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "stored", "typed"),
    [
        ("buyer_nick", "刷单王", "刷单王"),
        ("phone", "13800000000", "138-0000-0000"),
        ("address", "浙江省杭州市西湖区文三路1号", "浙江省 杭州市 西湖区 文三路1号"),
    ],
)
def test_a_duplicate_after_normalising_is_a_form_error(admin_client, kind, stored, typed):
    blacklist_add(kind=kind, value=stored, actor=None)
    response = admin_client.post(
        reverse("admin:rules_blacklistentry_add"), {"kind": kind, "value": typed, "note": "", "enabled": "on"}
    )
    assert response.status_code == 200  # the form again, with the error
    assert "Already on the blacklist" in response.content.decode()
    assert BlacklistEntry.objects.count() == 1


def test_editing_an_entry_keeps_working(admin_client):
    entry = blacklist_add(kind="buyer_nick", value="刷单王", actor=None)
    response = admin_client.post(
        reverse("admin:rules_blacklistentry_change", args=[entry.pk]),
        {"kind": "buyer_nick", "value": "刷单王", "note": "confirmed", "enabled": "on"},
    )
    assert response.status_code == 302
    assert BlacklistEntry.objects.get().note == "confirmed"
