"""Marketplace orders carry masked phones (138****5678, or a receiver flagged masked): the notice
records "not sent: no plaintext number" and the SMS gateway is never called with masked digits."""

from __future__ import annotations

import pytest

from shipping.notices.services import drain_buyer_notices
from shipping.tests.notice_factories import reload, shipped_notice

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("phone", "masked", "platform"),
    [("138****5678", False, "manual"), ("13812345678", True, "taobao"), ("", True, "pdd")],
)
def test_a_masked_number_is_not_sent(use_backend, phone, masked, platform):
    gateway = use_backend("aliyun")
    notice = shipped_notice(phone=phone, masked=masked, platform=platform)
    assert drain_buyer_notices().not_sent == 1
    notice = reload(notice)
    assert notice.state == "not_sent" and notice.last_error == "not sent: no plaintext number"
    assert notice.recipient == "" and notice.rendered_text  # what the buyer would have read is kept
    assert gateway.seen == []


def test_a_number_that_is_no_mobile_number_is_not_sent(use_backend):
    gateway = use_backend("generic")
    notice = shipped_notice(phone="12345")
    assert drain_buyer_notices().not_sent == 1
    assert reload(notice).last_error == "not sent: no valid mobile number" and gateway.seen == []


def test_no_enabled_template_skips_the_notice_with_the_reason(use_backend):
    from shipping.models import BuyerNotice, NoticeTemplate

    gateway = use_backend("aliyun")
    notice = shipped_notice()
    # the tracking side writes `delivered` notices; delivered templates start disabled
    delivered = BuyerNotice.objects.create(shipment=notice.shipment, order=notice.order, event="delivered")
    assert not NoticeTemplate.objects.get(event="delivered", medium="sms").enabled
    result = drain_buyer_notices()
    assert (result.sent, result.skipped) == (1, 1)
    delivered = reload(delivered)
    assert delivered.state == "skipped" and "delivered" in delivered.last_error
    assert len(gateway.sends("aliyun")) == 1


def test_a_backend_without_its_keys_raises_an_alert_and_sends_nothing(settings):
    from orders.models import Alert
    from shipping.notices.services.sending import BACKEND_ALERT_KEY

    settings.NOTICE_SMS_BACKEND = "aliyun"
    settings.ALIYUN_SMS = {**settings.ALIYUN_SMS, "access_key_id": "", "access_key_secret": ""}
    notice = shipped_notice()
    from shipping.models import NoticeTemplate

    NoticeTemplate.objects.filter(event="shipped", medium="sms").update(vendor_template_code="SMS_1")
    assert drain_buyer_notices().retrying == 1
    notice = reload(notice)
    assert notice.state == "pending" and notice.attempts == 1 and "ALIYUN_SMS_ACCESS_KEY_ID" in notice.last_error
    assert Alert.objects.filter(key=BACKEND_ALERT_KEY, resolved_at__isnull=True).exists()


def test_an_enabled_delivered_template_sends_the_delivered_notice(use_backend):
    from shipping.models import BuyerNotice, NoticeTemplate

    gateway = use_backend("generic")
    notice = shipped_notice()
    NoticeTemplate.objects.filter(event="delivered", medium="sms").update(enabled=True)
    delivered, _created = BuyerNotice.objects.get_or_create(  # as the tracking side writes it
        shipment=notice.shipment, order=notice.order, event="delivered"
    )
    assert drain_buyer_notices().sent == 2
    assert reload(delivered).state == "done" and "已签收" in reload(delivered).rendered_text
    assert sorted(r["body"]["event"] for r in gateway.accepted["generic"]) == ["delivered", "shipped"]
