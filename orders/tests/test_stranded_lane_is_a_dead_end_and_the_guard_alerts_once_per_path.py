"""A lane that nothing drains (its shop has no e-waybill account, so no print queue takes its orders)
is drawn as a dead end; the stranded-order guard raises one alert for the lane's orders waiting past
the ready limit — naming the path and the count, linking to the list — and clears it once they move.
A to-do list no one is assigned to is a dead end too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from orders.models import Alert, StageLimit
from orders.services import ingest_order, order_mark_printed
from orders.tests.factories import make_channel
from orders.workflow_diagram import workflow_svg
from orders.workflow_selectors import workflow
from orders.workflow_services import stranded_orders_check
from rules.models import ExceptionType, InterceptRule
from rules.tests.factories import make_rule
from shipping.tests.factories import incoming, make_stock

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _only_these_rules(settings):
    settings.INVENTORY_ENQUEUE_TASKS = False
    settings.NOTICE_ENQUEUE_TASKS = False
    settings.LANGUAGE_CODE = "en"
    for seeded in InterceptRule.objects.all():
        seeded.enabled = False
        seeded.save()


def _ingest(channel, **overrides):
    result = ingest_order(channel=channel, incoming=incoming(lines=[("SKU-TEE-L", 1)], **overrides), source="test")
    return result.order


def test_an_undrained_lane_is_a_dead_end_and_alerts_once_until_its_orders_move():
    make_stock("SKU-TEE-L", quantity=50)
    channel = make_channel()  # no e-waybill account: no print queue for its orders
    make_rule(("buyer_message", "contains", "满减"), action="lane", lane="promotion", name="stacked coupons")
    stuck = [_ingest(channel, buyer_message="满减") for _ in range(3)]
    assert {o.state for o in stuck} == {"ready"} and {o.lane for o in stuck} == {"promotion"}

    flow = workflow(days=1)
    lane = flow.box("ready:promotion")
    assert lane.dead_end and lane.figures.waiting == 3 and not lane.red
    assert 'id="box-ready:promotion"' in workflow_svg(flow) and 'data-dead-end="1"' in workflow_svg(flow)

    # within the ready limit (2 h): nothing to say
    assert stranded_orders_check()["stuck_paths"] == 0
    later = timezone.now() + timedelta(hours=3)
    report = stranded_orders_check(now=later)
    assert report == {"stuck_paths": 1, "stuck_orders": 3, "cleared": 0}
    alert = Alert.objects.get(resolved_at__isnull=True)
    assert alert.key == "workflow:stranded:ready:promotion" and alert.source == "workflow"
    assert "3 in “Ready to print · Promotion”" in alert.message and "2 h 0 min" in alert.message
    assert "/admin/orders/order/?state=ready&lane__exact=promotion" in alert.message
    # the page turns the box red with the same count
    assert workflow(days=1, now=later).box("ready:promotion").figures.stranded == 3

    # checked again: still one alert for the path, bumped, not one per order
    stranded_orders_check(now=later + timedelta(minutes=5))
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 1
    assert Alert.objects.get(key=alert.key, resolved_at__isnull=True).count == 2

    # ops print two by hand: the alert names one order now; printing the last clears it
    ops = User.objects.create_superuser("ops-lead")
    for order in stuck[:2]:
        order_mark_printed(order_id=order.pk, actor=ops)
    stranded_orders_check(now=later + timedelta(minutes=10))
    assert "1 in “Ready to print · Promotion”" in Alert.objects.get(key=alert.key, resolved_at__isnull=True).message
    order_mark_printed(order_id=stuck[2].pk, actor=ops)
    report = stranded_orders_check(now=later + timedelta(minutes=15))
    assert report["cleared"] == 1 and not Alert.objects.filter(resolved_at__isnull=True).exists()
    # printed a moment ago: not past the printed limit (4 h)
    assert workflow(days=1).box("state:printed").figures.stranded == 0


def test_a_lane_its_shop_prints_is_not_a_dead_end():
    from shipping.tests.print_factories import make_account

    make_stock("SKU-TEE-L", quantity=50)
    channel = make_channel()
    make_account(channel)
    make_rule(("buyer_message", "contains", "满减"), action="lane", lane="promotion", name="stacked coupons")
    _ingest(channel, buyer_message="满减")
    assert not workflow(days=1).box("ready:promotion").dead_end


def test_a_to_do_list_no_one_is_assigned_is_a_dead_end_and_alerts_past_the_due_time():
    make_stock("SKU-TEE-L", quantity=50)
    orphan = ExceptionType.objects.get(code="remark_review")
    orphan.default_group = None
    orphan.due_minutes = 30
    orphan.save()
    make_rule(("buyer_message", "contains", "发票"), exception_type="remark_review", name="invoice")
    held = _ingest(make_channel(), buyer_message="要发票")
    assert held.state == "on_hold"

    box = workflow(days=1).box(f"todo:{orphan.pk}")
    assert box.dead_end and box.figures.waiting == 1

    # on hold's limit is the to-do's due time (30 min here)
    assert stranded_orders_check(now=timezone.now() + timedelta(minutes=20))["stuck_paths"] == 0
    stranded_orders_check(now=timezone.now() + timedelta(minutes=40))
    alert = Alert.objects.get(resolved_at__isnull=True)
    assert alert.key == "workflow:stranded:on_hold:remark_review" and "1 in “On hold · to-do:" in alert.message


def test_stage_limits_are_editable_and_a_lane_limit_wins_over_the_stage_limit():
    make_stock("SKU-TEE-L", quantity=50)
    StageLimit.objects.create(stage="ready", lane="promotion", limit_minutes=10)
    make_rule(("buyer_message", "contains", "满减"), action="lane", lane="promotion", name="stacked coupons")
    channel = make_channel()
    _ingest(channel, buyer_message="满减")
    _ingest(channel)
    report = stranded_orders_check(now=timezone.now() + timedelta(minutes=30))
    assert report["stuck_paths"] == 1  # the promotion lane (10 min), not the normal one (2 h)
    assert Alert.objects.get(resolved_at__isnull=True).key == "workflow:stranded:ready:promotion"
    StageLimit.objects.filter(stage="ready").update(enabled=False)
    assert stranded_orders_check(now=timezone.now() + timedelta(hours=30))["cleared"] == 1


def test_the_guard_runs_every_five_minutes_from_the_orders_schedules():
    from django_q.models import Schedule

    from orders import gateway, tasks

    gateway.ensure_schedules()
    gateway.ensure_schedules()  # idempotent
    schedule = Schedule.objects.get(name=gateway.STRANDED_GUARD_SCHEDULE)
    assert (schedule.func, schedule.minutes, schedule.repeats) == ("orders.tasks.check_stranded_orders", 5, -1)
    assert tasks.check_stranded_orders() == {"stuck_paths": 0, "stuck_orders": 0, "cleared": 0}
