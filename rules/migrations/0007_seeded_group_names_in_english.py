"""The assignee groups seeded by 0002/0003 were named "中文 / English" and read that way in both
languages. Store their English name: while a group keeps it, rules.labels shows it in the reader's
language (Group.label, str()). A group a person renamed keeps its name; a name already taken is left
alone. Reversible: the old names come back."""

from django.db import migrations

# name as seeded → English name
GROUPS = {
    "客服 / Customer service": "Customer service",
    "仓库 / Warehouse": "Warehouse",
    "财务 / Finance": "Finance",
    "主管 / Supervisors": "Supervisors",
}


def _rename(apps, pairs):
    Group = apps.get_model("auth", "Group")
    for old, new in pairs:
        if not Group.objects.filter(name=new).exists():
            Group.objects.filter(name=old).update(name=new)


def to_english(apps, schema_editor):
    _rename(apps, GROUPS.items())


def to_seeded(apps, schema_editor):
    _rename(apps, [(new, old) for old, new in GROUPS.items()])


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length"), ("rules", "0006_merge_session4")]
    operations = [migrations.RunPython(to_english, to_seeded)]
