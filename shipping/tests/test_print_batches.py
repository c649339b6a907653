"""Ready orders' parcels go into print batches by waybill account (carrier and template) and lane: the
promotion lane prints in its own batches; held orders, printing batches and full batches take nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.models import Lane, Order
from orders.tests.factories import make_channel
from shipping import services
from shipping.models import PrintBatch, PrintBatchState, Shipment, ShipmentState
from shipping.tests.print_factories import make_account, make_parcel, ready_order


@pytest.fixture
def shop(db):
    channel = make_channel()
    return channel, make_account(channel, carrier_code="ZTO"), make_account(channel, carrier_code="SF")


def parcel_for(account, *, lane: str = Lane.NORMAL, order_state: str = "ready", **kwargs) -> Shipment:
    order = ready_order(account.channel)
    Order.objects.filter(pk=order.pk).update(lane=lane, state=order_state)
    return make_parcel(account, [Order.objects.get(pk=order.pk)], **kwargs)


def test_parcels_are_batched_by_account_and_the_promotion_lane_gets_its_own_batch(shop):
    _channel, zto, sf = shop
    normal = [parcel_for(zto), parcel_for(zto, state=ShipmentState.PENDING)]
    promotion = [parcel_for(zto, lane=Lane.PROMOTION)]
    by_sf = [parcel_for(sf)]

    fill = services.print_batches_fill()

    assert fill.parcels == 4 and len(fill.batches) == 3
    batches = {(b.account_id, b.lane): b for b in PrintBatch.objects.all()}
    assert set(batches) == {(zto.pk, Lane.NORMAL), (zto.pk, Lane.PROMOTION), (sf.pk, Lane.NORMAL)}
    assert {p.pk for p in batches[(zto.pk, Lane.NORMAL)].shipments.all()} == {p.pk for p in normal}
    assert {p.pk for p in batches[(zto.pk, Lane.PROMOTION)].shipments.all()} == {p.pk for p in promotion}
    assert {p.pk for p in batches[(sf.pk, Lane.NORMAL)].shipments.all()} == {p.pk for p in by_sf}
    assert all(b.state == PrintBatchState.OPEN for b in batches.values())


def test_filling_again_changes_nothing_and_later_parcels_join_the_open_batch(shop):
    _channel, zto, _sf = shop
    first = parcel_for(zto)
    services.print_batches_fill()
    assert services.print_batches_fill().parcels == 0
    later = parcel_for(zto)
    services.print_batches_fill()
    assert Shipment.objects.get(pk=later.pk).batch_id == Shipment.objects.get(pk=first.pk).batch_id
    assert PrintBatch.objects.count() == 1


def test_held_orders_voided_and_printed_parcels_stay_out_of_batches(shop):
    _channel, zto, _sf = shop
    held = parcel_for(zto, order_state="on_hold")
    voided = parcel_for(zto)
    Shipment.objects.filter(pk=voided.pk).update(state=ShipmentState.VOIDED)
    printed = parcel_for(zto, order_state="printed")
    Shipment.objects.filter(pk=printed.pk).update(state=ShipmentState.PRINTED)

    assert services.print_batches_fill().parcels == 0
    assert not Shipment.objects.filter(batch__isnull=False).exists()
    assert {held.pk, voided.pk, printed.pk} == set(Shipment.objects.values_list("pk", flat=True))


def test_a_merged_parcel_waits_until_every_order_in_it_is_ready(shop):
    channel, zto, _sf = shop
    first, second = ready_order(channel), ready_order(channel)
    Order.objects.filter(pk=second.pk).update(state="on_hold")
    merged = make_parcel(zto, [first, second])
    assert services.print_batches_fill().parcels == 0
    Order.objects.filter(pk=second.pk).update(state="ready")
    assert services.print_batches_fill().parcels == 1
    assert Shipment.objects.get(pk=merged.pk).batch is not None


def test_a_printing_batch_or_a_full_one_takes_no_more_parcels(shop, settings):
    _channel, zto, _sf = shop
    settings.PRINT_BATCH_MAX_PARCELS = 2
    parcels = [parcel_for(zto) for _ in range(3)]
    services.print_batches_fill()
    sizes = sorted(b.shipments.count() for b in PrintBatch.objects.all())
    assert sizes == [1, 2]

    PrintBatch.objects.update(state=PrintBatchState.PRINTING)
    late = parcel_for(zto)
    services.print_batches_fill()
    batch = Shipment.objects.get(pk=late.pk).batch
    earlier = set(Shipment.objects.filter(pk__in=[p.pk for p in parcels]).values_list("batch_id", flat=True))
    assert batch.state == PrintBatchState.OPEN and batch.pk not in earlier


def test_the_fill_button_fills_batches_and_the_list_links_each_print_page(shop, admin_client):
    _channel, zto, _sf = shop
    parcel = parcel_for(zto)
    response = admin_client.post(reverse("admin:shipping_printbatch_fill"), follow=True)
    assert response.status_code == 200
    batch = Shipment.objects.get(pk=parcel.pk).batch
    assert batch is not None and batch.created_by.username == "admin"
    listing = admin_client.get(reverse("admin:shipping_printbatch_changelist")).content.decode()
    assert reverse("admin:shipping_printbatch_fill") in listing  # the button
    assert reverse("admin:shipping_printbatch_print", args=[batch.pk]) in listing


def test_the_fill_button_needs_the_print_permission(shop, client):
    _channel, zto, _sf = shop
    parcel_for(zto)
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("viewer", password="pw-2026-view", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_printbatch"))
    client.force_login(user)
    response = client.post(reverse("admin:shipping_printbatch_fill"))
    assert response.status_code == 403
    assert not PrintBatch.objects.exists()
