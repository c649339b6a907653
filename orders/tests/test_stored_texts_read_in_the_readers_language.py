"""Texts services store (event notes, hold reasons, alerts) are codes with parameters, shown in the
reader's language; rows written before codes existed still read as stored (issue 12, point 5)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from orders import services, texts
from orders.models import Alert, Order, OrderEvent
from orders.tests.factories import make_channel, make_incoming

pytestmark = pytest.mark.django_db


def _ingest(source: str = "pull") -> Order:
    channel = make_channel()
    return services.ingest_order(channel=channel, incoming=make_incoming(), source=source).order


def _admin(client):
    user = get_user_model().objects.create_superuser("lead", "lead@example.com", "pw-lead-12345")
    client.force_login(user)
    return client


def test_event_notes_written_by_the_pipeline_read_in_chinese_and_in_english():
    order = _ingest(source="pull")
    received = order.events.get(kind="received")
    assert received.note == "via pull"  # the English text stays beside the code, for searches and logs
    assert received.data["wording"] == {"code": "order.received", "params": {"source": {"code": "source.pull"}}}
    with translation.override("zh-hans"):
        assert received.description == "经由拉单"
    with translation.override("en"):
        assert received.description == "via pull"
    held = order.events.get(kind="hold")  # the SKU is unknown: the rules hold it
    assert "sku_unmatched" in held.note  # the English note keeps the task's details
    with translation.override("zh-hans"):
        assert held.description == "待处理异常：商品编码异常"
    order.refresh_from_db()
    with translation.override("zh-hans"):
        assert order.hold_reason_text == "待处理异常：商品编码异常"
    with translation.override("en"):
        assert order.hold_reason_text == "open exceptions: SKU unmatched"


def test_a_hold_by_ops_without_a_reason_reads_in_the_readers_language_on_the_order_list(client):
    order = _ingest()
    services.order_hold(order_id=order.pk, actor=None, reason="")
    order.refresh_from_db()
    assert order.hold_reason == "paused by ops"
    with translation.override("zh-hans"):
        assert order.hold_reason_text == "运营手动暂停"
    page = _admin(client).get(reverse("admin:orders_order_changelist"), headers={"accept-language": "zh-hans"})
    assert "运营手动暂停" in page.content.decode()
    assert "paused by ops" not in page.content.decode()


def test_a_reason_a_person_typed_is_shown_as_typed():
    order = _ingest()
    services.order_hold(order_id=order.pk, actor=None, reason="客户要求改地址")
    order.refresh_from_db()
    with translation.override("en"):
        assert order.hold_reason_text == "客户要求改地址"


def test_alert_messages_read_in_the_readers_language_and_old_alerts_as_stored(client):
    services.alert_raise(
        key="inventory:reconciliation",
        source="inventory",
        message=texts.wording("alert.reconciliation_differences", run=7, count=3),
    )
    Alert.objects.create(key="legacy", source="pull", message="an alert stored before codes")
    alert = Alert.objects.get(key="inventory:reconciliation")
    assert alert.message == "Stock reconciliation #7 found 3 difference(s)."
    page = _admin(client).get(reverse("admin:orders_alert_changelist"), headers={"accept-language": "zh-hans"})
    body = page.content.decode()
    assert "库存对账 #7 发现 3 处差异。" in body
    assert "Stock reconciliation #7" not in body
    assert "an alert stored before codes" in body


def test_the_api_gives_the_hold_reason_in_the_accept_language(client):
    order = _ingest()
    services.order_hold(order_id=order.pk, actor=None, reason="")
    _admin(client)
    url = reverse("order-detail", args=[order.pk])
    assert client.get(url, headers={"accept-language": "zh-hans"}).json()["hold_reason"] == "运营手动暂停"
    assert client.get(url, headers={"accept-language": "en"}).json()["hold_reason"] == "paused by ops"


def test_an_event_written_before_codes_and_an_unknown_code_fall_back_to_the_stored_note():
    order = _ingest()
    old = OrderEvent.objects.create(order=order, kind="hold", note="checks passed (stored in 2025)")
    newer = OrderEvent.objects.create(
        order=order, kind="hold", note="from a newer release", data={"wording": {"code": "order.not_known_here"}}
    )
    with translation.override("zh-hans"):
        assert old.description == "checks passed (stored in 2025)"
        assert newer.description == "from a newer release"


def test_an_unknown_code_cannot_be_stored():
    with pytest.raises(KeyError):
        texts.wording("order.no_such_text")
