"""Fixtures for the rules suite: realistic incoming orders over real stock rows."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.channels.base import NormalizedLine, NormalizedOrder

_ids = itertools.count(1)


class RealStock:
    """Real warehouse stock (ledger and levels) for the SKUs the test orders use: plenty, unless a
    test sells a SKU out. The engine then sees the ReservationOutcome inventory really produces."""

    CODES = ("SKU-TEA-1", "SKU-CUP-1")

    def __init__(self):
        from inventory.tests.factories import make_sku, make_warehouse, stock

        self.warehouse = make_warehouse("WH-RULES")
        self.skus = {code: make_sku(code) for code in self.CODES}
        for sku in self.skus.values():
            stock(sku, self.warehouse, 1000)
        self._refs = itertools.count(1)

    def _move(self, code: str, kind: str, quantity: int) -> None:
        from inventory.services import record_movement

        record_movement(
            warehouse_code=self.warehouse.code,
            sku_code=code,
            kind=kind,
            quantity=quantity,
            reference=f"rules-test-{next(self._refs)}",
        )

    def sold_out(self, code: str, *, presale: bool = False) -> None:
        """Count the SKU at zero; with presale, orders for it may wait instead of being held."""
        from inventory.models import Sku

        Sku.objects.filter(code=code).update(presale_allowed=presale)
        self._move(code, "count", 0)

    def arrive(self, code: str, quantity: int) -> None:
        self._move(code, "inbound", quantity)


@pytest.fixture(autouse=True)
def stock(db):
    return RealStock()


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
