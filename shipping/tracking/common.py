"""Helpers the tracking backends share: signatures' hashes and the services' local times."""

from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: the services write times in China time, with dashes or slashes, with or without seconds
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d %H", "%Y-%m-%d")


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def parse_service_time(value: object) -> datetime | None:
    """A service's local time → aware datetime; None for empty or unreadable text."""
    raw = str(value or "").strip()
    if not raw:
        return None
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=SHANGHAI)
        except ValueError:
            continue
    return None


def format_service_time(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def phone_tail(phone: str) -> tuple[str, bool]:
    """The receiver phone's last 4 digits (SF and ZTO ask for them) and whether the phone was masked
    (a platform's masked phone often still shows its last digits: 138****5678)."""
    phone = (phone or "").strip()
    masked = any(ch in phone for ch in "*＊") or not phone
    tail = phone[-4:]
    return (tail if len(tail) == 4 and tail.isdigit() else ""), masked
