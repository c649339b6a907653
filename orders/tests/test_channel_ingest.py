"""Each adapter's output fits the ingestion pipeline and the Order model (lengths, JSON, Decimal places)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.channels import adapter_class, fakes
from orders.channels.base import ChannelCredentials
from orders.models import Channel, Order
from orders.services import ingest_order
from orders.tests.conftest import load_sample


@pytest.mark.django_db
@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin", "kuaishou"])
def test_every_sample_order_ingests(platform):
    channel = Channel.objects.create(platform=platform, name=f"{platform} shop")
    adapter = adapter_class(platform)(ChannelCredentials(platform))
    for incoming in adapter.parse_response(load_sample(f"{platform}_order.json")):
        result = ingest_order(channel=channel, incoming=incoming, source="test")
        assert result.created
        order = Order.objects.get(pk=result.order.pk)  # re-read: the protected FSM field forbids refresh_from_db
        assert order.external_id == incoming.external_id
        assert order.paid_amount == incoming.paid_amount
        assert order.lines.count() == len(incoming.lines)
        assert [line.sku_code for line in order.lines.order_by("id")] == [line.sku_code for line in incoming.lines]
        assert order.raw_payload == incoming.raw
    total = sum((o.paid_amount for o in channel.orders.all()), Decimal("0"))
    assert total == Decimal("197.90")


@pytest.mark.django_db
@pytest.mark.parametrize("platform", fakes.PLATFORMS)
def test_generated_orders_ingest(platform):
    channel = Channel.objects.create(platform=platform, name=f"{platform} shop")
    adapter = adapter_class(platform)(ChannelCredentials(platform))
    for native in fakes.generate_orders(platform, 15, seed=21):
        assert ingest_order(channel=channel, incoming=adapter.parse_order(native), source="test").created
    assert channel.orders.count() == 15
