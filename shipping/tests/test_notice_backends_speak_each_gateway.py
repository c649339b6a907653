"""Each notice backend against a local stand-in of its gateway, over real HTTP: the request carries
what the real gateway expects (parameters, template, our id) and a signature the stand-in verifies the
way the vendor does (Aliyun ACS3-HMAC-SHA256, Tencent TC3-HMAC-SHA256, WeChat access token, OrderHub's
HMAC-SHA256 for the generic gateway). The notice ends `done` with the gateway's message id."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from shipping.models import AttemptKind, NoticeAttempt
from shipping.notices.services import drain_buyer_notices
from shipping.tests.notice_factories import PHONE, reload, shipped_notice

pytestmark = pytest.mark.django_db

ETA = (timezone.localdate() + timedelta(days=2)).isoformat()  # Shanghai → Zhejiang: neighbours, 2 days


def test_aliyun_send_sms_request_shape_and_signature(use_backend):
    gateway = use_backend("aliyun")
    notice = shipped_notice()
    result = drain_buyer_notices()
    assert result.sent == 1, result
    (seen,) = gateway.sends("aliyun")
    assert seen.signature_ok and seen.method == "POST" and seen.path == "/"
    assert seen.headers["x-acs-version"] == "2017-05-25"
    assert seen.headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=ak-test,SignedHeaders=")
    assert seen.params["PhoneNumbers"] == PHONE and seen.params["SignName"] == "示例旗舰店"
    assert seen.params["TemplateCode"] == "SMS_000001"
    assert seen.params["OutId"] == f"orderhub-bn-{notice.pk}"
    params = json.loads(seen.params["TemplateParam"])
    assert params == {
        "shop": "自建商城",
        "order": notice.order.external_id,
        "carrier": notice.shipment.carrier.name,
        "no": notice.shipment.tracking_number,
        "eta": ETA,
    }
    notice = reload(notice)
    assert notice.state == "done" and notice.gateway_message_id.startswith("biz")
    assert notice.backend == "aliyun" and notice.recipient == PHONE
    assert notice.shipment.tracking_number in notice.rendered_text and ETA in notice.rendered_text


def test_tencent_send_sms_request_shape_and_signature(use_backend):
    gateway = use_backend("tencent")
    notice = shipped_notice()
    assert drain_buyer_notices().sent == 1
    (seen,) = gateway.sends("tencent")
    assert seen.signature_ok and seen.headers["x-tc-version"] == "2021-01-11"
    assert seen.headers["x-tc-region"] == "ap-guangzhou"
    assert seen.headers["authorization"].startswith("TC3-HMAC-SHA256 Credential=AKIDtest/")
    assert seen.params["PhoneNumberSet"] == [f"+86{PHONE}"]
    assert seen.params["SmsSdkAppId"] == "1400000001" and seen.params["SignName"] == "示例旗舰店"
    assert seen.params["TemplateId"] == "SMS_000001"
    # the values in the template's order
    assert seen.params["TemplateParamSet"] == [
        "自建商城",
        notice.order.external_id,
        notice.shipment.carrier.name,
        notice.shipment.tracking_number,
        ETA,
    ]
    assert seen.params["SessionContext"] == f"orderhub-bn-{notice.pk}"
    notice = reload(notice)
    assert notice.state == "done" and notice.gateway_message_id.startswith("serial-")


def test_wechat_subscribe_message_request_shape(use_backend):
    gateway = use_backend("wechat")
    gateway.wechat_subscribed.add("o-buyer-openid")
    notice = shipped_notice(buyer_id="o-buyer-openid")
    assert drain_buyer_notices().sent == 1
    token_calls = [s for s in gateway.seen if s.gateway == "wechat" and s.action == "token"]
    assert len(token_calls) == 1 and token_calls[0].signature_ok
    (seen,) = gateway.sends("wechat")
    assert seen.signature_ok
    assert seen.params["touser"] == "o-buyer-openid" and seen.params["template_id"] == "SMS_000001"
    assert seen.params["page"] == "pages/order/detail" and seen.params["miniprogram_state"] == "formal"
    assert seen.params["data"]["character_string1"] == {"value": notice.shipment.tracking_number}
    assert seen.params["data"]["date3"] == {"value": ETA}
    assert reload(notice).state == "done"


def test_wechat_refuses_a_buyer_who_did_not_subscribe(use_backend):
    gateway = use_backend("wechat")
    notice = shipped_notice(buyer_id="o-never-subscribed")
    assert drain_buyer_notices().failed == 1
    notice = reload(notice)
    assert notice.state == "failed" and notice.last_error.startswith("43101")
    assert gateway.accepted["wechat"] == []


def test_generic_gateway_request_shape_and_signature(use_backend):
    gateway = use_backend("generic")
    notice = shipped_notice()
    assert drain_buyer_notices().sent == 1
    (seen,) = gateway.sends("generic")
    assert seen.signature_ok and seen.path == "/messages"
    assert seen.headers["x-orderhub-timestamp"].isdigit() and len(seen.headers["x-orderhub-signature"]) == 64
    assert seen.params["id"] == f"orderhub-bn-{notice.pk}" and seen.params["to"] == PHONE
    assert seen.params["event"] == "shipped" and seen.params["medium"] == "sms"
    assert notice.shipment.tracking_number in seen.params["text"] and ETA in seen.params["text"]
    assert seen.params["params"]["no"] == notice.shipment.tracking_number
    assert reload(notice).state == "done"


def test_generic_gateway_refuses_a_bad_signature(use_backend, settings):
    gateway = use_backend("generic")
    settings.NOTICE_GATEWAY = {"url": gateway.url, "secret": "not-the-shared-secret"}
    notice = shipped_notice()
    assert drain_buyer_notices().failed == 1
    assert reload(notice).last_error.startswith("401")
    assert gateway.accepted["generic"] == [] and not gateway.seen[0].signature_ok


def test_the_database_backend_records_the_text_and_sends_nothing(settings, gateway):
    notice = shipped_notice()
    assert drain_buyer_notices().sent == 1
    notice = reload(notice)
    assert notice.state == "done" and notice.backend == "database"
    assert (
        notice.rendered_text.startswith("您在自建商城的订单")
        and notice.shipment.tracking_number in notice.rendered_text
    )
    assert notice.gateway_answer["answer"] == {"recorded": True, "sent": False}
    assert gateway.seen == []
    assert list(NoticeAttempt.objects.filter(notice=notice).values_list("kind", "outcome")) == [
        (AttemptKind.SEND, "sending"),
        (AttemptKind.SEND, "sent"),
    ]


def test_aliyun_refusal_is_final_and_throttling_retries(use_backend):
    gateway = use_backend("aliyun")
    refused, throttled = shipped_notice(), shipped_notice()
    gateway.fault("aliyun", "refuse")
    gateway.fault("aliyun", "throttle")
    result = drain_buyer_notices()
    assert (result.failed, result.retrying) == (1, 1), result
    assert reload(refused).state == "failed" and "isv.MOBILE_NUMBER_ILLEGAL" in reload(refused).last_error
    throttled = reload(throttled)
    assert throttled.state == "pending" and throttled.attempts == 1 and throttled.next_attempt_at > timezone.now()


@pytest.mark.parametrize("backend", ["aliyun", "tencent", "generic"])
def test_a_gateway_that_is_down_is_retried_later_not_looked_up(use_backend, settings, backend):
    import socket

    use_backend(backend)
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    settings.ALIYUN_SMS = {**settings.ALIYUN_SMS, "endpoint": closed}
    settings.TENCENT_SMS = {**settings.TENCENT_SMS, "endpoint": closed}
    settings.NOTICE_GATEWAY = {**settings.NOTICE_GATEWAY, "url": f"http://{closed}"}
    notice = shipped_notice()
    assert drain_buyer_notices().retrying == 1
    notice = reload(notice)
    assert notice.state == "pending" and notice.attempts == 1 and notice.next_attempt_at > timezone.now()
