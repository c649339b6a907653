"""Roles are groups that exist after every migrate, with the permissions orderhub/roles.py lists;
re-running keeps what an administrator added on top."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management.sql import emit_post_migrate_signal

from orderhub.roles import OPS, ROLES, VIEWER

pytestmark = pytest.mark.django_db


def _perms(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_every_role_exists_with_its_permissions():
    for role, perms in ROLES.items():
        assert _perms(Group.objects.get(name=role)) == set(perms), role
    assert "orders.view_receiver_details" in ROLES[OPS]
    assert "orders.view_receiver_details" not in ROLES[VIEWER]
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_")) for p in ROLES[VIEWER])


def test_post_migrate_is_idempotent_and_keeps_extra_grants():
    viewer = Group.objects.get(name=VIEWER)
    extra = Permission.objects.get(codename="change_alert")
    viewer.permissions.add(extra)
    viewer.permissions.remove(Permission.objects.get(codename="view_order"))
    groups = Group.objects.count()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert Group.objects.count() == groups
    assert _perms(Group.objects.get(name=VIEWER)) == {*ROLES[VIEWER], "orders.change_alert"}
