"""Admin actions that change rules or re-route orders are refused to staff who may only view."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from rules.models import ExceptionTask, InterceptRule
from rules.tests.factories import make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="rules", codename__in=["view_interceptrule", "view_exceptiontask"]
        )
    )
    client.force_login(user)
    client.user = user
    return client


def _act(client, model: str, action: str, pks):
    return client.post(
        reverse(f"admin:rules_{model}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
    )


@pytest.mark.parametrize("action", ["disable_rules", "enable_rules"])
def test_a_viewer_cannot_switch_rules(viewer, action):
    rule = make_rule(("paid_amount", "gte", "100"), enabled=action == "disable_rules")
    before = rule.enabled
    _act(viewer, "interceptrule", action, [rule.pk])
    assert InterceptRule.objects.get(pk=rule.pk).enabled is before
    assert action not in viewer.get(reverse("admin:rules_interceptrule_changelist")).content.decode()


def _actions(user, model) -> set[str]:
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return set(admin.site._registry[model].get_actions(request))


def test_re_checks_are_offered_to_editors_only(viewer):
    assert "recheck_open_orders" not in _actions(viewer.user, InterceptRule)
    assert "recheck_orders" not in _actions(viewer.user, ExceptionTask)
    viewer.user.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_interceptrule", "change_exceptiontask"])
    )
    editor = type(viewer.user).objects.get(pk=viewer.user.pk)  # fresh permission cache
    assert "recheck_open_orders" in _actions(editor, InterceptRule)
    assert "recheck_orders" in _actions(editor, ExceptionTask)


def test_an_editor_can_switch_rules(viewer):
    viewer.user.user_permissions.add(Permission.objects.get(codename="change_interceptrule"))
    rule = make_rule(("paid_amount", "gte", "100"), enabled=True)
    _act(viewer, "interceptrule", "disable_rules", [rule.pk])
    assert InterceptRule.objects.get(pk=rule.pk).enabled is False
