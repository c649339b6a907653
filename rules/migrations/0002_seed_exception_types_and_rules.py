"""Seed the 12 built-in exception types, their default groups, the built-in rules, the promotion lane
rule, the ruleset version row and the escalation schedule. Everything seeded stays editable."""

from django.db import migrations
from django.utils import timezone

GROUPS = {
    "cs": "客服 / Customer service",
    "warehouse": "仓库 / Warehouse",
    "finance": "财务 / Finance",
    "supervisors": "主管 / Supervisors",
}

# code, name, group, due minutes, system check, clears automatically, raised when
TYPES = [
    ("address_missing", "收货地址缺失 / Address missing", "cs", 30, False, True,
     "Receiver name, phone or address is empty."),
    ("payment_pending", "付款未到账 / Payment pending", "finance", 60, False, True,
     "Not paid, or paid less than due."),
    ("out_of_stock", "缺货 / Out of stock", "warehouse", 120, True, True,
     "The reservation could not be made and the SKU is not on presale."),
    ("sku_unmatched", "商品编码异常 / SKU unmatched", "warehouse", 60, True, True,
     "A line's platform SKU maps to no known SKU."),
    ("address_invalid", "收货信息异常 / Receiver invalid", "cs", 30, False, True,
     "Province/city/district not recognised, phone not a valid mobile/landline, or test words in the address."),
    ("refund_requested", "用户已申请退款 / Refund requested", "cs", 15, False, True,
     "The buyer asked for a refund before shipment."),
    ("blacklisted_buyer", "黑名单 / Blacklisted buyer", "cs", 30, False, True,
     "Buyer, phone or address is on the blacklist."),
    ("remark_review", "留言备注待审 / Message to review", "cs", 60, False, True,
     "A buyer message or seller memo that a person must read."),
    ("price_abnormal", "价格异常 / Price abnormal", "finance", 60, False, True,
     "A discount past the bound (stacked-coupon promotion orders excepted)."),
    ("mergeable", "等待合并 / Mergeable", "warehouse", 30, False, True,
     "Another open order to the same buyer and address."),
    ("address_changed", "地址变更 / Address changed", "cs", 15, True, False,
     "The platform reports a new address after the order was taken."),
    ("waybill_failed", "面单获取失败 / Waybill failed", "warehouse", 30, True, False,
     "No waybill could be had for the carrier/region."),
]

# code, name, position, combinator, action, exception type or lane, skip lanes, [(field, operator, value)]
RULES = [
    ("promotion_lane", "叠券促销单走促销通道 / Stacked-coupon orders to the promotion lane", 10, "all", "lane",
     "promotion", "", [("stacked_coupon_count", "gte", "2")]),
    ("address_missing", "收货地址缺失 / Address missing", 100, "any", "hold", "address_missing", "",
     [("receiver_name", "is_empty", ""), ("receiver_phone", "is_empty", ""), ("receiver_address", "is_empty", "")]),
    ("payment_pending", "付款未到账 / Payment pending", 110, "all", "hold", "payment_pending", "",
     [("payment_state", "ne", "paid")]),
    ("refund_requested", "用户已申请退款 / Refund requested", 120, "all", "hold", "refund_requested", "",
     [("refund_requested", "is_true", "")]),
    ("blacklisted_buyer", "黑名单 / Blacklisted buyer", 130, "all", "hold", "blacklisted_buyer", "",
     [("buyer_blacklisted", "is_true", "")]),
    ("address_invalid", "收货信息异常 / Receiver invalid", 140, "all", "hold", "address_invalid", "",
     [("receiver_complete", "is_true", ""), ("receiver_valid", "is_false", "")]),
    ("price_abnormal", "价格异常（折扣超过50%）/ Discount over 50%", 150, "all", "hold", "price_abnormal", "promotion",
     [("discount_ratio", "gt", "0.5")]),
    ("remark_review", "留言备注待审 / Message to review", 160, "any", "hold", "remark_review", "",
     [("has_buyer_message", "is_true", ""), ("has_seller_memo", "is_true", "")]),
    ("mergeable", "等待合并 / Mergeable", 170, "all", "hold", "mergeable", "",
     [("open_orders_same_receiver", "gt", "0")]),
]


def _history(apps, model_name, obj, fields):
    Historical = apps.get_model("rules", f"Historical{model_name}")
    data = {name: getattr(obj, name) for name in fields}
    Historical.objects.create(
        history_date=timezone.now(), history_type="+", history_change_reason="seeded by migration", **data
    )


def seed(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    ExceptionType = apps.get_model("rules", "ExceptionType")
    InterceptRule = apps.get_model("rules", "InterceptRule")
    RuleCondition = apps.get_model("rules", "RuleCondition")
    RulesetVersion = apps.get_model("rules", "RulesetVersion")
    Schedule = apps.get_model("django_q", "Schedule")

    groups = {key: Group.objects.get_or_create(name=name)[0] for key, name in GROUPS.items()}
    types = {}
    for code, name, group, due, system, auto_clear, description in TYPES:
        types[code], _ = ExceptionType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "default_group": groups[group],
                "due_minutes": due,
                "is_system": system,
                "auto_clear": auto_clear,
                "description": description,
            },
        )
    for code, name, position, combinator, action, target, skip, conditions in RULES:
        if InterceptRule.objects.filter(code=code).exists():
            continue
        rule = InterceptRule.objects.create(
            code=code,
            name=name,
            position=position,
            combinator=combinator,
            action=action,
            exception_type=types[target] if action == "hold" else None,
            lane=target if action == "lane" else "",
            skip_lanes=skip,
            mode="active",
            rollout_percent=100,
            enabled=True,
            version=1,
        )
        _history(apps, "InterceptRule", rule, [
            "id", "name", "code", "description", "position", "combinator", "action", "exception_type_id", "lane",
            "tag", "set_priority", "assign_user_id", "assign_group_id", "due_minutes", "skip_lanes", "mode",
            "rollout_percent", "valid_from", "valid_until", "enabled", "version", "created_at",
        ])
        for row, (field, operator, value) in enumerate(conditions):
            condition = RuleCondition.objects.create(
                rule=rule, position=row, field=field, operator=operator, value=value
            )
            _history(apps, "RuleCondition", condition, ["id", "rule_id", "position", "field", "operator", "value"])
    RulesetVersion.objects.update_or_create(pk=1, defaults={"version": 1, "token": "seeded"})
    Schedule.objects.get_or_create(
        func="rules.tasks.escalate_exceptions",
        defaults={"name": "rules: escalate overdue exceptions", "schedule_type": "I", "minutes": 5, "repeats": -1},
    )


def unseed(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func="rules.tasks.escalate_exceptions").delete()
    apps.get_model("rules", "InterceptRule").objects.filter(code__isnull=False).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
