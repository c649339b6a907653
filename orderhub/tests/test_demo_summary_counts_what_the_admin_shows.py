"""The demo's summary gives the number of orders the admin will show once the first pull has run
(issue 12, point 7: it said 42 while the admin showed 126).

It once failed now and then (124–126 of 126): the emulator drew orders up to 90 s *after* "now"
(created a minute ago, paid up to two minutes later), and the first pull, which reads up to its own
"now", left those for the next one. Drawn orders are never modified in the future any more."""

from __future__ import annotations

import random
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from orderhub.demo import load
from orders import gateway
from orders.channels import fakes
from orders.emulator import ChannelEmulator
from orders.models import Channel, Order

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou", "manual")


def test_drawn_orders_are_never_modified_after_the_moment_they_are_drawn():
    now = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    faker = fakes.Faker("zh_CN")
    drafts = [fakes.draft_order(random.Random(seed), faker, now, seed) for seed in range(600)]
    assert max(draft.modified for draft in drafts) <= now
    assert all(draft.created < draft.modified for draft in drafts)
    assert all(draft.paid is None or draft.created < draft.paid <= draft.modified for draft in drafts)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_generated_order_falls_in_a_pull_window_ending_now(platform):
    now = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    natives = fakes.generate_orders(platform, 1000, seed=7, now=now)  # seed 7 drew 2–5 "future" orders before
    assert max(fakes.native_modified(platform, native) for native in natives) <= now


@pytest.mark.django_db
def test_the_demo_summary_counts_the_orders_the_admin_shows_after_the_first_pull():
    with ChannelEmulator("127.0.0.1", 0) as emulator:
        summary = load(emulator_url=emulator.base_url)
        promised = int(re.search(r"(\d+) orders in the admin", summary).group(1))
        for channel in Channel.objects.filter(enabled=True):
            gateway.channel_pull(channel_id=channel.pk, backoff=0)
    assert Order.objects.count() == promised
    assert promised > Order.objects.filter(source="demo").count()  # the pulled orders are counted too
