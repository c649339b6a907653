"""`manage.py demo --no-serve` loads the demo data on a fresh database, and again without duplicates."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from orders.models import Channel, Order, OrderState


@pytest.mark.django_db
def test_demo_loads_every_platform_orders_in_several_states_and_an_admin(capsys, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "demo-pass-123")
    call_command("demo", no_serve=True)
    out = capsys.readouterr().out
    assert "created admin user 'admin'" in out and "demo-pass-123" not in out
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("demo-pass-123") and admin.is_superuser
    assert admin.groups.exists()  # sees every team's exceptions in "My exceptions"
    platforms = set(Channel.objects.values_list("platform", flat=True))
    assert platforms == {"taobao", "tmall", "jd", "pdd", "douyin", "kuaishou", "manual"}
    states = set(Order.objects.values_list("state", flat=True))
    assert {OrderState.READY, OrderState.ON_HOLD, OrderState.PRINTED, OrderState.CANCELLED} <= states

    orders = Order.objects.count()
    call_command("demo", no_serve=True)
    assert "its password is unchanged" in capsys.readouterr().out
    assert Order.objects.count() == orders and Channel.objects.count() == len(platforms)


@pytest.mark.django_db
def test_online_demo_orders_are_on_the_emulator_too():
    """The platform knows every order its shop sells: write-back and tracking of demo orders reach it."""
    from orderhub.demo import load
    from orders.emulator import ChannelEmulator

    with ChannelEmulator("127.0.0.1", 0) as emulator:
        load(emulator_url=emulator.base_url)
        demo_orders = Order.objects.filter(source="demo").select_related("channel")
        assert demo_orders.exists()
        for order in demo_orders:
            assert emulator.order(order.channel.adapter_platform, order.external_id) is not None, order
