"""Tracking services behind one interface (base.TrackingBackend): Kuaidi100 (default) and Kuaidiniao,
chosen and configured by settings (TRACKING_BACKEND, TRACKING_SERVICES; see docs/shipping.md)."""

from __future__ import annotations

from django.conf import settings

from shipping.tracking.base import (
    CallbackReply,
    ParcelRef,
    TrackingBackend,
    TrackingError,
    TrackingPayloadError,
    TrackingPoint,
    TrackingServiceError,
    TrackingSignatureError,
    TrackingUpdate,
)
from shipping.tracking.kuaidi100 import Kuaidi100Backend
from shipping.tracking.kuaidiniao import KuaidiniaoBackend

BACKENDS: dict[str, type[TrackingBackend]] = {"kuaidi100": Kuaidi100Backend, "kuaidiniao": KuaidiniaoBackend}


def get_backend(name: str | None = None) -> TrackingBackend:
    """The named backend (default: settings.TRACKING_BACKEND) with its settings; KeyError when unknown."""
    name = name or settings.TRACKING_BACKEND
    return BACKENDS[name](dict(settings.TRACKING_SERVICES.get(name) or {}))


def callback_url(name: str) -> str:
    """The URL the service pushes to: TRACKING_CALLBACK_BASE_URL + /api/v1/tracking/<name>/callback."""
    from django.urls import reverse

    return settings.TRACKING_CALLBACK_BASE_URL.rstrip("/") + reverse("tracking-callback", args=[name])


__all__ = [
    "BACKENDS",
    "CallbackReply",
    "ParcelRef",
    "TrackingBackend",
    "TrackingError",
    "TrackingPayloadError",
    "TrackingPoint",
    "TrackingServiceError",
    "TrackingSignatureError",
    "TrackingUpdate",
    "callback_url",
    "get_backend",
]
