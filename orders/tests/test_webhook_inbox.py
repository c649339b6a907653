"""The webhook inbox (the product default): the webhook verifies, validates and stores a signed push
and answers at once; drainers decide it in batches, exactly once, with poison quarantined."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import postgres_only
from orderhub.throttling import FailureBudget
from orders import inbox
from orders.errors import ChannelDisabled
from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from orders.models import Alert, Channel, InboxMessage, Order, OrderEvent, QuarantinedMessage
from orders.tests.factories import make_channel
from orders.tests.poison import body_with, native_order, post_signed

pytestmark = [pytest.mark.django_db, pytest.mark.webhook_inbox]


def trade(external_id: str, **changes) -> bytes:
    return body_with(native_order("taobao"), {("tid_str",): external_id, **changes})


def test_the_webhook_answers_while_no_drainer_runs_and_orders_follow_once_one_drains():
    channel = make_channel(platform="taobao")
    answers = [post_signed(channel, trade(f"33000000000000{n:05d}")) for n in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert {a.json()["result"] for a in answers} == {"accepted"}
    assert not Order.objects.exists()  # nothing decided yet: no drainer runs
    assert InboxMessage.objects.undecided().count() == 3

    call_command("drain_inbox", "--once")

    for answer in answers:
        message = InboxMessage.objects.get(pk=answer.json()["inbox_id"])
        assert message.outcome == "created" and message.decided_at is not None
        assert message.order.external_id == answer.json()["external_id"]
        assert message.order.source == "push" and message.order.lines.count() == 2
    assert not InboxMessage.objects.undecided().exists()


@pytest.mark.parametrize(
    ("injections", "field"),
    [
        ({("tid_str",): "3301234500012345678\x00"}, "tid_str"),
        ({("receiver_address",): "文三路" * 400}, "receiver_address"),
        ({("orders", "order", 0, "outer_sku_id"): "S" * 65}, "lines[0].sku_code"),
    ],
    ids=["nul-in-id", "overlong-address", "overlong-sku-code"],
)
def test_bad_input_is_refused_with_the_field_and_nothing_enters_the_inbox(injections, field):
    channel = make_channel(platform="taobao")
    response = post_signed(channel, body_with(native_order("taobao"), injections))
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert not InboxMessage.objects.exists() and not Order.objects.exists()


def test_a_redelivered_push_is_decided_once_and_then_unchanged():
    channel = make_channel(platform="taobao")
    body = trade("3301234500099999999")
    first, again = post_signed(channel, body), post_signed(channel, body)
    assert first.status_code == again.status_code == 202

    inbox.inbox_drain_batch(limit=10)

    outcomes = InboxMessage.objects.order_by("pk").values_list("outcome", flat=True)
    assert list(outcomes) == ["created", "unchanged"]
    order = Order.objects.get(external_id="3301234500099999999")
    assert OrderEvent.objects.filter(order=order, kind="received").count() == 1


def test_poison_in_a_batch_is_quarantined_with_an_alert_and_the_rest_decided():
    channel = make_channel(platform="taobao")
    post_signed(channel, trade("3301234500000000001"))
    # accepted by an older parser, refused by this one: the drainer must not stop at it
    poison = InboxMessage.objects.create(channel=channel, external_id="bad", body='{"tid_str": 5}')
    post_signed(channel, trade("3301234500000000002"))

    report = inbox.inbox_drain_batch(limit=10)

    assert (report.claimed, report.decided, report.quarantined) == (3, 2, 1)
    assert set(Order.objects.values_list("external_id", flat=True)) == {"3301234500000000001", "3301234500000000002"}
    poison.refresh_from_db()
    assert poison.outcome == "quarantined" and poison.decided_at is not None and poison.error
    quarantined = QuarantinedMessage.objects.get(channel=channel)
    assert quarantined.source == "inbox" and quarantined.external_id == "bad"
    assert Alert.objects.filter(key=f"quarantine:{channel.pk}", resolved_at__isnull=True).exists()


def test_a_message_that_kept_killing_its_drainers_is_quarantined_not_retried_forever(settings):
    channel = make_channel(platform="taobao")
    post_signed(channel, trade("3301234500000000003"))
    InboxMessage.objects.update(attempts=settings.WEBHOOK_INBOX_MAX_ATTEMPTS)

    report = inbox.inbox_drain_batch(limit=10)

    assert (report.decided, report.quarantined) == (0, 1)
    assert not Order.objects.exists()
    assert QuarantinedMessage.objects.filter(external_id="3301234500000000003").exists()


def test_a_claim_hides_messages_from_other_drainers_until_its_lease_runs_out():
    channel = make_channel(platform="taobao")
    post_signed(channel, trade("3301234500000000004"))

    claimed = inbox.inbox_claim(limit=10, drainer="dead-drainer")
    assert [m.claimed_by for m in claimed] == ["dead-drainer"]
    assert inbox.inbox_claim(limit=10, drainer="other") == []  # leased

    InboxMessage.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))  # the lease ran out
    report = inbox.inbox_drain_batch(limit=10, drainer="other")

    assert report.decided == 1
    message = InboxMessage.objects.get()
    assert (message.claimed_by, message.attempts, message.outcome) == ("other", 2, "created")


def test_an_old_backlog_raises_an_alert_that_resolves_once_drained(settings):
    channel = make_channel(platform="taobao")
    post_signed(channel, trade("3301234500000000005"))
    InboxMessage.objects.update(received_at=timezone.now() - timedelta(seconds=600))

    age = inbox.inbox_check_backlog()

    assert age is not None and age >= 600
    alert = Alert.objects.get(key=inbox.BACKLOG_ALERT_KEY, resolved_at__isnull=True)
    assert "600 s" in alert.message or "60" in alert.message
    inbox.inbox_drain_batch(limit=10)
    assert inbox.inbox_check_backlog() is None
    assert not Alert.objects.filter(key=inbox.BACKLOG_ALERT_KEY, resolved_at__isnull=True).exists()


def test_decided_messages_are_purged_after_the_keep_period():
    channel = make_channel(platform="taobao")
    post_signed(channel, trade("3301234500000000006"))
    post_signed(channel, trade("3301234500000000007"))
    inbox.inbox_drain_batch(limit=1)
    InboxMessage.objects.filter(decided_at__isnull=False).update(decided_at=timezone.now() - timedelta(days=30))

    assert inbox.inbox_purge_decided() == 1
    assert InboxMessage.objects.undecided().count() == 1  # the undecided one stays


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_idle_drainer_takes_a_new_push_without_being_called():
    """LISTEN/NOTIFY on PostgreSQL, polling on SQLite: a push accepted while the drainer waits is
    decided without anyone calling it, within a few poll intervals (plus the decision itself, slow on
    a loaded 2-vCPU machine)."""
    channel = make_channel(platform="taobao")
    stop = threading.Event()

    def run() -> None:
        try:
            inbox.drain(batch=10, stop=stop.is_set)
        finally:
            connection.close()

    drainer = threading.Thread(target=run)
    drainer.start()
    try:
        time.sleep(1.5)  # idle: waiting for a notification or its next poll
        assert post_signed(channel, trade("3301234500000000008")).status_code == 202
        accepted = time.monotonic()
        deadline = accepted + 10
        while not Order.objects.filter(external_id="3301234500000000008").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        took = time.monotonic() - accepted
    finally:
        stop.set()
        drainer.join(timeout=10)
    assert Order.objects.filter(external_id="3301234500000000008").exists()
    assert took < 2.0, took
    assert not drainer.is_alive()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_trickle_of_pushes_is_decided_in_batches_a_linger_apart_and_none_is_left(settings):
    """A part batch means the drainer is ahead of the pushes: it waits WEBHOOK_INBOX_LINGER_SECONDS
    before it claims again (also after a wake-up), so pushes arriving one by one are decided a few at
    a time instead of in a transaction each."""
    settings.WEBHOOK_INBOX_LINGER_SECONDS = 0.3
    channel = make_channel(platform="taobao")
    pushes = 15

    def arrive() -> None:
        try:
            for n in range(pushes):
                inbox.inbox_accept(channel=channel, body=trade(f"33012345002{n:05d}"))
                time.sleep(0.04)
        finally:
            connection.close()

    claims: list[tuple[float, int]] = []
    deadline = time.monotonic() + 30
    producer = threading.Thread(target=arrive)
    producer.start()
    try:
        total = inbox.drain(
            batch=100,
            stop=lambda: sum(n for _at, n in claims) >= pushes or time.monotonic() > deadline,
            on_batch=lambda report: claims.append((time.monotonic(), report.claimed)),
        )
    finally:
        producer.join(timeout=30)
    assert total.decided == pushes and not InboxMessage.objects.undecided().exists()
    assert Order.objects.filter(channel=channel).count() == pushes
    assert len(claims) < pushes / 2, claims  # decided in batches, not one by one
    gaps = [later - earlier for (earlier, _n), (later, _m) in itertools.pairwise(claims)]
    assert min(gaps) >= 0.3, gaps  # never claimed again before the linger was over


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_notify_wakes_a_waiting_drainer_before_its_poll_timeout():
    channel = make_channel(platform="taobao")
    wakeup = inbox.Wakeup()
    try:
        assert wakeup.listening
        timer = threading.Timer(
            0.3, lambda: (inbox.inbox_accept(channel=channel, body=trade("3301234500000009")), connection.close())
        )
        timer.start()
        started = time.monotonic()
        woken = wakeup.wait(timeout=20)
        waited = time.monotonic() - started
        timer.join()
    finally:
        wakeup.close()
    assert woken is True
    assert waited < 5, waited  # the notification, not the 20 s timeout


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_push_notifies_only_while_a_drainer_waits_and_one_stored_silently_is_found_at_once():
    """A NOTIFY serializes committers cluster-wide, so a push sends one only while a drainer waits; a
    drainer about to wait looks again first, so a push stored without one never waits for the poll."""
    import psycopg

    channel = make_channel(platform="taobao")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as observer:
        observer.execute(f"LISTEN {inbox.NOTIFY_CHANNEL}")
        inbox.inbox_accept(channel=channel, body=trade("3301234500000000030"))  # no drainer waits
        assert list(observer.notifies(timeout=0.5)) == []

        wakeup = inbox.Wakeup()
        try:
            started = time.monotonic()
            assert wakeup.wait(timeout=20) is True
            assert time.monotonic() - started < 5  # found by looking again, not after the 20 s timeout

            inbox.inbox_drain_batch(drainer="test")  # the inbox is empty again: the next wait really waits

            def push_while_it_waits() -> None:
                inbox.inbox_accept(channel=channel, body=trade("3301234500000000031"))
                connection.close()

            timer = threading.Timer(0.3, push_while_it_waits)
            timer.start()
            assert wakeup.wait(timeout=20) is True
            timer.join()
        finally:
            wakeup.close()
        assert len(list(observer.notifies(timeout=0.5))) == 1  # the second push, stored while it waited


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_live_drainer_keeps_its_claim_while_a_batch_outlasts_the_lease(settings):
    channel = make_channel(platform="taobao")
    post_signed(channel, trade("3301234500000000010"))
    settings.WEBHOOK_INBOX_LEASE_SECONDS = 1
    inbox.inbox_claim(limit=10, drainer="slow-drainer")

    with inbox.LeaseKeeper("slow-drainer"):
        time.sleep(2.5)  # a batch far longer than the lease
        taken = inbox.inbox_claim(limit=10, drainer="other")
    assert taken == []  # renewed: nobody else took it
    assert InboxMessage.objects.get().claimed_by == "slow-drainer"

    time.sleep(1.2)  # the keeper stopped, as if the drainer died: the claim runs out
    assert [m.claimed_by for m in inbox.inbox_claim(limit=10, drainer="other")] == ["other"]


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lock_timeout_leaves_the_push_to_be_claimed_again_not_quarantined(settings):
    """A deadlock victim or a lock timeout says nothing about the order: the push is released and
    decided on a later claim, where quarantining it would hand a good order to a person."""
    settings.WEBHOOK_INBOX_RETRY_SECONDS = 0
    channel = make_channel(platform="taobao")
    answer = post_signed(channel, trade("3301234500000077"))
    blocker = connection.copy()  # another session holds the orders table while the drainer decides
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("LOCK TABLE orders_order IN ACCESS EXCLUSIVE MODE")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        report = inbox.inbox_drain_batch(drainer="test")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        blocker.rollback()
        blocker.close()
    assert (report.claimed, report.decided, report.quarantined, report.retried) == (1, 0, 0, 1)
    message = InboxMessage.objects.get(pk=answer.json()["inbox_id"])
    assert (message.decided_at, message.claimed_by, message.attempts) == (None, "", 1)
    assert not QuarantinedMessage.objects.exists() and not Order.objects.exists()

    report = inbox.inbox_drain_batch(drainer="test")
    assert (report.decided, report.quarantined, report.retried) == (1, 0, 0)
    message.refresh_from_db()
    assert (message.outcome, message.attempts) == ("created", 2)
    assert Order.objects.filter(external_id="3301234500000077").count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_renewing_leases_skips_the_rows_being_marked_decided_instead_of_waiting_for_them():
    """A drainer marks its batch decided on one connection while its lease keeper renews on another;
    waiting on each other's rows deadlocked them (a flash sale lost a drainer to it). The renewal now
    skips rows another session holds, so it never waits."""
    channel = make_channel(platform="taobao")
    for n in (1, 2):
        post_signed(channel, trade(f"330123450000008{n}"))
    claimed = inbox.inbox_claim(limit=10, drainer="keeper-test")
    held, free = sorted(message.pk for message in claimed)
    marker = connection.copy()  # the drainer's marking statement, mid-transaction on one row
    marker.set_autocommit(False)
    with marker.cursor() as cursor:
        cursor.execute("SELECT id FROM orders_inboxmessage WHERE id = %s FOR UPDATE", [held])
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # a wait would fail the test, not hang it
        renewed = inbox.inbox_renew_claims(drainer="keeper-test", lease=timedelta(minutes=5))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        marker.rollback()
        marker.close()
    assert renewed == 1
    until = dict(InboxMessage.objects.values_list("pk", "claimed_until"))
    assert until[free] > until[held]


def test_a_refused_row_is_not_transient():
    """A duplicate key is the message's own problem: quarantined, not retried."""
    from django.db import IntegrityError

    channel = make_channel(platform="taobao")
    with pytest.raises(IntegrityError) as duplicate, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO orders_channel SELECT * FROM orders_channel WHERE id = %s", [channel.pk])
    assert not inbox.is_transient(duplicate.value)


# ---- the flash-sale path: a remembered channel, one statement to store, one to claim, one to mark ----
def signed_with(channel_id: int, body: bytes, secret: str):
    """A push to `channel_id` signed as a sender holding `secret` (a channel's old or new one)."""
    stamp = str(int(time.time()))
    signature = webhook_signature(secret=secret, timestamp=stamp, body=body)
    return APIClient().post(
        f"/api/v1/channels/{channel_id}/webhook",
        data=body,
        content_type="application/json",
        headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature},
    )


def test_a_push_to_a_remembered_channel_is_stored_by_one_statement(django_assert_num_queries):
    channel = make_channel(platform="taobao")
    assert post_signed(channel, trade("3301234500000000020")).status_code == 202  # reads the channel once

    with django_assert_num_queries(1) as captured:
        answer = post_signed(channel, trade("3301234500000000021"))

    assert answer.status_code == 202 and answer.json()["result"] == "accepted"
    assert "INSERT INTO orders_inboxmessage" in captured.captured_queries[0]["sql"]
    message = InboxMessage.objects.get(pk=answer.json()["inbox_id"])
    assert (message.channel_id, message.external_id, message.attempts) == (channel.pk, "3301234500000000021", 0)
    assert message.body == trade("3301234500000000021").decode() and message.received_at is not None


def test_the_fast_lane_answers_before_the_session_and_locale_middleware_yet_keeps_security_and_the_host_check(
    settings,
):
    settings.ALLOWED_HOSTS = ["testserver"]
    channel = make_channel(platform="taobao")
    assert post_signed(channel, trade("3301234500000000040")).status_code == 202  # remembered from now on

    answer = post_signed(channel, trade("3301234500000000041"))

    assert answer.status_code == 202 and answer.json()["result"] == "accepted"
    assert answer["Content-Length"] == str(len(answer.content))  # never a chunked answer
    assert answer["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still wraps the lane
    assert "Content-Language" not in answer and not answer.cookies  # answered before locale and sessions
    stamp = str(int(time.time()))
    body = trade("3301234500000000042")
    foreign = APIClient().post(
        f"/api/v1/channels/{channel.pk}/webhook",
        data=body,
        content_type="application/json",
        headers={
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: webhook_signature(secret=channel.webhook_secret, timestamp=stamp, body=body),
        },
        HTTP_HOST="orders.example.net",
    )
    assert foreign.status_code == 400  # a Host outside ALLOWED_HOSTS, as for any request
    assert InboxMessage.objects.count() == 2


def test_a_push_over_plain_http_is_redirected_before_the_fast_lane_stores_it(settings):
    channel = make_channel(platform="taobao")
    assert post_signed(channel, trade("3301234500000000043")).status_code == 202
    settings.SECURE_SSL_REDIRECT = True

    answer = post_signed(channel, trade("3301234500000000044"))

    assert answer.status_code == 301 and answer["Location"].startswith("https://")
    assert InboxMessage.objects.count() == 1


def test_a_rotated_secret_works_at_once_and_the_old_one_stops_though_the_channel_was_remembered():
    channel = make_channel(platform="taobao", webhook_secret="old-secret")
    assert signed_with(channel.pk, trade("3301234500000000022"), "old-secret").status_code == 202

    channel.webhook_secret = "new-secret"
    channel.save()

    assert signed_with(channel.pk, trade("3301234500000000023"), "new-secret").status_code == 202
    refused = signed_with(channel.pk, trade("3301234500000000024"), "old-secret")
    assert refused.status_code == 401
    stored = set(InboxMessage.objects.values_list("external_id", flat=True))
    assert stored == {"3301234500000000022", "3301234500000000023"}


def test_a_channel_disabled_after_it_was_remembered_is_refused_as_an_unknown_channel():
    channel = make_channel(platform="taobao")
    assert post_signed(channel, trade("3301234500000000025")).status_code == 202
    Channel.objects.filter(pk=channel.pk).update(enabled=False)

    disabled = signed_with(channel.pk, trade("3301234500000000026"), channel.webhook_secret)
    unknown = signed_with(channel.pk + 1000, trade("3301234500000000026"), channel.webhook_secret)

    assert (disabled.status_code, disabled.content) == (unknown.status_code, unknown.content)
    assert disabled.status_code == 401
    assert list(InboxMessage.objects.values_list("external_id", flat=True)) == ["3301234500000000025"]


def test_a_client_over_its_failure_budget_is_turned_away_even_with_a_good_push_to_a_remembered_channel(settings):
    """The stored-at-once path defers to the view whenever the client is blocked: 429, nothing stored."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "webhook_failure_ip": "2/min"},
    }
    channel = make_channel(platform="taobao")
    assert post_signed(channel, trade("3301234500000000030")).status_code == 202  # remembered from now on
    guesses = [signed_with(channel.pk, trade(f"33012345000000000{n}"), "guess").status_code for n in (31, 32, 33)]
    assert guesses[-1] == 429

    refused = post_signed(channel, trade("3301234500000000034"))

    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert list(InboxMessage.objects.values_list("external_id", flat=True)) == ["3301234500000000030"]


def test_a_client_within_its_failure_budget_has_it_read_once_a_second_not_once_per_push(monkeypatch):
    reads: list[str] = []
    original = FailureBudget.blocked
    monkeypatch.setattr(FailureBudget, "blocked", lambda budget: reads.append(budget.key) or original(budget))
    channel = make_channel(platform="taobao")

    answers = [post_signed(channel, trade(f"33012345000000005{n:02d}")).status_code for n in range(10)]

    assert answers == [202] * 10
    # the view read it for the first push (the channel not remembered yet), the fast lane for the second
    assert 1 <= len(reads) <= 2, reads


def test_a_budget_spent_by_another_process_turns_good_pushes_away_once_the_memo_is_over(settings, monkeypatch):
    """Another web process's refusals fill the budget in the shared cache without this process
    knowing: a correctly signed push is still stored while it takes the budget as unspent (at most
    _BUDGET_SEEN_UNSPENT_SECONDS), then refused with 429 like any push from that client."""
    from orders.api import webhook

    monkeypatch.setattr(webhook, "_BUDGET_SEEN_UNSPENT_SECONDS", 0.3)
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "webhook_failure_ip": "2/min"},
    }
    channel = make_channel(platform="taobao")
    assert post_signed(channel, trade("3301234500000000060")).status_code == 202
    assert post_signed(channel, trade("3301234500000000061")).status_code == 202  # read: unspent
    budget = FailureBudget("webhook_failure_ip", "127.0.0.1")
    budget.cache.set(budget.key, [time.time(), time.time()], 60)  # as another process records refusals

    within = post_signed(channel, trade("3301234500000000062"))
    time.sleep(0.35)
    after = post_signed(channel, trade("3301234500000000063"))

    assert within.status_code == 202
    assert after.status_code == 429 and 1 <= int(after["Retry-After"]) <= 60
    stored = set(InboxMessage.objects.values_list("external_id", flat=True))
    assert stored == {"3301234500000000060", "3301234500000000061", "3301234500000000062"}


def test_bad_input_to_a_remembered_channel_is_still_refused_with_its_field():
    channel = make_channel(platform="taobao")
    assert post_signed(channel, trade("3301234500000000027")).status_code == 202
    response = post_signed(channel, body_with(native_order("taobao"), {("tid_str",): "33012345\x00"}))
    assert response.status_code == 400 and response.json()["field"] == "tid_str"
    assert InboxMessage.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [{"enabled": False}, {"webhook_secret": "rotated"}, {"platform": "jd"}],
    ids=["disabled", "rotated", "platform"],
)
def test_the_store_statement_refuses_a_channel_changed_since_it_was_read(change):
    """The webhook may verify with a channel it read a minute ago: the INSERT checks the row again."""
    channel = make_channel(platform="taobao")  # this copy is what the webhook remembered
    Channel.objects.filter(pk=channel.pk).update(**change)

    with pytest.raises(ChannelDisabled):
        inbox.inbox_accept(channel=channel, body=trade("3301234500000000028"))
    assert not InboxMessage.objects.exists()


@postgres_only
def test_a_claim_is_one_locking_statement_and_marking_a_batch_decided_one_more(django_assert_num_queries):
    channel = make_channel(platform="taobao")
    for n in range(3):
        inbox.inbox_accept(channel=channel, body=trade(f"33012345000000001{n:02d}"))

    with django_assert_num_queries(2) as captured:  # the claim, then the channels
        claimed = inbox.inbox_claim(limit=2, drainer="d1")
    claim = captured.captured_queries[0]["sql"]
    assert claim.lstrip().startswith("WITH picked AS MATERIALIZED") and "FOR UPDATE SKIP LOCKED" in claim
    assert [m.external_id for m in claimed] == ["3301234500000000100", "3301234500000000101"]
    assert all(m.channel == channel and m.claimed_by == "d1" and m.attempts == 1 for m in claimed)
    assert [m.external_id for m in inbox.inbox_claim(limit=5, drainer="d2")] == ["3301234500000000102"]

    decided_at = timezone.now()
    for message in claimed:
        message.decided_at, message.outcome, message.claimed_until = decided_at, "created", None
    claimed[1].outcome, claimed[1].error = inbox.QUARANTINED, "body: refused"
    with django_assert_num_queries(1):
        inbox._record_decided(claimed)
    rows = InboxMessage.objects.filter(pk__in=[m.pk for m in claimed]).order_by("pk")
    assert [(r.outcome, r.error, r.decided_at, r.claimed_until) for r in rows] == [
        ("created", "", decided_at, None),
        (inbox.QUARANTINED, "body: refused", decided_at, None),
    ]


def test_a_long_running_drainer_freezes_its_start_up_objects_and_collects_young_objects_less_often():
    import gc

    before = gc.get_threshold()
    try:
        inbox.tune_gc_for_draining()
        assert gc.get_threshold() == inbox.DRAINER_GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
