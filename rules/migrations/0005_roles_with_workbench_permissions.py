"""Roles (ops, warehouse, rule admin, finance, viewer) created by a migration, with the workbench
permissions (claim, assign, resolve exception tasks).

The same `orderhub.roles.ensure_roles` also runs after every `migrate` (post_migrate), because a
permission exists only once Django created it for its model, and a later model's permissions do not
exist yet when this migration runs. Here we create every installed model's permissions first, so a
fresh database and an existing one both get the roles, with today's permissions, at this step. The
function only adds: grants an administrator made stay. Reversing leaves the groups (they may hold
people)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from orderhub.roles import ensure_roles

    alias = schema_editor.connection.alias
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=alias, apps=global_apps)
    ensure_roles(using=alias)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("rules", "0004_workbench_assignment_and_indexes"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop, elidable=False)]
