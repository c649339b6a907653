"""The workflow page's graph against what really happened: a rule set with a lane rule, two exception
rules and a shadow rule; orders ingested through the pipeline, printed through the print queue (numbers
from the platform emulator over HTTP) and scanned by a PDA. Every box's and edge's count is the number
of orders that took that path; the SVG carries the same figures."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from orderhub import roles
from orders.models import OrderState
from orders.workflow_diagram import workflow_svg
from orders.workflow_selectors import order_path, workflow
from rules.models import ExceptionType, InterceptRule
from rules.tests.factories import make_rule
from shipping import services
from shipping.models import Shipment
from shipping.tests import conftest as shipping_fixtures
from shipping.tests.conftest import account_on, ingest, scan

pytestmark = pytest.mark.django_db

# the shipping tests' real emulator, shop, stock and scanner device
emulator = shipping_fixtures.emulator
shop = shipping_fixtures.shop
warehouse = shipping_fixtures.warehouse
scanner = shipping_fixtures.scanner
_no_task_broker = shipping_fixtures._no_task_broker


@pytest.fixture
def rule_set(db):
    """Only these rules: the seeded ones are switched off (one save each, so the rule cache moves)."""
    for seeded in InterceptRule.objects.all():
        seeded.enabled = False
        seeded.save()
    return {
        "lane": make_rule(
            ("buyer_message", "contains", "满减"), action="lane", lane="promotion", name="stacked coupons", position=5
        ),
        "big": make_rule(("paid_amount", "gte", "50"), exception_type="price_abnormal", name="big order", position=10),
        "invoice": make_rule(
            ("buyer_message", "contains", "发票"), exception_type="remark_review", name="invoice", position=20
        ),
        "shadow": make_rule(
            ("receiver_city", "eq", "杭州市"),
            exception_type="price_abnormal",
            name="hangzhou",
            position=30,
            mode="shadow",
        ),
    }


def test_boxes_edges_and_counts_are_the_paths_the_orders_took(rule_set, shop, warehouse, scanner, settings):
    settings.LANGUAGE_CODE = "en"
    _device, client = scanner
    channel = shop("taobao")
    account_on(channel, "ZTO")
    promo = [ingest(channel, lines=[("SKU-TEE-L", 1)], buyer_message="满减 叠券") for _ in range(2)]
    big = ingest(channel, lines=[("SKU-MUG-1", 6)])
    invoice = ingest(channel, lines=[("SKU-CAP-9", 1)], buyer_message="请开发票")
    plain = [ingest(channel, lines=[("SKU-CAP-9", 1)]) for _ in range(2)]
    assert [o.state for o in promo + plain] == ["ready"] * 4 and {big.state, invoice.state} == {"on_hold"}
    assert {o.lane for o in promo} == {"promotion"}

    services.print_queue_fill()  # parcels, print batches per lane, numbers from the emulator
    parcels = {p.lines.get().order_id: p for p in Shipment.objects.prefetch_related("lines")}
    assert set(parcels) == {o.pk for o in promo + plain}
    services.parcels_mark_printed(shipment_ids=[parcels[o.pk].pk for o in (promo[0], *plain)])
    response = scan(client, parcels[plain[0].pk].tracking_number, key="wf-1")
    assert response.status_code == 200, response.content

    flow = workflow(days=1)
    ids = {name: rule.pk for name, rule in rule_set.items()}
    price, remark = (ExceptionType.objects.get(code=c).pk for c in ("price_abnormal", "remark_review"))

    # arrival
    assert flow.box(f"channel:{channel.pk}").figures.took == 6
    assert flow.edge_count(f"channel:{channel.pk}", "intake") == 6
    # rules in the order they run (lane rules first), each box and edge its matches
    rule_keys = [b.key for b in flow.boxes if b.key.startswith("rule:")]
    assert rule_keys == [f"rule:{ids[n]}" for n in ("lane", "big", "invoice", "shadow")]
    assert flow.edge_count("intake", f"rule:{ids['lane']}") == 2
    assert flow.edge_count(f"rule:{ids['lane']}", "ready:promotion") == 2
    assert flow.edge_count(f"rule:{ids['big']}", f"todo:{price}") == 1
    assert flow.edge_count(f"rule:{ids['invoice']}", f"todo:{remark}") == 1
    # the shadow rule matched all six (Hangzhou) and acted on none: dashed edges only
    shadow_box = flow.box(f"rule:{ids['shadow']}")
    assert shadow_box.shadow and shadow_box.figures.took == 0
    assert flow.edge_count("intake", f"rule:{ids['shadow']}", shadow=True) == 6
    assert flow.edge_count(f"rule:{ids['shadow']}", f"todo:{price}", shadow=True) == 6
    assert flow.edge_count(f"rule:{ids['shadow']}", f"todo:{price}") == 0
    assert any("would take this path" in line for line in shadow_box.lines)
    # to-do lists and on hold
    for type_id in (price, remark):
        todo = flow.box(f"todo:{type_id}")
        assert (todo.figures.took, todo.figures.waiting) == (1, 1)
        assert flow.edge_count(f"todo:{type_id}", "state:on_hold") == 1
    on_hold = flow.box("state:on_hold")
    assert (on_hold.figures.took, on_hold.figures.waiting) == (2, 2)
    # lanes: accepted into each, printed out of each
    assert flow.edge_count("intake", "ready:promotion") == 2 and flow.edge_count("intake", "ready:") == 2
    assert flow.box("ready:promotion").figures.waiting == 1 and flow.box("ready:").figures.waiting == 0
    assert flow.edge_count("ready:promotion", "state:printed") == 1
    assert flow.edge_count("ready:", "state:printed") == 2
    printed = flow.box("state:printed")
    assert (printed.figures.took, printed.figures.waiting) == (3, 2)
    # scanned, written back (pending: the drain has not run)
    assert flow.edge_count("state:printed", "state:shipped") == 1
    assert flow.box("state:shipped").figures.waiting == 1
    assert flow.edge_count("state:shipped", "write_back") == 1
    assert flow.box("write_back").figures.waiting == 1
    # nothing is late or a dead end: the shop has a waybill account, every to-do a group
    assert not flow.red_boxes and not flow.dead_ends

    svg = str(workflow_svg(flow))
    assert f'data-source="intake" data-target="rule:{ids["shadow"]}" data-count="6" data-shadow="1"' in svg
    assert 'id="box-state:printed"' in svg and 'data-took="3" data-waiting="2"' in svg
    assert reverse("admin:rules_interceptrule_change", args=[ids["big"]]) in svg

    # and each order's own path agrees: the scanned one went hit-free through accept, print, ship, write-back
    reader = User.objects.create_user("reader", is_staff=True)  # a viewer: rule hits, receiver masked
    reader.groups.add(Group.objects.get(name=roles.VIEWER))
    reader = User.objects.get(pk=reader.pk)
    steps = order_path(order=plain[0], user=reader)
    kinds = [s.kind for s in steps]
    assert kinds[0] == "received" and "parcel" in kinds and kinds[-1] in ("write_back", "event")
    assert [s.title for s in steps if s.kind == "event"] == ["accepted", "printed", "shipped"]
    assert [s.title for s in steps if s.kind == "hit"] == ["Rule matched: hangzhou"]
    big_steps = order_path(order=big, user=reader)
    assert "Rule matched: big order" in [s.title for s in big_steps]
    assert [s.title for s in big_steps if s.kind == "task"] == ["To-do: " + ExceptionType.objects.get(pk=price).name]
    assert str(OrderState.ON_HOLD.label) in " ".join(line for s in big_steps for line in s.lines)
