"""Seed the ten carriers with their code on each platform (shared/channels/README.md §6). The rows
stay editable, and "load from platform" refreshes the codes through each platform's carrier list.
Codes marked (u) in the sheet are a single source or inferred: the seed, not the truth."""

from django.db import migrations

# code, name, {platform: code}
CARRIERS = [
    ("SF", "顺丰速运 SF Express", {"taobao": "SF", "jd": "467", "pdd": "44", "douyin": "shunfeng", "kuaishou": "4"}),
    ("ZTO", "中通快递 ZTO", {"taobao": "ZTO", "jd": "1499", "pdd": "115", "douyin": "zhongtong", "kuaishou": "9"}),
    ("YTO", "圆通速递 YTO", {"taobao": "YTO", "jd": "463", "pdd": "85", "douyin": "yuantong", "kuaishou": "6"}),
    ("STO", "申通快递 STO", {"taobao": "STO", "jd": "470", "pdd": "1", "douyin": "shentong", "kuaishou": "3"}),
    ("YUNDA", "韵达快递 Yunda", {"taobao": "YUNDA", "jd": "1327", "pdd": "121", "douyin": "yunda", "kuaishou": "11"}),
    ("JD", "京东物流 JD Logistics", {"taobao": "JD", "jd": "2087", "pdd": "120", "douyin": "jd", "kuaishou": "14"}),
    ("EMS", "EMS", {"taobao": "EMS", "jd": "465", "pdd": "118", "douyin": "ems", "kuaishou": "2"}),
    ("JT", "极兔速递 J&T", {"taobao": "JT", "kuaishou": "109"}),
    # Best Express merged into J&T (Kuaishou's 109 covers both); no platform code confirmed for it alone.
    ("BEST", "百世快递 Best Express", {}),
    ("DEPPON", "德邦快递 Deppon", {"taobao": "DBKD", "jd": "3046", "pdd": "131", "kuaishou": "17"}),
]


def seed(apps, schema_editor):
    Carrier = apps.get_model("shipping", "Carrier")
    for code, name, platform_codes in CARRIERS:
        Carrier.objects.update_or_create(code=code, defaults={"name": name, "platform_codes": platform_codes})


def unseed(apps, schema_editor):
    apps.get_model("shipping", "Carrier").objects.filter(code__in=[c[0] for c in CARRIERS]).delete()


class Migration(migrations.Migration):
    dependencies = [("shipping", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
