"""The one interface every tracking service (快递查询/订阅推送) sits behind.

A backend subscribes a parcel (the service then pushes each movement to our callback URL), queries
it (the polling fallback for lost callbacks) and reads a callback, verifying its signature first.
Everything it reports comes back as `TrackingUpdate`s in OrderHub's own vocabulary
(`shipping.models.TrackingState`), so the update path (shipping/services/tracking.py) is the same
for every service and for callbacks and polls alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from django.conf import settings

from shipping.models import TrackingState


class TrackingError(Exception):
    def __init__(self, message: str, *, retryable: bool = True, code: str = ""):
        super().__init__(message)
        self.message, self.retryable, self.code = message, retryable, code


class TrackingServiceError(TrackingError):
    """The service refused a call or could not be reached (retryable unless it said the request is wrong)."""


class TrackingSignatureError(TrackingError):
    """A callback whose signature does not verify: answered 401, nothing read."""


class TrackingPayloadError(TrackingError):
    """A correctly signed callback we cannot read: answered 400."""


@dataclass(frozen=True)
class ParcelRef:
    """What a service needs to know about a parcel: its company code there, number and phone digits."""

    company: str
    number: str
    phone_tail: str = ""


@dataclass(frozen=True)
class TrackingPoint:
    at: datetime
    state: str  # TrackingState
    raw_state: str = ""
    text: str = ""
    location: str = ""


@dataclass
class TrackingUpdate:
    """What the service says about one parcel now: its movements (any order), the overall state,
    the service's own status word and, when it predicts one, the estimated delivery."""

    company: str
    number: str
    points: list[TrackingPoint] = field(default_factory=list)
    state: str = ""  # TrackingState of the latest movement, "" when none yet
    service_status: str = ""  # Kuaidi100: polling / shutdown / abort
    message: str = ""  # the service's words when it gives up (abort) or explains a problem
    eta: datetime | None = None

    @property
    def delivered(self) -> bool:
        return self.state == TrackingState.DELIVERED or any(p.state == TrackingState.DELIVERED for p in self.points)


@dataclass(frozen=True)
class CallbackReply:
    status: int
    body: dict[str, Any]


class TrackingBackend(ABC):
    """A tracking service. `name` is its key in settings and in the callback URL."""

    name: str = ""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.timeout = float(config.get("timeout") or settings.CHANNEL_HTTP_TIMEOUT)

    @property
    @abstractmethod
    def configured(self) -> bool:
        """Credentials are set: without them nothing is sent and no callback is accepted."""

    @abstractmethod
    def company_for(self, carrier_code: str) -> str:
        """The service's code for an OrderHub carrier ("" when it has none)."""

    @abstractmethod
    def subscribe(self, parcel: ParcelRef, *, callback_url: str) -> None:
        """Ask the service to push this parcel's movements to `callback_url`; raises TrackingServiceError."""

    @abstractmethod
    def query(self, parcel: ParcelRef) -> TrackingUpdate:
        """The parcel's movements now; raises TrackingServiceError."""

    @abstractmethod
    def parse_callback(self, form: dict[str, str], body: bytes) -> list[TrackingUpdate]:
        """Verify and read one push; raises TrackingSignatureError / TrackingPayloadError."""

    @abstractmethod
    def callback_reply(self, *, ok: bool = True, message: str = "") -> CallbackReply:
        """The answer the service expects to a push (it retries a push not answered with success)."""

    def needs_phone(self, company: str) -> bool:
        return False

    # ---- shared plumbing ----------------------------------------------------------------------
    def _post_form(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = requests.post(url, data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TrackingServiceError(f"{self.name} unreachable: {exc.__class__.__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TrackingServiceError(f"{self.name} answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise TrackingServiceError(f"{self.name} answered HTTP {response.status_code}", retryable=False)
        try:
            answer = response.json()
        except ValueError as exc:
            raise TrackingServiceError(f"{self.name} answered something that is not JSON") from exc
        if not isinstance(answer, dict):
            raise TrackingServiceError(f"{self.name} answered JSON that is not an object")
        return answer
