"""The admin index is a dashboard: throughput by channel over 14 days with p50/p90 paid → shipped and
the share shipped in time, what is late, who holds the open exceptions, the queues; SVG charts drawn
by the server; every number a link to the filtered list that shows that many rows (for a reader whose
role may open that list; for the others the number without a link); business sections before the
technical ones."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from inventory.models import ReconciliationRun
from inventory.tests.factories import make_listing, make_sku, make_warehouse, stock
from orderhub.roles import FINANCE, OPS, ROLES, RULE_ADMIN, VIEWER, WAREHOUSE
from orders import locks
from orders.models import Lane, Order, OrderEvent, OrderState
from orders.services import order_transition_locked
from orders.tests.factories import make_channel, make_order_in_state
from rules.models import ExceptionTask, ExceptionType

pytestmark = pytest.mark.django_db


def _ship(order: Order, *, paid_hours_before: float, at) -> None:
    """Ship an order through the service, then move the clock of the fixture to `at`."""
    with transaction.atomic():
        order_transition_locked(order=locks.order_for_update(order_id=order.pk), name="ship")
    paid_at = at - timedelta(hours=paid_hours_before)
    Order.objects.filter(pk=order.pk).update(paid_at=paid_at, ship_by=paid_at + timedelta(hours=4))
    OrderEvent.objects.filter(order=order, kind="ship").update(at=at)


@pytest.fixture
def world(admin_user):
    now = timezone.now()
    stock(make_sku("SKU-TEA-250"), make_warehouse("SH"), 100)  # the factories' line: no unmatched-SKU task
    mall, shop = make_channel(name="天猫旗舰店"), make_channel(name="拼多多店", platform="pdd")
    three_days_ago = now - timedelta(days=3)
    today = [make_order_in_state(mall, OrderState.READY) for _ in range(3)] + [
        make_order_in_state(shop, OrderState.READY)
    ]
    older = [make_order_in_state(mall, OrderState.READY) for _ in range(2)]
    Order.objects.filter(pk__in=[o.pk for o in older]).update(received_at=three_days_ago)
    _ship(today[0], paid_hours_before=1, at=now - timedelta(minutes=1))  # in time: 60 min
    _ship(older[0], paid_hours_before=6, at=three_days_ago + timedelta(hours=1))  # late: 360 min
    Order.objects.filter(pk=today[1].pk).update(lane=Lane.PRESALE)
    Order.objects.filter(pk=today[2].pk).update(ship_by=now - timedelta(minutes=5))  # overdue
    Order.objects.filter(pk=today[3].pk).update(ship_by=now + timedelta(minutes=20))  # at risk
    remark, price = ExceptionType.objects.get(code="remark_review"), ExceptionType.objects.get(code="price_abnormal")
    ops = Group.objects.create(name="夜班")
    ExceptionTask.objects.create(
        order=today[1], exception_type=remark, assignee_user=admin_user, due_at=now, created_at=now - timedelta(hours=2)
    )
    ExceptionTask.objects.create(order=today[2], exception_type=price, assignee_group=ops, due_at=now)
    ExceptionTask.objects.create(order=older[1], exception_type=remark, due_at=now)
    sku = make_sku("DASH-1", on_presale=True)
    make_listing(mall, sku, push_failures=2)
    make_sku("DASH-2")
    ReconciliationRun.objects.create(finished_at=now, diff_count=3)
    return {"mall": mall, "shop": shop}


class _Links(HTMLParser):
    """Anchors inside #dashboard: (href, the number they show)."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []
        self._number: str | None = None
        self._in_n = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "dashboard":
            self.depth = 1
        elif self.depth and tag == "div":
            self.depth += 1
        if self.depth and tag == "a":
            self._href, self._text, self._number = attrs["href"], [], None
        if self._href is not None and tag == "span" and attrs.get("class") == "n":
            self._in_n = True

    def handle_endtag(self, tag):
        if self.depth and tag == "div":
            self.depth -= 1
        if tag == "span":
            self._in_n = False
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._number or "".join(self._text).strip()))
            self._href = None

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)
            if self._in_n:
                self._number = data.strip()


def test_the_figures_by_channel_and_in_time(world, admin_client):
    dash = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").context["dash"]
    assert dash.today.orders_in == 4 and dash.window.orders_in == 6
    assert dash.today.shipped == 1 and dash.window.shipped == 2
    assert dash.window.sla_share == 0.5 and dash.today.sla_share == 1
    assert (dash.window.p50, dash.window.p90) == (60, 360)
    assert dash.overdue == 1 and dash.at_risk == 1
    by_channel = {row.channel.name: row for row in dash.channels}
    assert by_channel["天猫旗舰店"].window.orders_in == 5 and by_channel["拼多多店"].today.orders_in == 1
    assert [(row["type"].code, row["count"]) for row in dash.exceptions_by_type] == [
        ("remark_review", 2),
        ("price_abnormal", 1),
    ]  # oldest first
    assert dash.exceptions_by_person[0]["user_id"] is not None  # the 2-hour-old task's person comes first
    lanes = {row["lane"]: row["count"] for row in dash.print_queue_by_lane}
    assert lanes[Lane.PRESALE] == 1 and dash.print_queue_total == 4  # 6 orders, 2 shipped
    assert (dash.presale_skus, dash.push_failures, dash.last_reconciliation.diff_count) == (1, 1, 3)


def test_every_number_links_to_the_list_that_shows_that_many(world, admin_client):
    html = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    parser = _Links()
    parser.feed(html)
    checked = 0
    for href, shown in parser.links:
        if not re.fullmatch(r"\d+", shown):
            continue  # hours, shares and chart bars are checked below
        page = admin_client.get(href.replace("&amp;", "&"))
        assert page.status_code == 200, href
        if "cl" not in page.context:  # "my exceptions" is its own page
            continue
        assert page.context["cl"].result_count == int(shown), href
        assert "e=1" not in page.request["QUERY_STRING"], href  # a filter the list understood
        checked += 1
    assert checked >= 40


def test_charts_are_server_side_svg_whose_bars_link_to_their_lists(world, admin_client):
    html = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    charts = re.findall(r'<svg class="oh-chart".*?</svg>', html, re.S)
    assert len(charts) == 3
    assert "<script" not in html.split('id="dashboard"')[1].split('id="dashboard-apps"')[0]
    bars = re.findall(r'<a href="([^"]+)"><rect [^>]*class="(in|shipped)"><title>([^<]+)</title>', charts[0])
    assert len(bars) == 28  # 14 days × (in, shipped)
    for href, _kind, title in bars:
        shown = int(re.search(r": (\d+) (?:orders in|shipped)$", title).group(1))
        page = admin_client.get(href.replace("&amp;", "&"))
        assert page.context["cl"].result_count == shown, (href, title)


def test_business_sections_come_before_the_technical_ones(world, admin_client):
    labels = [app["app_label"] for app in admin_client.get("/admin/").context["app_list"]]
    business = [labels.index(label) for label in ("orders", "rules", "shipping", "inventory")]
    technical = [labels.index(label) for label in ("auth", "authtoken", "django_q", "axes")]
    assert business == sorted(business) and max(business) < min(technical)


def test_closed_days_are_read_once_then_kept(world, admin_client, django_assert_max_num_queries):
    from django.core.cache import cache

    cache.clear()
    admin_client.get("/admin/")
    with django_assert_max_num_queries(40) as first:
        admin_client.get("/admin/")
    assert len(first.captured_queries) < 40
    figures = admin_client.get("/admin/").context["dash"]
    assert figures.window.orders_in == 6  # the cached days still count


def test_todays_settled_hours_are_read_once_and_the_figures_stay_those_of_one_read(
    admin_user, django_assert_num_queries
):
    """A flash-sale day holds as many orders as a quiet week: today's settled hours come from the cache,
    only the hours since are read live, and the sum is what one read of the whole day gives."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.core.cache import cache

    from orderhub import dashboard

    tz = ZoneInfo(timezone.get_current_timezone_name())
    midnight = dt.datetime.combine(timezone.now().astimezone(tz).date(), dt.time.min, tzinfo=tz)
    now = midnight + timedelta(hours=9, minutes=30)  # a fixed clock: nine settled hours, half an hour live
    stock(make_sku("SKU-TEA-250"), make_warehouse("SH"), 100)
    mall, shop = make_channel(name="天猫旗舰店"), make_channel(name="拼多多店", platform="pdd")
    placed = [(mall, 1), (mall, 3), (shop, 3), (mall, 8), (shop, 9)]  # (channel, hour received and shipped)
    for channel, hour in placed:
        order = make_order_in_state(channel, OrderState.READY)
        _ship(order, paid_hours_before=1, at=midnight + timedelta(hours=hour, minutes=40))
        Order.objects.filter(pk=order.pk).update(received_at=midnight + timedelta(hours=hour, minutes=10))

    def whole_day() -> dict:
        start, end = dashboard._day_bounds(now.date(), tz)
        return dict(dashboard._throughput_by_day_and_channel(start, end, tz).get(now.astimezone(tz).date(), {}))

    def as_numbers(figures: dict) -> dict:
        return {pk: (t.orders_in, t.shipped, t.shipped_in_time, dict(t.minutes)) for pk, t in figures.items()}

    cache.clear()
    first = dashboard._today(now, tz)
    assert as_numbers(first) == as_numbers(whole_day())
    assert as_numbers(first)[mall.pk][:2] == (3, 3) and as_numbers(first)[shop.pk][:2] == (2, 2)
    with django_assert_num_queries(2):  # the live half hour only: orders in, ship events
        again = dashboard._today(now, tz)
    assert as_numbers(again) == as_numbers(first)

    # an order received in the live half hour counts at once
    late = make_order_in_state(shop, OrderState.READY)
    Order.objects.filter(pk=late.pk).update(received_at=now - timedelta(minutes=10))
    assert dashboard._today(now, tz)[shop.pk].orders_in == 3


def _staff(client, username: str, *roles: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=roles))
    client.force_login(user)
    return user


def _dashboard_html(client) -> str:
    html = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    return html.split('id="dashboard"')[1].split('id="dashboard-apps"')[0]


#: the lists each seeded role may open among those the dashboard links to
OPENS = {
    VIEWER: {"order", "exceptiontask", "writeback", "channellisting", "sku", "alert", "channel", "reconciliationrun"},
    OPS: {"order", "exceptiontask", "writeback", "channellisting", "sku", "alert", "channel", "reconciliationrun"},
    WAREHOUSE: {"order", "exceptiontask", "writeback", "channellisting", "sku", "reconciliationrun"},
    RULE_ADMIN: {"order", "exceptiontask"},
    FINANCE: {"order", "exceptiontask", "writeback", "channellisting", "sku", "alert", "channel", "reconciliationrun"},
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_sees_links_only_to_the_lists_it_may_open(world, client, role):
    _staff(client, f"staff-{role.replace(' ', '-')}", role)
    hrefs = [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', _dashboard_html(client))]
    by_list = {}
    for href in hrefs:
        model = urlsplit(href).path.strip("/").split("/")[2]  # /admin/<app>/<model>/...
        by_list.setdefault(model, href)
    assert set(by_list) == OPENS[role]
    for href in by_list.values():  # one per list: the permission is the list's, whatever the filter
        assert client.get(href).status_code == 200, (role, href)


def test_a_figure_whose_list_the_role_may_not_open_is_shown_without_a_link(world, client):
    _staff(client, "rules-only", RULE_ADMIN)
    tiles = _dashboard_html(client).split('id="ops-summary"')[1].split('id="dashboard-charts"')[0]
    backlog = re.search(
        r'<span class="figure"><span class="n">(\d+)</span><span class="what">Write-back backlog', tiles
    )
    assert backlog and backlog.group(1) == "0"
    reconciled = re.search(r'id="last-reconciliation">\s*<span class="figure">\s*<span class="n">(\d+)</span>', tiles)
    assert reconciled and reconciled.group(1) == "3"
    assert "/admin/shipping/" not in tiles and "/admin/inventory/" not in tiles


def test_staff_who_may_open_no_list_see_every_figure_and_no_link(world, client):
    _staff(client, "no-lists")
    dashboard = _dashboard_html(client)
    assert "href=" not in dashboard
    assert len(re.findall(r'<rect [^>]*class="(?:in|shipped)"><title>', dashboard)) == 28  # the bars are drawn
    assert re.search(r'<span class="n">1</span><span class="what">Overdue orders', dashboard)
