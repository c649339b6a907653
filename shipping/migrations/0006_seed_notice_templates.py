"""Sensible Simplified Chinese templates per event and medium. `delivered` starts disabled (optional);
the vendor template codes are left for ops to fill in with the ones their SMS account had approved."""

from django.db import migrations

TEMPLATES = [
    (
        "shipped",
        "sms",
        True,
        "您在{shop_name}的订单{platform_order_id}已由{carrier_name}发出，运单号{tracking_number}，预计{eta}送达。",
        "shop={shop_name}\norder={platform_order_id}\ncarrier={carrier_name}\nno={tracking_number}\neta={eta}",
    ),
    (
        "shipped",
        "wechat",
        True,
        "订单{platform_order_id}已发货：{carrier_name} {tracking_number}，预计{eta}送达。",
        "character_string1={tracking_number}\nthing2={carrier_name}\ndate3={eta}\nthing4={shop_name}",
    ),
    (
        "delayed",
        "sms",
        True,
        "您在{shop_name}的订单{platform_order_id}未能在{ship_by}前发出，我们正在加急处理，发货后将第一时间通知您，"
        "给您带来不便深表歉意。",
        "shop={shop_name}\norder={platform_order_id}\ntime={ship_by}",
    ),
    (
        "delayed",
        "wechat",
        True,
        "订单{platform_order_id}发货延迟，我们正在加急处理，发货后第一时间通知您。",
        "character_string1={platform_order_id}\nthing2={shop_name}\ntime3={ship_by}",
    ),
    (
        "delivered",
        "sms",
        False,
        "您在{shop_name}的订单{platform_order_id}已签收（{carrier_name} {tracking_number}），如有问题请联系客服。",
        "shop={shop_name}\norder={platform_order_id}\ncarrier={carrier_name}\nno={tracking_number}",
    ),
    (
        "delivered",
        "wechat",
        False,
        "订单{platform_order_id}已签收：{carrier_name} {tracking_number}。",
        "character_string1={tracking_number}\nthing2={carrier_name}\nthing3={shop_name}",
    ),
]


def seed(apps, schema_editor):
    NoticeTemplate = apps.get_model("shipping", "NoticeTemplate")
    for event, medium, enabled, body, params in TEMPLATES:
        NoticeTemplate.objects.get_or_create(
            event=event, medium=medium, defaults={"enabled": enabled, "body": body, "vendor_params": params}
        )


class Migration(migrations.Migration):
    dependencies = [("shipping", "0005_buyer_notice_delivery_templates_transit_times_attempts")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
