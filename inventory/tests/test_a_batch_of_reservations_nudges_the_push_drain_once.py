"""Every change of available stock nudges the stock push drain after its commit, once per commit: a
batch of orders reserving stock queues one nudge, not one per order (each is a cache round trip)."""

from __future__ import annotations

import pytest

from inventory.services import changes
from inventory.tests.factories import make_sku, make_warehouse, stock
from orders.services import IngestItem, ingest_orders
from orders.tests.factories import make_channel, make_incoming


@pytest.fixture
def tea():
    warehouse = make_warehouse()
    sku = make_sku("SKU-TEA-250")
    stock(sku, warehouse, 1000)
    return sku


@pytest.mark.django_db
def test_a_batch_of_orders_registers_one_push_nudge_for_its_commit(tea, django_capture_on_commit_callbacks):
    channel = make_channel(platform="taobao")

    with django_capture_on_commit_callbacks() as callbacks:
        outcomes = ingest_orders([IngestItem(channel, make_incoming(), "push") for _ in range(20)])

    assert [outcome.result.order.state for outcome in outcomes] == ["ready"] * 20
    assert sum(callback is changes._enqueue_push_drain for callback in callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_each_commit_that_reserves_stock_nudges_the_push_drain_once(tea, monkeypatch):
    channel = make_channel(platform="taobao")
    nudged: list[str] = []
    monkeypatch.setattr(changes, "_enqueue_push_drain", lambda: nudged.append("nudge"))

    ingest_orders([IngestItem(channel, make_incoming(), "push") for _ in range(3)])
    ingest_orders([IngestItem(channel, make_incoming(), "push") for _ in range(4)])

    assert nudged == ["nudge", "nudge"]  # once after each batch's commit
