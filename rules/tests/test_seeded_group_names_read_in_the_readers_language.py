"""The assignee groups seeded as "客服 / Customer service" read in the reader's language — 客服 to a
Chinese reader, "Customer service" to an English one — on the workbench, the dashboard, the order
page, the type list and the workflow page; a group a person renamed keeps its name (issue 12, point 5)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import translation

from rules.labels import SEEDED_GROUP_NAMES
from rules.models import ExceptionTask, ExceptionType
from rules.services import SUPERVISOR_GROUP

pytestmark = pytest.mark.django_db

ZH, EN = {"accept-language": "zh-hans"}, {"accept-language": "en"}


def test_seeded_groups_are_stored_in_english_and_labelled_per_language():
    names = set(Group.objects.values_list("name", flat=True))
    assert set(SEEDED_GROUP_NAMES) <= names  # the migration replaced "客服 / Customer service"
    assert not [name for name in names if " / " in name]
    assert SUPERVISOR_GROUP in names  # escalation finds the seeded supervisors
    cs = Group.objects.get(name="Customer service")
    with translation.override("zh-hans"):
        assert cs.label == str(cs) == "客服"
        assert str(Group.objects.get(name="Supervisors")) == "主管"
    with translation.override("en"):
        assert cs.label == str(cs) == "Customer service"


def test_a_renamed_group_keeps_the_name_a_person_gave_it():
    Group.objects.filter(name="Finance").update(name="财务二组")
    with translation.override("en"):
        assert Group.objects.get(name="财务二组").label == "财务二组"


def test_console_pages_name_the_seeded_group_in_the_readers_language(client, ingest):
    order = ingest(buyer_message="周末送")  # a message to review: a to-do for customer service
    task = ExceptionTask.objects.get(order=order, exception_type__code="remark_review")
    assert task.assignee_group.name == "Customer service" and task.assignee_user_id is None
    lead = get_user_model().objects.create_superuser("lead", "lead@example.com", "pw-lead-12345")
    lead.groups.add(task.assignee_group)  # the workbench opens on the reader's groups' to-dos
    client.force_login(lead)
    pages = [
        reverse("admin:rules_exceptiontask_mine"),
        reverse("admin:index"),
        reverse("admin:orders_order_change", args=[order.pk]),
        reverse("admin:rules_exceptiontype_changelist"),
        reverse("admin:rules_exceptiontask_changelist"),
        reverse("admin:orders_workflow"),
    ]
    for url in pages:
        chinese = client.get(url, headers=ZH).content.decode()
        assert "客服" in chinese and "Customer service" not in chinese, url
        english = client.get(url, headers=EN).content.decode()
        # the workflow diagram wraps its lines: "assigned to: Customer" / "service"
        assert "Customer" in english and "客服" not in english, url
    assert ExceptionType.objects.get(code="remark_review").default_group.name == "Customer service"


def test_a_role_reads_as_a_role_not_as_the_assignee_group_of_the_same_trade():
    with translation.override("zh-hans"):
        role, team = Group.objects.get(name="warehouse"), Group.objects.get(name="Warehouse")
        assert (str(role), str(team)) == ("仓库人员（角色）", "仓库")
        assert str(Group.objects.get(name="finance")) == "财务（角色）" != str(Group.objects.get(name="Finance"))
    with translation.override("en"):
        assert str(Group.objects.get(name="rule admin")) == "Rule admin (role)"
