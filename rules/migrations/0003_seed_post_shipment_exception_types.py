"""Seed the exception types raised after a parcel left: the platform refused or closed the write-back,
the carrier reports a problem, or a parcel never moved. Raised by code (shipping), never by a rule, so
they never hold an order and never clear themselves; a person resolves them."""

from django.db import migrations
from django.utils import timezone

# code, name, group (name as seeded by 0002), due minutes, raised when
TYPES = [
    ("write_back_refused", "回传被拒 / Write-back refused", "客服 / Customer service", 60,
     "The platform refused the tracking number or carrier for good; its reason is in the note."),
    ("platform_order_closed", "平台订单已关闭 / Platform order closed", "客服 / Customer service", 30,
     "The platform says the order is closed while the parcel left: stop or recall it."),
    ("tracking_problem", "物流异常 / Tracking problem", "客服 / Customer service", 120,
     "The tracking service reports a problem, refusal or return; the carrier's words are in the note."),
    ("no_pickup", "揽收超时 / No pickup", "仓库 / Warehouse", 120,
     "No tracking movement 24 hours after the parcel was scanned out."),
]


def seed(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    ExceptionType = apps.get_model("rules", "ExceptionType")
    Historical = apps.get_model("rules", "HistoricalExceptionType")
    for code, name, group_name, due, description in TYPES:
        group, _ = Group.objects.get_or_create(name=group_name)
        etype, created = ExceptionType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "default_group": group,
                "due_minutes": due,
                "is_system": True,
                "auto_clear": False,
                "description": description,
            },
        )
        if created:
            Historical.objects.create(
                history_date=timezone.now(),
                history_type="+",
                history_change_reason="seeded by migration",
                **{f: getattr(etype, f) for f in (
                    "id", "code", "name", "description", "default_group_id", "due_minutes", "is_system", "auto_clear"
                )},
            )


def unseed(apps, schema_editor):
    ExceptionType = apps.get_model("rules", "ExceptionType")
    ExceptionType.objects.filter(code__in=[t[0] for t in TYPES], tasks__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("rules", "0002_seed_exception_types_and_rules")]

    operations = [migrations.RunPython(seed, unseed)]
