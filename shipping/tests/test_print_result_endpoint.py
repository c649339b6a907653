"""The print page's JSON endpoint: permission-checked, CSRF-protected, field-level 400s, nothing written
after a refusal; a recorded result moves the parcel and, once all its parcels are printed, the order."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from orders.models import Order, OrderEvent, OrderState
from orders.tests.factories import make_channel
from shipping.models import PrintBatch, PrintBatchState, PrintRecord, Shipment, ShipmentState
from shipping.tests.print_factories import make_account, make_parcel, ready_order


@pytest.fixture
def batch(db):
    channel = make_channel()
    account = make_account(channel)
    batch = PrintBatch.objects.create(account=account)
    order = ready_order(channel)
    parcel = make_parcel(account, [order], batch=batch, tracking_number="77319990001")
    return batch, order, parcel


def staff(*permissions: str):
    user = get_user_model().objects.create_user("staff", password="pw-2026-print", is_staff=True)
    for codename in permissions:
        app, name = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=name))
    return get_user_model().objects.get(pk=user.pk)


def post(client: Client, batch: PrintBatch, body) -> tuple[int, dict]:
    response = client.post(
        reverse("admin:shipping_printbatch_result", args=[batch.pk]),
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
    )
    return response.status_code, response.json()


def test_a_printed_result_moves_parcel_and_order_to_printed_and_is_audited(batch, admin_user, client):
    batch, order, parcel = batch
    client.force_login(admin_user)
    status, body = post(
        client,
        batch,
        {"shipment": parcel.pk, "tracking_number": "77319990001", "ok": True, "printer": "Deli", "task_id": "t1"},
    )
    assert status == 200
    assert body["state"] == ShipmentState.PRINTED
    assert body["printed_orders"] == [order.pk]
    assert body["batch_state"] == PrintBatchState.PRINTED  # its only label is out
    assert Order.objects.get(pk=order.pk).state == OrderState.PRINTED
    event = OrderEvent.objects.get(order=order, kind="mark_printed")
    assert event.actor == admin_user
    record = PrintRecord.objects.get()
    assert (record.ok, record.printer, record.task_id, record.actor, record.reprint) == (
        True,
        "Deli",
        "t1",
        admin_user,
        False,
    )
    assert Shipment.history.filter(id=parcel.pk, state=ShipmentState.PRINTED).first().history_user == admin_user


def test_a_second_printed_result_is_a_reprint_and_changes_nothing_else(batch, admin_user, client):
    batch, order, parcel = batch
    client.force_login(admin_user)
    body = {"shipment": parcel.pk, "tracking_number": "77319990001", "ok": True}
    assert post(client, batch, body)[0] == 200
    status, answer = post(client, batch, body)
    assert status == 200 and answer["state"] == ShipmentState.PRINTED and answer["printed_orders"] == []
    assert list(PrintRecord.objects.order_by("pk").values_list("reprint", flat=True)) == [False, True]
    assert OrderEvent.objects.filter(order=order, kind="mark_printed").count() == 1


def test_a_failed_result_is_recorded_and_leaves_parcel_and_order_as_they_were(batch, admin_user, client):
    batch, order, parcel = batch
    client.force_login(admin_user)
    status, body = post(
        client, batch, {"shipment": parcel.pk, "tracking_number": "77319990001", "ok": False, "message": "缺纸"}
    )
    assert status == 200
    assert body["state"] == ShipmentState.NUMBERED and "缺纸" in body["message"]
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.NUMBERED
    assert Order.objects.get(pk=order.pk).state == OrderState.READY
    assert PrintBatch.objects.get(pk=batch.pk).state == PrintBatchState.PRINTING
    assert PrintRecord.objects.get().message == "缺纸"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tracking_number": "77319990001", "ok": True}, "shipment"),
        ({"shipment": "x", "tracking_number": "77319990001", "ok": True}, "shipment"),
        ({"shipment": 1, "ok": True}, "tracking_number"),
        ({"shipment": 1, "tracking_number": "9" * 65, "ok": True}, "tracking_number"),
        ("not json", "__all__"),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_writes_nothing(batch, admin_user, client, body, field):
    batch, _order, parcel = batch
    client.force_login(admin_user)
    status, answer = post(client, batch, body)
    assert status == 400
    assert field in answer["errors"]
    assert not PrintRecord.objects.exists()
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.NUMBERED


def test_a_stale_waybill_number_or_a_parcel_of_another_batch_is_refused(batch, admin_user, client):
    batch, order, parcel = batch
    other = PrintBatch.objects.create(account=batch.account)
    stray = make_parcel(batch.account, [ready_order(batch.account.channel)], batch=other)
    client.force_login(admin_user)

    status, answer = post(client, batch, {"shipment": parcel.pk, "tracking_number": "77310000000", "ok": True})
    assert status == 400 and "not this parcel's current waybill number" in answer["errors"]["tracking_number"][0]
    status, answer = post(client, batch, {"shipment": stray.pk, "tracking_number": stray.tracking_number, "ok": True})
    assert status == 400 and "shipment" in answer["errors"]
    assert not PrintRecord.objects.exists()
    assert Order.objects.get(pk=order.pk).state == OrderState.READY


def test_a_voided_parcel_cannot_be_printed(batch, admin_user, client):
    batch, _order, parcel = batch
    Shipment.objects.filter(pk=parcel.pk).update(state=ShipmentState.VOIDED)
    client.force_login(admin_user)
    status, answer = post(client, batch, {"shipment": parcel.pk, "tracking_number": "77319990001", "ok": True})
    assert status == 409 and answer["code"] == "print_refused"
    assert not PrintRecord.objects.exists()


def test_without_the_print_permission_the_endpoint_answers_403(batch, client):
    batch, _order, parcel = batch
    client.force_login(staff("shipping.view_printbatch"))
    status, answer = post(client, batch, {"shipment": parcel.pk, "tracking_number": "77319990001", "ok": True})
    assert status == 403 and answer["detail"]
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.NUMBERED


def test_without_view_permission_on_batches_the_page_and_endpoint_are_forbidden(batch, client):
    batch, _order, parcel = batch
    client.force_login(staff("orders.print_order"))
    assert client.get(reverse("admin:shipping_printbatch_print", args=[batch.pk])).status_code == 403
    response = client.post(
        reverse("admin:shipping_printbatch_result", args=[batch.pk]),
        data=json.dumps({"shipment": parcel.pk, "tracking_number": "77319990001", "ok": True}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not PrintRecord.objects.exists()


def test_the_endpoint_is_csrf_protected(batch, admin_user):
    batch, _order, parcel = batch
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:shipping_printbatch_result", args=[batch.pk]),
        data=json.dumps({"shipment": parcel.pk, "tracking_number": "77319990001", "ok": True}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.NUMBERED

    page = client.get(reverse("admin:shipping_printbatch_print", args=[batch.pk]))
    token = page.context["csrf_token"]
    response = client.post(
        reverse("admin:shipping_printbatch_result", args=[batch.pk]),
        data=json.dumps({"shipment": parcel.pk, "tracking_number": "77319990001", "ok": True}),
        content_type="application/json",
        headers={"X-CSRFToken": str(token)},
    )
    assert response.status_code == 200
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.PRINTED


def test_get_is_not_allowed_on_the_endpoint(batch, admin_user, client):
    batch, _order, _parcel = batch
    client.force_login(admin_user)
    assert client.get(reverse("admin:shipping_printbatch_result", args=[batch.pk])).status_code == 405


def test_a_manual_shop_batch_is_confirmed_printed_elsewhere_and_moves_parcels_and_orders(admin_client, db):
    channel = make_channel(platform="manual", name="自建商城")
    account = make_account(channel, carrier_code="SF")
    batch = PrintBatch.objects.create(account=account)
    order = ready_order(channel)
    parcel = make_parcel(account, [order], batch=batch, state=ShipmentState.PENDING)  # numbered at the scan

    page = admin_client.get(reverse("admin:shipping_printbatch_print", args=[batch.pk]))
    assert "no e-waybill print component" in page.context["config"]["strings"]["unsupported"]
    assert reverse("admin:shipping_printbatch_printed_elsewhere", args=[batch.pk]) in page.content.decode()
    response = admin_client.post(reverse("admin:shipping_printbatch_printed_elsewhere", args=[batch.pk]))

    assert response.status_code == 302
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.PRINTED
    assert Order.objects.get(pk=order.pk).state == OrderState.PRINTED
    assert PrintBatch.objects.get(pk=batch.pk).state == PrintBatchState.PRINTED


def test_a_platform_batch_cannot_be_confirmed_printed_elsewhere(batch, admin_client):
    batch, order, parcel = batch
    response = admin_client.post(reverse("admin:shipping_printbatch_printed_elsewhere", args=[batch.pk]), follow=True)
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["This batch prints through its platform's print component."]
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.NUMBERED
    assert Order.objects.get(pk=order.pk).state == OrderState.READY
