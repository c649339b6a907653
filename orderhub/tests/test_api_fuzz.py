"""Schemathesis over the published OpenAPI schema (issue 14): every documented operation, fuzzed
through the Django WSGI app with every check, as a superuser and anonymously; no answer is a 5xx.

Operations are read from the live schema, so endpoints added later are fuzzed without a change here.
The schema is loaded inside the test (not with schemathesis' pytest plugin, whose lazy loader does
not run under this pytest) and each operation gets its own bounded Hypothesis run."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig

from orderhub.wsgi import application

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

#: Every check runs. One is told what "accepted" means here: a schema-valid request that names rows
#: which do not exist (an unknown SKU or warehouse, a reference reused) is refused 400/404/409 by design.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", 400, 401, 403, 404, 409, 429]}}}
)


@pytest.fixture(autouse=True)
def _failure_budgets_out_of_the_way(settings):
    """The fuzzer sends thousands of bad credentials from one address on purpose; the budgets that
    slow such a client have their own tests (test_api_auth_failures.py)."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(rates, "100000/min"),
    }


def app_in_test_transaction(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """The production WSGI app, minus the start- and end-of-request connection close that would end
    the test's transaction (Django's own test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            getattr(response, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fuzz_every_operation(headers: dict[str, str]) -> dict[str, str]:
    """Run every check on every operation; returns the failures by operation (empty when clean)."""
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app_in_test_transaction, config=CONFIG)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5, "the schema lost its operations"
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case) -> None:
            case.call_and_validate(headers=headers)

        try:
            run()
        except (
            Exception,
            BaseExceptionGroup,
        ) as failure:  # collect every operation's failure, then report them together
            failures[operation.label] = str(failure)[:3000]
    return failures


def test_fuzzed_requests_as_a_superuser_pass_every_check():
    user = User.objects.create_superuser("fuzz-admin", password="fuzz-admin-password")
    token = Token.objects.create(user=user).key
    failures = fuzz_every_operation({"Authorization": f"Token {token}"})
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def test_fuzzed_anonymous_requests_pass_every_check():
    failures = fuzz_every_operation({})
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
