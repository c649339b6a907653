"""The print queue over real HTTP to the platform emulator: an order that becomes ready goes (after the
commit, through the django-q2 task) into a parcel, the open batch of its account and lane, and gets its
number; the promotion lane prints in its own batch; a reprint re-fetches the print data from the
platform (cainiao.waybill.ii.query.by.waybillcode)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.conf import Conf

from orders.channels import adapter_class
from orders.channels.base import ChannelAdapter
from orders.models import Lane, Order
from shipping import services
from shipping.models import PrintBatch, PrintBatchState, Shipment, ShipmentState
from shipping.tests.conftest import account_on, ingest, issued_numbers

pytestmark = pytest.mark.django_db

WAYBILL_PLATFORMS = [
    p
    for p in ("taobao", "jd", "pdd", "douyin", "kuaishou")
    if adapter_class(p).waybill_print_data is not ChannelAdapter.waybill_print_data
]


@pytest.fixture
def tasks_inline(settings, monkeypatch):
    settings.SHIPPING_ENQUEUE_TASKS = True
    monkeypatch.setattr(Conf, "SYNC", True)


def test_an_order_that_becomes_ready_is_parcelled_batched_and_numbered_after_the_commit(
    tasks_inline, shop, emulator, warehouse, django_capture_on_commit_callbacks
):
    channel = shop("taobao")
    account = account_on(channel, "ZTO")
    with django_capture_on_commit_callbacks(execute=True):
        order = ingest(channel, lines=[("SKU-TEE-L", 2), ("SKU-MUG-1", 1)])
    assert order.state == "ready"

    (parcel,) = Shipment.objects.filter(lines__order=order).distinct()
    assert parcel.state == ShipmentState.NUMBERED and parcel.tracking_number and parcel.print_data
    assert parcel.batch.account == account and parcel.batch.lane == Lane.NORMAL
    assert parcel.batch.state == PrintBatchState.OPEN
    assert issued_numbers(emulator, "taobao") == {f"taobao:{parcel.parcel_key}": [parcel.tracking_number]}

    # running the queue again (the schedule) takes nothing new and asks for no second number
    again = services.print_queue_fill()
    assert (again.parcels_created, again.batched.parcels, again.numbered) == (0, 0, 0)
    assert issued_numbers(emulator, "taobao") == {f"taobao:{parcel.parcel_key}": [parcel.tracking_number]}


def test_the_promotion_lane_prints_in_its_own_batch(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel, "ZTO")
    normal = ingest(channel)
    promotion = ingest(channel, lines=[("SKU-CAP-9", 1)])
    Order.objects.filter(pk=promotion.pk).update(lane=Lane.PROMOTION)

    result = services.print_queue_fill()

    assert (result.parcels_created, result.batched.parcels, result.numbered) == (2, 2, 2)
    lanes = dict(PrintBatch.objects.values_list("shipments__lines__order_id", "lane"))
    assert lanes == {normal.pk: Lane.NORMAL, promotion.pk: Lane.PROMOTION}


@pytest.mark.parametrize("platform", WAYBILL_PLATFORMS)
def test_a_reprint_fetches_fresh_print_data_from_the_platform(platform, shop, emulator, warehouse, admin_client):
    channel = shop(platform)
    account_on(channel, "ZTO")
    order = ingest(channel)
    services.print_queue_fill()
    parcel = Shipment.objects.get(lines__order=order)
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    Shipment.objects.filter(pk=parcel.pk).update(print_data={})  # what was issued is gone/expired

    response = admin_client.post(reverse("admin:shipping_printbatch_reprint", args=[parcel.batch_id, parcel.pk]))

    assert response.status_code == 200, response.content
    label = response.json()["label"]
    assert label["tracking_number"] == parcel.tracking_number and label["printable"]
    assert label["print_data"] and label["print_data"] == Shipment.objects.get(pk=parcel.pk).print_data
    assert label["custom_area"]["data"]["items"] == [{"sku": "SKU-TEE-L", "title": "商品 SKU-TEE-L", "quantity": 2}]
    emulated = "taobao" if platform == "tmall" else platform
    assert list(issued_numbers(emulator, emulated).values()) == [[parcel.tracking_number]]  # no new number


def test_a_reprint_of_a_voided_or_unnumbered_parcel_is_refused(shop, emulator, warehouse, admin_client):
    channel = shop("taobao")
    account_on(channel, "ZTO")
    order = ingest(channel)
    services.print_queue_fill()
    parcel = Shipment.objects.get(lines__order=order)
    Shipment.objects.filter(pk=parcel.pk).update(state=ShipmentState.VOIDED)
    response = admin_client.post(reverse("admin:shipping_printbatch_reprint", args=[parcel.batch_id, parcel.pk]))
    assert response.status_code == 409 and response.json()["code"] == "print_refused"
    other_batch = PrintBatch.objects.create(account=parcel.account)
    response = admin_client.post(reverse("admin:shipping_printbatch_reprint", args=[other_batch.pk, parcel.pk]))
    assert response.status_code == 400 and "shipment" in response.json()["errors"]
