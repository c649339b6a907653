"""Notes shipping services store — an order's move ("labels printed"), a to-do they open ("no
e-waybill account") — are codes: each reader reads them in their own language on the order page,
whatever language the scanner or worker that wrote them used (issue 12, point 5)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from orders import locks
from orders.models import OrderEvent, OrderState
from orders.services import order_transition_locked
from orders.tests.factories import make_channel, make_order_in_state
from orders.texts import wording
from rules.services import raise_exception

pytestmark = pytest.mark.django_db


def test_a_note_written_under_chinese_reads_in_english_for_an_english_reader_and_back(client):
    order = make_order_in_state(make_channel(name="示例店"), OrderState.READY)
    with translation.override("zh-hans"), transaction.atomic():  # a scanner set to Chinese prints
        locked = locks.order_for_update(order_id=order.pk)
        order_transition_locked(order=locked, name="mark_printed", note=wording("shipping.labels_printed"))
    task = raise_exception(
        order=order.pk, exception_type="waybill_failed", note=wording("shipping.no_waybill_account", shop="示例店")
    )
    event = OrderEvent.objects.filter(order=order, kind="mark_printed").get()
    assert event.note == "labels printed"  # English kept for searches, whoever wrote it
    assert task.note == "No e-waybill account is set up for the shop 示例店."
    with translation.override("zh-hans"):
        assert event.description == "面单已打印"
        assert task.note_text == "店铺 示例店 尚未设置电子面单账户。"

    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw-lead-12345"))
    url = reverse("admin:orders_order_change", args=[order.pk])
    assert "面单已打印" in client.get(url, headers={"accept-language": "zh-hans"}).content.decode()
    english = client.get(url, headers={"accept-language": "en"}).content.decode()
    assert "labels printed" in english and "面单已打印" not in english
