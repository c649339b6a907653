"""HTTP answers for failures that are not the caller's fault or are the caller's repeated fault.

- Database or Redis unreachable: 503 with Retry-After (JSON), so a pushing platform or a WMS retries
  later instead of treating an HTML 500 as a broken endpoint.
- Repeated 401s from one client on the API: 429 with Retry-After before any credential is checked.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orderhub.throttling import auth_failures

logger = logging.getLogger(__name__)

#: seconds a client should wait before retrying during an outage (a PostgreSQL restart takes a few)
OUTAGE_RETRY_AFTER_SECONDS = 30
OUTAGE_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)


def outage_response(exc: BaseException) -> JsonResponse:
    logger.error("answering 503: a backing service is unreachable: %s", exc)
    response = JsonResponse(
        {
            "detail": str(_("The service is temporarily unavailable. Retry later.")),
            "code": "service_unavailable",
        },
        status=503,
    )
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    return response


def too_many_attempts(wait: int) -> JsonResponse:
    response = JsonResponse(
        {
            "detail": str(_("Too many failed attempts. Retry in %(seconds)d seconds.") % {"seconds": wait}),
            "code": "throttled",
            "retry_after": wait,
        },
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response


class OutageAnswerMiddleware:
    """A database or Redis error raised by a view becomes 503 JSON with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OUTAGE_ERRORS):
            return outage_response(exception)
        return None


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """handler500: outages raised outside a view (middleware, session, cache) are 503 too."""
    exception = sys.exc_info()[1]
    if isinstance(exception, OUTAGE_ERRORS):
        return outage_response(exception)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(_("Server error.")), "code": "server_error"}, status=500)
    return defaults.server_error(request, template_name)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: an API client gets JSON (a path the URL patterns do not match, e.g. a negative id)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(_("Not found.")), "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


class ApiAuthFailureThrottleMiddleware:
    """Counts every 401 an API view answers per client; past the budget the client gets 429 before
    its credentials are looked at, so guessing tokens is slowed. Views that take no API credentials
    (the channel webhook, with its own signature budgets) are left alone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "_counts_auth_failures", False) and response.status_code == 401:
            auth_failures(request).record()
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        view_class = getattr(view_func, "cls", None)
        if not request.path.startswith("/api/") or not getattr(view_class, "authentication_classes", None):
            return None
        request._counts_auth_failures = True
        wait = auth_failures(request).blocked()
        return too_many_attempts(wait) if wait else None
