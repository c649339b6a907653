"""A scan ships the parcel and writes the `shipped` notice; the drain sends it with the tracking number
and the ETA (the tracking service's when it predicted one, else the carrier × province estimate)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from shipping import services
from shipping.models import BuyerNotice, Shipment
from shipping.notices.services import drain_buyer_notices
from shipping.selectors import order_barcode
from shipping.tests.conftest import account_on, ingest, scan

pytestmark = pytest.mark.django_db


def test_the_shipped_notice_after_a_scan_carries_the_number_and_the_eta(shop, scanner, use_backend):
    gateway = use_backend("aliyun")
    _device, client = scanner
    channel = shop("manual")  # a self-built shop: the buyer's number in plaintext
    account_on(channel, "SF")  # ships from Shanghai
    order = ingest(channel, lines=[("SKU-CAP-9", 1)])  # to Zhejiang
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    shipped = scan(client, order_barcode(order_id=order.pk), label_number="SF1234567890123", key="n-1")
    assert shipped.status_code == 200, shipped.content

    assert drain_buyer_notices().sent == 1
    eta = (timezone.localdate() + timedelta(days=2)).isoformat()  # neighbouring province: 2 days
    (seen,) = gateway.sends("aliyun")
    params = json.loads(seen.params["TemplateParam"])
    assert params["no"] == "SF1234567890123" and params["eta"] == eta
    assert seen.params["PhoneNumbers"] == order.receiver_phone
    notice = BuyerNotice.objects.get(order=order, event="shipped")
    assert notice.state == "done" and "SF1234567890123" in notice.rendered_text and eta in notice.rendered_text


def test_the_tracking_services_eta_wins_over_the_table(use_backend):
    from shipping.tests.notice_factories import reload, shipped_notice

    use_backend("generic")
    notice = shipped_notice()
    predicted = timezone.make_aware(datetime(2026, 12, 24, 15, 0))
    Shipment.objects.filter(pk=notice.shipment_id).update(eta=predicted)
    assert drain_buyer_notices().sent == 1
    assert "2026-12-24" in reload(notice).rendered_text


def test_a_marketplace_buyer_gets_no_sms_but_the_text_is_recorded(shop, emulator, scanner, use_backend):
    gateway = use_backend("aliyun")
    _device, client = scanner
    channel = shop("taobao")
    account_on(channel, "ZTO")
    order = ingest(channel, lines=[("SKU-TEE-L", 1)], receiver_phone="138****5678", receiver_masked=True)
    assert order.state == "ready", order.hold_reason
    (parcel,) = services.parcels_create(order_ids=[order.pk])
    services.number_parcels(shipment_ids=[parcel.pk])
    services.parcels_mark_printed(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    assert scan(client, parcel.tracking_number, key="t-1").status_code == 200

    assert drain_buyer_notices().not_sent == 1
    notice = BuyerNotice.objects.get(order=order)
    assert notice.state == "not_sent" and notice.last_error == "not sent: no plaintext number"
    assert parcel.tracking_number in notice.rendered_text
    assert gateway.seen == []
