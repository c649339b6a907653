"""Order facts (regions, phones, coupons, payment) and condition parsing: data in, never code."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import Channel, Order
from rules import regions
from rules.conditions import ConditionError, compile_condition, validate_condition
from rules.facts import FACTS, Blacklist, FactContext, FactType


@pytest.mark.parametrize(
    "value,ok",
    [
        ("浙江省", True),
        ("浙江", True),
        ("广西", True),
        ("广西壮族自治区", True),
        ("北京市", True),
        ("香港", True),
        ("火星省", False),
        ("", False),
        ("浙 江", True),
    ],
)
def test_province_forms(value, ok):
    assert regions.province_recognised(value) is ok


@pytest.mark.parametrize(
    "city,district,ok",
    [
        ("杭州市", "西湖区", True),
        ("延边朝鲜族自治州", "延吉市", True),
        ("阿拉善盟", "阿拉善左旗", True),
        ("东莞市", "", True),
        ("市辖区", "朝阳区", True),
        ("杭州", "西湖区", True),
        ("杭州市", "西湖", False),
        ("火星", "西湖区", False),
    ],
)
def test_city_and_district_by_suffix(city, district, ok):
    assert (regions.city_recognised(city) and regions.district_recognised(district)) is ok


def _ctx(**fields):
    channel = Channel(platform="taobao", name="x")
    order = Order(channel=channel, channel_id=1, external_id="E1", **fields)
    return FactContext(order=order, now=timezone.now(), lines=[])


@pytest.mark.parametrize(
    "phone,masked,ok",
    [
        ("13812345678", False, True),
        ("+86 138 1234 5678", False, True),
        ("0571-88886666", False, True),
        ("13800000000-1234", False, True),
        ("12345", False, False),
        ("", False, False),
        ("138****5678", True, True),
        ("10086", False, False),
    ],
)
def test_phone_validity(phone, masked, ok):
    assert FACTS["phone_valid"].getter(_ctx(receiver_phone=phone, receiver_masked=masked)) is ok


def test_stacked_coupons_count_order_level_plus_most_on_one_line():
    coupons = [
        {"kind": "platform", "name": "跨店满减", "amount": "20", "line_id": ""},
        {"kind": "shop", "name": "店铺券", "amount": "10", "line_id": "L1"},
        {"kind": "shop", "name": "单品券", "amount": "5", "line_id": "L1"},
        {"kind": "shop", "name": "单品券", "amount": "5", "line_id": "L2"},
    ]
    ctx = _ctx(coupons=coupons)
    assert ctx.get("coupon_count") == 4
    assert ctx.get("stacked_coupon_count") == 3
    assert _ctx(coupons=[{"line_id": "L1"}, {"line_id": "L2"}]).get("stacked_coupon_count") == 1


def test_payment_state_and_discount_ratio():
    now = timezone.now()
    paid = _ctx(
        goods_amount=Decimal("100"),
        postage=Decimal("10"),
        discount_amount=Decimal("30"),
        paid_amount=Decimal("80"),
        paid_at=now,
        platform_status="awaiting_shipment",
    )
    assert paid.get("payment_state") == "paid"
    assert paid.get("discount_ratio") == Decimal("0.3")
    short = _ctx(goods_amount=Decimal("100"), paid_amount=Decimal("90"), paid_at=now)
    assert short.get("payment_state") == "partial"
    assert _ctx(platform_status="unpaid", paid_at=now).get("payment_state") == "unpaid"
    assert _ctx(goods_amount=Decimal("0")).get("discount_ratio") == 0


def test_blacklist_normalises_nick_phone_and_address():
    bl = Blacklist(nicks=frozenset({"bad"}), phones=frozenset({"13812345678"}), addresses=("文三路478号",))
    assert bl.matches(Order(buyer_nick=" BAD "))
    assert bl.matches(Order(receiver_phone="+86 138-1234-5678"))
    assert bl.matches(Order(receiver_city="杭州市", receiver_address="文三路 478号 3幢"))
    assert not bl.matches(Order(buyer_nick="good", receiver_phone="13900000000", receiver_address="文二路1号"))


def test_every_fact_has_operators_and_sql_facts_build_expressions():
    from rules.conditions import TYPE_OPERATORS

    for fact in FACTS.values():
        assert fact.type in TYPE_OPERATORS
        if callable(fact.sql):
            assert fact.sql() is not None
        if fact.type == FactType.CHOICE:
            assert fact.choices


@pytest.mark.parametrize(
    "field,operator,raw,error_field",
    [
        ("nope", "eq", "1", "field"),
        ("paid_amount", "regex", "1", "operator"),
        ("paid_amount", "gt", "1e999999", "value"),
        ("paid_amount", "gt", "NaN", "value"),
        ("line_count", "gt", "2.5", "value"),
        ("buyer_message", "regex", "(a+)+(", "value"),
        ("buyer_message", "regex", "x" * 201, "value"),
        ("buyer_message", "contains", "", "value"),
        ("sku_codes", "contains", "A, B", "value"),
        ("buyer_message", "eq", "__import__('os').system('id')", None),  # just text
    ],
)
def test_condition_validation(field, operator, raw, error_field):
    if error_field is None:
        compiled = compile_condition(field, operator, raw)
        assert compiled.test("__import__('os').system('id')") is True
        assert compiled.test("hello") is False
        return
    with pytest.raises(ConditionError) as exc:
        validate_condition(field, operator, raw)
    assert exc.value.field == error_field


def test_operators_behave_on_values():
    assert compile_condition("paid_amount", "between", "10, 20").test(Decimal("10"))
    assert not compile_condition("paid_amount", "between", "10, 20").test(Decimal("20.01"))
    assert compile_condition("receiver_province", "in", "浙江省，上海市").test("上海市")
    assert compile_condition("buyer_message", "contains", "SF").test("请发sf")
    assert compile_condition("buyer_message", "regex", r"^\d{3}$").test("123")
    assert compile_condition("sku_codes", "in", "A, B").test(["C", "B"])
    assert compile_condition("sku_codes", "any_empty", "").test(["C", ""])
    assert compile_condition("minutes_since_paid", "is_empty", "").test(None)
    assert not compile_condition("minutes_since_paid", "gt", "30").test(None)
