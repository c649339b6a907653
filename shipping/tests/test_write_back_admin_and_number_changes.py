"""Ops in the admin: "retry now" and "mark done by hand" (a required note) are audited on the row's
history and as order events, and refused to other roles (403 / no action). Changing a shipped
parcel's number uses the platform's modify call where it has one (Kuaishou), a task for a person
where it has none (Taobao), and simply travels with the ship call when nothing was written back yet."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from orderhub import roles
from orderhub.tests.world import make_user
from orders.models import OrderEvent
from rules.models import ExceptionTask
from shipping import services
from shipping.errors import WriteBackRefused
from shipping.models import AttemptOutcome, OutboxState, WriteBack, WriteBackAction, WriteBackFailure
from shipping.tests.conftest import account_on
from shipping.tests.writeback_world import emulator_shipments, platform_orders, ship_parcels, stock_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(shop, emulator, scanner):
    stock_catalog()
    _device, client = scanner

    def make(platform: str = "taobao"):
        channel = shop(platform)
        account_on(channel, "ZTO")
        (order,) = platform_orders(channel, emulator, lines=[(0, 1)])
        (parcel,) = ship_parcels(order, client)
        return order, parcel, WriteBack.objects.get(order=order)

    return make


def logged_in(role: str) -> tuple[Client, object]:
    user = make_user(role)
    client = Client()
    client.force_login(user)
    return client, user


def test_ops_retry_a_dead_letter_now_audited(shipped, emulator, settings):
    settings.WRITEBACK_BACKOFF_BASE_SECONDS = 0
    settings.WRITEBACK_MAX_ATTEMPTS = 1
    order, _parcel, row = shipped("taobao")
    emulator.add_fault("taobao", "http500", count=1, method="taobao.logistics.offline.send")
    services.write_backs_drain()
    row.refresh_from_db()
    assert row.state == OutboxState.FAILED and row.failure == WriteBackFailure.DEAD_LETTER

    client, ops = logged_in(roles.OPS)
    changelist = reverse("admin:shipping_writeback_changelist")
    assert client.get(changelist, {"state__exact": "failed"}).status_code == 200
    response = client.post(changelist, {"action": "retry_now", "_selected_action": [row.pk]})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.state == OutboxState.PENDING and row.attempts == 0 and row.failure == ""
    assert row.history.first().history_user == ops and row.history.first().history_change_reason == "retry now"
    event = OrderEvent.objects.get(order=order, kind="write_back_retried")
    assert event.actor == ops and event.data["write_back"] == row.pk

    services.write_backs_drain()
    row.refresh_from_db()
    assert row.state == OutboxState.DONE
    assert len(emulator_shipments(emulator, "taobao", order.external_id)) == 1


def test_ops_mark_a_write_back_done_by_hand_with_a_required_note(shipped, emulator):
    order, _parcel, row = shipped("jd")
    client, ops = logged_in(roles.OPS)
    url = reverse("admin:shipping_writeback_mark_done", args=[row.pk])
    assert client.get(url).status_code == 200

    empty = client.post(url, {"note": "  "})
    assert empty.status_code == 200 and empty.context["form"].errors
    row.refresh_from_db()
    assert row.state == OutboxState.PENDING

    done = client.post(url, {"note": "京东后台手工发货 2026-11-30 by 王"})
    assert done.status_code == 302
    row.refresh_from_db()
    assert row.state == OutboxState.DONE and row.note == "京东后台手工发货 2026-11-30 by 王"
    assert row.history.first().history_user == ops
    event = OrderEvent.objects.get(order=order, kind="write_back_by_hand")
    assert event.actor == ops and "手工发货" in event.note
    assert services.write_backs_drain().claimed == 0  # nothing is sent for a row done by hand
    assert emulator_shipments(emulator, "jd", order.external_id) == []


@pytest.mark.parametrize("role", [roles.VIEWER, roles.WAREHOUSE, roles.FINANCE])
def test_other_roles_may_not_retry_or_mark_done(role, shipped):
    _order, parcel, row = shipped("pdd")
    client, user = logged_in(role)
    assert client.get(reverse("admin:shipping_writeback_mark_done", args=[row.pk])).status_code == 403
    url = reverse("admin:shipping_shipment_change_tracking_number", args=[parcel.pk])
    assert client.get(url).status_code == 403
    client.post(reverse("admin:shipping_writeback_changelist"), {"action": "retry_now", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.history.count() == 1  # only the scan's insert: the action was not offered
    with pytest.raises(WriteBackRefused):
        services.write_back_retry(write_back_ids=[row.pk], actor=user)
    with pytest.raises(WriteBackRefused):
        services.write_back_mark_done(write_back_id=row.pk, actor=user, note="x")


def test_a_changed_number_after_write_back_uses_kuaishous_modify_call(shipped, emulator):
    order, parcel, row = shipped("kuaishou")
    services.write_backs_drain()
    client, ops = logged_in(roles.OPS)
    url = reverse("admin:shipping_shipment_change_tracking_number", args=[parcel.pk])
    response = client.post(url, {"tracking_number": "ZT7777777777", "note": "label reprinted"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.action == WriteBackAction.MODIFY and row.previous_tracking_number == parcel.tracking_number
    assert row.state == OutboxState.PENDING

    services.write_backs_drain()
    row.refresh_from_db()
    assert row.state == OutboxState.DONE
    calls = emulator_shipments(emulator, "kuaishou", order.external_id)
    assert [(c["kind"], c["api"], c["tracking_number"]) for c in calls] == [
        ("ship", "open.seller.order.goods.deliver", parcel.tracking_number),
        ("modify", "open.seller.order.logistics.update", "ZT7777777777"),
    ]
    assert emulator.order("kuaishou", order.external_id)["orderLogisticsInfo"][0]["expressNo"] == "ZT7777777777"
    assert OrderEvent.objects.get(order=order, kind="tracking_number_changed").actor == ops


def test_a_changed_number_on_a_platform_without_a_modify_call_is_a_task(shipped, emulator):
    order, parcel, row = shipped("taobao")
    services.write_backs_drain()
    old = parcel.tracking_number
    services.shipment_change_tracking_number(shipment_id=parcel.pk, tracking_number="ZT8888888888", actor=None)
    services.write_backs_drain()
    row.refresh_from_db()
    assert row.state == OutboxState.FAILED and row.failure == WriteBackFailure.NOT_SUPPORTED
    assert list(row.attempt_log.values_list("outcome", flat=True).order_by("pk")) == [
        AttemptOutcome.SHIPPED,
        AttemptOutcome.NOT_SUPPORTED,
    ]
    task = ExceptionTask.objects.get(order=order, exception_type__code="write_back_refused", state="open")
    assert old in task.note and "ZT8888888888" in task.note
    assert len(emulator_shipments(emulator, "taobao", order.external_id)) == 1


def test_a_number_changed_before_write_back_travels_with_the_ship_call(shipped, emulator):
    order, parcel, row = shipped("douyin")
    services.shipment_change_tracking_number(shipment_id=parcel.pk, tracking_number="ZT6666666666", actor=None)
    row.refresh_from_db()
    assert row.action == WriteBackAction.SHIP
    services.write_backs_drain()
    (call,) = emulator_shipments(emulator, "douyin", order.external_id)
    assert call["tracking_number"] == "ZT6666666666" and call["kind"] == "ship"
