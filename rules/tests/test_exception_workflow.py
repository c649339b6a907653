"""The exception to-do: My exceptions, resolve actions (who, when, note), escalation, re-checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from orders.models import Alert, OrderEvent
from rules.errors import ResolveActionInvalid, ResolvePermissionDenied
from rules.models import BlacklistEntry, ExceptionTask
from rules.services import exception_resolve, exceptions_escalate, recheck_open_orders
from rules.tests.conftest import open_types, reload
from rules.tests.factories import make_rule

pytestmark = pytest.mark.django_db

CS = "Customer service"
FINANCE = "Finance"


def staff(username, group, *perms):
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    for codename in perms:
        app, code = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=code))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def agent():
    return staff("xiaomei", CS, "orders.release_order", "orders.cancel_order", "rules.view_exceptiontask")


def task_of(order, code):
    return ExceptionTask.objects.get(order=order, exception_type__code=code, state="open")


def test_mark_paid_resolves_with_who_when_note_and_releases(ingest):
    order = ingest(platform_status="unpaid", platform_status_raw="WAIT_BUYER_PAY", paid_at=None)
    task = task_of(order, "payment_pending")
    assert task.assignee_group.name == FINANCE
    cashier = staff("cashier", FINANCE)
    done = exception_resolve(task_id=task.pk, actor=cashier, action="mark_paid", note="bank transfer 8812 arrived")
    assert (done.state, done.resolution, done.resolved_by, done.resolution_note) == (
        "resolved",
        "marked_paid",
        cashier,
        "bank transfer 8812 arrived",
    )
    assert done.resolved_at is not None
    assert done.history.first().history_user == cashier
    order = reload(order)
    assert order.state == "ready" and order.paid_at is not None
    assert OrderEvent.objects.filter(order=order, kind="marked_paid", actor=cashier).exists()


def test_edit_address_rechecks_and_releases_when_fixed(ingest, agent):
    order = ingest(receiver_phone="12345")
    task = task_of(order, "address_invalid")
    exception_resolve(
        task_id=task.pk, actor=agent, action="edit_address", note="called buyer", data={"receiver_phone": "13912345678"}
    )
    order = reload(order)
    assert order.receiver_phone == "13912345678"
    assert order.state == "ready"
    assert ExceptionTask.objects.get(pk=task.pk).resolution == "edited_address"


def test_edit_address_still_wrong_raises_again(ingest, agent):
    order = ingest(receiver_phone="12345")
    task = task_of(order, "address_invalid")
    exception_resolve(task_id=task.pk, actor=agent, action="edit_address", data={"receiver_phone": "999"})
    assert reload(order).state == "on_hold"
    assert open_types(order) == ["address_invalid"]


def test_release_overrides_the_rule_and_goes_through_order_release(ingest, agent):
    order = ingest(buyer_message="请尽快发货")
    task = task_of(order, "remark_review")
    exception_resolve(task_id=task.pk, actor=agent, action="release", note="read, nothing special")
    order = reload(order)
    assert order.state == "ready"
    assert OrderEvent.objects.filter(order=order, kind="release", actor=agent).exists()
    # a later re-check does not hold it again for the same message
    recheck_open_orders(order_ids=[order.pk])
    assert reload(order).state == "ready"
    assert open_types(order) == []


def test_release_needs_the_release_permission(ingest):
    from orders.errors import OrderPermissionDenied

    order = ingest(buyer_message="请尽快发货")
    junior = staff("junior", CS)
    with pytest.raises(OrderPermissionDenied):
        exception_resolve(task_id=task_of(order, "remark_review").pk, actor=junior, action="release")
    assert reload(order).state == "on_hold"
    assert open_types(order) == ["remark_review"]  # rolled back with the refused release


def test_cancel_goes_through_order_cancel(ingest, agent):
    order = ingest(refund_requested=True)
    exception_resolve(task_id=task_of(order, "refund_requested").pk, actor=agent, action="cancel", note="refunded")
    assert reload(order).state == "cancelled"
    assert ExceptionTask.objects.get(order=order).resolution == "cancelled"


def test_merge_puts_both_orders_in_one_parcel(ingest, channel):
    from shipping.models import Shipment
    from shipping.tests.factories import make_account

    make_account(channel)
    first = ingest(buyer_nick="twice", receiver_address="文三路88号")
    second = ingest(buyer_nick="twice", receiver_address="文三路88号")
    keeper = staff("keeper", "Warehouse")
    task = task_of(second, "mergeable")
    with pytest.raises(ResolveActionInvalid):
        exception_resolve(task_id=task.pk, actor=keeper, action="merge", data={"target_order_id": second.pk})
    exception_resolve(task_id=task.pk, actor=keeper, action="merge", data={"target_order_id": first.pk})
    assert reload(second).state == reload(first).state == "ready"  # neither is cancelled: both are written back
    (parcel,) = Shipment.objects.all()
    assert sorted(set(parcel.lines.values_list("order_id", flat=True))) == [first.pk, second.pk]
    task.refresh_from_db()
    assert task.resolution == "merged" and f"merged with order {first.pk}" in task.resolution_note


def test_add_to_blacklist_records_entry_and_holds_as_blacklisted(ingest, agent):
    order = ingest(buyer_message="货到了我就退款，哈哈", buyer_nick="刷单王")
    exception_resolve(
        task_id=task_of(order, "remark_review").pk, actor=agent, action="blacklist", data={"kinds": ["buyer_nick"]}
    )
    entry = BlacklistEntry.objects.get(kind="buyer_nick")
    assert entry.created_by == agent and entry.normalized == "刷单王"
    assert "blacklisted_buyer" in open_types(order)
    assert ingest(buyer_nick="刷单王").state == "on_hold"  # the next order of that buyer too


def test_only_the_assignee_or_their_group_may_resolve(ingest):
    order = ingest(buyer_message="周末送")
    outsider = staff("outsider", FINANCE)
    with pytest.raises(ResolvePermissionDenied):
        exception_resolve(task_id=task_of(order, "remark_review").pk, actor=outsider, action="dismiss")


def test_my_exceptions_lists_my_groups_tasks_by_due_time_with_facts_and_rule(client, ingest, agent):
    late = ingest(buyer_message="要发票")
    soon = ingest(receiver_phone="")
    other = ingest(platform_status="unpaid", paid_at=None)  # finance's, not mine
    ExceptionTask.objects.filter(order=soon).update(due_at=timezone.now() + timedelta(minutes=5))
    # ship-by 30 minutes away: at risk
    late.__class__.objects.filter(pk=late.pk).update(ship_by=timezone.now() + timedelta(minutes=30))
    client.force_login(agent)
    page = client.get(reverse("admin:rules_exceptiontask_mine"))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(soon.external_id) < html.index(late.external_id)
    assert other.external_id not in html
    assert "Message to review" in html  # the rule that fired, named in the reader's language (English here)
    task = task_of(late, "remark_review")
    detail = client.get(reverse("admin:rules_exceptiontask_resolve", args=[task.pk])).content.decode()
    assert "has_buyer_message" not in detail and "buyer message present" in detail  # the facts, in words
    assert "at risk: less than 1 h left" in detail
    # resolve through the view
    response = client.post(
        reverse("admin:rules_exceptiontask_resolve", args=[task.pk]), {"action": "dismiss", "note": "ok"}
    )
    assert response.status_code == 302
    assert reload(late).state == "ready"
    assert ExceptionTask.objects.get(pk=task.pk).resolved_by == agent


def test_overdue_and_unassigned_tasks_escalate_to_supervisors_with_an_alert(ingest):
    order = ingest(buyer_message="急")
    task = task_of(order, "remark_review")
    ExceptionTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    unassigned = ingest(refund_requested=True)
    ExceptionTask.objects.filter(order=unassigned).update(assignee_group=None)
    assert exceptions_escalate() == 2
    task.refresh_from_db()
    assert task.assignee_group.name == "Supervisors" and task.escalated_at is not None
    assert Alert.objects.filter(key="rules:escalated:remark_review", resolved_at__isnull=True).exists()
    assert exceptions_escalate() == 0  # idempotent


def test_rule_change_invalidates_the_compiled_cache_and_recheck_holds_open_orders(ingest):
    from rules.engine import get_ruleset

    order = ingest()
    first = get_ruleset()
    assert get_ruleset() is first  # compiled once
    rule = make_rule(("paid_amount", "gte", "100"), exception_type="price_abnormal", name="big orders")
    second = get_ruleset()
    assert second is not first and rule.pk in {r.id for r in second.rules}
    counts = recheck_open_orders()
    assert counts.get("on_hold") == 1
    assert open_types(order) == ["price_abnormal"]
    # the rule is narrowed: a re-check clears the task and releases the order
    cond = rule.conditions.get()
    cond.value = "1000"
    cond.save()
    recheck_open_orders()
    assert reload(order).state == "ready"
    assert ExceptionTask.objects.get(order=order).resolution == "cleared"


def test_admin_recheck_action(admin_client, ingest):
    order = ingest()
    rule = make_rule(("paid_amount", "gte", "100"), exception_type="price_abnormal")
    response = admin_client.post(
        reverse("admin:rules_interceptrule_changelist"),
        {"action": "recheck_open_orders", "_selected_action": [rule.pk]},
    )
    assert response.status_code == 302
    assert reload(order).state == "on_hold"


def test_coverage_review_and_excel_export(admin_client, ingest, agent):
    import io

    import openpyxl

    held = ingest(buyer_message="看看")
    exception_resolve(task_id=task_of(held, "remark_review").pk, actor=agent, action="dismiss")
    ingest()
    page = admin_client.get(reverse("admin:rules_interceptrule_coverage") + "?days=7")
    assert page.status_code == 200
    report = page.context["report"]
    remark = next(r for r in report.rows if r.rule == "Message to review")
    # two hits: at ingestion, and at the re-check after the dismissal (which the override then silenced)
    assert (remark.enforced_hits, remark.holds, remark.released_unchanged) == (2, 1, 1)
    assert remark.median_minutes_held is not None
    assert any(r.code == "mergeable" for r in report.rules_without_hits)
    xlsx = admin_client.get(reverse("admin:rules_interceptrule_coverage") + "?days=7&format=xlsx")
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:5] == ["Rule ID", "Rule", "Enforced hits", "Shadow hits", "Holds"]
    assert sheet.title == "Rule coverage"
    assert all(cell.data_type == "n" for cell in next(sheet.iter_rows(min_row=2))[2:6])  # numbers, not text
