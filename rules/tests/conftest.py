"""Fixtures for the rules suite: realistic incoming orders and a controllable reservation outcome.

The rules app relies only on inventory's ReservationOutcome dataclass (the inventory engineer builds
real reservations in parallel), so these tests choose the outcome instead of depending on stock rows.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.services import ReservationOutcome
from orders.channels.base import NormalizedLine, NormalizedOrder

_ids = itertools.count(1)


class StockStub:
    def __init__(self):
        self.outcome = ReservationOutcome(is_complete=True)

    def __call__(self, *, order):
        return self.outcome


@pytest.fixture(autouse=True)
def english(settings):
    """Assertions read English admin text; the default language (zh-hans) is translated when compiled."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def stock(monkeypatch):
    """What reserving stock achieves for every order in the test (complete unless a test says otherwise)."""
    import inventory.services

    stub = StockStub()
    monkeypatch.setattr(inventory.services, "reserve_for_order", stub)
    return stub


def clean_order(**overrides) -> NormalizedOrder:
    """A paid Taobao order to a real Hangzhou address, nothing unusual about it."""
    now = timezone.now()
    n = next(_ids)
    base = NormalizedOrder(
        external_id=f"T{n:08d}",
        platform_status="awaiting_shipment",
        platform_status_raw="WAIT_SELLER_SEND_GOODS",
        buyer_nick=f"buyer{n}",
        receiver_name="张三",
        receiver_phone="13812345678",
        receiver_province="浙江省",
        receiver_city="杭州市",
        receiver_district="西湖区",
        receiver_address=f"文三路{n}号",
        lines=[
            NormalizedLine(f"{n}01", "i1", "s1", "SKU-TEA-1", "西湖龙井 250g", 1, Decimal("120.00")),
            NormalizedLine(f"{n}02", "i2", "s2", "SKU-CUP-1", "玻璃杯", 2, Decimal("15.00")),
        ],
        goods_amount=Decimal("150.00"),
        paid_amount=Decimal("150.00"),
        created_at=now,
        paid_at=now,
        modified_at=now,
    )
    return replace(base, **overrides)


@pytest.fixture
def incoming():
    return clean_order


@pytest.fixture
def ingest(channel):
    from orders.services import ingest_order

    def _ingest(order: NormalizedOrder | None = None, **overrides):
        return ingest_order(channel=channel, incoming=order or clean_order(**overrides), source="test").order

    return _ingest


def open_types(order) -> list[str]:
    from rules.models import ExceptionTask

    return sorted(
        ExceptionTask.objects.filter(order=order, state="open").values_list("exception_type__code", flat=True)
    )


def reload(order):
    """A fresh copy (the FSM state field is protected: refresh_from_db cannot set it)."""
    from orders.models import Order

    return Order.objects.select_related("channel").get(pk=order.pk)


@pytest.fixture
def admin_client(client):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client
