"""Void and re-issue (the platform gives the number back; a new number under a new key; refused after
pickup with a clear reason), account refresh (branch, sender and quota from the platform; a low quota
raises one alert, a topped-up one resolves it) and carrier codes loaded from the platform's list."""

from __future__ import annotations

import pytest

from orders.models import Alert
from shipping import services
from shipping.errors import VoidRefused
from shipping.models import Carrier, Shipment, ShipmentState
from shipping.tests.conftest import account_on, control, ingest, issued_numbers, reload, scan

pytestmark = pytest.mark.django_db


def numbered_parcel(channel):
    order = ingest(channel)
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.number_parcels(shipment_ids=[parcel.pk])
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    return order, parcel


def test_void_and_reissue_takes_a_new_number_under_a_new_key(shop, emulator, warehouse, scanner):
    _device, client = scanner
    channel = shop("taobao")
    account_on(channel)
    order, old = numbered_parcel(channel)

    new = services.parcel_void_and_reissue(shipment_id=old.pk)
    old.refresh_from_db()
    assert old.state == ShipmentState.VOIDED and new.replaces == old
    assert new.state == ShipmentState.NUMBERED and new.parcel_key != old.parcel_key
    assert new.tracking_number and new.tracking_number != old.tracking_number
    waybills = {w["tracking_number"]: w["state"] for w in control_listing(emulator)}
    assert waybills == {old.tracking_number: "cancelled", new.tracking_number: "issued"}
    assert issued_numbers(emulator, "taobao") == {
        f"taobao:{old.parcel_key}": [old.tracking_number],
        f"taobao:{new.parcel_key}": [new.tracking_number],
    }
    assert scan(client, old.tracking_number).json()["code"] == "parcel_voided"
    services.parcels_mark_printed(shipment_ids=[new.pk])
    assert scan(client, new.tracking_number).status_code == 200
    assert reload(order).state == "shipped"


def control_listing(emulator):
    import requests

    return requests.get(f"{emulator.base_url}/_emulator/waybills", timeout=5).json()["waybills"]


def test_void_is_refused_after_the_carrier_collected_the_parcel(shop, emulator, warehouse):
    channel = shop("taobao")
    account_on(channel)
    _order, parcel = numbered_parcel(channel)
    control(emulator, "waybills/collect", platform="taobao", tracking_number=parcel.tracking_number)
    with pytest.raises(VoidRefused, match="already collected") as refused:
        services.parcel_void_and_reissue(shipment_id=parcel.pk)
    assert refused.value.code == "picked_up"
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.PRINTED and Shipment.objects.count() == 1


def test_refresh_reads_branch_sender_and_quota_and_alerts_below_the_threshold(shop, emulator, warehouse):
    channel = shop("taobao")
    account = account_on(channel)
    assert account.quota == 500 and account.quota_checked_at is not None
    assert account.sender_address != "-" and account.branch_name  # the platform's approved address
    assert not Alert.objects.filter(source="shipping").exists()

    control(
        emulator,
        "waybill_quota",
        platform="taobao",
        app_key=channel.app_key,
        carrier_code="ZTO",
        branch_code=account.branch_code,
        quota=12,
    )
    account = services.waybill_account_refresh(account_id=account.pk)
    assert account.quota == 12
    alert = Alert.objects.get(source="shipping", resolved_at__isnull=True)
    assert "12" in alert.message and alert.channel == channel
    services.waybill_account_refresh(account_id=account.pk)
    assert Alert.objects.get(pk=alert.pk).count == 2  # one open alert, bumped

    control(
        emulator,
        "waybill_quota",
        platform="taobao",
        app_key=channel.app_key,
        carrier_code="ZTO",
        branch_code=account.branch_code,
        quota=900,
    )
    services.waybill_account_refresh(account_id=account.pk)
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None


def test_carrier_codes_load_from_the_platforms_list(shop, emulator):
    channel = shop("taobao")
    zto = Carrier.objects.get(code="ZTO")
    zto.platform_codes = {**zto.platform_codes, "taobao": "OLD"}
    zto.save()
    report = services.carriers_load_from_platform(channel_id=channel.pk)
    assert "ZTO" in report.updated
    assert Carrier.objects.get(code="ZTO").platform_codes["taobao"] == "ZTO"
    assert Carrier.objects.get(code="ZTO").history.count() == 2  # edited, then loaded
