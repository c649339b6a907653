"""Orders that become ready wake the print queue after their commit, once per commit: a batch of a
hundred orders queues one task, not a hundred (each wake-up is a cache round trip, Redis in production)."""

from __future__ import annotations

import pytest

from orders.models import Order
from orders.services import IngestItem, ingest_orders
from orders.tests.factories import make_channel
from shipping import signals
from shipping.tests.factories import incoming


def ready_orders(channel, count: int, sku: str = "SKU-TEE-L") -> list[IngestItem]:
    return [IngestItem(channel, incoming(lines=[(sku, 1)]), "push") for _ in range(count)]


@pytest.mark.django_db
def test_a_batch_of_orders_becoming_ready_registers_one_wake_up_for_its_commit(
    settings, warehouse, django_capture_on_commit_callbacks
):
    settings.SHIPPING_ENQUEUE_TASKS = True
    channel = make_channel(platform="taobao")

    with django_capture_on_commit_callbacks() as callbacks:
        outcomes = ingest_orders(ready_orders(channel, 20))

    assert [outcome.result.order.state for outcome in outcomes] == ["ready"] * 20
    assert sum(callback is signals._enqueue_print_queue for callback in callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_each_commit_that_makes_orders_ready_wakes_the_print_queue_once(settings, warehouse, monkeypatch):
    settings.SHIPPING_ENQUEUE_TASKS = True
    channel = make_channel(platform="taobao")
    woken: list[int] = []
    monkeypatch.setattr(signals, "_enqueue_print_queue", lambda: woken.append(Order.objects.count()))

    ingest_orders(ready_orders(channel, 3))
    ingest_orders(ready_orders(channel, 4, sku="SKU-MUG-1"))

    assert Order.objects.filter(channel=channel, state="ready").count() == 7
    assert woken == [3, 7]  # after each batch's commit: the orders it made ready are there to print
