"""One interface for every notice gateway. SMS APIs are not idempotent, so a backend reports three
kinds of failure apart: Refused (the gateway answered no: nothing was sent), NotSent (the request
surely never reached it, or it answered "try later": safe to send again) and OutcomeUnknown (it may
have sent: the drain must look the message up before any resend)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import requests


@dataclass(frozen=True)
class Message:
    out_id: str  # ours, deterministic per notice: Aliyun OutId, Tencent SessionContext, gateway id
    medium: str
    event: str
    recipient: str  # a plaintext mobile number, or a WeChat openid
    text: str
    template_code: str
    params: list[tuple[str, str]]
    order_ref: str
    first_sent_at: datetime  # when the first send began: bounds the status lookups


@dataclass(frozen=True)
class Accepted:
    message_id: str
    answer: dict[str, Any] = field(default_factory=dict)


class LookupStatus(enum.Enum):
    SENT = "sent"
    NOT_SENT = "not_sent"  # the gateway says for sure it never took this message
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Lookup:
    status: LookupStatus
    message_id: str = ""
    answer: dict[str, Any] = field(default_factory=dict)


class NoticeGatewayError(Exception):
    def __init__(self, message: str, *, code: str = "", answer: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.answer = answer or {}


class Refused(NoticeGatewayError):
    """The gateway refused the message for good (bad number, template not approved, not subscribed)."""


class NotSent(NoticeGatewayError):
    """The message surely was not sent (connection refused, throttled): send again later."""


class OutcomeUnknown(NoticeGatewayError):
    """The gateway may have sent it (timeout, connection reset after the request went out)."""


class NoticeBackend(Protocol):
    name: str

    def send(self, message: Message) -> Accepted: ...

    def lookup(self, message: Message) -> Lookup: ...


def never_reached(exc: BaseException) -> bool:
    """True when the request surely never reached the gateway: the connection was refused or could
    not be opened in time. Anything else after the request may have left is an unknown outcome."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (requests.exceptions.ConnectTimeout, ConnectionRefusedError)):
            return True
        current = current.__cause__ or current.__context__
    return "Connection refused" in str(exc) or "ConnectTimeout" in type(exc).__name__


def missing_extra(vendor: str, module: str) -> ImportError:
    return ImportError(
        f"The {vendor} notice backend needs its SDK ({module}): pip install -r requirements-sms.txt, "
        "or choose another NOTICE_SMS_BACKEND."
    )
