"""Issue 12 point 2, the exception workbench: a filtered, paginated table; claim (one winner), assign
to a person, bulk resolve per type with a per-row report; a resolve form per type; assignment by
rule, type or round-robin; the order's next automatic move carries the person who resolved."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import close_old_connections, connection
from django.urls import reverse
from django.utils import timezone

from conftest import postgres_only
from orders.models import OrderEvent
from rules.errors import AssigneeInvalid, TaskAlreadyClaimed, WorkbenchPermissionDenied
from rules.models import ExceptionTask, ExceptionType
from rules.services import (
    exception_claim,
    exception_resolve,
    exceptions_assign,
    exceptions_close_for_cancelled_order,
    exceptions_resolve_bulk,
)
from rules.tests.conftest import reload
from rules.tests.test_exception_workflow import CS, staff, task_of

pytestmark = pytest.mark.django_db

WORKBENCH = "admin:rules_exceptiontask_mine"


def _ops(username="lead"):
    return staff(
        username,
        CS,
        "rules.view_exceptiontask",
        "rules.claim_exceptiontask",
        "rules.assign_exceptiontask",
        "rules.resolve_exceptiontask",
        "orders.release_order",
        "orders.cancel_order",
    )


# ---- the table ------------------------------------------------------------------------------------
def test_workbench_filters_by_type_assignee_due_and_age_and_pages(client, ingest):
    remark = [ingest(buyer_message=f"周末送 {n}") for n in range(3)]
    refund = ingest(refund_requested=True)
    lead = _ops()
    mine = task_of(remark[0], "remark_review")
    ExceptionTask.objects.filter(pk=mine.pk).update(
        assignee_user=lead, due_at=timezone.now() - timedelta(minutes=5), created_at=timezone.now() - timedelta(days=2)
    )
    client.force_login(lead)
    url = reverse(WORKBENCH)
    remark_type = ExceptionType.objects.get(code="remark_review")

    def shown(query: str) -> set[str]:
        tasks = client.get(url + query).context["tasks"]
        return {task.order.external_id for task in tasks}

    everyone = shown("")  # default: me and my groups (CS holds both types)
    assert {o.external_id for o in remark} | {refund.external_id} == everyone
    assert shown(f"?exception_type={remark_type.pk}&assignee=everyone") == {o.external_id for o in remark}
    assert shown(f"?assignee={lead.pk}") == {remark[0].external_id}
    assert shown("?assignee=unassigned") == everyone - {remark[0].external_id}
    assert shown("?due=overdue&assignee=everyone") == {remark[0].external_id}
    assert shown("?age=gt1d&assignee=everyone") == {remark[0].external_id}
    assert shown("?age=lt1h&assignee=everyone") == everyone - {remark[0].external_id}
    assert shown(f"?channel={refund.channel_id}&assignee=everyone") == everyone
    # a bad filter value is ignored, not a 500
    assert client.get(url + "?exception_type=999999&due=soon").status_code == 200
    page = client.get(url + f"?exception_type={remark_type.pk}&assignee=everyone")
    assert page.context["bulk_form"] is not None  # filtered by one type: bulk resolve offered
    html = page.content.decode()
    ids = [chunk.split('"')[0] for chunk in html.split(' id="')[1:]]
    assert len(ids) == len(set(ids)), "duplicate HTML ids"


def test_workbench_paginates_fifty_rows_a_page(client, ingest):
    from rules.selectors import WorkbenchFilters, workbench_tasks

    for n in range(3):
        ingest(buyer_message=f"留言 {n}")
    lead = _ops()
    assert workbench_tasks(user=lead, filters=WorkbenchFilters()).count() == 3
    client.force_login(lead)
    page = client.get(reverse(WORKBENCH) + "?p=2").context["page"]
    assert page.number == 1 and page.paginator.per_page == 50  # out of range: the last page


# ---- claim and assign --------------------------------------------------------------------------
def test_claim_takes_an_open_task_and_a_second_claim_loses(ingest):
    task = task_of(ingest(buyer_message="周末送"), "remark_review")
    first, second = _ops("first"), _ops("second")
    assert exception_claim(task_id=task.pk, actor=first).assignee_user == first
    assert exception_claim(task_id=task.pk, actor=first).assignee_user == first  # again: no change
    with pytest.raises(TaskAlreadyClaimed):
        exception_claim(task_id=task.pk, actor=second)
    assert ExceptionTask.objects.get(pk=task.pk).assignee_user == first
    outsider = staff("outsider", CS, "rules.view_exceptiontask")
    with pytest.raises(WorkbenchPermissionDenied):
        exception_claim(task_id=task.pk, actor=outsider)


def test_bulk_claim_takes_the_free_ones_and_reports_the_one_someone_holds(client, ingest):
    tasks = [task_of(ingest(buyer_message=f"周末送 {n}"), "remark_review") for n in range(3)]
    other, lead = _ops("other"), _ops()
    exception_claim(task_id=tasks[1].pk, actor=other)
    client.force_login(lead)
    response = client.post(reverse(WORKBENCH), {"op": "claim", "task": [t.pk for t in tasks]}, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any(f"Task {tasks[1].pk} not changed" in text and "other" in text for text in texts), texts
    holders = dict(ExceptionTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list("pk", "assignee_user"))
    assert holders == {tasks[0].pk: lead.pk, tasks[1].pk: other.pk, tasks[2].pk: lead.pk}


def test_claim_button_on_the_workbench_claims_the_row(client, ingest):
    task = task_of(ingest(buyer_message="周末送"), "remark_review")
    lead = _ops()
    client.force_login(lead)
    response = client.post(reverse(WORKBENCH), {"claim": str(task.pk), "next": reverse(WORKBENCH)})
    assert response.status_code == 302
    assert ExceptionTask.objects.get(pk=task.pk).assignee_user == lead


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_people_claiming_the_same_task_at_once_one_wins(channel):
    from orders.services import ingest_order
    from rules.tests.conftest import clean_order

    order = ingest_order(channel=channel, incoming=clean_order(buyer_message="周末送"), source="test").order
    task = task_of(order, "remark_review")
    people = [_ops("amy"), _ops("bo")]
    barrier = threading.Barrier(len(people))
    results: dict[str, str] = {}

    def claim(person):
        try:
            barrier.wait()
            exception_claim(task_id=task.pk, actor=person)
            results[person.username] = "won"
        except TaskAlreadyClaimed:
            results[person.username] = "lost"
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=claim, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == ["lost", "won"]
    winner = next(name for name, result in results.items() if result == "won")
    assert ExceptionTask.objects.get(pk=task.pk).assignee_user.username == winner


def test_assign_hands_tasks_to_a_person_and_reports_a_closed_one(client, ingest):
    orders = [ingest(buyer_message=f"周末送 {n}") for n in range(3)]
    tasks = [task_of(order, "remark_review") for order in orders]
    exceptions_close_for_cancelled_order(order_id=orders[2].pk, note="closed on the platform")
    lead, agent = _ops(), staff("xiaomei", CS, "rules.view_exceptiontask")
    outcomes = exceptions_assign(task_ids=[t.pk for t in tasks], assignee_id=agent.pk, actor=lead)
    assert [o.ok for o in outcomes] == [True, True, False]
    assert "resolved" in outcomes[2].message
    assert set(ExceptionTask.objects.filter(assignee_user=agent).values_list("pk", flat=True)) == {
        tasks[0].pk,
        tasks[1].pk,
    }
    with pytest.raises(WorkbenchPermissionDenied):
        exceptions_assign(task_ids=[tasks[0].pk], assignee_id=lead.pk, actor=agent)
    with pytest.raises(AssigneeInvalid):
        exceptions_assign(task_ids=[tasks[0].pk], assignee_id=999999, actor=lead)
    # through the page: the person chosen in the select
    client.force_login(lead)
    client.post(reverse(WORKBENCH), {"op": "assign", "task": [tasks[0].pk], "assignee": str(lead.pk)})
    assert ExceptionTask.objects.get(pk=tasks[0].pk).assignee_user == lead


# ---- bulk resolve --------------------------------------------------------------------------------
def test_bulk_resolve_resolves_the_others_and_reports_the_one_that_cannot(client, ingest):
    orders = [ingest(buyer_message=f"周末送 {n}") for n in range(3)]
    tasks = [task_of(order, "remark_review") for order in orders]
    lead = _ops()
    # the middle one was settled by someone else meanwhile (the platform closed its order)
    exceptions_close_for_cancelled_order(order_id=orders[1].pk, note="closed on the platform")
    events_before = OrderEvent.objects.filter(order=orders[1]).count()
    client.force_login(lead)
    response = client.post(
        reverse(WORKBENCH),
        {"op": "resolve", "task": [t.pk for t in tasks], "bulk-action": "dismiss", "bulk-note": "read"},
    )
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(f"Task {tasks[1].pk} not changed" in text for text in texts), texts
    assert any("Done for 2 task(s)" in text for text in texts), texts
    for index in (0, 2):
        task = ExceptionTask.objects.get(pk=tasks[index].pk)
        assert (task.resolution, task.resolved_by, task.resolution_note) == ("dismissed", lead, "read")
        assert reload(orders[index]).state == "ready"
    untouched = ExceptionTask.objects.get(pk=tasks[1].pk)
    assert (untouched.resolution, untouched.resolved_by) == ("cancelled", None)  # nothing half-written
    assert OrderEvent.objects.filter(order=orders[1]).count() == events_before


def test_bulk_resolve_refuses_mixed_types_and_per_order_actions(ingest):
    from rules.errors import ResolveActionInvalid

    remark = task_of(ingest(buyer_message="周末送"), "remark_review")
    refund = task_of(ingest(refund_requested=True), "refund_requested")
    lead = _ops()
    with pytest.raises(ResolveActionInvalid):
        exceptions_resolve_bulk(task_ids=[remark.pk, refund.pk], actor=lead, action="cancel")
    with pytest.raises(ResolveActionInvalid):
        exceptions_resolve_bulk(task_ids=[remark.pk], actor=lead, action="edit_address")
    assert ExceptionTask.objects.filter(pk__in=[remark.pk, refund.pk], state="open").count() == 2


def test_bulk_resolve_with_an_action_the_type_does_not_take_is_a_field_error(client, ingest):
    task = task_of(ingest(refund_requested=True), "refund_requested")
    client.force_login(_ops())
    response = client.post(
        reverse(WORKBENCH), {"op": "resolve", "task": [task.pk], "bulk-action": "mark_paid"}, follow=True
    )
    assert any("mark_paid is not one of the available choices" in str(m) for m in response.context["messages"])
    assert ExceptionTask.objects.get(pk=task.pk).state == "open"


# ---- a form per type -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "fields"),
    [
        ("address_missing", {"action", "note", "receiver_name", "receiver_phone", "receiver_address"}),
        ("payment_pending", {"action", "note"}),
        ("mergeable", {"action", "note", "target_order_id"}),
        ("price_abnormal", {"action", "note", "blacklist_kinds"}),
        ("sku_unmatched", {"action", "note"}),
        ("tracking_problem", {"action", "note"}),
    ],
)
def test_resolve_form_shows_only_the_fields_its_type_needs(code, fields):
    from rules.admin import ResolveForm

    form = ResolveForm(type_code=code)
    assert fields <= set(form.fields)
    if "receiver_phone" not in fields:
        assert not {"receiver_phone", "receiver_address"} & set(form.fields)
    if "target_order_id" not in fields:
        assert "target_order_id" not in form.fields
    if "blacklist_kinds" not in fields:
        assert "blacklist_kinds" not in form.fields


def test_every_built_in_type_has_its_own_actions_and_a_custom_type_gets_the_generic_form():
    from rules.admin import ResolveForm
    from rules.services import RESOLVE_ACTIONS, TYPE_ACTIONS

    codes = set(ExceptionType.objects.values_list("code", flat=True))
    assert codes == set(TYPE_ACTIONS)  # 12 built in + 4 after shipment, each decided
    assert len(codes) == 16
    for code in codes:
        choices = {value for value, _label in ResolveForm(type_code=code).fields["action"].choices}
        assert choices == set(TYPE_ACTIONS[code])
    generic = ResolveForm(type_code="custom_fraud_check")
    assert {value for value, _label in generic.fields["action"].choices} == set(RESOLVE_ACTIONS)
    assert "target_order_id" in generic.fields and "receiver_address" in generic.fields
    assert ResolveForm(type_code="tracking_problem").fields["note"].required  # says what was done


def test_the_service_refuses_an_action_the_type_does_not_take(ingest):
    from rules.errors import ResolveActionInvalid

    task = task_of(
        ingest(platform_status="unpaid", platform_status_raw="WAIT_BUYER_PAY", paid_at=None), "payment_pending"
    )
    with pytest.raises(ResolveActionInvalid):
        exception_resolve(task_id=task.pk, actor=_ops(), action="dismiss")
    assert ExceptionTask.objects.get(pk=task.pk).state == "open"


def test_resolve_page_shows_facts_in_words_not_a_raw_dict(client, ingest):
    order = ingest(buyer_message="周末送")
    task = task_of(order, "remark_review")
    client.force_login(_ops())
    response = client.get(reverse("admin:rules_exceptiontask_resolve", args=[task.pk]))
    html = response.content.decode()
    assert "buyer message present" in html  # the fact's label
    assert "{&#x27;" not in html and "{'" not in html  # no Python dict
    assert "has_buyer_message" not in html
    ids = [chunk.split('"')[0] for chunk in html.split(' id="')[1:]]
    assert len(ids) == len(set(ids))


# ---- who resolved, and what follows ------------------------------------------------------------
def test_the_automatic_release_after_a_resolve_carries_the_person(ingest):
    order = ingest(buyer_message="周末送")
    agent = staff("xiaomei", CS, "rules.view_exceptiontask")  # no release permission of her own
    exception_resolve(task_id=task_of(order, "remark_review").pk, actor=agent, action="dismiss", note="read")
    assert reload(order).state == "ready"
    release = OrderEvent.objects.filter(order=order, kind="release").latest("id")
    assert release.actor == agent
    assert release.data.get("automatic") is True  # she did not release by hand: her resolve led to it


def test_a_recheck_that_holds_again_after_a_resolve_carries_the_person_and_still_releases_later(ingest):
    order = ingest(receiver_phone="12345")
    agent = staff("xiaomei", CS, "rules.view_exceptiontask")
    task = task_of(order, "address_invalid")
    exception_resolve(task_id=task.pk, actor=agent, action="edit_address", data={"receiver_phone": "999"})
    assert reload(order).state == "on_hold"  # still wrong: held again
    again = task_of(order, "address_invalid")
    exception_resolve(task_id=again.pk, actor=agent, action="edit_address", data={"receiver_phone": "13912345678"})
    assert reload(order).state == "ready"  # the engine's hold (after her edit) is released by the engine
    assert OrderEvent.objects.filter(order=order, kind="release").latest("id").actor == agent


# ---- assignment by rule, type, round-robin ----------------------------------------------------------
def test_a_rule_or_a_type_names_the_person(ingest):
    from rules.tests.factories import make_rule

    boss = _ops("boss")
    ExceptionType.objects.filter(code="refund_requested").update(default_user=boss)
    ExceptionType.objects.get(code="refund_requested").save()  # the ruleset sees the change
    assert task_of(ingest(refund_requested=True), "refund_requested").assignee_user == boss
    keeper = _ops("keeper")
    make_rule(("paid_amount", "gte", "100"), exception_type="price_abnormal", name="big", assign_user=keeper)
    assert task_of(ingest(), "price_abnormal").assignee_user == keeper


def test_round_robin_hands_tasks_out_in_turn_fairly_and_skips_inactive_people(ingest):
    group = Group.objects.get(name=CS)
    people = [staff(f"cs{n}", CS) for n in range(3)]
    away = staff("away", CS)
    away.is_active = False
    away.save()
    etype = ExceptionType.objects.get(code="remark_review")
    etype.round_robin = True
    etype.save()
    tasks = [task_of(ingest(buyer_message=f"留言 {n}"), "remark_review") for n in range(7)]
    got = [t.assignee_user_id for t in tasks]
    assert away.pk not in got
    counts = {person.pk: got.count(person.pk) for person in people}
    assert sorted(counts.values()) == [2, 2, 3]  # in turn: nobody gets two more than another
    assert got[:3] == [p.pk for p in people]  # by user id, then round again
    assert all(t.assignee_group_id == group.pk for t in tasks)


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_round_robin_under_concurrent_raises_gives_each_person_one(channel, stock):
    from orders.services import ingest_order
    from rules.tests.conftest import clean_order

    people = [staff(f"cs{n}", CS) for n in range(4)]
    ExceptionType.objects.filter(code="remark_review").update(round_robin=True)
    ExceptionType.objects.get(code="remark_review").save()
    incoming = [clean_order(buyer_message=f"留言 {n}") for n in range(4)]
    barrier = threading.Barrier(len(incoming))

    def raise_one(item):
        try:
            barrier.wait()
            ingest_order(channel=channel, incoming=item, source="test")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=raise_one, args=(item,)) for item in incoming]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = sorted(
        ExceptionTask.objects.filter(exception_type__code="remark_review").values_list("assignee_user_id", flat=True)
    )
    assert got == sorted(p.pk for p in people)


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_busy_hand_out_cursor_gives_the_task_to_the_least_loaded_person_instead_of_waiting(channel, stock):
    """Waiting without bound for the cursor could deadlock with a line update that holds the stock
    rows (rules.locks): past its short wait the to-do goes to whoever has the fewest open to-dos."""
    from orders.services import ingest_order
    from rules.models import RoundRobinCursor
    from rules.tests.conftest import clean_order

    people = [staff(f"cs{n}", CS) for n in range(3)]
    ExceptionType.objects.filter(code="remark_review").update(round_robin=True)
    ExceptionType.objects.get(code="remark_review").save()
    ingest_order(channel=channel, incoming=clean_order(buyer_message="留言 0"), source="test")  # to cs0 in turn
    group = Group.objects.get(name=CS)
    blocker = connection.copy()  # another transaction holds the group's cursor
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("SELECT 1 FROM rules_roundrobincursor WHERE group_id = %s FOR UPDATE", [group.pk])
    try:
        started = timezone.now()
        result = ingest_order(channel=channel, incoming=clean_order(buyer_message="留言 1"), source="test")
        waited = timezone.now() - started
    finally:
        blocker.rollback()
        blocker.close()
    assert waited < timedelta(seconds=5)
    task = ExceptionTask.objects.get(order=result.order, exception_type__code="remark_review")
    assert task.assignee_user_id == people[1].pk  # no open to-do yet, the lowest id of those
    assert RoundRobinCursor.objects.get(group=group).last_user_id == people[0].pk  # the turn is not taken
    with connection.cursor() as cursor:  # the wait was local to that one statement
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"
