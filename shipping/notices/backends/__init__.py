"""The notice gateways, one per medium, chosen by settings (NOTICE_SMS_BACKEND, NOTICE_WECHAT_BACKEND)."""

from __future__ import annotations

from django.conf import settings

from shipping.notices.backends.base import (
    Accepted,
    Lookup,
    LookupStatus,
    Message,
    NoticeBackend,
    NoticeGatewayError,
    NotSent,
    OutcomeUnknown,
    Refused,
)

SMS_BACKENDS = ("database", "aliyun", "tencent", "generic")
WECHAT_BACKENDS = ("database", "wechat", "generic")


def backend_for(medium: str, *, name: str = "") -> NoticeBackend:
    """The backend `name` (default: the one configured for `medium`), built from settings each time
    (tests override settings). A lookup passes the name the notice was sent with."""
    from shipping.notices.backends.database import DatabaseBackend

    name = name or (settings.NOTICE_SMS_BACKEND if medium == "sms" else settings.NOTICE_WECHAT_BACKEND)
    allowed = SMS_BACKENDS if medium == "sms" else WECHAT_BACKENDS
    if name not in allowed:
        raise ValueError(f"Unknown notice backend {name!r} for {medium}: use one of {', '.join(allowed)}.")
    timeout = settings.NOTICE_HTTP_TIMEOUT
    if name == "database":
        return DatabaseBackend()
    if name == "generic":
        from shipping.notices.backends.generic import GenericGatewayBackend

        return GenericGatewayBackend(**settings.NOTICE_GATEWAY, timeout=timeout)
    if name == "aliyun":
        from shipping.notices.backends.aliyun import AliyunSmsBackend

        return AliyunSmsBackend(**settings.ALIYUN_SMS, timeout=timeout)
    if name == "tencent":
        from shipping.notices.backends.tencent import TencentSmsBackend

        return TencentSmsBackend(**settings.TENCENT_SMS, timeout=timeout)
    from shipping.notices.backends.wechat import WeChatSubscribeBackend

    return WeChatSubscribeBackend(**settings.WECHAT_SUBSCRIBE, timeout=timeout)


__all__ = [
    "Accepted",
    "Lookup",
    "LookupStatus",
    "Message",
    "NotSent",
    "NoticeBackend",
    "NoticeGatewayError",
    "OutcomeUnknown",
    "Refused",
    "backend_for",
]
