"""Failure budgets: repeated failed credentials from one client (or against one channel) are slowed.

Only failures are counted, so a legitimate caller is never slowed however fast it goes: a platform
pushing correctly signed orders at its peak, or a WMS posting movements with a valid token. The
counters live in Django's cache (Redis when REDIS_URL is set, so every web process shares them) and
reuse DRF's throttle machinery: rates from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], `wait()` for
Retry-After, and the client address from `get_ident()` (X-Forwarded-For only behind NUM_PROXIES
trusted proxies).
"""

from __future__ import annotations

import math
import time
from typing import ClassVar

from django.http import HttpRequest
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


def client_ip(request: HttpRequest) -> str:
    """The client's address as every limit sees it (django-axes, DRF and the webhook agree)."""
    xff = request.META.get("HTTP_X_FORWARDED_FOR")
    remote_addr = request.META.get("REMOTE_ADDR", "")
    proxies = api_settings.NUM_PROXIES or 0
    if proxies <= 0 or not xff:
        return remote_addr
    hops = [hop.strip() for hop in xff.split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote_addr


class FailureBudget(SimpleRateThrottle):
    """A sliding window of recent failures for one key; `blocked()` peeks, `record()` counts one.

    Unlike a plain DRF throttle, a request that passes is not counted: only `record()` spends the
    budget, after the caller has seen the attempt fail."""

    #: (scope, ident) -> the monotonic time until which this process takes a budget found unspent
    #: as still unspent (`blocked_unless_seen_unspent`)
    _seen_unspent: ClassVar[dict[tuple[str, str], float]] = {}

    def __init__(self, scope: str, ident: str) -> None:
        self.scope = scope
        self.ident = ident
        self.rate = api_settings.DEFAULT_THROTTLE_RATES[scope]
        super().__init__()
        self.key = self.cache_format % {"scope": scope, "ident": ident}

    def get_cache_key(self, request, view):  # pragma: no cover - keys are fixed in __init__
        return self.key

    def _recent(self) -> list[float]:
        self.now = self.timer()
        self.history = [stamp for stamp in self.cache.get(self.key, []) if stamp > self.now - self.duration]
        return self.history

    def blocked(self) -> int | None:
        """Seconds until the next attempt is allowed, or None when the budget is not spent."""
        history = self._recent()
        if len(history) < self.num_requests:
            return None
        # allowed again once the failure that filled the budget leaves the window
        return max(1, math.ceil(self.duration - (self.now - history[self.num_requests - 1])))

    def blocked_unless_seen_unspent(self, seconds: float) -> bool:
        """Whether the budget is spent, read from the cache at most once per `seconds` per process
        while it is not: a budget found unspent is taken as unspent for that long, unless this
        process records a failure against it meanwhile (one recorded by another process is seen
        within `seconds`).

        Why: the webhook's fast lane peeked at the client's budget for every push, and with Redis as
        the cache that read was a round trip per push: about a fifth of a flash sale's web CPU. Only
        a push whose signature holds relies on it; a refusal always reads the budget afresh."""
        now = time.monotonic()
        memo = (self.scope, self.ident)
        if self._seen_unspent.get(memo, 0.0) > now:
            return False
        if self.blocked():
            return True
        if len(self._seen_unspent) >= 10_000:  # many clients: start over rather than grow
            self._seen_unspent.clear()
        self._seen_unspent[memo] = now + seconds
        return False

    def record(self) -> int | None:
        """Count one failure; returns the wait in seconds if the budget is now spent."""
        self._seen_unspent.pop((self.scope, self.ident), None)
        history = self._recent()
        history.insert(0, self.now)
        self.cache.set(self.key, history, self.duration)
        return self.blocked()


def auth_failures(request: HttpRequest) -> FailureBudget:
    """Failed or missing API credentials from this client."""
    return FailureBudget("auth_failure", client_ip(request))


def webhook_failures_from(request: HttpRequest) -> FailureBudget:
    """Failed webhook signatures from this client, whatever channel they name."""
    return FailureBudget("webhook_failure_ip", client_ip(request))


def webhook_failures_for(channel_id: int) -> FailureBudget:
    """Failed webhook signatures against one channel id, from any client (a distributed attempt)."""
    return FailureBudget("webhook_failure_channel", str(channel_id))
