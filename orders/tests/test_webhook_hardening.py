"""The webhook tells an outsider nothing and slows one that keeps failing (issue 14, findings 5 and 10):
unknown, disabled and real channels refuse a bad signature with one identical answer; repeated
failures from one client or against one channel are answered 429 with Retry-After; a platform that
signs correctly is never slowed, even while someone floods its channel."""

from __future__ import annotations

import json
import time

import pytest
from rest_framework.test import APIClient

from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from orders.models import Order
from orders.tests.factories import make_channel
from orders.tests.test_webhook import dumps, taobao_trade

pytestmark = pytest.mark.django_db

PLATFORM_ADDRESS = "203.0.113.10"  # the platform's push servers
ATTACKER_ADDRESS = "198.51.100.66"


def post(channel_id: int, body: bytes, *, secret: str, address: str, stamp: int | None = None):
    stamp_text = str(stamp if stamp is not None else int(time.time()))
    return APIClient().post(
        f"/api/v1/channels/{channel_id}/webhook",
        data=body,
        content_type="application/json",
        headers={
            TIMESTAMP_HEADER: stamp_text,
            SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=stamp_text, body=body),
        },
        REMOTE_ADDR=address,
    )


def order_body(n: int) -> bytes:
    trade = taobao_trade()
    trade["tid"] = trade["tid_str"] = f"88{n:010d}"
    return dumps(trade)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {TIMESTAMP_HEADER: "yesterday", SIGNATURE_HEADER: "00"},
        {TIMESTAMP_HEADER: str(int(time.time()) - 3600), SIGNATURE_HEADER: "00"},
        {TIMESTAMP_HEADER: str(int(time.time())), SIGNATURE_HEADER: "ab" * 32},
    ],
    ids=["no-headers", "bad-timestamp", "expired", "wrong-signature"],
)
def test_unknown_disabled_and_real_channels_refuse_a_bad_signature_identically(headers):
    real = make_channel(platform="taobao")
    disabled = make_channel(platform="taobao", enabled=False)
    douyin = make_channel(platform="douyin")  # verified by the platform's own push scheme
    answers = set()
    for channel_id in (real.pk, disabled.pk, douyin.pk, real.pk + 1000):
        response = APIClient().post(
            f"/api/v1/channels/{channel_id}/webhook",
            data=dumps(taobao_trade()),
            content_type="application/json",
            headers=headers,
        )
        answers.add((response.status_code, response.content))
    assert len(answers) == 1, answers
    status_code, content = answers.pop()
    assert status_code == 401
    assert json.loads(content)["detail"].startswith("authentication failed")
    assert not Order.objects.exists()


def test_a_flood_of_bad_signatures_from_one_client_is_answered_429_with_retry_after(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "webhook_failure_ip": "5/min"},
    }
    channel = make_channel(platform="taobao")
    answers = [post(channel.pk, order_body(n), secret="guess", address=ATTACKER_ADDRESS).status_code for n in range(8)]
    assert answers[:4] == [401] * 4
    assert answers[4:] == [429] * 4
    refused = post(channel.pk, order_body(99), secret="guess", address=ATTACKER_ADDRESS)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Retry in" in refused.json()["detail"]
    # turned away before any work: even a correct signature from that client waits its turn
    assert post(channel.pk, order_body(100), secret=channel.webhook_secret, address=ATTACKER_ADDRESS).status_code == 429
    assert not Order.objects.exists()


def test_the_configured_failure_budget_is_tight_enough_to_stop_guessing():
    """Defaults: at most 20 bad signatures a minute from one client (the audit saw 219 a second)."""
    channel = make_channel(platform="taobao")
    answers = [post(channel.pk, b"{}", secret="guess", address=ATTACKER_ADDRESS).status_code for _ in range(25)]
    assert answers.count(401) < 20 < len(answers)
    assert answers[-1] == 429


def test_a_platform_at_its_peak_is_never_slowed_while_its_channel_is_flooded(settings):
    """Only failures spend the budget. Kuaishou documents 300 QPS per app, the highest published peak
    (shared/channels/README.md §9): a correctly signing platform pushes far past every failure budget
    while attackers on many addresses exhaust the channel's budget, and every push is taken."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "webhook_failure_ip": "5/min",
            "webhook_failure_channel": "10/min",
        },
    }
    channel = make_channel(platform="taobao")
    attack = [post(channel.pk, b"{}", secret="guess", address=f"198.51.100.{n}").status_code for n in range(1, 16)]
    assert attack[-1] == 429  # the channel's budget is spent: attackers on any address get 429

    started = time.monotonic()
    pushes = [
        post(channel.pk, order_body(n), secret=channel.webhook_secret, address=PLATFORM_ADDRESS).status_code
        for n in range(60)
    ]
    elapsed = time.monotonic() - started
    assert pushes == [202] * 60
    assert Order.objects.filter(channel=channel).count() == 60
    # and retries of the same orders (a platform redelivering at speed) are not slowed either
    assert {
        post(channel.pk, order_body(n), secret=channel.webhook_secret, address=PLATFORM_ADDRESS).status_code
        for n in range(10)
    } == {202}
    assert elapsed < 60  # all inside one throttle window
