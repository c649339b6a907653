"""Each of the 12 built-in exception types holds a realistic order through orders.services.ingest_order;
a clean order goes to ready and a stacked-coupon promotion order to the promotion lane."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.channels.base import NormalizedLine
from rules.models import BlacklistEntry, ExceptionTask
from rules.services import raise_exception
from rules.tests.conftest import clean_order, open_types, reload

pytestmark = pytest.mark.django_db


def assert_held_as(order, code):
    order = reload(order)
    assert order.state == "on_hold", order.hold_reason
    assert open_types(order) == [code]
    task = ExceptionTask.objects.get(order=order, state="open")
    assert task.assignee_group is not None  # the type's default group
    assert task.due_at > timezone.now()
    return task


def test_clean_order_goes_to_ready(ingest):
    order = ingest()
    assert order.state == "ready"
    assert order.lane == ""
    assert open_types(order) == []


def test_stacked_coupon_promotion_order_goes_to_promotion_lane_not_exception(ingest):
    # 满减 + 店铺券 stacked on the tea line: a 60% discount that is a promotion, not a price error.
    order = ingest(
        goods_amount=Decimal("150.00"),
        discount_amount=Decimal("90.00"),
        paid_amount=Decimal("60.00"),
        coupons=[
            {"kind": "shop_coupon", "name": "店铺券 50", "amount": "50.00", "line_id": ""},
            {"kind": "full_reduction", "name": "满150减40", "amount": "40.00", "line_id": ""},
        ],
    )
    assert order.state == "ready"
    assert order.lane == "promotion"
    assert open_types(order) == []


def test_deep_discount_without_stacked_coupons_is_price_abnormal(ingest):
    order = ingest(
        goods_amount=Decimal("150.00"),
        discount_amount=Decimal("90.00"),
        paid_amount=Decimal("60.00"),
        coupons=[{"kind": "shop_coupon", "name": "内部价", "amount": "90.00", "line_id": ""}],
    )
    assert_held_as(order, "price_abnormal")


def test_address_missing(ingest):
    assert_held_as(ingest(receiver_phone=""), "address_missing")


def test_payment_pending_unpaid(ingest):
    order = ingest(platform_status="unpaid", platform_status_raw="WAIT_BUYER_PAY", paid_at=None)
    assert_held_as(order, "payment_pending")


def test_payment_pending_paid_less_than_due(ingest):
    assert_held_as(ingest(paid_amount=Decimal("100.00")), "payment_pending")


def test_out_of_stock(ingest, stock):
    stock.sold_out("SKU-TEA-1")
    task = assert_held_as(ingest(), "out_of_stock")
    assert "SKU-TEA-1" in task.note
    assert task.rule is None  # a system check


def test_sku_unmatched(ingest, incoming):
    lines = [NormalizedLine("1", "i9", "s9", "NO-SUCH-SKU", "未建档商品", 1, Decimal("150.00"))]
    assert_held_as(ingest(incoming(lines=lines)), "sku_unmatched")


@pytest.mark.parametrize(
    "overrides",
    [
        {"receiver_phone": "12345"},
        {"receiver_province": "火星省"},
        {"receiver_city": "西湖"},
        {"receiver_address": "测试地址 请勿发货"},
        {"receiver_name": "test"},
    ],
    ids=["bad-phone", "unknown-province", "city-without-suffix", "test-words", "test-name"],
)
def test_address_invalid(ingest, overrides):
    assert_held_as(ingest(**overrides), "address_invalid")


def test_landline_and_short_province_forms_are_valid(ingest):
    order = ingest(receiver_phone="0571-88886666", receiver_province="浙江", receiver_district="")
    assert order.state == "ready"


def test_refund_requested(ingest):
    assert_held_as(ingest(refund_requested=True), "refund_requested")


@pytest.mark.parametrize("kind,value", [("buyer_nick", "BadBuyer"), ("phone", "+86 138-1234-9999")])
def test_blacklisted_buyer(ingest, kind, value):
    BlacklistEntry.objects.create(kind=kind, value=value, note="chargebacks")
    order = ingest(buyer_nick="badbuyer", receiver_phone="13812349999")
    assert_held_as(order, "blacklisted_buyer")


def test_blacklisted_address_fragment(ingest):
    BlacklistEntry.objects.create(kind="address", value="杭州市西湖区文三路 478号")
    assert_held_as(ingest(receiver_address="文三路478号3幢"), "blacklisted_buyer")


def test_remark_review(ingest):
    assert_held_as(ingest(buyer_message="请发顺丰，周末不在家"), "remark_review")


def test_mergeable(ingest):
    first = ingest(buyer_nick="twice", receiver_address="文三路88号")
    second = ingest(buyer_nick="twice", receiver_address="文三路88号")
    assert first.state == "ready"
    assert_held_as(second, "mergeable")


def test_address_changed_on_platform_update(ingest, channel):
    from orders.services import ingest_order

    original = clean_order()
    order = ingest(original)
    assert order.state == "ready"
    moved = clean_order(
        external_id=original.external_id,
        buyer_nick=original.buyer_nick,
        receiver_address="文一西路969号",
        lines=original.lines,
        modified_at=original.modified_at + timedelta(minutes=5),
    )
    ingest_order(channel=channel, incoming=moved, source="test")
    task = assert_held_as(order, "address_changed")
    assert task.exception_type.auto_clear is False


def test_waybill_failed_raised_by_shipping(ingest):
    order = ingest()
    raise_exception(order=order, exception_type="waybill_failed", note="ZTO: no waybill for 西藏 region")
    assert_held_as(order, "waybill_failed")


def test_presale_short_stock_waits_instead_of_exception(ingest, stock):
    stock.sold_out("SKU-TEA-1", presale=True)
    order = ingest(is_presale=True)
    assert order.state == "awaiting_stock"
    assert open_types(order) == []


def test_payment_arriving_clears_payment_pending_and_releases(ingest, channel):
    from orders.services import ingest_order

    unpaid = clean_order(platform_status="unpaid", platform_status_raw="WAIT_BUYER_PAY", paid_at=None)
    order = ingest(unpaid)
    assert order.state == "on_hold"
    paid = clean_order(
        external_id=unpaid.external_id,
        buyer_nick=unpaid.buyer_nick,
        receiver_address=unpaid.receiver_address,
        lines=unpaid.lines,
        paid_at=timezone.now(),
        modified_at=unpaid.modified_at + timedelta(minutes=1),
    )
    ingest_order(channel=channel, incoming=paid, source="test")
    order = reload(order)
    assert order.state == "ready"
    task = ExceptionTask.objects.get(order=order)
    assert (task.state, task.resolution, task.resolved_by) == ("resolved", "cleared", None)


def test_manual_pause_is_not_released_by_a_recheck(ingest):
    from orders.services import order_hold
    from rules.services import recheck_order

    order = ingest()
    order_hold(order_id=order.pk, actor=None, reason="customer called")
    decision = recheck_order(order_id=order.pk)
    order = reload(order)
    assert decision.release is False
    assert order.state == "on_hold"


def test_awaiting_stock_order_is_released_when_stock_arrives(ingest, stock):
    from rules.services import recheck_order

    stock.sold_out("SKU-TEA-1", presale=True)
    order = ingest(is_presale=True)
    assert order.state == "awaiting_stock"
    stock.arrive("SKU-TEA-1", 5)
    decision = recheck_order(order_id=order.pk)
    assert decision.release is True
    assert reload(order).state == "ready"


def test_cleared_hold_waiting_for_presale_stock_moves_to_awaiting_stock(ingest, stock, admin_client):
    from rules.services import exception_resolve

    stock.sold_out("SKU-TEA-1", presale=True)
    order = ingest(is_presale=True, buyer_message="预售什么时候发？")
    assert reload(order).state == "on_hold"  # the message must be read first
    task = ExceptionTask.objects.get(order=order, state="open")
    exception_resolve(task_id=task.pk, actor=admin_client.user, action="dismiss", note="answered")
    assert reload(order).state == "awaiting_stock"


def test_unknown_exception_type_is_refused(ingest):
    from rules.errors import UnknownExceptionType

    with pytest.raises(UnknownExceptionType):
        raise_exception(order=ingest(), exception_type="alien_abduction")
