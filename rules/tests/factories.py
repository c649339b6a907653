"""Helpers that build rules and orders directly (bulk), for tests that need thousands of orders."""

from __future__ import annotations

import random
from decimal import Decimal

from django.utils import timezone

from orders.models import Order, OrderLine
from rules.models import ExceptionType, InterceptRule, RuleCondition


def make_rule(*conditions, combinator="all", action="hold", exception_type="remark_review", **fields) -> InterceptRule:
    """make_rule(("paid_amount", "gte", "100"), ...) -> a saved rule with its condition rows."""
    if action == "hold" and "exception_type" not in fields:
        fields["exception_type"] = ExceptionType.objects.get(code=exception_type)
    rule = InterceptRule.objects.create(
        name=fields.pop("name", "test rule"), combinator=combinator, action=action, **fields
    )
    for row, (field, operator, value) in enumerate(conditions):
        RuleCondition.objects.create(rule=rule, position=row, field=field, operator=operator, value=value)
    return rule


PROVINCES = ["浙江省", "上海市", "广东", "火星省", "江苏省", ""]
CITIES = ["杭州市", "上海市", "深圳市", "西湖", "苏州市"]
DISTRICTS = ["西湖区", "浦东新区", "南山区", "", "吴中区", "某某"]
PHONES = ["13812345678", "13912345678", "0571-88886666", "12345", "", "13800000000-1234", "+8613712345678"]
MESSAGES = ["", "", "", "请发顺丰", "SF please", "周末送"]
ADDRESSES = ["文三路1号", "测试地址", "南京路100号", "科技园 test", "人民路8号", ""]
SKUS = ["SKU-1", "SKU-2", "SKU-3", "", "SKU-4"]


def bulk_orders(channel, count: int, *, seed: int = 7) -> list[Order]:
    """`count` varied orders (and 1–3 lines each) written with bulk_create."""
    rng = random.Random(seed)
    now = timezone.now()
    orders = []
    for i in range(count):
        goods = Decimal(rng.randint(1000, 50000)) / 100
        discount = (goods * Decimal(rng.choice([0, 0, 5, 10, 25, 40, 55, 70])) / 100).quantize(Decimal("0.01"))
        paid = goods - discount - rng.choice([Decimal(0)] * 9 + [Decimal("5.00")])
        coupons = [
            {"kind": "coupon", "name": f"c{j}", "amount": "5.00", "line_id": rng.choice(["", f"L{i}-0"])}
            for j in range(rng.choice([0, 0, 1, 2, 3]))
        ]
        orders.append(
            Order(
                channel=channel,
                external_id=f"B{i:06d}",
                state="ready",
                platform_status=rng.choice(["awaiting_shipment"] * 8 + ["unpaid"]),
                buyer_nick=f"nick{rng.randint(1, 3000)}",
                receiver_name=rng.choice(["张三", "李四", "test", ""]),
                receiver_phone=rng.choice(PHONES),
                receiver_province=rng.choice(PROVINCES),
                receiver_city=rng.choice(CITIES),
                receiver_district=rng.choice(DISTRICTS),
                receiver_address=rng.choice(ADDRESSES),
                goods_amount=goods,
                discount_amount=discount,
                paid_amount=paid,
                coupons=coupons,
                buyer_message=rng.choice(MESSAGES),
                seller_memo=rng.choice(["", "", "VIP"]),
                is_presale=rng.random() < 0.1,
                refund_requested=rng.random() < 0.05,
                paid_at=now if rng.random() < 0.9 else None,
            )
        )
    Order.objects.bulk_create(orders, batch_size=1000)
    lines = []
    for order in orders:
        for k in range(rng.randint(1, 3)):
            lines.append(
                OrderLine(
                    order=order,
                    external_line_id=f"L{order.external_id}-{k}",
                    sku_code=rng.choice(SKUS),
                    quantity=rng.randint(1, 4),
                    unit_price=Decimal(rng.randint(100, 9999)) / 100,
                )
            )
    OrderLine.objects.bulk_create(lines, batch_size=2000)
    return orders
