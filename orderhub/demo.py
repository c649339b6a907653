"""Demo data: a shop on every platform wired to the local emulator, stock, and orders in several states.

Idempotent: running it again re-registers the shops with a (fresh, in-memory) emulator and adds
nothing twice."""

from __future__ import annotations

import json
import secrets
import urllib.request
from importlib import import_module

from django.db import transaction

from orders import gateway, services
from orders.channels import get_adapter
from orders.channels.fakes import generate_orders
from orders.emulator import PATHS
from orders.models import Channel, Order, OrderState

DEMO_SHOPS = [
    ("taobao", "示例淘宝店"),
    ("tmall", "示例天猫旗舰店"),
    ("jd", "示例京东自营店"),
    ("pdd", "示例拼多多店"),
    ("douyin", "示例抖音小店"),
    ("kuaishou", "示例快手小店"),
    ("manual", "自建商城（ERP 桥接）"),
]
KUAISHOU_DEMO_MESSAGE_KEY = "MDEyMzQ1Njc4OWFiY2RlZg=="
ORDERS_PER_CHANNEL = 6
EMULATOR_ORDERS_PER_CHANNEL = 12


def load(*, emulator_url: str, register_with_emulator: bool = True) -> str:
    channels = [_channel(platform, name, emulator_url) for platform, name in DEMO_SHOPS]
    if register_with_emulator:
        for channel in channels:
            _register(channel, emulator_url)
    for app in ("inventory", "rules"):
        try:
            module = import_module(f"{app}.demo")
        except ModuleNotFoundError:
            continue
        module.load(channels)
    from shipping import demo as shipping_demo

    notes = [shipping_demo.load(channels, online=register_with_emulator)]
    created = 0
    if not Order.objects.exists():
        created = _demo_orders(channels, online=register_with_emulator, emulator_url=emulator_url)
    _ensure_all_schedules()
    summary = _summary(channels, created=created, online=register_with_emulator, emulator_url=emulator_url)
    return "\n".join([summary, *filter(None, notes)])


def _summary(channels: list[Channel], *, created: int, online: bool, emulator_url: str) -> str:
    """What the admin will show: the orders in OrderHub now, plus (online) the orders the emulator's
    shops hold that the first scheduled pull brings in, so the figure matches the order list."""
    now = Order.objects.count()
    head = f"demo data ready: {len(channels)} channels, {created} new demo orders"
    if not online:
        return f"{head}; {now} orders in the admin"
    with urllib.request.urlopen(f"{emulator_url}/_emulator/orders", timeout=10) as response:  # noqa: S310
        book = json.loads(response.read())["orders"]
    platforms = {channel.adapter_platform for channel in channels}
    on_platform = sum(len(book.get(platform, [])) for platform in platforms)
    waiting = max(on_platform - Order.objects.filter(channel__in=channels).count(), 0)
    return (
        f"{head}; {now} orders in OrderHub now and {waiting} more on the platform emulator, brought in by the "
        f"first scheduled pull (within a minute): {now + waiting} orders in the admin"
    )


def _channel(platform: str, name: str, emulator_url: str) -> Channel:
    path = PATHS["taobao" if platform == "tmall" else platform]
    channel, _created = Channel.objects.get_or_create(
        name=name,
        defaults={
            "platform": platform,
            "app_key": f"demo-{platform}-{secrets.token_hex(4)}",
            "app_secret": secrets.token_hex(16),
            "sign_secret": secrets.token_hex(16),
            "access_token": secrets.token_hex(12),
            "message_key": KUAISHOU_DEMO_MESSAGE_KEY if platform == "kuaishou" else "",
            "webhook_secret": secrets.token_hex(16),
            "api_base_url": emulator_url + path,
        },
    )
    if channel.api_base_url != emulator_url + path:
        Channel.objects.filter(pk=channel.pk).update(api_base_url=emulator_url + path)
        channel.refresh_from_db()
    return channel


def _post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 — the local emulator's http URL
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def _register(channel: Channel, emulator_url: str) -> None:
    platform = channel.adapter_platform
    _post(
        f"{emulator_url}/_emulator/shops",
        {
            "platform": platform,
            "app_key": channel.app_key,
            "app_secret": channel.app_secret,
            "sign_secret": channel.sign_secret,
            "access_token": channel.access_token,
            "message_key": channel.message_key,
        },
    )
    _post(
        f"{emulator_url}/_emulator/orders",
        {"platform": platform, "generate": EMULATOR_ORDERS_PER_CHANNEL, "app_key": channel.app_key},
    )


def _demo_orders(channels: list[Channel], *, online: bool, emulator_url: str = "") -> int:
    """Orders through the real pipeline, then a few moved along so every state shows up. Online, the
    emulator gets the same orders: the platform knows every order its shop sells, and write-back,
    tracking and re-reads ask it about them."""
    created = 0
    for index, channel in enumerate(channels):
        adapter = get_adapter(channel)
        natives = generate_orders(channel.adapter_platform, ORDERS_PER_CHANNEL, seed=1000 + index)
        if online:
            _post(
                f"{emulator_url}/_emulator/orders",
                {"platform": channel.adapter_platform, "orders": natives, "app_key": channel.app_key},
            )
        for native in natives:
            result = services.ingest_order(channel=channel, incoming=adapter.parse_order(native), source="demo")
            created += result.created
    ready = list(Order.objects.filter(state=OrderState.READY).order_by("pk").values_list("pk", flat=True))
    from shipping.demo import print_orders

    # parcels numbered on the emulator and printed, ready for a scanner; without the emulator (tests,
    # --no-serve) there is no number to print, and the orders are only marked printed
    printed = set(print_orders(ready[:4])) if online else set()
    with transaction.atomic():
        for pk in ready[:4]:
            if pk not in printed:
                services.order_mark_printed(order_id=pk, actor=None)
        for pk in ready[4:6]:
            services.order_hold(order_id=pk, actor=None, reason="演示：买家来电要求暂缓发货")
        for pk in ready[6:7]:
            services.order_cancel(order_id=pk, actor=None, note="演示：买家取消")
    return created


def _ensure_all_schedules() -> None:
    gateway.ensure_schedules()
    for app in ("inventory", "rules", "shipping"):
        try:
            tasks = import_module(f"{app}.services")
        except ModuleNotFoundError:
            continue
        ensure = getattr(tasks, "ensure_schedules", None)
        if ensure:
            ensure()
