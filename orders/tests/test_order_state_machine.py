"""Every allowed transition works; every other one raises a named error and changes nothing."""

from __future__ import annotations

import pytest
from django_fsm import TransitionNotAllowed

from orders.models import Order, OrderState
from orders.tests.factories import make_channel, make_order_in_state

S = OrderState
ALLOWED = {
    "accept": {S.NEW: S.READY},
    "release": {S.ON_HOLD: S.READY, S.AWAITING_STOCK: S.READY},
    "hold": dict.fromkeys((S.NEW, S.READY, S.ON_HOLD, S.AWAITING_STOCK, S.PRINTED), S.ON_HOLD),
    "wait_for_stock": {S.NEW: S.AWAITING_STOCK, S.ON_HOLD: S.AWAITING_STOCK, S.READY: S.AWAITING_STOCK},
    "mark_printed": {S.READY: S.PRINTED},
    "ship_partially": {S.PRINTED: S.PARTIALLY_SHIPPED},
    "ship": {S.READY: S.SHIPPED, S.PRINTED: S.SHIPPED, S.PARTIALLY_SHIPPED: S.SHIPPED},
    "mark_delivered": {S.SHIPPED: S.DELIVERED},
    "mark_returned": {S.SHIPPED: S.RETURNED, S.DELIVERED: S.RETURNED},
    "cancel": dict.fromkeys((S.NEW, S.READY, S.ON_HOLD, S.AWAITING_STOCK, S.PRINTED), S.CANCELLED),
}
ALLOWED_CASES = [(name, src, dst) for name, table in ALLOWED.items() for src, dst in table.items()]
FORBIDDEN_CASES = [(name, src) for name, table in ALLOWED.items() for src in S.values if src not in table]


def _order(state: str) -> Order:
    order = Order(state=state)  # in memory: the machine itself, no service or database
    return order


@pytest.mark.parametrize(("name", "source", "target"), ALLOWED_CASES)
def test_allowed_transition_moves_to_its_target(name, source, target):
    order = _order(source)
    getattr(order, name)()
    assert order.state == target


@pytest.mark.parametrize(("name", "source"), FORBIDDEN_CASES)
def test_forbidden_transition_raises_and_keeps_state(name, source):
    order = _order(source)
    with pytest.raises(TransitionNotAllowed):
        getattr(order, name)()
    assert order.state == source


def test_every_state_and_transition_is_covered():
    assert len(ALLOWED_CASES) + len(FORBIDDEN_CASES) == len(ALLOWED) * len(S.values)
    targets = {dst for table in ALLOWED.values() for dst in table.values()}
    assert targets | {S.NEW} == set(S.values)


def test_protected_state_cannot_be_assigned_directly():
    order = Order(state=S.READY)
    with pytest.raises(AttributeError):
        order.state = S.SHIPPED
    assert order.state == S.READY


@pytest.mark.django_db
def test_service_turns_forbidden_transition_into_named_error_and_writes_nothing():
    from orders.errors import OrderTransitionNotAllowed
    from orders.services import order_mark_printed

    order = make_order_in_state(make_channel(), S.SHIPPED)
    events_before = order.events.count()
    with pytest.raises(OrderTransitionNotAllowed) as info:
        order_mark_printed(order_id=order.pk, actor=None)
    assert info.value.state == S.SHIPPED
    assert "mark_printed" in str(info.value)
    order.refresh_from_db()
    assert order.state == S.SHIPPED
    assert order.events.count() == events_before


@pytest.mark.django_db
def test_service_transition_writes_audit_event_and_history():
    from django.contrib.auth.models import User

    from orders.services import order_hold

    ops = User.objects.create_superuser("ops", password="x")
    order = make_order_in_state(make_channel(), S.READY)
    order_hold(order_id=order.pk, actor=ops, reason="buyer asked to wait")
    order.refresh_from_db()
    assert order.state == S.ON_HOLD
    assert order.hold_reason == "buyer asked to wait"
    event = order.events.latest("id")
    assert (event.kind, event.from_state, event.to_state, event.actor) == ("hold", S.READY, S.ON_HOLD, ops)
    assert order.history.latest().history_user == ops


@pytest.mark.django_db
def test_service_refuses_transition_without_permission():
    from django.contrib.auth.models import User

    from orders.errors import OrderPermissionDenied
    from orders.services import order_cancel

    clerk = User.objects.create_user("clerk", password="x", is_staff=True)
    order = make_order_in_state(make_channel(), S.READY)
    with pytest.raises(OrderPermissionDenied):
        order_cancel(order_id=order.pk, actor=clerk, note="")
    order.refresh_from_db()
    assert order.state == S.READY
