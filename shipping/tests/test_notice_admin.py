"""The buyer-notice admin: state/event/medium filters, the rendered text and the gateway's answer with
the buyer's number masked unless the user may see receiver details, and "retry now" / "mark as sent"
for ops only, each recorded with the user."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from orderhub.roles import OPS, VIEWER, ensure_roles
from shipping.models import AttemptKind, NoticeAttempt
from shipping.notices.services import drain_buyer_notices
from shipping.tests.notice_factories import PHONE, reload, shipped_notice

pytestmark = pytest.mark.django_db


def _client(role: str) -> Client:
    ensure_roles()
    user = get_user_model().objects.filter(username=f"{role}-user").first() or get_user_model().objects.create_user(
        f"{role}-user", password="x", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed_notice(use_backend):
    gateway = use_backend("generic")
    notice = shipped_notice()
    gateway.fault("generic", "refuse")
    drain_buyer_notices()
    notice = reload(notice)
    assert notice.state == "failed"
    return notice


def test_the_list_masks_the_number_for_a_viewer_and_shows_it_to_ops(failed_notice):
    url = reverse("admin:shipping_buyernotice_changelist") + "?state__exact=failed&event=shipped&medium=sms"
    viewer = _client(VIEWER).get(url).content.decode()
    assert "138****5678" in viewer and PHONE not in viewer
    ops = _client(OPS).get(url).content.decode()
    assert PHONE in ops
    change = reverse("admin:shipping_buyernotice_change", args=[failed_notice.pk])
    page = _client(VIEWER).get(change).content.decode()
    assert PHONE not in page and "138****5678" in page
    assert failed_notice.rendered_text in page and "invalid recipient" in page  # the list keeps to one line


def test_ops_retry_now_is_recorded_and_a_viewer_cannot(failed_notice):
    url = reverse("admin:shipping_buyernotice_changelist")
    form = {"action": "retry_now", "_selected_action": [failed_notice.pk]}
    viewer = _client(VIEWER)
    assert "retry_now" not in viewer.get(url).content.decode()
    viewer.post(url, form)
    assert reload(failed_notice).state == "failed"

    response = _client(OPS).post(url, form)
    assert response.status_code == 302
    notice = reload(failed_notice)
    assert notice.state == "pending"
    manual = NoticeAttempt.objects.get(notice=notice, kind=AttemptKind.MANUAL)
    assert manual.user.username == "ops-user" and manual.outcome == "retry"
    assert drain_buyer_notices().sent == 1


def test_ops_mark_as_sent_by_hand(failed_notice):
    url = reverse("admin:shipping_buyernotice_changelist")
    _client(OPS).post(url, {"action": "mark_sent", "_selected_action": [failed_notice.pk]})
    assert reload(failed_notice).state == "done"
    assert NoticeAttempt.objects.get(notice=failed_notice, kind=AttemptKind.MANUAL).outcome == "marked_sent"
