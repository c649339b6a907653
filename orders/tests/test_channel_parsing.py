"""Native payloads → NormalizedOrder: every sample field by field, status mapping, and malformed input."""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from orders.channels import adapter_class, common, fakes
from orders.channels.base import ChannelCredentials, NormalizedOrder, PayloadError
from orders.tests.conftest import load_sample

SH = ZoneInfo("Asia/Shanghai")
CREATED = datetime(2024, 3, 8, 20, 15, 31, tzinfo=SH)
PAID = datetime(2024, 3, 8, 20, 16, 2, tzinfo=SH)
MODIFIED = datetime(2024, 3, 8, 20, 16, 5, tzinfo=SH)


def adapter(platform: str):
    return adapter_class(platform)(ChannelCredentials(platform))


def parse_sample(platform: str) -> list[NormalizedOrder]:
    a = adapter(platform)
    return [a.parse_order(o) for o in a.extract_orders(load_sample(f"{platform}_order.json"))]


def assert_common_sample_facts(order: NormalizedOrder) -> None:
    """What README §10 says all samples share: 2 × 89.00 with a 20.00 coupon + 1 × 39.90, paid 197.90."""
    assert order.platform_status == "awaiting_shipment"
    assert order.refund_requested is False
    assert order.platform_hold is False
    assert order.is_presale is False
    assert order.goods_amount == Decimal("217.90")
    assert order.postage == Decimal("0.00")
    assert order.discount_amount == Decimal("20.00")
    assert order.paid_amount == Decimal("197.90")
    assert order.buyer_message == "请周末送货，谢谢"
    assert order.receiver_masked is True
    assert order.created_at == CREATED
    assert order.paid_at == PAID
    assert order.modified_at == MODIFIED
    assert order.created_at.tzinfo is not None
    first, second = order.lines
    assert (first.sku_code, first.quantity, first.unit_price) == ("DEMO-TEE-WHT-L", 2, Decimal("89.00"))
    assert (second.sku_code, second.quantity, second.unit_price) == ("DEMO-SOCK-BLK-3P", 1, Decimal("39.90"))
    assert second.discount_amount == Decimal("0")
    for amount in (order.goods_amount, order.paid_amount, first.unit_price, second.unit_price):
        assert isinstance(amount, Decimal)


def test_taobao_sample_parses_field_for_field():
    (order,) = parse_sample("taobao")
    assert_common_sample_facts(order)
    assert order.external_id == "3301234500012345678"
    assert order.platform_status_raw == "WAIT_SELLER_SEND_GOODS"
    assert order.buyer_nick == "t**8"
    assert order.buyer_id == "AAHcXyZ0AbCdEfGhIjKlMnOp"
    assert order.receiver_name == "李**"
    assert order.receiver_phone == "*******0000"
    assert (order.receiver_province, order.receiver_city, order.receiver_district) == ("浙江省", "杭州市", "西湖区")
    assert order.receiver_town == "文新街道"
    assert order.receiver_address == "文三路***号**室"
    assert order.receiver_zip == "310000"
    assert order.receiver_cipher == {"oaid": "1AbCdEfGhIjKlMnOpQrStUv0000000000fakeoaid"}
    assert order.seller_memo == "优先发中通"
    assert order.coupons == [
        {"kind": "shop_coupon", "name": "店铺优惠券", "amount": "20.00", "line_id": "3301234500012345679"}
    ]
    first, second = order.lines
    assert first.external_line_id == "3301234500012345679"
    assert (first.platform_item_id, first.platform_sku_id) == ("700000000001", "5100000000001")
    assert first.title == "示例纯棉短袖T恤"
    assert first.discount_amount == Decimal("20.00")
    assert first.paid_amount == Decimal("158.00")
    assert first.refund_status == "NO_REFUND"
    assert second.external_line_id == "3301234500012345680"
    assert (second.platform_item_id, second.platform_sku_id) == ("700000000002", "5100000000002")
    assert second.paid_amount == Decimal("39.90")
    assert order.ship_by is None
    assert order.raw["tid_str"] == "3301234500012345678"


def test_jd_sample_parses_field_for_field():
    (order,) = parse_sample("jd")
    assert_common_sample_facts(order)
    assert order.external_id == "290000000000001"
    assert order.platform_status_raw == "WAIT_SELLER_STOCK_OUT"
    assert order.buyer_nick == "jd_******"
    assert order.buyer_id == "fakeOpenIdBuyer0001"
    assert order.receiver_name == "李*"
    assert order.receiver_phone == "138****0000"
    assert (order.receiver_province, order.receiver_city, order.receiver_district) == ("北京", "朝阳区", "望京街道")
    assert order.receiver_address == "北京朝阳区望京街道********"
    assert order.receiver_cipher == {
        "encrypt_fullname": "ENC#fake-fullname-ciphertext",
        "encrypt_mobile": "ENC#fake-mobile-ciphertext",
        "encrypt_fullAddress": "ENC#fake-address-ciphertext",
    }
    assert order.seller_memo == "优先发中通"
    assert order.coupons == [
        {"kind": "sku_promotion", "name": "单品促销优惠", "amount": "20.00", "line_id": "100000000011"}
    ]
    first, second = order.lines
    assert (first.external_line_id, first.platform_item_id, first.platform_sku_id) == (
        "100000000011",
        "10000000001",
        "100000000011",
    )
    assert first.title == "示例纯棉短袖T恤 白色 L"
    assert first.discount_amount == Decimal("20.00")
    assert first.paid_amount == Decimal("158.00")
    assert (second.platform_item_id, second.platform_sku_id) == ("10000000002", "100000000022")
    assert second.paid_amount == Decimal("39.90")


def test_pdd_sample_parses_field_for_field():
    (order,) = parse_sample("pdd")
    assert_common_sample_facts(order)
    assert order.external_id == "240308-123456789012345"
    assert order.platform_status_raw == "order_status=1 refund=1 confirm=1 risk=0"
    assert order.buyer_nick == ""
    assert order.receiver_name == "李*"
    assert order.receiver_phone == "138****0000"
    assert (order.receiver_province, order.receiver_city, order.receiver_district) == ("浙江省", "杭州市", "西湖区")
    assert order.receiver_address == "文三路***号"
    assert order.receiver_cipher == {
        "receiver_name": "~AgAAAAFakeNameCipher0001~",
        "receiver_phone": "~AgAAAAFakePhoneCipher0001~",
        "receiver_address": "~AgAAAAFakeAddrCipher0001~",
        "address": "~AgAAAAFakeFullAddrCipher0001~",
    }
    assert order.seller_memo == "优先发中通"
    # PDD reports the discount for the whole order only
    assert order.coupons == [{"kind": "shop_discount", "name": "商家优惠", "amount": "20.00", "line_id": ""}]
    first, second = order.lines
    assert (first.external_line_id, first.platform_item_id, first.platform_sku_id) == (
        "1200000000001",
        "500000000001",
        "1200000000001",
    )
    assert first.title == "示例纯棉短袖T恤"
    assert first.discount_amount == Decimal("0")
    assert first.paid_amount == Decimal("178.00")
    assert (second.platform_item_id, second.platform_sku_id) == ("500000000002", "1200000000002")
    assert order.ship_by == datetime(2024, 3, 10, 20, 16, 2, tzinfo=SH)


def test_douyin_sample_parses_field_for_field_from_fen():
    (order,) = parse_sample("douyin")
    assert_common_sample_facts(order)
    assert order.external_id == "6900000000000000001"
    assert order.platform_status_raw == "2"
    assert order.buyer_id == "fakeDoudianOpenId0001"
    assert order.receiver_name == "李*"
    assert order.receiver_phone == "138****0000"
    assert (order.receiver_province, order.receiver_city, order.receiver_district) == ("浙江省", "杭州市", "西湖区")
    assert order.receiver_town == "文新街道"
    assert order.receiver_address == "文三路***号"
    assert order.receiver_cipher == {
        "encrypt_post_receiver": "#FAKEreceiverCipher#",
        "encrypt_post_tel": "#FAKEtelCipher#",
        "encrypt_detail": "#FAKEdetailCipher#",
    }
    assert order.seller_memo == "优先发中通"
    assert order.coupons == [
        {"kind": "shop_promotion", "name": "店铺优惠", "amount": "20.00", "line_id": "6900000000000000002"}
    ]
    first, second = order.lines
    assert first.external_line_id == "6900000000000000002"
    # int64 ids above 2**53 stay exact
    assert (first.platform_item_id, first.platform_sku_id) == ("3600000000000000001", "1700000000000000001")
    assert first.title == "示例纯棉短袖T恤"
    assert first.discount_amount == Decimal("20.00")
    assert first.paid_amount == Decimal("158.00")
    assert second.external_line_id == "6900000000000000003"
    assert second.paid_amount == Decimal("39.90")
    assert order.ship_by == datetime.fromtimestamp(1710072962, tz=SH)


def test_kuaishou_sample_is_two_single_line_orders_of_one_checkout():
    first, second = parse_sample("kuaishou")
    assert (first.external_id, second.external_id) == ("2400000000000001", "2400000000000002")
    assert first.paid_amount + second.paid_amount == Decimal("197.90")
    assert first.goods_amount + second.goods_amount == Decimal("217.90")
    for order in (first, second):
        assert order.platform_status == "awaiting_shipment"
        assert order.platform_status_raw == "30"
        assert order.buyer_nick == "李**"
        assert order.buyer_id == "fakeBuyerOpenId0001"
        assert order.receiver_name == "李*"
        assert order.receiver_phone == "138****0000"
        assert (order.receiver_province, order.receiver_city, order.receiver_district) == ("浙江省", "杭州市", "西湖区")
        assert order.receiver_town == "文新街道"
        assert order.receiver_address == "文三路***号"
        assert order.receiver_masked is True
        assert order.receiver_cipher == {
            "encryptedConsignee": "#FAKEconsigneeCipher#",
            "encryptedMobile": "#FAKEmobileCipher#",
            "encryptedAddress": "#FAKEaddressCipher#",
        }
        assert order.buyer_message == "请周末送货，谢谢"
        assert (order.created_at, order.paid_at, order.modified_at) == (CREATED, PAID, MODIFIED)
        assert order.ship_by == datetime.fromtimestamp(1710072931, tz=SH)
        assert len(order.lines) == 1
    (tee,) = first.lines
    assert (tee.external_line_id, tee.platform_item_id, tee.platform_sku_id) == (
        "2400000000000001",
        "800000000001",
        "900000000001",
    )
    assert (tee.sku_code, tee.title, tee.quantity) == ("DEMO-TEE-WHT-L", "示例纯棉短袖T恤", 2)
    assert (tee.unit_price, tee.discount_amount, tee.paid_amount) == (
        Decimal("89.00"),
        Decimal("20.00"),
        Decimal("158.00"),
    )
    assert (first.goods_amount, first.discount_amount, first.paid_amount) == (
        Decimal("178.00"),
        Decimal("20.00"),
        Decimal("158.00"),
    )
    assert first.coupons == [
        {"kind": "promotion", "name": "商家优惠", "amount": "20.00", "line_id": "2400000000000001"}
    ]
    (sock,) = second.lines
    assert (sock.sku_code, sock.quantity, sock.unit_price, sock.paid_amount) == (
        "DEMO-SOCK-BLK-3P",
        1,
        Decimal("39.90"),
        Decimal("39.90"),
    )
    assert second.coupons == []


# ---- malformed payloads ----------------------------------------------------------------------
def _taobao(sample):
    return sample["trade_fullinfo_get_response"]["trade"]


def _jd(sample):
    return sample["jingdong_pop_order_search_responce"]["searchorderinfo_result"]["orderInfoList"][0]


def _pdd(sample):
    return sample["order_info_get_response"]["order_info"]


def _douyin(sample):
    return sample["data"]["shop_order_detail"]


def _kuaishou(sample):
    return sample["data"]["orderList"][0]


def _del(path):
    def mutate(order):
        *parents, last = path
        target = order
        for step in parents:
            target = target[step]
        del target[last]

    return mutate


def _set(path, value):
    def mutate(order):
        *parents, last = path
        target = order
        for step in parents:
            target = target[step]
        target[last] = value

    return mutate


def _both(*mutations):
    def mutate(order):
        for mutation in mutations:
            mutation(order)

    return mutate


MALFORMED = [
    # platform, getter, mutation, field named by the error
    ("taobao", _taobao, _both(_set(["tid_str"], ""), _del(["tid"])), "tid_str"),
    ("taobao", _taobao, _set(["orders", "order"], []), "orders.order"),
    ("taobao", _taobao, _del(["orders", "order", 0, "num"]), "orders.order[0].num"),
    ("taobao", _taobao, _del(["orders", "order", 1, "price"]), "orders.order[1].price"),
    ("taobao", _taobao, _set(["orders", "order", 0, "num"], -1), "orders.order[0].num"),
    ("taobao", _taobao, _set(["orders", "order", 0, "price"], "-89.00"), "orders.order[0].price"),
    ("taobao", _taobao, _set(["status"], "SOMETHING_NEW"), "status"),
    ("taobao", _taobao, _set(["created"], "08/03/2024"), "created"),
    ("jd", _jd, _del(["orderId"]), "orderId"),
    ("jd", _jd, _del(["itemInfoList"]), "itemInfoList"),
    ("jd", _jd, _set(["itemInfoList", 0, "itemTotal"], ""), "itemInfoList[0].itemTotal"),
    ("jd", _jd, _set(["itemInfoList", 0, "itemTotal"], "-2"), "itemInfoList[0].itemTotal"),
    ("jd", _jd, _del(["itemInfoList", 1, "jdPrice"]), "itemInfoList[1].jdPrice"),
    ("jd", _jd, _set(["itemInfoList", 1, "jdPrice"], "abc"), "itemInfoList[1].jdPrice"),
    ("pdd", _pdd, _del(["order_sn"]), "order_sn"),
    ("pdd", _pdd, _set(["item_list"], None), "item_list"),
    ("pdd", _pdd, _set(["item_list", 0, "goods_count"], -3), "item_list[0].goods_count"),
    ("pdd", _pdd, _del(["item_list", 0, "goods_price"]), "item_list[0].goods_price"),
    ("pdd", _pdd, _set(["item_list", 0, "goods_price"], -1.5), "item_list[0].goods_price"),
    ("douyin", _douyin, _del(["order_id"]), "order_id"),
    ("douyin", _douyin, _set(["sku_order_list"], []), "sku_order_list"),
    ("douyin", _douyin, _del(["sku_order_list", 0, "item_num"]), "sku_order_list[0].item_num"),
    ("douyin", _douyin, _set(["sku_order_list", 0, "origin_amount"], -8900), "sku_order_list[0].origin_amount"),
    ("douyin", _douyin, _set(["sku_order_list", 0, "origin_amount"], 89.5), "sku_order_list[0].origin_amount"),
    ("kuaishou", _kuaishou, _del(["orderBaseInfo", "oid"]), "orderBaseInfo.oid"),
    ("kuaishou", _kuaishou, _del(["orderItemInfo"]), "orderItemInfo"),
    ("kuaishou", _kuaishou, _set(["orderItemInfo", "num"], -2), "orderItemInfo.num"),
    ("kuaishou", _kuaishou, _set(["orderItemInfo", "num"], 0), "orderItemInfo.num"),
    ("kuaishou", _kuaishou, _set(["orderItemInfo", "originalPrice"], -8900), "orderItemInfo.price"),
]


@pytest.mark.parametrize(("platform", "getter", "mutate", "field"), MALFORMED)
def test_malformed_payload_raises_payload_error_naming_the_field(platform, getter, mutate, field):
    order = copy.deepcopy(getter(load_sample(f"{platform}_order.json")))
    mutate(order)
    with pytest.raises(PayloadError) as caught:
        adapter(platform).parse_order(order)
    assert caught.value.field == field


@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin", "kuaishou", "manual"])
def test_non_object_payload_is_a_payload_error(platform):
    with pytest.raises(PayloadError):
        adapter(platform).parse_order({})


# ---- status mapping (README §4) --------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "status", "hold", "refund"),
    [
        ({"status": "WAIT_BUYER_PAY"}, "unpaid", False, False),
        ({"status": "PAID_FORBID_CONSIGN"}, "hold", True, False),
        ({"status": "SELLER_CONSIGNED_PART"}, "partially_shipped", False, False),
        ({"status": "WAIT_BUYER_CONFIRM_GOODS"}, "shipped", False, False),
        ({"status": "TRADE_BUYER_SIGNED"}, "delivered", False, False),
        ({"status": "TRADE_FINISHED"}, "completed", False, False),
        ({"status": "TRADE_CLOSED_BY_TAOBAO"}, "cancelled", False, False),
        ({"status": "TRADE_CLOSED"}, "refunded", False, False),
    ],
)
def test_taobao_status_mapping(changes, status, hold, refund):
    trade = _taobao(load_sample("taobao_order.json")) | changes
    order = adapter("taobao").parse_order(trade)
    assert (order.platform_status, order.platform_hold, order.refund_requested) == (status, hold, refund)


def test_taobao_line_refund_request_raises_the_flag_and_step_trade_is_presale():
    trade = copy.deepcopy(_taobao(load_sample("taobao_order.json")))
    trade["orders"]["order"][1]["refund_status"] = "WAIT_SELLER_AGREE"
    trade["step_trade_status"] = "FRONT_PAID_FINAL_NOPAID"
    order = adapter("taobao").parse_order(trade)
    assert order.refund_requested is True
    assert order.is_presale is True
    assert order.lines[1].refund_status == "WAIT_SELLER_AGREE"


@pytest.mark.parametrize(
    ("state", "status", "hold", "refund"),
    [
        ("WAIT_SELLER_DELIVERY", "awaiting_shipment", False, False),
        ("POP_ORDER_PAUSE", "hold", True, False),
        ("LOCKED", "hold", True, True),
        ("WAIT_GOODS_RECEIVE_CONFIRM", "shipped", False, False),
        ("FINISHED_L", "completed", False, False),
        ("TRADE_CANCELED", "cancelled", False, False),
    ],
)
def test_jd_status_mapping(state, status, hold, refund):
    order = adapter("jd").parse_order(_jd(load_sample("jd_order.json")) | {"orderState": state})
    assert (order.platform_status, order.platform_hold, order.refund_requested) == (status, hold, refund)


def test_jd_placeholder_payment_time_means_unpaid_time():
    order = adapter("jd").parse_order(_jd(load_sample("jd_order.json")) | {"paymentConfirmTime": "0001-01-01 00:00:00"})
    assert order.paid_at is None


@pytest.mark.parametrize(
    ("changes", "status", "hold", "refund"),
    [
        ({"order_status": 2}, "shipped", False, False),
        ({"order_status": 3}, "delivered", False, False),
        ({"confirm_status": 0}, "hold", True, False),
        ({"risk_control_status": 1}, "hold", True, False),
        ({"confirm_status": 2}, "cancelled", False, False),
        ({"refund_status": 4}, "refunded", False, False),
        ({"refund_status": 2}, "awaiting_shipment", False, True),
        ({"refund_status": 3}, "awaiting_shipment", False, True),
        ({"is_pre_sale": 1}, "awaiting_shipment", False, False),
    ],
)
def test_pdd_status_mapping(changes, status, hold, refund):
    order = adapter("pdd").parse_order(_pdd(load_sample("pdd_order.json")) | changes)
    assert (order.platform_status, order.platform_hold, order.refund_requested) == (status, hold, refund)
    assert order.is_presale is (changes.get("is_pre_sale") == 1)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (1, "unpaid"),
        (103, "unpaid"),
        (105, "hold"),
        (101, "partially_shipped"),
        (3, "shipped"),
        (5, "completed"),
        (4, "cancelled"),
        (21, "refunded"),
        (22, "refunded"),
        (39, "refunded"),
    ],
)
def test_douyin_status_mapping(code, status):
    order = adapter("douyin").parse_order(_douyin(load_sample("douyin_order.json")) | {"order_status": code})
    assert order.platform_status == status
    assert order.platform_hold is (status == "hold")


def test_douyin_zero_times_are_none_and_open_after_sale_flags_refund():
    detail = copy.deepcopy(_douyin(load_sample("douyin_order.json")))
    detail["pay_time"] = 0
    detail["sku_order_list"][0]["after_sale_info"] = {"after_sale_status": 6}
    detail["sku_order_list"][1]["pre_sale_type"] = 1
    order = adapter("douyin").parse_order(detail)
    assert order.paid_at is None
    assert order.refund_requested is True
    assert order.is_presale is True


@pytest.mark.parametrize(
    ("changes", "refunds", "status", "hold", "refund"),
    [
        ({"status": 10}, [], "unpaid", False, False),
        ({"riskCode": 10001}, [], "hold", True, False),
        ({"status": 40}, [], "shipped", False, False),
        ({"status": 50}, [], "delivered", False, False),
        ({"status": 70}, [], "completed", False, False),
        ({"status": 80}, [], "cancelled", False, False),
        ({"status": 80}, [{"refundStatus": 60}], "refunded", False, False),
        ({}, [{"refundStatus": 10}], "awaiting_shipment", False, True),
    ],
)
def test_kuaishou_status_mapping(changes, refunds, status, hold, refund):
    order = copy.deepcopy(_kuaishou(load_sample("kuaishou_order.json")))
    order["orderBaseInfo"].update(changes)
    order["orderRefundList"] = refunds
    parsed = adapter("kuaishou").parse_order(order)
    assert (parsed.platform_status, parsed.platform_hold, parsed.refund_requested) == (status, hold, refund)


def test_kuaishou_zero_pay_time_is_none():
    order = copy.deepcopy(_kuaishou(load_sample("kuaishou_order.json")))
    order["orderBaseInfo"]["payTime"] = 0
    assert adapter("kuaishou").parse_order(order).paid_at is None


def test_neutral_status_constants_match_the_model_vocabulary():
    from orders.models import PlatformStatus

    assert set(common.NEUTRAL_STATUSES) == set(PlatformStatus.values)


# ---- helpers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [(197.9, "197.90"), ("197.90", "197.90"), (0.1, "0.10"), (217.9, "217.90"), (3, "3.00"), ("", "0.00")],
)
def test_yuan_goes_through_str_never_float_arithmetic(value, expected):
    assert common.yuan(value, "x") == Decimal(expected)


@pytest.mark.parametrize(("value", "expected"), [(19790, "197.90"), (1, "0.01"), ("2000", "20.00"), (0, "0.00")])
def test_fen_to_yuan_is_exact(value, expected):
    assert common.fen(value, "x") == Decimal(expected)


def test_time_parsing_gives_aware_shanghai_datetimes_and_none_for_no_value():
    assert common.parse_local_time("2024-03-08 20:15:31", "t") == CREATED
    assert common.parse_epoch(1709900131, "t") == CREATED
    assert common.parse_epoch(1709900131000, "t", millis=True) == CREATED
    assert common.parse_iso_time("2024-03-08T12:15:31+00:00", "t") == CREATED
    for empty in ("", None, "0001-01-01 00:00:00"):
        assert common.parse_local_time(empty, "t") is None
    assert common.parse_epoch(0, "t") is None
    assert common.format_local_time(CREATED) == "2024-03-08 20:15:31"


@pytest.mark.parametrize(
    "raw",
    ["2024-03-08 20:15:31", "2024-3-8 20:15:31", "2024-03-08 20:15:31.250", "２０２４-03-08 20:15:31"],
    ids=["exact", "unpadded", "fraction cut", "full-width digits"],
)
def test_platform_times_in_any_accepted_spelling_read_the_same(raw):
    assert common.parse_local_time(raw, "t") == CREATED


@pytest.mark.parametrize("raw", ["2024-13-08 20:15:31", "2024-02-30 20:15:31", "2024-03-08T20:15:31", "yesterday"])
def test_impossible_or_foreign_platform_times_are_refused_naming_the_field(raw):
    with pytest.raises(PayloadError) as refused:
        common.parse_local_time(raw, "pay_time")
    assert refused.value.field == "pay_time"


# ---- manual (OrderHub neutral JSON) ----------------------------------------------------------
MANUAL_ORDER = {
    "external_id": "M-1001",
    "status": "awaiting_shipment",
    "buyer": {"nick": "李**", "id": "b1"},
    "receiver": {
        "name": "李四",
        "phone": "13800000000",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address": "文三路1号",
    },
    "lines": [
        {"line_id": "1", "sku_code": "DEMO-TEE-WHT-L", "quantity": 2, "unit_price": "89.00", "discount": "20.00"},
        {"line_id": "2", "sku_code": "DEMO-SOCK-BLK-3P", "quantity": 1, "unit_price": "39.90"},
    ],
    "discount": "20.00",
    "paid": "197.90",
    "coupons": [{"kind": "shop_coupon", "name": "满150减20", "amount": "20.00", "line_id": "1"}],
    "created_at": "2024-03-08T20:15:31+08:00",
    "paid_at": "2024-03-08T20:16:02",
    "modified_at": "2024-03-08T12:16:05Z",
}


def test_manual_neutral_json_parses():
    order = adapter("manual").parse_order(MANUAL_ORDER)
    assert order.external_id == "M-1001"
    assert order.platform_status == "awaiting_shipment"
    assert order.goods_amount == Decimal("217.90")  # derived from lines when absent
    assert order.paid_amount == Decimal("197.90")
    assert order.lines[0].paid_amount == Decimal("158.00")
    assert order.coupons == MANUAL_ORDER["coupons"]
    assert (order.created_at, order.paid_at, order.modified_at) == (CREATED, PAID, MODIFIED)
    assert order.receiver_masked is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "paid"}, "status"),
        ({"paid": 197.9}, "paid"),
        ({"lines": []}, "lines"),
        ({"lines": [{"quantity": 1}]}, "lines[0].unit_price"),
        ({"lines": [{"unit_price": "1.00", "quantity": -1}]}, "lines[0].quantity"),
        ({"created_at": "yesterday"}, "created_at"),
    ],
)
def test_manual_rejects_bad_input_naming_the_field(changes, field):
    with pytest.raises(PayloadError) as caught:
        adapter("manual").parse_order(MANUAL_ORDER | changes)
    assert caught.value.field == field


# ---- the fake generator speaks every dialect correctly -----------------------------------------
@pytest.mark.parametrize("platform", fakes.PLATFORMS)
def test_generated_fake_orders_parse_and_add_up(platform):
    a = adapter(platform)
    orders = [a.parse_order(o) for o in fakes.generate_orders(platform, 200, seed=11)]
    assert len({o.external_id for o in orders}) == 200
    for order in orders:
        if order.platform_status != "unpaid":
            assert order.goods_amount + order.postage - order.discount_amount == order.paid_amount
        assert all(line.sku_code in {s.code for s in fakes.CATALOG} for line in order.lines)
    assert any(o.coupons for o in orders)
    assert any(not o.receiver_address for o in orders)
    assert any(o.buyer_message for o in orders)
    assert any(o.refund_requested for o in orders)


def test_fake_generation_is_reproducible_with_a_seed():
    now = datetime(2024, 3, 8, 20, 0, tzinfo=SH)
    assert fakes.generate_orders("douyin", 5, seed=1, now=now) == fakes.generate_orders("douyin", 5, seed=1, now=now)


def test_taobao_numeric_tid_is_used_exactly_when_tid_str_is_missing():
    trade = copy.deepcopy(_taobao(load_sample("taobao_order.json")))
    del trade["tid_str"]
    assert adapter("taobao").parse_order(trade).external_id == "3301234500012345678"
