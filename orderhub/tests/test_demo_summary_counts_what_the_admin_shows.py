"""The demo's summary gives the number of orders the admin will show once the first pull has run,
not only those loaded before it (issue 12, point 7: it said 42 while the admin showed 126)."""

from __future__ import annotations

import re

import pytest

from orderhub.demo import load
from orders import gateway
from orders.emulator import ChannelEmulator
from orders.models import Channel, Order


@pytest.mark.django_db
def test_the_demo_summary_counts_the_orders_the_admin_shows_after_the_first_pull():
    with ChannelEmulator("127.0.0.1", 0) as emulator:
        summary = load(emulator_url=emulator.base_url)
        promised = int(re.search(r"(\d+) orders in the admin", summary).group(1))
        for channel in Channel.objects.filter(enabled=True):
            gateway.channel_pull(channel_id=channel.pk, backoff=0)
    assert Order.objects.count() == promised
    assert promised > Order.objects.filter(source="demo").count()  # the pulled orders are counted too
