"""合单 and split parcels: two orders of one buyer and address travel in one parcel (through the
`mergeable` to-do's "merge" resolution) and each is written back with the same number; one order
split into two parcels ships partially after the first scan and fully after the second."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from inventory.models import MovementKind, StockLevel, StockMovement
from rules.errors import ResolveActionInvalid
from rules.models import ExceptionTask
from rules.services import exception_resolve
from shipping import services
from shipping.errors import ParcelPlanInvalid
from shipping.models import Shipment, ShipmentLine, ShipmentState, WriteBack
from shipping.tests.conftest import account_on, assert_ledger_equals_levels, ingest, issued_numbers, reload, scan

pytestmark = pytest.mark.django_db


def keeper():
    user = get_user_model().objects.create_user("keeper", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Warehouse"))
    return user


def test_two_orders_merged_by_the_mergeable_resolution_ship_in_one_parcel(shop, emulator, scanner, warehouse):
    _device, client = scanner
    channel = shop("taobao")
    account_on(channel)
    same = {"buyer": "twice", "address": "文三路 88 号"}
    first = ingest(channel, lines=[("SKU-TEE-L", 1)], **same)
    second = ingest(channel, lines=[("SKU-MUG-1", 2)], **same)
    assert reload(first).state == "ready" and reload(second).state == "on_hold"
    task = ExceptionTask.objects.get(order=second, exception_type__code="mergeable", state="open")

    exception_resolve(task_id=task.pk, actor=keeper(), action="merge", data={"target_order_id": first.pk})
    task.refresh_from_db()
    assert task.resolution == "merged" and f"order {first.pk}" in task.resolution_note
    assert reload(second).state == "ready" and reload(first).state == "ready"  # both stay: each is written back
    parcel = Shipment.objects.exclude(state=ShipmentState.VOIDED).get()
    assert sorted(parcel.lines.values_list("order_id", "quantity")) == [(first.pk, 1), (second.pk, 2)]
    assert services.parcels_create(order_ids=[first.pk, second.pk]) == []  # nothing left to parcel

    services.number_parcels(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    call = next(c for c in emulator.calls if c["api"] == "cainiao.waybill.ii.get")
    assert first.external_id in call["params"]["param_waybill_cloud_print_apply_new_request"]
    assert second.external_id in call["params"]["param_waybill_cloud_print_apply_new_request"]
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    assert reload(first).state == reload(second).state == "printed"

    response = scan(client, parcel.tracking_number)
    assert response.status_code == 200
    assert [o["state"] for o in response.json()["orders"]] == ["shipped", "shipped"]
    assert sorted(WriteBack.objects.values_list("order_id", "shipment_id")) == [
        (first.pk, parcel.pk),
        (second.pk, parcel.pk),
    ]
    assert issued_numbers(emulator, "taobao") == {f"taobao:{parcel.parcel_key}": [parcel.tracking_number]}
    assert_ledger_equals_levels()


def test_a_merge_is_refused_for_another_buyer_or_a_numbered_parcel(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel)
    a = ingest(channel, buyer="alice", address="文三路 1 号")
    b = ingest(channel, buyer="bob", address="文三路 2 号")
    with pytest.raises(ParcelPlanInvalid, match="different buyers"):
        services.parcels_merge(order_ids=[a.pk, b.pk])
    same = {"buyer": "carol", "address": "文三路 3 号"}
    c1 = ingest(channel, **same)
    c2 = ingest(channel, **same)
    (parcel,) = services.parcels_create(order_ids=[c1.pk])
    services.number_parcels(shipment_ids=[parcel.pk])
    task = ExceptionTask.objects.get(order=c2, exception_type__code="mergeable", state="open")
    with pytest.raises(ResolveActionInvalid, match="void it before merging"):
        exception_resolve(task_id=task.pk, actor=keeper(), action="merge", data={"target_order_id": c1.pk})
    assert ExceptionTask.objects.get(pk=task.pk).state == "open"  # nothing half-done
    assert Shipment.objects.filter(state=ShipmentState.VOIDED).count() == 0


def test_one_order_split_into_two_parcels_ships_partially_then_fully(shop, emulator, scanner, warehouse):
    _device, client = scanner
    channel = shop("taobao")
    account_on(channel, "SF")  # SF numbers a second parcel of an order under a parent number
    order = ingest(channel, lines=[("SKU-TEE-L", 3), ("SKU-MUG-1", 1)])
    (whole,) = services.parcels_create(order_ids=[order.pk])
    tee = order.lines.get(sku_code="SKU-TEE-L")
    mug = order.lines.get(sku_code="SKU-MUG-1")
    with pytest.raises(ParcelPlanInvalid):
        services.parcel_split(shipment_id=whole.pk, moves={tee.pk: 3, mug.pk: 1})  # would empty the first
    second = services.parcel_split(shipment_id=whole.pk, moves={tee.pk: 1, mug.pk: 1})
    assert sorted(ShipmentLine.objects.filter(shipment=whole).values_list("order_line_id", "quantity")) == [(tee.pk, 2)]
    assert sorted(second.lines.values_list("order_line_id", "quantity")) == [(tee.pk, 1), (mug.pk, 1)]

    services.number_parcels(shipment_ids=[whole.pk, second.pk])
    whole.refresh_from_db()
    second.refresh_from_db()
    assert second.parent_tracking_number == whole.tracking_number
    services.parcels_mark_printed(shipment_ids=[whole.pk])
    assert reload(order).state == "ready"  # half its units are not printed yet
    services.parcels_mark_printed(shipment_ids=[second.pk])
    assert reload(order).state == "printed"

    assert scan(client, whole.tracking_number).json()["orders"][0]["state"] == "partially_shipped"
    tee_level = StockLevel.objects.get(sku__code="SKU-TEE-L")
    assert (tee_level.on_hand, tee_level.reserved) == (98, 1)  # only the two units that left
    assert scan(client, second.tracking_number).json()["orders"][0]["state"] == "shipped"
    assert reload(order).state == "shipped"
    outbound = StockMovement.objects.filter(order_id=order.pk, kind=MovementKind.OUTBOUND)
    assert sorted(outbound.values_list("quantity", flat=True)) == [-2, -1, -1]
    assert {(lv.sku.code, lv.on_hand, lv.reserved) for lv in StockLevel.objects.select_related("sku")} >= {
        ("SKU-TEE-L", 97, 0),
        ("SKU-MUG-1", 99, 0),
    }
    assert WriteBack.objects.filter(order=order).count() == 2  # one per parcel
    assert_ledger_equals_levels()
