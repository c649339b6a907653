"""The order list shows what ops scan for (state, shop, buyer, receiver, amount in ¥, paid, ship-by
countdown, hold reason, lane) with one date format in the configured time zone, in both languages;
the order page leads with a summary — state, what it waits for, who has it (the open exception and
its assignee), the ship-by deadline shown once — then lines, parcels, exceptions, history, and the
native JSON collapsed at the end."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone, translation

from orders.models import Order, OrderState
from orders.tests.factories import make_channel, make_order_in_state
from rules.models import ExceptionTask, ExceptionType

pytestmark = pytest.mark.django_db

PAID = datetime(2026, 3, 4, 1, 2, tzinfo=ZoneInfo("UTC"))


@pytest.fixture
def held(admin_user):
    channel = make_channel(name="天猫旗舰店")
    order = make_order_in_state(channel, OrderState.ON_HOLD, receiver_name="欧阳娜娜")
    ship_by = timezone.now() + timedelta(minutes=40)
    Order.objects.filter(pk=order.pk).update(
        paid_at=PAID, ship_by=ship_by, hold_reason="买家要求改地址后再发", hold_wording={}
    )
    ExceptionTask.objects.create(
        order=order,
        exception_type=ExceptionType.objects.get(code="address_changed"),
        assignee_user=admin_user,
        assignee_group=Group.objects.create(name="客服"),
        due_at=timezone.now() + timedelta(minutes=15),
    )
    return Order.objects.get(pk=order.pk)


def _local_paid() -> str:
    return PAID.astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_list_shows_each_column_ops_scan_for_in_one_date_format(held, admin_client, language):
    admin_client.cookies["django_language"] = language
    page = admin_client.get("/admin/orders/order/")
    html = page.content.decode()
    columns = re.findall(r'<th scope="col" class="[^"]*column-([a-z_]+)', html)
    assert columns == [
        "external_id",
        "state",
        "shop",
        "buyer_nick",
        "receiver_name",
        "amount",
        "paid_at",
        "deadline",
        "short_hold_reason",
        "lane",
    ]
    row = html.split('class="field-external_id"')[1].split("</tr>")[0]
    assert "¥178.00" in row
    assert _local_paid() in row  # Asia/Shanghai, "Y-m-d H:i" in English and in Chinese alike
    assert "买家要求改地址后再发" in row and "欧阳娜娜" in row
    assert re.search(r'class="ship-by soon" title="\d{4}-\d\d-\d\d \d\d:\d\d">', row)  # < 1 h: a countdown
    assert "orders/order_admin.css" in html  # the stylesheet that keeps names on one line


def test_the_list_stylesheet_keeps_cells_on_one_line():
    from django.contrib.staticfiles import finders

    with open(finders.find("orders/order_admin.css"), encoding="utf-8") as stylesheet:
        css = stylesheet.read()
    assert re.search(r"#result_list td, #result_list th \{ white-space: nowrap; \}", css)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_order_page_leads_with_a_summary_and_ends_with_the_payload(held, admin_client, admin_user, language):
    admin_client.cookies["django_language"] = language
    html = admin_client.get(f"/admin/orders/order/{held.pk}/change/").content.decode()
    sections = ["order-summary", "order-parcels", "order-exceptions", "orderevent", "order-native-payload"]
    marks = {
        "order-summary": 'id="order-summary"',
        "order-parcels": 'id="order-parcels"',
        "order-exceptions": 'id="order-exceptions"',
        "orderevent": 'id="events-group"',
        "order-native-payload": '<details class="module native-payload"',
    }
    positions = [html.index(marks[name]) for name in sections]
    assert positions == sorted(positions)
    assert html.index('id="lines-group"') < html.index('id="order-parcels"')
    summary = html.split('id="order-summary"')[1].split("</dl>")[0]
    assert admin_user.get_username() in summary  # who has it: the open exception's assignee
    with translation.override(language):  # the type read in the page's language (地址变更 / Address changed)
        assert str(ExceptionType.objects.get(code="address_changed").label) in summary
    assert 'class="ship-by soon"' in summary
    ship_by = timezone.localtime(held.ship_by).strftime("%Y-%m-%d %H:%M")
    shown = re.sub(r' title="[^"]*"', "", html)  # tooltips aside
    assert shown.count(ship_by) == 1  # "Ship by" once, in the summary
    assert html.count('id="id_ship_by"') + html.count("field-ship_by") == 0
