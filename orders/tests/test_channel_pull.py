"""Pull against the platform emulator: every page ingested once, failures mid-way lose and
duplicate nothing, the cursor only advances past what was stored, repeated failure alerts."""

from __future__ import annotations

from collections import Counter

import pytest

from orders.emulator import ChannelEmulator
from orders.gateway import channel_pull
from orders.models import Alert, Channel, Order, QuarantinedMessage
from orders.tests.factories import make_channel

pytestmark = pytest.mark.django_db

LIST_API = {
    "taobao": "taobao.trades.sold.increment.get",
    "jd": "jingdong.pop.order.search",
    "pdd": "pdd.order.number.list.increment.get",
    "douyin": "order.searchList",
    "kuaishou": "open.order.cursor.list",
}


def emulated_channel(emulator: ChannelEmulator, platform: str, **fields) -> Channel:
    channel = make_channel(
        platform=platform,
        app_key=f"{platform}-key",
        app_secret=f"{platform}-secret",
        sign_secret=f"{platform}-sign",
        access_token=f"{platform}-token",
        api_base_url=emulator.url_for(platform),
        **fields,
    )
    emulator.add_shop(
        platform,
        channel.app_key,
        channel.app_secret,
        sign_secret=channel.sign_secret,
        access_token=channel.access_token,
    )
    return channel


@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin", "kuaishou", "manual"])
def test_pull_ingests_every_page_once(channel_emulator, settings, platform):
    settings.CHANNEL_PULL_PAGE_SIZE = 7
    channel = emulated_channel(channel_emulator, platform)
    ids = channel_emulator.generate(platform, 40, seed=11)

    report = channel_pull(channel_id=channel.pk, backoff=0)

    assert report.error == ""
    assert report.pages >= 40 // 7
    stored = Counter(Order.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert set(stored) == set(ids)
    assert max(stored.values()) == 1
    channel.refresh_from_db()
    assert channel.pull_cursor is not None and channel.consecutive_pull_failures == 0

    again = channel_pull(channel_id=channel.pk, backoff=0)
    assert again.created == 0
    assert Order.objects.filter(channel=channel).count() == len(ids)


@pytest.mark.parametrize("platform", ["taobao", "douyin"])
def test_failure_mid_way_loses_and_duplicates_nothing(channel_emulator, settings, platform):
    settings.CHANNEL_PULL_PAGE_SIZE = 5
    channel = emulated_channel(channel_emulator, platform)
    ids = channel_emulator.generate(platform, 30, seed=5)
    # the third list call and every retry of it fail: two pages are stored, then the pull gives up
    channel_emulator.add_fault(platform, "http500", count=3, method=LIST_API[platform], after=2)

    failed = channel_pull(channel_id=channel.pk, attempts=3, backoff=0)

    assert "HTTP 500" in failed.error
    assert 0 < Order.objects.filter(channel=channel).count() < len(ids)
    channel.refresh_from_db()
    assert channel.pull_cursor is None  # the window was not finished: the cursor did not move
    assert channel.consecutive_pull_failures == 1
    assert "HTTP 500" in channel.last_pull_error

    recovered = channel_pull(channel_id=channel.pk, backoff=0)

    assert recovered.error == ""
    stored = Counter(Order.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert set(stored) == set(ids) and max(stored.values()) == 1
    channel.refresh_from_db()
    assert channel.pull_cursor is not None and channel.consecutive_pull_failures == 0


def test_transient_failure_is_retried_within_one_pull(channel_emulator):
    channel = emulated_channel(channel_emulator, "jd")
    ids = channel_emulator.generate("jd", 10, seed=3)
    channel_emulator.add_fault("jd", "http500", count=2, method=LIST_API["jd"])

    report = channel_pull(channel_id=channel.pk, attempts=3, backoff=0)

    assert report.error == ""
    assert Order.objects.filter(channel=channel).count() == len(ids)


def test_permanent_error_is_not_retried_and_alerts_after_repeated_failure(channel_emulator, settings):
    settings.CHANNEL_ALERT_AFTER_FAILURES = 2
    channel = emulated_channel(channel_emulator, "taobao")
    channel_emulator.generate("taobao", 3, seed=1)
    fault = channel_emulator.add_fault("taobao", "error_code", count=10, code="27", msg="Invalid session")

    first = channel_pull(channel_id=channel.pk, attempts=3, backoff=0)
    assert "PermanentChannelError" in first.error
    assert fault.count == 9  # one call, not retried
    assert not Alert.objects.exists()

    channel_pull(channel_id=channel.pk, attempts=3, backoff=0)
    alert = Alert.objects.get(key=f"pull:{channel.pk}", resolved_at__isnull=True)
    assert "failed 2 times in a row" in alert.message and alert.channel == channel

    channel_emulator.faults.clear()
    channel_pull(channel_id=channel.pk, backoff=0)
    alert.refresh_from_db()
    assert alert.resolved_at is not None  # recovery closes the alert
    assert Order.objects.filter(channel=channel).count() == 3


def test_a_pull_already_running_elsewhere_is_skipped(channel_emulator):
    from datetime import timedelta

    from django.utils import timezone

    channel = emulated_channel(channel_emulator, "jd")
    Channel.objects.filter(pk=channel.pk).update(pull_lease_until=timezone.now() + timedelta(minutes=5))
    assert channel_pull(channel_id=channel.pk).skipped


def test_pull_schedule_follows_the_channel(channel_emulator):
    from django_q.models import Schedule

    from orders.gateway import channel_sync_schedule

    channel = emulated_channel(channel_emulator, "pdd")
    channel_sync_schedule(channel=channel)
    schedule = Schedule.objects.get(name=f"pull channel {channel.pk}")
    assert schedule.func == "orders.tasks.pull_channel" and schedule.minutes == channel.pull_interval_minutes
    channel.enabled = False
    channel_sync_schedule(channel=channel)
    assert not Schedule.objects.filter(name=f"pull channel {channel.pk}").exists()


def test_pull_task_entry_point_returns_a_report(channel_emulator):
    from orders.tasks import pull_channel

    channel = emulated_channel(channel_emulator, "kuaishou")
    channel_emulator.generate("kuaishou", 4, seed=2)
    assert pull_channel(channel.pk)["created"] == 4


def test_malformed_order_from_the_platform_is_quarantined_and_the_pull_goes_on(channel_emulator):
    channel = emulated_channel(channel_emulator, "jd")
    good = channel_emulator.generate("jd", 3, seed=12)
    broken = channel_emulator.order("jd", good[0])
    broken["itemInfoList"][0]["itemTotal"] = "-1"

    report = channel_pull(channel_id=channel.pk, backoff=0)

    assert report.error == "" and report.quarantined == 1
    assert set(Order.objects.filter(channel=channel).values_list("external_id", flat=True)) == set(good[1:])
    quarantined = QuarantinedMessage.objects.get(channel=channel)
    assert quarantined.external_id == good[0] and quarantined.field == "itemInfoList[0].itemTotal"
    alert = Alert.objects.get(key=f"quarantine:{channel.pk}", resolved_at__isnull=True)
    assert "itemTotal" in alert.message
    channel.refresh_from_db()
    assert channel.pull_cursor is not None and channel.consecutive_pull_failures == 0
