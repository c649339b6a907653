"""Marketplace adapters, one module per platform, looked up by the channel's platform."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from orders.channels.base import ChannelAdapter, ChannelCredentials

if TYPE_CHECKING:
    from orders.models import Channel

ADAPTER_MODULES = {
    "taobao": "orders.channels.taobao",
    "tmall": "orders.channels.taobao",
    "jd": "orders.channels.jd",
    "pdd": "orders.channels.pdd",
    "douyin": "orders.channels.douyin",
    "kuaishou": "orders.channels.kuaishou",
    "manual": "orders.channels.manual",
}


def adapter_class(platform: str) -> type[ChannelAdapter]:
    try:
        module = import_module(ADAPTER_MODULES[platform])
    except KeyError:
        raise LookupError(f"no adapter for platform {platform!r}") from None
    return module.Adapter


def credentials_for(channel: Channel) -> ChannelCredentials:
    from django.conf import settings

    return ChannelCredentials(
        platform=channel.platform,
        app_key=channel.app_key,
        app_secret=channel.app_secret,
        access_token=channel.access_token,
        sign_secret=channel.sign_secret,
        message_key=channel.message_key,
        api_base_url=channel.api_base_url,
        timeout=settings.CHANNEL_HTTP_TIMEOUT,
    )


def get_adapter(channel: Channel) -> ChannelAdapter:
    return adapter_class(channel.platform)(credentials_for(channel))
