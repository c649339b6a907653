"""Missing or wrong API credentials (issue 14, findings 5 and 9): every endpoint that needs
credentials answers 401 with `WWW-Authenticate`, never 403, and a client that keeps failing is
answered 429 with Retry-After before its credentials are looked at."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

GUESSER = "198.51.100.7"
NEIGHBOUR = "198.51.100.8"


#: the WWW-Authenticate challenge each security scheme of the schema answers with
CHALLENGES = {"tokenAuth": "Token", "scannerToken": 'Bearer realm="scanner"'}


def schema_operations_with_challenge() -> list[tuple[str, str, str]]:
    """Every (method, path, challenge) in the published OpenAPI schema that requires credentials;
    path parameters filled with 1. Endpoints other engineers add later are walked too; the
    challenge is the first scheme the operation declares (API token, or a scanner's token)."""
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    operations = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            security = operation.get("security", [{}])
            if {} in security:
                continue  # public by design (the webhook authenticates by signature)
            schemes = [name for requirement in security for name in requirement]
            challenge = next(CHALLENGES[name] for name in schemes if name in CHALLENGES)
            operations.append((method, re.sub(r"\{[^}]+\}", "1", path), challenge))
    return operations


def schema_operations() -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in schema_operations_with_challenge()]


def test_the_schema_lists_protected_operations_of_both_apis():
    paths = {path for _, path in schema_operations()}
    assert any(path.startswith("/api/v1/orders/") for path in paths)
    assert any(path.startswith("/api/v1/inventory/") for path in paths)


def test_missing_credentials_are_401_with_www_authenticate_on_every_endpoint():
    answers, expected = {}, {}
    for method, path, challenge in schema_operations_with_challenge():
        response = getattr(APIClient(), method)(path, {}, format="json")
        answers[(method, path)] = (response.status_code, response.get("WWW-Authenticate"))
        expected[(method, path)] = (401, challenge)
    assert answers and answers == expected


def test_a_wrong_token_is_401_with_www_authenticate_on_every_endpoint():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    for method, path, challenge in schema_operations_with_challenge():
        response = getattr(client, method)(path, {}, format="json", REMOTE_ADDR=f"192.0.2.{len(path)}")
        assert (response.status_code, response.get("WWW-Authenticate")) == (401, challenge), (method, path)


def test_guessing_tokens_is_slowed_to_429_with_retry_after_for_that_client_only():
    user = User.objects.create_superuser("wms", password="x")
    good = Token.objects.create(user=user).key
    answers = []
    for n in range(25):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {n:040d}")
        answers.append(client.get("/api/v1/orders/", REMOTE_ADDR=GUESSER))
    codes = [response.status_code for response in answers]
    assert codes[:20] == [401] * 20  # the default budget: 20 failures a minute
    assert codes[20:] == [429] * 5
    refused = answers[-1]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["code"] == "throttled"

    # the guesser is turned away before its token is looked at, even a right one ...
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {good}")
    assert client.get("/api/v1/orders/", REMOTE_ADDR=GUESSER).status_code == 429
    # ... while another client with the right token is not slowed at all
    for _ in range(30):
        assert client.get("/api/v1/orders/", REMOTE_ADDR=NEIGHBOUR).status_code == 200


def test_anonymous_callers_without_credentials_count_as_failures_too():
    codes = [APIClient().get("/api/v1/inventory/levels", REMOTE_ADDR=GUESSER).status_code for _ in range(22)]
    assert codes.count(401) == 20 and codes[-1] == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for _ in range(20):
        APIClient().get("/api/v1/orders/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=GUESSER)
    blocked = APIClient().get("/api/v1/orders/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=GUESSER)
    other = APIClient().get("/api/v1/orders/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=NEIGHBOUR)
    assert (blocked.status_code, other.status_code) == (429, 401)


def test_without_a_trusted_proxy_a_forged_forwarded_address_does_not_escape_the_limit():
    for n in range(20):
        APIClient().get("/api/v1/orders/", REMOTE_ADDR=GUESSER, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    forged = APIClient().get("/api/v1/orders/", REMOTE_ADDR=GUESSER, HTTP_X_FORWARDED_FOR="203.0.113.200")
    assert forged.status_code == 429
