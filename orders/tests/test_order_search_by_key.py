"""Order search finds the same orders as before it was rebuilt on indexes (issue 15), for every key,
on SQLite and PostgreSQL alike: exact platform order id, buyer nick, receiver phone and name, the
new tracking number key, and partial text of 3+ characters. On PostgreSQL each key's lookup can be
answered from its index (checked with EXPLAIN, sequential scans off)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Q
from django.urls import reverse

from conftest import postgres_only
from orders import selectors
from orders.models import Order
from orders.tests.factories import make_channel
from shipping.models import Carrier, Shipment, ShipmentLine

pytestmark = pytest.mark.django_db

ROWS = [
    # external_id, buyer_nick, receiver_name, receiver_phone
    ("3971002233445566", "tea_lover88", "欧阳明月", "13912345678"),
    ("3971002233445567", "Tea_Lover88", "王小明", "13812340000"),
    ("231130-558712903", "小猫爱喝茶", "李四", "15000001111"),
    ("231130-558712904", "coffee.fan", "张三丰", "138****0000"),  # a platform that masks: stored masked
    ("6912345678901", "sam", "Sam Lee", "18600002222"),
]


@pytest.fixture
def orders() -> list[Order]:
    shop, other = make_channel(), make_channel(platform="pdd")
    made = []
    for n, (external_id, nick, name, phone) in enumerate(ROWS):
        made.append(
            Order.objects.create(
                channel=other if n % 2 else shop,
                external_id=external_id,
                platform_status="awaiting_shipment",
                buyer_nick=nick,
                receiver_name=name,
                receiver_phone=phone,
                receiver_masked=phone.count("*") > 0,
            )
        )
    return made


def _before(term: str) -> set[int]:
    """The search as it was: Django's admin search over `=external_id, buyer_nick, receiver_phone,
    receiver_name` (iexact, then icontains)."""
    match = (
        Q(external_id__iexact=term)
        | Q(buyer_nick__icontains=term)
        | Q(receiver_phone__icontains=term)
        | Q(receiver_name__icontains=term)
    )
    return set(Order.objects.filter(match).values_list("pk", flat=True))


def _now(term: str, *, reveal: bool = True) -> set[int]:
    return set(selectors.order_search(Order.objects.all(), term, reveal_receiver=reveal).values_list("pk", flat=True))


@pytest.mark.parametrize(
    "term",
    [
        "3971002233445566",  # exact platform order id
        "231130-558712903",
        "tea_lover88",  # exact buyer nick (and, case-insensitive, part of another)
        "sam",
        "13912345678",  # exact phone
        "138****0000",  # the stored form of a masked platform's phone
        "欧阳明月",  # exact receiver name
        "张三丰",
        "lover",  # partial, 3+ characters
        "TEA_",
        "爱喝茶",
        "2345",
        "0000",
        "Sam Lee",
        "nobody-at-all",
    ],
)
def test_search_finds_the_same_orders_as_before_for_each_key(orders, term):
    assert _now(term) == _before(term)
    assert _before(term) or term == "nobody-at-all"


def test_a_short_term_matches_whole_keys_only(orders):
    """Under 3 characters no index can answer "contains": only whole keys match."""
    assert _now("李四") == {orders[2].pk}
    assert _now("茶") == set() and _before("茶") == {orders[2].pk}


def test_search_normalises_spaces_and_phone_punctuation(orders):
    assert _now("  3971002233445566 ") == {orders[0].pk}
    assert _now("+86 139-1234-5678") == {orders[0].pk}
    assert _now("139 1234 5678") == {orders[0].pk}


def test_search_by_tracking_number_finds_every_order_in_the_parcel(orders):
    carrier, _ = Carrier.objects.get_or_create(code="ZTO", defaults={"name": "中通"})
    parcel = Shipment.objects.create(
        parcel_key="P-1", channel=orders[0].channel, carrier=carrier, tracking_number="ZT7500012345678"
    )
    for order in (orders[0], orders[2]):  # a merged parcel (合单) carries two orders
        line = order.lines.create(title="茶", quantity=1, unit_price=Decimal("9.90"))
        ShipmentLine.objects.create(shipment=parcel, order=order, order_line=line, quantity=1)
    assert _now("ZT7500012345678") == {orders[0].pk, orders[2].pk}
    assert _now("ZT7500012345679") == set()


def test_without_receiver_details_the_phone_matches_by_its_masked_form_only(orders):
    assert _now("13912345678", reveal=False) == {orders[0].pk}
    assert _now("13900005678", reveal=False) == {orders[0].pk}  # same mask, same answer: nothing confirmed
    # 138****0000: the full-phone order and the masked platform's order share the mask
    assert _now("13812340000", reveal=False) == {orders[1].pk, orders[3].pk}
    assert _now("138****0000", reveal=False) == {orders[1].pk, orders[3].pk}
    assert _now("欧阳明月", reveal=False) == set()
    assert _now("2345", reveal=False) == set()
    assert _now("tea_lover88", reveal=False) == _before("tea_lover88")  # the nick is not receiver data


def test_the_admin_search_box_uses_the_same_search(client, orders):
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    page = client.get(reverse("admin:orders_order_changelist"), {"q": "lover"}).content.decode()
    assert orders[0].external_id in page and orders[1].external_id in page
    assert orders[2].external_id not in page


def _plan(queryset) -> str:
    """The plan with full scans priced out: what the WHERE clause can be answered with (a few rows
    in a test table would otherwise always be read whole)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # no pk walk: bitmap index scans or a seq scan
        sql, params = queryset.order_by().query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@postgres_only
@pytest.mark.parametrize(
    "term, index",
    [
        ("3971002233445566", "order_external_id_idx"),
        ("lover", "order_buyer_nick_trgm_idx"),
        ("欧阳明月", "order_receiver_name_trgm_idx"),
        ("13912345678", "order_receiver_phone_trgm_idx"),
    ],
)
def test_each_search_key_is_answered_from_an_index_on_postgresql(orders, term, index):
    plan = _plan(selectors.order_search(Order.objects.all(), term, reveal_receiver=True))
    assert index in plan and "Seq Scan" not in plan, plan


@postgres_only
def test_the_masked_phone_search_uses_its_expression_index_on_postgresql(orders):
    plan = _plan(selectors.order_search(Order.objects.all(), "13912345678", reveal_receiver=False))
    assert "order_receiver_phone_mask_idx" in plan and "Seq Scan" not in plan, plan
