"""Templates use a fixed set of variables, pasted in without evaluating anything: an unknown variable,
attribute access, indexing, a conversion or a format spec is a form error on save, never a crash (or
worse) at send time."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from shipping.models import NoticeTemplate
from shipping.notices.rendering import TemplateError, check_template, parse_vendor_params, render

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("订单{order_no}已发货", "Unknown variable {order_no}"),
        ("{order.channel.app_secret}", "Unknown variable {order.channel.app_secret}"),
        ("{tracking_number[0]}", "Unknown variable {tracking_number[0]}"),
        ("{tracking_number!r}", "without ! or :"),
        ("{tracking_number:>99999999}", "without ! or :"),
        ("运单号{tracking_number", "Unbalanced braces"),
        ("{__class__}", "Unknown variable {__class__}"),
    ],
)
def test_bad_templates_are_refused(body, fragment):
    with pytest.raises(TemplateError) as caught:
        check_template(body)
    assert fragment in caught.value.message


def test_render_pastes_values_and_keeps_literal_braces():
    text = render("{{运单}} {tracking_number}，预计{eta}送达", {"tracking_number": "ZT1", "eta": "2026-12-02"})
    assert text == "{运单} ZT1，预计2026-12-02送达"


def test_vendor_parameters_keep_their_order_and_are_checked():
    assert parse_vendor_params("no={tracking_number}\n\neta={eta}") == [("no", "{tracking_number}"), ("eta", "{eta}")]
    for text, fragment in [
        ("no", "Line 1: write name=value"),
        ("a={x}", "Line 1: Unknown variable {x}"),
        ("a=1\na=2", "Line 2: a is given twice"),
    ]:
        with pytest.raises(TemplateError) as caught:
            parse_vendor_params(text)
        assert fragment in caught.value.message


def test_saving_a_bad_template_outside_the_admin_is_refused():
    template = NoticeTemplate.objects.get(event="shipped", medium="sms")
    template.body = "{buyer_phone}"
    with pytest.raises(ValidationError) as caught:
        template.save()
    assert "body" in caught.value.message_dict


def test_the_admin_form_shows_the_error_and_keeps_history(admin_client):
    template = NoticeTemplate.objects.get(event="shipped", medium="sms")
    url = reverse("admin:shipping_noticetemplate_change", args=[template.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "ZT7312345678901" in page.content.decode()  # the preview
    form = {"enabled": "on", "body": "订单{order_no}", "vendor_template_code": "SMS_1", "vendor_params": "x={eta}"}
    refused = admin_client.post(url, form)
    assert refused.status_code == 200
    assert "Unknown variable {order_no}" in refused.content.decode()
    form["body"] = "订单{platform_order_id}已发货，运单号{tracking_number}"
    saved = admin_client.post(url, form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    template.refresh_from_db()
    assert template.vendor_template_code == "SMS_1" and template.history.count() >= 1
    assert template.history.first().history_user is not None
