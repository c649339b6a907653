"""Realistic fake native orders for every platform: for the emulator, demos and the traffic simulator.

Each order is first drawn as a neutral `Draft` (lines from a small catalog, a shop coupon, a
buyer message, sometimes no address, sometimes unpaid, presale or a refund request), then rendered
in the platform's own wire shape, the same shape as the samples in shared/channels/samples/.
Everything is driven by one `random.Random`, so a seed reproduces a run.

The platform's side of an order's later life lives here too: `native_id`, `native_modified` and
`apply_event(platform, order, event, line=…)` (pay, cancel, refund_request / refund_complete /
refund_withdraw on one line, address_change, memo), used by
the emulator and meant for the traffic simulator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from faker import Faker

from orders.channels import common as c

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou", "manual")


@dataclass(frozen=True)
class CatalogSku:
    code: str  # merchant SKU code, the match key in OrderHub
    product_code: str
    title: str
    spec: str
    price: Decimal
    index: int  # stable per-platform item/sku ids derive from it

    def item_id(self, platform: str) -> str:
        return str(ID_BASES[platform][0] + self.index // 2)

    def sku_id(self, platform: str) -> str:
        return str(ID_BASES[platform][1] + self.index)


ID_BASES = {  # (item id base, sku id base): shaped like each platform's ids
    "taobao": (700000000001, 5100000000001),
    "jd": (10000000001, 100000000011),
    "pdd": (500000000001, 1200000000001),
    "douyin": (3600000000000000001, 1700000000000000001),
    "kuaishou": (800000000001, 900000000001),
    "manual": (1000, 2000),
}

_CATALOG_ROWS = (
    ("DEMO-TEE-WHT-L", "DEMO-TEE", "示例纯棉短袖T恤", "白色 L", "89.00"),
    ("DEMO-TEE-BLK-M", "DEMO-TEE", "示例纯棉短袖T恤", "黑色 M", "89.00"),
    ("DEMO-SOCK-BLK-3P", "DEMO-SOCK", "示例棉袜三双装", "黑色", "39.90"),
    ("DEMO-CAP-NVY", "DEMO-CAP", "棒球帽", "藏青", "59.00"),
    ("DEMO-MUG-350", "DEMO-MUG", "陶瓷马克杯 350ml", "白色", "45.00"),
    ("DEMO-BAG-CANVAS", "DEMO-BAG", "帆布托特包", "米白", "128.00"),
    ("DEMO-TOWEL-GRY-2P", "DEMO-TOWEL", "纯棉毛巾两条装", "灰色", "32.50"),
    ("DEMO-HOODIE-GRY-XL", "DEMO-HOODIE", "加绒连帽卫衣", "灰色 XL", "199.00"),
)
CATALOG: tuple[CatalogSku, ...] = tuple(
    CatalogSku(code, product, title, spec, Decimal(price), i)
    for i, (code, product, title, spec, price) in enumerate(_CATALOG_ROWS)
)

REGIONS = (  # province, city, district, street/town, zip
    ("浙江省", "杭州市", "西湖区", "文新街道", "310012"),
    ("浙江省", "宁波市", "鄞州区", "中河街道", "315100"),
    ("江苏省", "南京市", "鼓楼区", "湖南路街道", "210009"),
    ("广东省", "深圳市", "南山区", "粤海街道", "518057"),
    ("广东省", "广州市", "天河区", "石牌街道", "510630"),
    ("上海市", "上海市", "浦东新区", "张江镇", "201203"),
    ("北京市", "北京市", "朝阳区", "望京街道", "100102"),
    ("四川省", "成都市", "武侯区", "玉林街道", "610041"),
    ("湖北省", "武汉市", "洪山区", "珞南街道", "430070"),
    ("广东省", "东莞市", "", "松山湖", "523808"),  # county-level city without a district
)
BUYER_MESSAGES = (
    "请周末送货，谢谢",
    "发顺丰",
    "不要放快递柜，打电话",
    "送人的，不要放价格单",
    "尽快发货",
    "测试订单请勿发货",
)
SELLER_MEMOS = ("优先发中通", "老客户，送小礼品", "核对尺码后再发")


@dataclass
class DraftLine:
    sku: CatalogSku
    quantity: int
    discount: Decimal = c.ZERO

    @property
    def total(self) -> Decimal:
        return self.sku.price * self.quantity

    @property
    def paid(self) -> Decimal:
        return self.total - self.discount


@dataclass
class Draft:
    """One order in neutral terms, before rendering in a platform's shape."""

    serial: int
    status: str  # neutral: unpaid | awaiting_shipment | hold
    lines: list[DraftLine]
    name: str
    phone: str
    region: tuple[str, str, str, str, str]
    street: str
    buyer_nick: str
    buyer_id: str
    created: datetime
    paid: datetime | None
    modified: datetime
    postage: Decimal = c.ZERO
    coupon_name: str = ""
    buyer_message: str = ""
    seller_memo: str = ""
    presale: bool = False
    refund_requested: bool = False
    flags: list[str] = field(default_factory=list)

    @property
    def goods(self) -> Decimal:
        return sum((ln.total for ln in self.lines), c.ZERO)

    @property
    def discount(self) -> Decimal:
        return sum((ln.discount for ln in self.lines), c.ZERO)

    @property
    def paid_amount(self) -> Decimal:
        return self.goods + self.postage - self.discount


EXCEPTION_KINDS = ("unpaid", "address_missing", "refund_requested", "buyer_message", "hold")


def draft_order(
    rng: random.Random,
    faker: Faker,
    now: datetime,
    serial: int,
    *,
    allow_unpaid: bool = True,
    exception_rate: float | None = None,
) -> Draft:
    """Draw one neutral order; the odds make every exception type show up in a few hundred orders.

    With `exception_rate`, that share of orders carries exactly one problem and the rest are clean."""
    if exception_rate is not None:
        draft = draft_order(rng, faker, now, serial, allow_unpaid=False, exception_rate=None)
        _make_clean(draft)
        if rng.random() < exception_rate:
            kinds = [k for k in EXCEPTION_KINDS if allow_unpaid or k != "unpaid"]
            _inject(draft, rng.choice(kinds), rng)
        return draft
    skus = rng.sample(CATALOG, k=rng.choices((1, 2, 3), weights=(60, 30, 10))[0])
    lines = [DraftLine(sku, rng.choices((1, 2, 3), weights=(70, 22, 8))[0]) for sku in skus]
    flags: list[str] = []
    coupon_name = ""
    if rng.random() < 0.35 and lines[0].total >= 50:
        amount = Decimal(20 if lines[0].total >= 150 else 10)
        lines[0].discount = amount
        coupon_name = "满150减20" if amount == 20 else "满50减10"
        flags.append("coupon")
    created = now - timedelta(minutes=rng.randint(1, 180), seconds=rng.randint(0, 59))
    status = "awaiting_shipment"
    paid: datetime | None = created + timedelta(seconds=rng.randint(5, 120))
    if allow_unpaid and rng.random() < 0.06:
        status, paid = "unpaid", None
        flags.append("unpaid")
    elif rng.random() < 0.02:
        status = "hold"
        flags.append("hold")
    modified = (paid or created) + timedelta(seconds=rng.randint(1, 30))
    if modified > now:
        # an order is never modified after the moment it is drawn: a pull up to "now" must bring it
        # (drawn a minute ago and paid two minutes later, it fell after the first pull's window)
        early = modified - now
        created, paid, modified = created - early, paid and paid - early, now
    surname = faker.last_name()
    street = f"{faker.street_name()}{rng.randint(1, 999)}号{rng.randint(1, 30)}幢{rng.randint(101, 2502)}室"
    if rng.random() < 0.04:
        street = ""
        flags.append("address_missing")
    draft = Draft(
        serial=serial,
        status=status,
        lines=lines,
        name=surname + faker.first_name(),
        phone=faker.phone_number(),
        region=rng.choice(REGIONS),
        street=street,
        buyer_nick=faker.user_name(),
        buyer_id=f"fakeBuyer{rng.randrange(10**12):012d}",
        created=created,
        paid=paid,
        modified=modified,
        postage=Decimal("8.00") if rng.random() < 0.1 else c.ZERO,
        coupon_name=coupon_name,
        flags=flags,
    )
    if rng.random() < 0.15:
        draft.buyer_message = rng.choice(BUYER_MESSAGES)
        flags.append("buyer_message")
    if rng.random() < 0.05:
        draft.seller_memo = rng.choice(SELLER_MEMOS)
    if rng.random() < 0.04:
        draft.presale = True
        flags.append("presale")
    if paid and rng.random() < 0.03:
        draft.refund_requested = True
        flags.append("refund_requested")
    return draft


def _make_clean(draft: Draft) -> None:
    draft.status = "awaiting_shipment"
    draft.paid = draft.paid or draft.created + timedelta(seconds=30)
    draft.buyer_message = draft.seller_memo = ""
    draft.presale = draft.refund_requested = False
    draft.flags = [f for f in draft.flags if f == "coupon"]
    if not draft.street:
        draft.street = "文三路 100 号 2 幢 301 室"


def _inject(draft: Draft, kind: str, rng: random.Random) -> None:
    draft.flags.append(kind)
    if kind == "unpaid":
        draft.status, draft.paid = "unpaid", None
    elif kind == "address_missing":
        draft.street = ""
    elif kind == "refund_requested":
        draft.refund_requested = True
    elif kind == "buyer_message":
        draft.buyer_message = rng.choice(BUYER_MESSAGES)
    elif kind == "hold":
        draft.status = "hold"


def generate_orders(
    platform: str,
    count: int,
    *,
    seed: int | None = None,
    now: datetime | None = None,
    exception_rate: float | None = None,
) -> list[dict[str, Any]]:
    """`count` native orders for `platform` (tmall = taobao), in the platform's wire shape."""
    platform = "taobao" if platform == "tmall" else platform
    render = RENDERERS[platform]
    rng = random.Random(seed)
    faker = Faker("zh_CN")
    faker.seed_instance(rng.randrange(2**32))
    now = now or c.now_shanghai()
    # JD and PDD list APIs never return unpaid orders, so none are generated for them.
    allow_unpaid = platform not in ("jd", "pdd")
    result: list[dict[str, Any]] = []
    serial = rng.randrange(10**9)
    while len(result) < count:
        serial += 1
        draft = draft_order(rng, faker, now, serial, allow_unpaid=allow_unpaid, exception_rate=exception_rate)
        result.extend(render(draft))
    return result[:count]


# ---- masking -------------------------------------------------------------------------------
def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def mask_address(street: str) -> str:
    return "".join("*" if ch.isdigit() else ch for ch in street)


def _s(moment: datetime | None) -> str:
    return c.format_local_time(moment) if moment else ""


def _fen(amount: Decimal) -> int:
    return c.to_fen(amount)


# ---- renderers -----------------------------------------------------------------------------
def render_taobao(d: Draft) -> list[dict[str, Any]]:
    tid = 3300000000000000000 + d.serial * 100
    status = {"unpaid": "WAIT_BUYER_PAY", "hold": "PAID_FORBID_CONSIGN"}.get(d.status, "WAIT_SELLER_SEND_GOODS")
    province, city, district, town, zip_code = d.region
    orders, promotions = [], []
    for i, ln in enumerate(d.lines, start=1):
        oid = tid + i
        orders.append(
            {
                "oid": oid,
                "oid_str": str(oid),
                "status": status,
                "refund_status": "WAIT_SELLER_AGREE" if d.refund_requested and i == 1 else "NO_REFUND",
                "num_iid": int(ln.sku.item_id("taobao")),
                "sku_id": ln.sku.sku_id("taobao"),
                "outer_iid": ln.sku.product_code,
                "outer_sku_id": ln.sku.code,
                "title": ln.sku.title,
                "sku_properties_name": f"规格:{ln.sku.spec}",
                "num": ln.quantity,
                "price": c.money_str(ln.sku.price),
                "total_fee": c.money_str(ln.paid),
                "discount_fee": c.money_str(ln.discount),
                "adjust_fee": "0.00",
                "payment": c.money_str(ln.paid),
                "divide_order_fee": c.money_str(ln.paid),
                "part_mjz_discount": "0.00",
            }
        )
        if ln.discount:
            promotions.append(
                {
                    "id": oid,
                    "promotion_id": f"shopbonus-{d.serial}_{i}",
                    "promotion_name": "店铺优惠券",
                    "promotion_desc": d.coupon_name,
                    "discount_fee": c.money_str(ln.discount),
                }
            )
    trade: dict[str, Any] = {
        "tid": tid,
        "tid_str": str(tid),
        "type": "step" if d.presale else "fixed",
        "status": status,
        "seller_nick": "示例旗舰店",
        "buyer_nick": mask_name(d.buyer_nick),
        "buyer_open_uid": d.buyer_id,
        "created": _s(d.created),
        "pay_time": _s(d.paid),
        "modified": _s(d.modified),
        "total_fee": c.money_str(d.goods),
        "discount_fee": c.money_str(d.discount),
        "adjust_fee": "0.00",
        "post_fee": c.money_str(d.postage),
        "payment": c.money_str(d.paid_amount),
        "step_trade_status": "FRONT_PAID_FINAL_NOPAID" if d.presale else "",
        "buyer_message": d.buyer_message,
        "seller_memo": d.seller_memo,
        "receiver_name": mask_name(d.name),
        "receiver_mobile": "*******" + d.phone[-4:],
        "receiver_phone": "",
        "receiver_state": province,
        "receiver_city": city,
        "receiver_district": district,
        "receiver_town": town,
        "receiver_address": mask_address(d.street),
        "receiver_zip": zip_code,
        "oaid": f"1Fake{d.serial:020d}oaid",
        "orders": {"order": orders},
        "promotion_details": {"promotion_detail": promotions},
    }
    return [trade]


def render_jd(d: Draft) -> list[dict[str, Any]]:
    order_id = str(290000000000000 + d.serial)
    state = {"hold": "POP_ORDER_PAUSE"}.get(d.status, "WAIT_SELLER_STOCK_OUT")
    if d.refund_requested:
        state = "LOCKED"
    province, city, district, town, _zip = d.region
    detail = mask_address(d.street)
    return [
        {
            "orderId": order_id,
            "venderId": "10000001",
            "orderType": "22",
            "payType": "4-在线支付",
            "orderTotalPrice": c.money_str(d.goods),
            "orderSellerPrice": c.money_str(d.goods - d.discount),
            "orderPayment": c.money_str(d.paid_amount),
            "freightPrice": c.money_str(d.postage),
            "sellerDiscount": c.money_str(d.discount),
            "orderState": state,
            "orderRemark": d.buyer_message,
            "venderRemark": d.seller_memo,
            "orderStartTime": _s(d.created),
            "paymentConfirmTime": _s(d.paid) or "0001-01-01 00:00:00",
            "orderEndTime": "",
            "modified": _s(d.modified),
            "pin": "jd_******",
            "open_id_buyer": d.buyer_id,
            "consigneeInfo": {
                "fullname": mask_name(d.name),
                "telephone": "",
                "mobile": mask_phone(d.phone),
                "fullAddress": f"{province}{city}{district}{detail}" if detail else "",
                "province": province,
                "city": city,
                "county": district,
                "town": town,
                "encrypt_fullname": f"ENC#fake-name-{d.serial}",
                "encrypt_mobile": f"ENC#fake-mobile-{d.serial}",
                "encrypt_telephone": "",
                "encrypt_fullAddress": f"ENC#fake-address-{d.serial}" if detail else "",
            },
            "itemInfoList": [
                {
                    "skuId": ln.sku.sku_id("jd"),
                    "outerSkuId": ln.sku.code,
                    "wareId": ln.sku.item_id("jd"),
                    "skuName": f"{ln.sku.title} {ln.sku.spec}",
                    "jdPrice": c.money_str(ln.sku.price),
                    "itemTotal": str(ln.quantity),
                    "productNo": ln.sku.product_code,
                }
                for ln in d.lines
            ],
            "couponDetailList": [
                {
                    "orderId": order_id,
                    "skuId": ln.sku.sku_id("jd"),
                    "couponType": "30-单品促销优惠",
                    "couponPrice": c.money_str(ln.discount),
                }
                for ln in d.lines
                if ln.discount
            ],
        }
    ]


def render_pdd(d: Draft) -> list[dict[str, Any]]:
    province, city, district, _town, _zip = d.region
    detail = mask_address(d.street)
    discount = d.discount
    return [
        {
            "order_sn": f"{d.created:%y%m%d}-{d.serial:015d}",
            "order_status": 1,
            "refund_status": 2 if d.refund_requested else 1,
            "confirm_status": 1,
            "after_sales_status": 0,
            "trade_type": 1 if d.presale else 0,
            "is_pre_sale": 1 if d.presale else 0,
            "risk_control_status": 1 if d.status == "hold" else 0,
            "created_time": _s(d.created),
            "pay_time": _s(d.paid),
            "confirm_time": _s(d.paid),
            "updated_at": _s(d.modified),
            "shipping_time": "",
            "last_ship_time": _s((d.paid or d.created) + timedelta(hours=48)),
            "goods_amount": float(d.goods),
            "discount_amount": float(discount),
            "seller_discount": float(discount),
            "platform_discount": 0.0,
            "capital_free_discount": 0.0,
            "order_change_amount": 0.0,
            "postage": float(d.postage),
            "pay_amount": float(d.paid_amount),
            "buyer_memo": d.buyer_message,
            "remark": d.seller_memo,
            "receiver_name": f"~AgAAAAFakeName{d.serial}~",
            "receiver_phone": f"~AgAAAAFakePhone{d.serial}~",
            "receiver_address": f"~AgAAAAFakeAddr{d.serial}~" if detail else "",
            "address": f"~AgAAAAFakeFullAddr{d.serial}~" if detail else "",
            "receiver_name_mask": mask_name(d.name),
            "receiver_phone_mask": mask_phone(d.phone),
            "receiver_address_mask": detail,
            "address_mask": f"{province}{city}{district}{detail}" if detail else "",
            "country": "中国",
            "province": province,
            "city": city,
            "town": district,
            "logistics_id": 0,
            "tracking_number": "",
            "item_list": [
                {
                    "goods_id": int(ln.sku.item_id("pdd")),
                    "sku_id": int(ln.sku.sku_id("pdd")),
                    "outer_goods_id": ln.sku.product_code,
                    "outer_id": ln.sku.code,
                    "goods_name": ln.sku.title,
                    "goods_spec": ln.sku.spec,
                    "goods_price": float(ln.sku.price),
                    "goods_count": ln.quantity,
                }
                for ln in d.lines
            ],
        }
    ]


def _douyin_addr(d: Draft, *, masked: bool) -> dict[str, Any]:
    province, city, district, town, _zip = d.region
    addr: dict[str, Any] = {
        "province": {"id": "", "name": province},
        "city": {"id": "", "name": city},
        "town": {"id": "", "name": district},
        "street": {"id": "", "name": town},
        "detail": mask_address(d.street) if masked else "",
    }
    if not masked:
        addr["encrypt_detail"] = f"#FAKEdetail{d.serial}#" if d.street else ""
    return addr


def render_douyin(d: Draft) -> list[dict[str, Any]]:
    order_id = 6900000000000000000 + d.serial * 100
    status = {"unpaid": 1, "hold": 105}.get(d.status, 2)
    ts = {
        "create_time": c.epoch_seconds(d.created),
        "pay_time": c.epoch_seconds(d.paid) if d.paid else 0,
        "update_time": c.epoch_seconds(d.modified),
    }
    receiver = {
        "post_receiver": "",
        "post_tel": "",
        "encrypt_post_receiver": f"#FAKEreceiver{d.serial}#",
        "encrypt_post_tel": f"#FAKEtel{d.serial}#",
        "mask_post_receiver": mask_name(d.name),
        "mask_post_tel": mask_phone(d.phone),
        "post_addr": _douyin_addr(d, masked=False),
        "mask_post_addr": _douyin_addr(d, masked=True),
    }
    subs = []
    for i, ln in enumerate(d.lines, start=1):
        sub: dict[str, Any] = {
            "order_id": str(order_id + i),
            "parent_order_id": str(order_id),
            "order_level": 3,
            "order_status": status,
            **ts,
            "product_id": int(ln.sku.item_id("douyin")),
            "product_name": ln.sku.title,
            "sku_id": int(ln.sku.sku_id("douyin")),
            "code": ln.sku.code,
            "out_sku_id": "0",
            "spec": [{"name": "规格", "value": ln.sku.spec}],
            "item_num": ln.quantity,
            "origin_amount": _fen(ln.sku.price),
            "sum_amount": _fen(ln.total),
            "promotion_amount": _fen(ln.discount),
            "promotion_shop_amount": _fen(ln.discount),
            "promotion_platform_amount": 0,
            "promotion_talent_amount": 0,
            "promotion_pay_amount": 0,
            "order_amount": _fen(ln.paid),
            "pay_amount": _fen(ln.paid) if d.paid else 0,
            "post_amount": 0,
            "pre_sale_type": 1 if d.presale else 0,
            **receiver,
        }
        if d.refund_requested and i == 1:
            sub["after_sale_info"] = {"after_sale_status": 6, "after_sale_type": 2, "refund_status": 1}
        subs.append(sub)
    return [
        {
            "order_id": str(order_id),
            "order_level": 2,
            "shop_id": 100000001,
            "shop_name": "示例旗舰店",
            "order_status": status,
            "trade_type": 0,
            **ts,
            "exp_ship_time": c.epoch_seconds((d.paid or d.created) + timedelta(hours=48)),
            "ship_time": 0,
            "finish_time": 0,
            "order_amount": _fen(d.paid_amount),
            "pay_amount": _fen(d.paid_amount) if d.paid else 0,
            "post_amount": _fen(d.postage),
            "promotion_amount": _fen(d.discount),
            "promotion_shop_amount": _fen(d.discount),
            "promotion_platform_amount": 0,
            "promotion_talent_amount": 0,
            "promotion_pay_amount": 0,
            "modify_amount": 0,
            "buyer_words": d.buyer_message,
            "seller_words": d.seller_memo,
            "doudian_open_id": d.buyer_id,
            **receiver,
            "logistics_info": [],
            "sku_order_list": subs,
        }
    ]


def render_kuaishou(d: Draft) -> list[dict[str, Any]]:
    """One order per line: Kuaishou splits a checkout into single-SKU orders (postage on the first)."""
    province, city, district, town, _zip = d.region
    result = []
    for i, ln in enumerate(d.lines):
        oid = 2400000000000000 + d.serial * 10 + i
        postage = d.postage if i == 0 else c.ZERO
        status = {"unpaid": 10}.get(d.status, 30)
        result.append(
            {
                "orderBaseInfo": {
                    "oid": oid,
                    "status": status,
                    "buyerNick": mask_name(d.buyer_nick),
                    "buyerOpenId": d.buyer_id,
                    "createTime": c.epoch_millis(d.created),
                    "payTime": c.epoch_millis(d.paid) if d.paid else 0,
                    "updateTime": c.epoch_millis(d.modified),
                    "sendTime": 0,
                    "totalFee": _fen(ln.paid + postage) if d.paid else 0,
                    "discountFee": _fen(ln.discount),
                    "expressFee": _fen(postage),
                    "activityType": 6 if d.presale else 0,
                    "preSale": 1 if d.presale else 0,
                    "remark": d.buyer_message,
                    "riskCode": 10001 if d.status == "hold" else 0,
                    "promiseTimeStampOfDelivery": c.epoch_millis((d.paid or d.created) + timedelta(hours=48)),
                },
                "orderItemInfo": {
                    "orderItemId": oid * 10 + 8,
                    "itemId": int(ln.sku.item_id("kuaishou")),
                    "skuId": int(ln.sku.sku_id("kuaishou")),
                    "skuNick": ln.sku.code,
                    "goodsCode": ln.sku.code,
                    "itemTitle": ln.sku.title,
                    "skuDesc": ln.sku.spec,
                    "num": ln.quantity,
                    "originalPrice": _fen(ln.sku.price),
                    "price": _fen(ln.paid / ln.quantity),
                    "discountFee": _fen(ln.discount),
                },
                "orderRefundList": [{"refundId": oid * 3, "refundStatus": 10}] if d.refund_requested else [],
                "orderLogisticsInfo": [],
                "orderAddress": {
                    "province": province,
                    "city": city,
                    "district": district,
                    "town": town,
                    "encryptedConsignee": f"#FAKEconsignee{d.serial}#",
                    "encryptedMobile": f"#FAKEmobile{d.serial}#",
                    "encryptedAddress": f"#FAKEaddress{d.serial}#" if d.street else "",
                    "desensitiseConsignee": mask_name(d.name),
                    "desensitiseMobile": mask_phone(d.phone),
                    "desensitiseAddress": mask_address(d.street),
                },
            }
        )
    return result


def render_manual(d: Draft) -> list[dict[str, Any]]:
    province, city, district, town, zip_code = d.region
    return [
        {
            "external_id": f"M-{d.serial}",
            "status": d.status,
            "refund_requested": d.refund_requested,
            "is_presale": d.presale,
            "buyer": {"nick": d.buyer_nick, "id": d.buyer_id},
            "receiver": {
                "name": d.name,
                "phone": d.phone,
                "province": province,
                "city": city,
                "district": district,
                "town": town,
                "address": d.street,
                "zip": zip_code,
            },
            "lines": [
                {
                    "line_id": str(i),
                    "item_id": ln.sku.item_id("manual"),
                    "sku_id": ln.sku.sku_id("manual"),
                    "sku_code": ln.sku.code,
                    "title": ln.sku.title,
                    "quantity": ln.quantity,
                    "unit_price": c.money_str(ln.sku.price),
                    "discount": c.money_str(ln.discount),
                    "paid": c.money_str(ln.paid),
                }
                for i, ln in enumerate(d.lines, start=1)
            ],
            "goods_amount": c.money_str(d.goods),
            "postage": c.money_str(d.postage),
            "discount": c.money_str(d.discount),
            "paid": c.money_str(d.paid_amount),
            "coupons": [
                {"kind": "shop_coupon", "name": d.coupon_name, "amount": c.money_str(ln.discount), "line_id": str(i)}
                for i, ln in enumerate(d.lines, start=1)
                if ln.discount
            ],
            "buyer_message": d.buyer_message,
            "seller_memo": d.seller_memo,
            "created_at": d.created.isoformat(),
            "paid_at": d.paid.isoformat() if d.paid else None,
            "modified_at": d.modified.isoformat(),
        }
    ]


# ---- the platform's side of an order's life: ids, modified times, buyer/platform events ---------
def native_id(platform: str, order: dict[str, Any]) -> str:
    """The order id of a native order object, as a string."""
    key = {
        "taobao": lambda o: o.get("tid_str") or o.get("tid"),
        "jd": lambda o: o.get("orderId"),
        "pdd": lambda o: o.get("order_sn"),
        "douyin": lambda o: o.get("order_id"),
        "kuaishou": lambda o: c.dig(o, "orderBaseInfo", "oid"),
        "manual": lambda o: o.get("external_id"),
    }[platform](order)
    if key in (None, ""):
        raise ValueError(f"a {platform} order without its id")
    return str(key)


_EPOCH0 = datetime(1970, 1, 1, tzinfo=c.SHANGHAI)


def native_modified(platform: str, order: dict[str, Any]) -> datetime:
    """The platform's modified time of a native order (the epoch when absent)."""
    if platform in ("taobao", "jd"):
        moment = c.parse_local_time(order.get("modified"), "modified")
    elif platform == "pdd":
        moment = c.parse_local_time(order.get("updated_at"), "updated_at")
    elif platform == "douyin":
        moment = c.parse_epoch(order.get("update_time"), "update_time")
    elif platform == "kuaishou":
        moment = c.parse_epoch(c.dig(order, "orderBaseInfo", "updateTime"), "updateTime", millis=True)
    else:
        moment = c.parse_iso_time(order.get("modified_at"), "modified_at")
    return moment or _EPOCH0


NEW_ADDRESS = "新华路***号**室"


def touch(platform: str, order: dict[str, Any]) -> None:
    """Advance the order's modified time (at least one second, so staleness checks see a change)."""
    moment = max(c.now_shanghai(), native_modified(platform, order) + timedelta(seconds=1))
    if platform in ("taobao", "jd"):
        order["modified"] = c.format_local_time(moment)
    elif platform == "pdd":
        order["updated_at"] = c.format_local_time(moment)
    elif platform == "douyin":
        order["update_time"] = c.epoch_seconds(moment)
    elif platform == "kuaishou":
        order["orderBaseInfo"]["updateTime"] = c.epoch_millis(moment)
    else:
        order["modified_at"] = moment.isoformat()


def _event_pay(platform: str, order: dict[str, Any]) -> None:
    now = c.now_shanghai()
    if platform == "taobao":
        order.update(status="WAIT_SELLER_SEND_GOODS", pay_time=c.format_local_time(now))
        for line in c.dig(order, "orders", "order", default=[]):
            line["status"] = "WAIT_SELLER_SEND_GOODS"
    elif platform == "jd":
        order["paymentConfirmTime"] = c.format_local_time(now)
    elif platform == "pdd":
        order["pay_time"] = order["confirm_time"] = c.format_local_time(now)
    elif platform == "douyin":
        order.update(order_status=2, pay_time=c.epoch_seconds(now), pay_amount=order.get("order_amount", 0))
        for sub in order.get("sku_order_list", []):
            sub.update(order_status=2, pay_time=c.epoch_seconds(now), pay_amount=sub.get("order_amount", 0))
    elif platform == "kuaishou":
        base = order["orderBaseInfo"]
        item = order.get("orderItemInfo", {})
        paid = (
            item.get("originalPrice", 0) * item.get("num", 1) - item.get("discountFee", 0) + base.get("expressFee", 0)
        )
        base.update(status=30, payTime=c.epoch_millis(now), totalFee=paid)
    else:
        order.update(status="awaiting_shipment", paid_at=now.isoformat())


def _event_cancel(platform: str, order: dict[str, Any]) -> None:
    if platform == "taobao":
        order["status"] = "TRADE_CLOSED_BY_TAOBAO"
    elif platform == "jd":
        order["orderState"] = "TRADE_CANCELED"
    elif platform == "pdd":
        order["refund_status"] = 4
    elif platform == "douyin":
        order["order_status"] = 4
        for sub in order.get("sku_order_list", []):
            sub["order_status"] = 4
    elif platform == "kuaishou":
        order["orderBaseInfo"]["status"] = 80
    else:
        order["status"] = "cancelled"


def _event_refund_request(platform: str, order: dict[str, Any], line: int = 0) -> None:
    """The buyer asks for a refund of line `line` (0-based) before shipment."""
    if platform == "taobao":
        _taobao_lines(order, line)["refund_status"] = "WAIT_SELLER_AGREE"
    elif platform == "jd":
        order["orderState"] = "LOCKED"  # (u) JD's order search shows after-sales only as this state
    elif platform == "pdd":
        order["refund_status"] = 2  # order-level only on PDD
    elif platform == "douyin":
        _douyin_line(order, line)["after_sale_info"] = {
            "after_sale_status": 6,
            "after_sale_type": 2,
            "refund_status": 1,
        }
    elif platform == "kuaishou":
        order["orderRefundList"] = [{"refundId": _kuaishou_refund_id(order), "refundStatus": 10}]
    else:
        _manual_line(order, line)["refund_state"] = "requested"
        _manual_line(order, line)["refund_status"] = "REFUND_REQUESTED"


def _event_refund_complete(platform: str, order: dict[str, Any], line: int = 0) -> None:
    """The platform refunds line `line` (the seller agreed, or the platform decided): that line closes;
    when every line is refunded the whole order closes as refunded."""
    if platform == "taobao":
        row = _taobao_lines(order, line)
        row.update(refund_status="SUCCESS", status="TRADE_CLOSED")
        if all(r.get("status") == "TRADE_CLOSED" for r in c.dig(order, "orders", "order")):
            order["status"] = "TRADE_CLOSED"
    elif platform == "jd":
        order["orderState"] = "TRADE_CANCELED"  # JD's order search has no line-level refund (README §4)
    elif platform == "pdd":
        order["refund_status"] = 4
    elif platform == "douyin":
        sub = _douyin_line(order, line)
        sub["order_status"] = 21
        sub["after_sale_info"] = {"after_sale_status": 12, "after_sale_type": 2, "refund_status": 3}
        if all(s.get("order_status") == 21 for s in order.get("sku_order_list", [])):
            order["order_status"] = 21
    elif platform == "kuaishou":
        order["orderRefundList"] = [{"refundId": _kuaishou_refund_id(order), "refundStatus": 60}]
        order["orderBaseInfo"]["status"] = 80
    else:
        _manual_line(order, line).update(refund_state="refunded", refund_status="REFUNDED")
        if all(ln.get("refund_state") == "refunded" for ln in order.get("lines", [])):
            order["status"] = "refunded"


def _event_refund_withdraw(platform: str, order: dict[str, Any], line: int = 0) -> None:
    """The buyer withdraws the refund request on line `line`: the line ships as before."""
    if platform == "taobao":
        _taobao_lines(order, line)["refund_status"] = "CLOSED"
    elif platform == "jd":
        order["orderState"] = "WAIT_SELLER_STOCK_OUT"
    elif platform == "pdd":
        order["refund_status"] = 1
    elif platform == "douyin":
        _douyin_line(order, line)["after_sale_info"] = {"after_sale_status": 28, "after_sale_type": 2}  # (u)
    elif platform == "kuaishou":
        order["orderRefundList"] = [{"refundId": _kuaishou_refund_id(order), "refundStatus": 70}]  # (u)
    else:
        _manual_line(order, line).update(refund_state="none", refund_status="REFUND_CLOSED")
        order["refund_requested"] = False


def _taobao_lines(order: dict[str, Any], line: int) -> dict[str, Any]:
    return c.dig(order, "orders", "order")[line]


def _douyin_line(order: dict[str, Any], line: int) -> dict[str, Any]:
    return order["sku_order_list"][line]


def _manual_line(order: dict[str, Any], line: int) -> dict[str, Any]:
    return order["lines"][line]


def _kuaishou_refund_id(order: dict[str, Any]) -> int:
    """One refund per Kuaishou order (one line each): its id stays the same through its life."""
    existing = order.get("orderRefundList") or []
    return existing[0]["refundId"] if existing else int(c.dig(order, "orderBaseInfo", "oid")) * 3


def _event_address_change(platform: str, order: dict[str, Any]) -> None:
    if platform == "taobao":
        order["receiver_address"] = NEW_ADDRESS
    elif platform == "jd":
        info = order.setdefault("consigneeInfo", {})
        info["fullAddress"] = f"{info.get('province', '')}{info.get('city', '')}{info.get('county', '')}{NEW_ADDRESS}"
    elif platform == "pdd":
        order["receiver_address_mask"] = NEW_ADDRESS
        order["address_mask"] = (
            f"{order.get('province', '')}{order.get('city', '')}{order.get('town', '')}{NEW_ADDRESS}"
        )
    elif platform == "douyin":
        for target in (order, *order.get("sku_order_list", [])):
            target.setdefault("mask_post_addr", {})["detail"] = NEW_ADDRESS
    elif platform == "kuaishou":
        order.setdefault("orderAddress", {})["desensitiseAddress"] = NEW_ADDRESS
    else:
        order.setdefault("receiver", {})["address"] = NEW_ADDRESS.replace("*", "8")


def _event_memo(platform: str, order: dict[str, Any]) -> None:
    memo = "客服备注：已核对地址"
    key = {"taobao": "seller_memo", "jd": "venderRemark", "pdd": "remark", "douyin": "seller_words"}.get(platform)
    if key:
        order[key] = memo
    elif platform == "kuaishou":
        order["orderNote"] = memo
    else:
        order["seller_memo"] = memo


EVENTS = {
    "pay": _event_pay,
    "cancel": _event_cancel,
    "refund_request": _event_refund_request,
    "refund_complete": _event_refund_complete,
    "refund_withdraw": _event_refund_withdraw,
    "address_change": _event_address_change,
    "memo": _event_memo,
}
#: events about one line of the order (`line`: its 0-based position); the others concern the order
LINE_EVENTS = frozenset({"refund_request", "refund_complete", "refund_withdraw"})


def apply_event(platform: str, order: dict[str, Any], event: str, *, line: int = 0) -> None:
    """Change a native order in place as the platform would for `event` (for a line event, on line
    `line`), and bump its modified time."""
    if event not in EVENTS:
        raise ValueError(f"event must be one of {sorted(EVENTS)}")
    if event in LINE_EVENTS:
        EVENTS[event](platform, order, line)
    else:
        EVENTS[event](platform, order)
    touch(platform, order)


RENDERERS = {
    "taobao": render_taobao,
    "jd": render_jd,
    "pdd": render_pdd,
    "douyin": render_douyin,
    "kuaishou": render_kuaishou,
    "manual": render_manual,
}
