"""The order and stock movement lists never count a whole big table per page view (issue 15): a
filtered list is counted up to a cap and shown as "N+", an unfiltered one on PostgreSQL shows the
planner's estimate as "about N"; the actions bar's "select all" names no number it does not know;
the channel list's "orders today" and the index counts stay right."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import postgres_only
from orderhub import pagination
from orders import selectors
from orders.admin import OrderAdmin
from orders.models import Order
from orders.tests.factories import make_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client) -> User:
    user = User.objects.create_superuser("boss", password="pw")
    client.force_login(user)
    return user


def _orders(channel, n: int, **fields) -> list[Order]:
    return [
        Order.objects.create(
            channel=channel, external_id=f"{channel.pk}-{i}", platform_status="awaiting_shipment", **fields
        )
        for i in range(n)
    ]


def test_a_filtered_list_is_counted_up_to_the_cap_and_says_so(client, boss, monkeypatch):
    monkeypatch.setattr(pagination.EstimatedCountPaginator, "count_cap", 2)
    shop = make_channel()
    _orders(shop, 3, buyer_nick="tea_lover")
    _orders(make_channel(), 1)
    url = reverse("admin:orders_order_changelist")
    page = client.get(url, {"channel__id__exact": shop.pk}).content.decode()
    assert re.search(r"2\+\s+orders", page), page[page.find("paginator") - 50 : page.find("paginator") + 400]
    searched = client.get(url, {"q": "tea_lover"}).content.decode()
    assert "2+ results" in searched


def test_a_small_filtered_list_is_counted_exactly(client, boss):
    shop = make_channel()
    _orders(shop, 3)
    _orders(make_channel(), 1)
    page = client.get(reverse("admin:orders_order_changelist"), {"channel__id__exact": shop.pk}).content.decode()
    assert re.search(r"\b3\s+orders", page)


def test_the_date_drill_down_is_gone_and_the_received_filter_bounds_the_range(client, boss):
    shop = make_channel()
    old, new = _orders(shop, 2)
    Order.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=40))
    url = reverse("admin:orders_order_changelist")
    page = client.get(url).content.decode()
    assert 'class="toplinks"' not in page  # no date_hierarchy navigation
    recent = client.get(url, {"received": "7d"}).content.decode()
    assert f"/{new.pk}/change/" in recent and f"/{old.pk}/change/" not in recent


@postgres_only
def test_an_unfiltered_big_list_shows_the_estimate_and_runs_no_full_count(client, boss, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_BELOW", 2)  # a test table is small; the rule is the same
    _orders(make_channel(), 5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert re.search(r"about 5\s+orders", page)
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and '"orders_order"' in q["sql"]]
    assert all("LIMIT" in sql.upper() or "WHERE" in sql.upper() for sql in counts), counts


def _actions_bar(page: str) -> str:
    start = page.index('<div class="actions">')
    return page[start : page.index("</div>", start)]


def test_select_all_on_a_capped_list_names_no_number(client, boss, monkeypatch):
    monkeypatch.setattr(pagination.EstimatedCountPaginator, "count_cap", 2)
    monkeypatch.setattr(OrderAdmin, "list_per_page", 1)
    shop = make_channel()
    _orders(shop, 3)
    _orders(make_channel(), 1)  # a filter by the only channel would select every row
    page = client.get(reverse("admin:orders_order_changelist"), {"channel__id__exact": shop.pk}).content.decode()
    assert re.search(r"2\+\s+orders", page)  # the paginator says the count is capped
    bar = _actions_bar(page)
    assert "Select all matching orders" in bar and "All matching orders selected" in bar
    assert not re.search(r"\d", bar.split('class="action-counter"')[1].split("</span>", 1)[1]), bar


def test_select_all_on_an_exactly_counted_list_keeps_the_number(client, boss, monkeypatch):
    monkeypatch.setattr(OrderAdmin, "list_per_page", 1)
    shop = make_channel()
    _orders(shop, 3)
    _orders(make_channel(), 1)  # a filter by the only channel would select every row
    page = client.get(reverse("admin:orders_order_changelist"), {"channel__id__exact": shop.pk}).content.decode()
    bar = _actions_bar(page)
    assert "Select all 3 orders" in bar and "All 3 selected" in bar and "matching" not in bar


@postgres_only
def test_select_all_on_an_estimated_list_names_no_number(client, boss, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_BELOW", 2)
    monkeypatch.setattr(OrderAdmin, "list_per_page", 1)
    _orders(make_channel(), 5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    page = client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert re.search(r"about 5\s+orders", page)
    bar = _actions_bar(page)
    assert "Select all matching orders" in bar and not re.search(r"Select all \d", bar)


def test_orders_today_per_channel_counts_only_todays_orders(boss):
    shop, quiet = make_channel(), make_channel()
    today = _orders(shop, 3)
    Order.objects.filter(pk=today[0].pk).update(received_at=timezone.now() - timedelta(days=2))
    counts = {channel.pk: channel.orders_today for channel in selectors.channel_list_with_health()}
    assert counts[shop.pk] == 2 and counts[quiet.pk] == 0
