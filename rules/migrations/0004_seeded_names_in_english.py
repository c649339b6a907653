"""Seeded exception types and rules were named "中文 / English" and read that way in both languages.
Store their English name: while a row keeps it, rules.labels shows it in the reader's language. A row
a person renamed keeps its name. Reversible: the old names come back."""

from django.db import migrations

# code → (name as seeded by 0002/0003, English name)
TYPES = {
    "address_missing": ("收货地址缺失 / Address missing", "Address missing"),
    "payment_pending": ("付款未到账 / Payment pending", "Payment pending"),
    "out_of_stock": ("缺货 / Out of stock", "Out of stock"),
    "sku_unmatched": ("商品编码异常 / SKU unmatched", "SKU unmatched"),
    "address_invalid": ("收货信息异常 / Receiver invalid", "Receiver invalid"),
    "refund_requested": ("用户已申请退款 / Refund requested", "Refund requested"),
    "blacklisted_buyer": ("黑名单 / Blacklisted buyer", "Blacklisted buyer"),
    "remark_review": ("留言备注待审 / Message to review", "Message to review"),
    "price_abnormal": ("价格异常 / Price abnormal", "Price abnormal"),
    "mergeable": ("等待合并 / Mergeable", "Mergeable"),
    "address_changed": ("地址变更 / Address changed", "Address changed"),
    "waybill_failed": ("面单获取失败 / Waybill failed", "Waybill failed"),
    "write_back_refused": ("回传被拒 / Write-back refused", "Write-back refused"),
    "platform_order_closed": ("平台订单已关闭 / Platform order closed", "Platform order closed"),
    "tracking_problem": ("物流异常 / Tracking problem", "Tracking problem"),
    "no_pickup": ("揽收超时 / No pickup", "No pickup"),
}
RULES = {
    "promotion_lane": (
        "叠券促销单走促销通道 / Stacked-coupon orders to the promotion lane",
        "Stacked-coupon orders to the promotion lane",
    ),
    "address_missing": ("收货地址缺失 / Address missing", "Address missing"),
    "payment_pending": ("付款未到账 / Payment pending", "Payment pending"),
    "refund_requested": ("用户已申请退款 / Refund requested", "Refund requested"),
    "blacklisted_buyer": ("黑名单 / Blacklisted buyer", "Blacklisted buyer"),
    "address_invalid": ("收货信息异常 / Receiver invalid", "Receiver invalid"),
    "price_abnormal": ("价格异常（折扣超过50%）/ Discount over 50%", "Discount over 50%"),
    "remark_review": ("留言备注待审 / Message to review", "Message to review"),
    "mergeable": ("等待合并 / Mergeable", "Mergeable"),
}


def _rename(model, table, *, forward):
    for code, (seeded, english) in table.items():
        old, new = (seeded, english) if forward else (english, seeded)
        # only rows still named as seeded: a name a person chose stays (no history row: not a person's edit)
        model.objects.filter(code=code, name=old).update(name=new)


def to_english(apps, schema_editor):
    _rename(apps.get_model("rules", "ExceptionType"), TYPES, forward=True)
    _rename(apps.get_model("rules", "InterceptRule"), RULES, forward=True)


def to_seeded(apps, schema_editor):
    _rename(apps.get_model("rules", "ExceptionType"), TYPES, forward=False)
    _rename(apps.get_model("rules", "InterceptRule"), RULES, forward=False)


class Migration(migrations.Migration):
    dependencies = [("rules", "0003_seed_post_shipment_exception_types")]
    operations = [migrations.RunPython(to_english, to_seeded)]
