"""A batch of platform orders is decided item by item: one bad order is reported, the rest are kept."""

from __future__ import annotations

import pytest

from orders.channels.base import PayloadError
from orders.models import Order, OrderEvent
from orders.services import IngestItem, ingest_orders
from orders.tests.factories import make_channel, make_incoming

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_poison_order_is_reported_and_the_rest_of_the_batch_is_decided():
    channel = make_channel()
    good = [make_incoming() for _ in range(3)]
    poison = make_incoming(external_id="X" * 500)  # longer than the column: refused before any write
    batch = [IngestItem(channel=channel, incoming=o, source="push") for o in (good[0], poison, good[1], good[2])]

    outcomes = ingest_orders(batch)

    assert [o.ok for o in outcomes] == [True, False, True, True]
    assert isinstance(outcomes[1].error, PayloadError)
    assert outcomes[1].error.field == "external_id"
    assert [o.item.incoming.external_id for o in outcomes] == [i.incoming.external_id for i in batch]
    assert {o.result.outcome for o in outcomes if o.ok} == {"created"}
    stored = set(Order.objects.values_list("external_id", flat=True))
    assert stored == {o.external_id for o in good}


def test_a_batch_redelivered_is_unchanged_and_stores_each_order_once():
    channel = make_channel()
    orders = [make_incoming() for _ in range(4)]
    batch = [IngestItem(channel=channel, incoming=o, source="pull") for o in orders]

    first = ingest_orders(batch)
    again = ingest_orders(batch)

    assert [o.result.outcome for o in first] == ["created"] * 4
    assert [o.result.outcome for o in again] == ["unchanged"] * 4
    assert Order.objects.count() == 4
    assert OrderEvent.objects.filter(kind="received").count() == 4
