"""The traffic simulator sends signed native orders through the real HTTP webhook of a live server."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from orders.models import Order
from orders.tests.factories import make_channel


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("platform", ["taobao", "jd", "pdd", "douyin", "kuaishou", "manual"])
def test_simulated_orders_arrive_once_each(live_server, capsys, platform):
    channel = make_channel(platform=platform, webhook_secret="sim-secret")
    call_command(
        "simulate_orders",
        channel=channel.pk,
        count=25,
        concurrency=4,
        exception_rate=0.3,
        duplicate_rate=0.3,
        seed=42,
        url=live_server.url,
    )
    summary = capsys.readouterr().out
    assert "accepted 25" in summary and "rejected 0" in summary and "failed 0" in summary
    assert Order.objects.filter(channel=channel).count() == 25
    assert Order.objects.filter(channel=channel, state="on_hold").exists()  # the injected exceptions


@pytest.mark.django_db
def test_simulator_refuses_bad_arguments():
    channel = make_channel(webhook_secret="")
    with pytest.raises(CommandError, match="no webhook secret"):
        call_command("simulate_orders", channel=channel.pk, count=1)
    with pytest.raises(CommandError, match="no channel with id"):
        call_command("simulate_orders", channel=999999, count=1)
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("simulate_orders", channel=make_channel().pk, count=1, exception_rate=2)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("platform", ["taobao", "douyin"])
def test_simulated_orders_are_on_the_emulator_when_the_shop_api_is_the_emulator(
    live_server, capsys, channel_emulator, platform
):
    """In the demo the platform must know the orders it pushed: write-back and tracking ask it about them."""
    channel_emulator.add_shop(platform, "sim-key", "sim-app-secret")
    channel = make_channel(
        platform=platform,
        app_key="sim-key",
        app_secret="sim-app-secret",
        webhook_secret="sim-secret",
        api_base_url=channel_emulator.url_for(platform),
    )
    call_command("simulate_orders", channel=channel.pk, count=5, seed=7, url=live_server.url)
    assert "the orders are on the platform there too" in capsys.readouterr().out
    for order in Order.objects.filter(channel=channel):
        assert channel_emulator.order(platform, order.external_id) is not None


@pytest.mark.webhook_inbox
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulated_orders_queue_in_the_inbox_and_arrive_once_each_when_drained(live_server, capsys):
    from orders.models import InboxMessage

    channel = make_channel(platform="taobao", webhook_secret="sim-secret")
    call_command(
        "simulate_orders", channel=channel.pk, count=10, concurrency=4, duplicate_rate=0.5, seed=7, url=live_server.url
    )
    summary = capsys.readouterr().out
    assert "rejected 0" in summary and "failed 0" in summary
    sent = InboxMessage.objects.filter(channel=channel).count()
    assert f"queued for the drainers {sent}" in summary and sent > 10  # the duplicates queue too
    assert not Order.objects.filter(channel=channel).exists()

    call_command("drain_inbox", "--once")

    assert Order.objects.filter(channel=channel).count() == 10
    assert InboxMessage.objects.filter(channel=channel, outcome="created").count() == 10
