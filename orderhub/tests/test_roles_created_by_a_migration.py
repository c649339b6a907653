"""Issue 12 point 6: the roles are created by a migration (rules/0005, which calls the same
`ensure_roles` the post_migrate handler calls) with the workbench permissions in the right groups."""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection

from orderhub import roles

pytestmark = pytest.mark.django_db

MIGRATION = "rules.migrations.0005_roles_with_workbench_permissions"


def _perms(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_the_migration_creates_every_role_with_its_permissions_on_a_database_without_them():
    Group.objects.filter(name__in=roles.ROLES).delete()
    import_module(MIGRATION).create_roles(apps, SimpleNamespace(connection=connection))
    for role, wanted in roles.ROLES.items():
        assert set(wanted) <= _perms(Group.objects.get(name=role)), role


def test_workbench_permissions_go_to_the_roles_that_work_the_exceptions():
    by_role = {role: _perms(Group.objects.get(name=role)) for role in roles.ROLES}
    assert {"rules.claim_exceptiontask", "rules.assign_exceptiontask", "rules.resolve_exceptiontask"} <= by_role[
        roles.OPS
    ]
    for role in (roles.WAREHOUSE, roles.FINANCE):
        assert {"rules.view_exceptiontask", "rules.claim_exceptiontask"} <= by_role[role]
        assert not {"rules.assign_exceptiontask", "rules.resolve_exceptiontask"} & by_role[role]
    for role in (roles.VIEWER, roles.RULE_ADMIN):
        assert "rules.view_exceptiontask" in by_role[role]
        assert not {"rules.claim_exceptiontask", "rules.assign_exceptiontask"} & by_role[role]


def test_the_migration_keeps_an_administrators_extra_grant():
    from django.contrib.auth.models import Permission

    viewer = Group.objects.get(name=roles.VIEWER)
    extra = Permission.objects.get(content_type__app_label="rules", codename="claim_exceptiontask")
    viewer.permissions.add(extra)
    import_module(MIGRATION).create_roles(apps, SimpleNamespace(connection=connection))
    assert "rules.claim_exceptiontask" in _perms(viewer)
