"""The workflow page's hourly rollup (FlowHour, issue 13): the page's figures are the same whether the
scheduled job never ran, ran long ago or just ran; an event committed late inside the job's re-count
window is counted on the next run; running the job again changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import gateway
from orders.models import FlowHour, FlowRollupMark, Order, OrderEvent, OrderState
from orders.workflow_selectors import flow_counts, period_flow, workflow
from orders.workflow_services import ROLLUP_RECOUNT, flow_rollup
from rules.models import InterceptRule
from rules.tests.factories import make_rule
from shipping import services
from shipping.models import Shipment
from shipping.tests import conftest as shipping_fixtures
from shipping.tests.conftest import account_on, ingest

pytestmark = pytest.mark.django_db

emulator = shipping_fixtures.emulator
shop = shipping_fixtures.shop
warehouse = shipping_fixtures.warehouse
_no_task_broker = shipping_fixtures._no_task_broker


@pytest.fixture
def history(shop, warehouse):
    """Orders through the real pipeline (a lane rule, a hold rule, the print queue), then spread over
    the last day: some events moved to the period's first part hour, one just before the period."""
    for seeded in InterceptRule.objects.all():
        seeded.enabled = False
        seeded.save()
    make_rule(("buyer_message", "contains", "满减"), action="lane", lane="promotion", name="coupons", position=5)
    make_rule(("paid_amount", "gte", "50"), exception_type="price_abnormal", name="big order", position=10)
    channel = shop("taobao")
    account_on(channel, "ZTO")
    orders = [ingest(channel, lines=[("SKU-TEE-L", 1)], buyer_message="满减") for _ in range(2)]
    orders += [ingest(channel, lines=[("SKU-CAP-9", 1)]) for _ in range(3)]
    orders.append(ingest(channel, lines=[("SKU-MUG-1", 6)]))
    assert orders[-1].state == OrderState.ON_HOLD
    services.print_queue_fill()
    services.parcels_mark_printed(shipment_ids=list(Shipment.objects.values_list("pk", flat=True)[:3]))
    now = timezone.now() + timedelta(hours=3, minutes=20)  # the page is asked a while later
    start = now - timedelta(days=1)
    # spread out: an arrival and its acceptance in the period's first (part) hour, one before the period
    early, before = orders[2], orders[3]
    Order.objects.filter(pk=early.pk).update(received_at=start + timedelta(minutes=10))
    OrderEvent.objects.filter(order=early, kind="accept").update(at=start + timedelta(minutes=15))
    Order.objects.filter(pk=before.pk).update(received_at=start - timedelta(minutes=5))
    OrderEvent.objects.filter(order=before, kind="accept").update(at=start - timedelta(minutes=4))
    # and some hours earlier in the day
    OrderEvent.objects.filter(order=orders[4], kind="accept").update(at=now - timedelta(hours=9, minutes=30))
    OrderEvent.objects.filter(order=orders[-1], kind="hold").update(at=now - timedelta(minutes=70))
    return {"now": now, "channel": channel}


def figures(flow) -> tuple[dict, dict]:
    """What the rollup feeds: every box's "took", every edge's count."""
    return (
        {box.key: box.figures.took for box in flow.boxes},
        {(e.source, e.target, e.shadow): e.count for e in flow.edges},
    )


def nonzero(counts: dict) -> dict:
    return {key: n for key, n in counts.items() if n}


def test_the_page_shows_the_same_figures_without_the_job_after_it_and_long_after_it(history):
    now, channel = history["now"], history["channel"]
    counted = figures(workflow(days=1, now=now, with_previews=False))
    boxes, edges = counted
    assert boxes[f"channel:{channel.pk}"] == 5  # the order received before the period is not counted
    assert boxes["ready:promotion"] == 2 and boxes["ready:"] == 2
    assert edges[("intake", "ready:", False)] == 2
    assert not FlowHour.objects.exists()

    result = flow_rollup(now=now)
    assert result["rows"] > 0 and FlowRollupMark.objects.get().upto == now.replace(minute=0, second=0, microsecond=0)
    assert FlowHour.objects.filter(kind="received", channel_pk=channel.pk).exists()
    assert figures(workflow(days=1, now=now, with_previews=False)) == counted
    # the page reads the rollup for the hours it covers (a wrong row shows); the next run counts the
    # hours of its re-count window again (the hold an hour ago is in it)
    row = FlowHour.objects.get(kind="hold")
    FlowHour.objects.filter(pk=row.pk).update(count=row.count + 1000)
    assert figures(workflow(days=1, now=now, with_previews=False)) != counted
    flow_rollup(now=now + timedelta(minutes=5))
    assert figures(workflow(days=1, now=now, with_previews=False)) == counted

    # the job stopped: five hours later the hours after its last run are counted live
    later = now + timedelta(hours=5)
    OrderEvent.objects.create(order=Order.objects.first(), kind="cancel", from_state="ready", to_state="cancelled")
    OrderEvent.objects.filter(kind="cancel").update(at=later - timedelta(hours=2))
    expected = nonzero(flow_counts(start=later - timedelta(days=1), end=later))
    assert nonzero(period_flow(start=later - timedelta(days=1), now=later)) == expected
    assert expected[("cancel", "ready", Order.objects.first().lane, 0)] == 1


def test_an_event_committed_late_inside_the_recount_window_is_counted_on_the_next_run(history):
    now = history["now"]
    flow_rollup(now=now)
    order = Order.objects.get(state=OrderState.ON_HOLD)
    # stamped inside an hour the job has already rolled up, committed after that run
    late_at = now.replace(minute=0, second=0, microsecond=0) - ROLLUP_RECOUNT + timedelta(minutes=30)
    OrderEvent.objects.create(order=order, kind="release", from_state="on_hold", to_state="ready", at=late_at)
    start = now - timedelta(days=1)
    assert period_flow(start=start, now=now)[("release", "on_hold", order.lane, 0)] == 0  # not yet

    flow_rollup(now=now + timedelta(minutes=10))
    later = now + timedelta(minutes=10)
    assert period_flow(start=start, now=later)[("release", "on_hold", order.lane, 0)] == 1
    assert nonzero(period_flow(start=start, now=later)) == nonzero(flow_counts(start=start, end=later))


def test_running_the_job_again_changes_nothing(history):
    now = history["now"]

    def rows() -> list[tuple]:
        return sorted(FlowHour.objects.values_list("bucket", "kind", "from_state", "lane", "channel_pk", "count"))

    flow_rollup(now=now)
    first = rows()
    assert first and sum(r[-1] for r in first if r[1] == "received") == Order.objects.count()
    again = flow_rollup(now=now)
    assert rows() == first and again["replaced"] > 0
    assert FlowRollupMark.objects.count() == 1


def test_the_rollup_runs_every_ten_minutes_from_the_orders_schedules():
    from django_q.models import Schedule

    gateway.ensure_schedules()
    gateway.ensure_schedules()  # idempotent
    schedule = Schedule.objects.get(name=gateway.FLOW_ROLLUP_SCHEDULE)
    assert (schedule.func, schedule.minutes, schedule.repeats) == ("orders.tasks.rollup_workflow_figures", 10, -1)
