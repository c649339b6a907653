"""What the engine and its services write on an exception task — why it was opened, how it was closed,
its escalation — and the escalation alert are codes with parameters: a Chinese reader reads them in
Chinese on the resolve page and the task's page, the English text stays in the note columns (hold
reasons and searches read it) (issue 12, point 5)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from orders.channels.base import NormalizedLine
from orders.models import Alert
from rules.models import ExceptionTask, TaskState
from rules.services import exceptions_escalate, sync_tasks
from rules.tests.conftest import reload

pytestmark = pytest.mark.django_db
ZH = {"accept-language": "zh-hans"}


def test_system_check_notes_are_coded_and_keep_their_english(ingest, incoming):
    lines = [NormalizedLine("1", "i9", "s9", "NO-SUCH-SKU", "未建档商品", 1, Decimal("150.00"))]
    order = ingest(incoming(lines=lines))
    task = ExceptionTask.objects.get(order=order, exception_type__code="sku_unmatched")
    assert task.note.startswith("lines without a known SKU: ") and task.note_wording["code"] == "task.sku_unmatched"
    assert "sku_unmatched" in order.hold_reason  # the hold reason keeps the English note
    with translation.override("zh-hans"):
        assert task.note_text.startswith("商品编码未匹配的订单行：")
    with translation.override("en"):
        assert task.note_text == task.note


def test_a_rule_note_reads_as_the_rules_name_in_the_readers_language(ingest):
    task = ExceptionTask.objects.get(order=ingest(buyer_message="周末送"), exception_type__code="remark_review")
    assert task.note == "Message to review" and not task.note_wording
    with translation.override("zh-hans"):
        assert task.note_text == "留言备注待审"


def test_a_cleared_task_says_so_in_the_readers_language(ingest):
    from rules.engine import get_ruleset

    order = ingest(buyer_message="周末送")
    task = ExceptionTask.objects.get(order=order, exception_type__code="remark_review")
    sync_tasks(order=reload(order), ruleset=get_ruleset(), raised={}, now=timezone.now(), stock_checked=True)
    task.refresh_from_db()
    assert task.state == TaskState.RESOLVED and task.resolution_note == "no longer raised"
    with translation.override("zh-hans"):
        assert task.resolution_note_text == "已不再触发"


def test_escalation_note_and_alert_read_in_chinese_on_the_console(client, ingest):
    order = ingest(buyer_message="周末送")
    task = ExceptionTask.objects.get(order=order, exception_type__code="remark_review")
    assert exceptions_escalate(now=task.due_at + timedelta(hours=1)) == 1
    task.refresh_from_db()
    assert "escalated to Supervisors" in task.note and task.note.startswith("Message to review\n[")
    alert = Alert.objects.get(key="rules:escalated:remark_review")
    assert "escalated to Supervisors" in alert.message
    with translation.override("zh-hans"):
        assert task.note_text.startswith("留言备注待审\n[") and task.note_text.endswith("已升级给主管")
        assert alert.text.startswith("1 个“留言备注待审”异常已超时或无人处理，已升级给主管")

    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw-lead-12345"))
    for url in (
        reverse("admin:rules_exceptiontask_resolve", args=[task.pk]),
        reverse("admin:rules_exceptiontask_change", args=[task.pk]),
    ):
        page = client.get(url, headers=ZH).content.decode()
        assert "已升级给主管" in page and "escalated to" not in page, url
        assert "Message to review" not in page, url  # the hold reason and the rule's name too
