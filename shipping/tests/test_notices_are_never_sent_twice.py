"""SMS APIs are not idempotent: one notice per event and parcel reaches the buyer at most once.

- a replayed drain (the task run twice, the sweep after the task) sends nothing new;
- a timeout after the gateway accepted leaves the notice `sending`; the next run looks it up
  (Aliyun QuerySendDetails by OutId, Tencent PullSmsSendStatusByPhoneNumber by SessionContext, the
  generic gateway by our id), finds it sent and never calls SendSms again;
- a worker killed after claiming a notice leaves it `sending`: it is looked up, not resent;
- a gateway that cannot account for it (WeChat has no lookup) ends `unknown` with an alert, and a
  person decides: "retry now" or "mark as sent", both recorded with the user."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from conftest import postgres_only
from orders.models import Alert
from shipping.models import AttemptKind, NoticeAttempt
from shipping.notices.services import drain_buyer_notices, notice_mark_sent, notice_process, notice_retry
from shipping.notices.services.sending import UNKNOWN_ALERT_KEY
from shipping.tests.notice_factories import reload, shipped_notice

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("backend", ["aliyun", "tencent", "generic"])
def test_a_replayed_drain_sends_nothing_new(use_backend, backend):
    gateway = use_backend(backend)
    notice = shipped_notice()
    from shipping import tasks

    assert tasks.drain_buyer_notices()["sent"] == 1
    assert tasks.drain_buyer_notices()["sent"] == 0  # the task replayed: nothing due
    assert notice_process(notice_id=notice.pk) == "not_due"  # this notice's step replayed
    assert len(gateway.sends(backend)) == 1 and len(gateway.accepted[backend]) == 1


@pytest.mark.parametrize("backend", ["aliyun", "tencent", "generic"])
def test_a_timeout_after_the_gateway_accepted_is_looked_up_not_resent(use_backend, backend):
    gateway = use_backend(backend)
    notice = shipped_notice()
    gateway.fault(backend, "timeout_after_accept")

    first = drain_buyer_notices()
    assert first.unknown == 1, first
    notice = reload(notice)
    assert notice.state == "sending" and notice.last_error  # the read timed out
    assert len(gateway.accepted[backend]) == 1  # ... after the gateway took it

    second = drain_buyer_notices()
    assert second.sent == 1, second
    notice = reload(notice)
    assert notice.state == "done" and notice.gateway_answer["answer"]  # what the lookup found
    assert len(gateway.sends(backend)) == 1, "SendSms was called a second time"
    kinds = list(NoticeAttempt.objects.filter(notice=notice).values_list("kind", "outcome"))
    assert kinds == [
        (AttemptKind.SEND, "sending"),
        (AttemptKind.SEND, "unknown"),
        (AttemptKind.LOOKUP, "sent"),
    ]


def test_a_worker_killed_after_claiming_leaves_a_notice_that_is_looked_up(use_backend):
    gateway = use_backend("aliyun")
    notice = shipped_notice()
    # the claim committed (state `sending`, our OutId) and the worker died before SendSms
    from shipping.notices.services.sending import _claim

    claimed = _claim(notice_id=notice.pk)
    assert not isinstance(claimed, str) and reload(notice).state == "sending"
    assert drain_buyer_notices().outcomes == []  # not looked up while a call could still be in flight
    type(notice).objects.filter(pk=notice.pk).update(next_attempt_at=notice.created_at)  # later: the sweep

    result = drain_buyer_notices()
    assert result.unknown == 1 and gateway.sends("aliyun") == []  # looked up, nothing sent blindly
    assert reload(notice).lookups == 1


def test_the_generic_gateway_saying_it_never_got_it_allows_one_resend(use_backend):
    gateway = use_backend("generic")
    notice = shipped_notice()
    from shipping.notices.services.sending import _claim

    _claim(notice_id=notice.pk)  # claimed, then the worker died: the gateway never saw it
    type(notice).objects.filter(pk=notice.pk).update(next_attempt_at=notice.created_at)  # the sweep, later
    assert drain_buyer_notices().retrying == 1  # lookup: 404 → pending again, with backoff
    notice = reload(notice)
    assert notice.state == "pending" and notice.attempts == 1
    type(notice).objects.filter(pk=notice.pk).update(next_attempt_at=notice.created_at)
    assert drain_buyer_notices().sent == 1
    assert len(gateway.accepted["generic"]) == 1


def test_an_unaccountable_outcome_waits_for_a_person(use_backend, settings, admin_user):
    gateway = use_backend("wechat")
    gateway.wechat_subscribed.add("o-buyer")
    settings.NOTICE_MAX_LOOKUPS = 2
    notice = shipped_notice(buyer_id="o-buyer")
    gateway.fault("wechat", "timeout_after_accept")
    assert drain_buyer_notices().unknown == 1
    type(notice).objects.filter(pk=notice.pk).update(next_attempt_at=notice.created_at)
    assert drain_buyer_notices().unknown == 1  # WeChat has no lookup: 1st
    type(notice).objects.filter(pk=notice.pk).update(next_attempt_at=notice.created_at)
    assert drain_buyer_notices().unknown == 1  # 2nd: give up, a person decides
    notice = reload(notice)
    assert notice.state == "unknown"
    alert = Alert.objects.get(key=UNKNOWN_ALERT_KEY, resolved_at__isnull=True)
    assert "1" in alert.message
    assert drain_buyer_notices().outcomes == []  # never resent on its own
    assert len(gateway.sends("wechat")) == 1

    # the person saw it arrive in the vendor console
    assert notice_mark_sent(notice_id=notice.pk, user=admin_user, note="seen in the console")
    assert reload(notice).state == "done"
    manual = NoticeAttempt.objects.get(notice=notice, kind=AttemptKind.MANUAL)
    assert manual.user == admin_user and manual.outcome == "marked_sent" and manual.request == {"from": "unknown"}
    assert not Alert.objects.filter(key=UNKNOWN_ALERT_KEY, resolved_at__isnull=True).exists()


def test_retry_now_sends_a_failed_notice_again_under_a_new_id(use_backend, admin_user):
    gateway = use_backend("generic")
    notice = shipped_notice()
    gateway.fault("generic", "refuse")
    assert drain_buyer_notices().failed == 1
    assert not notice_retry(notice_id=shipped_notice().pk, user=admin_user)  # only failed/unknown ones
    assert notice_retry(notice_id=notice.pk, user=admin_user)
    notice = reload(notice)
    assert notice.state == "pending" and notice.out_id == f"orderhub-bn-{notice.pk}-r1"
    result = drain_buyer_notices()
    assert result.sent == 2, result  # the retried one and the other notice
    assert gateway.accepted["generic"][0]["body"]["id"] == f"orderhub-bn-{notice.pk}-r1"


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_draining_at_once_send_each_notice_once(use_backend):
    gateway = use_backend("generic")
    gateway.slow_seconds = 0.2
    notices = [shipped_notice() for _ in range(12)]
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def worker() -> None:
        try:
            start.wait(timeout=10)
            drain_buyer_notices()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    ids = [r["body"]["id"] for r in gateway.accepted["generic"]]
    assert sorted(ids) == sorted(f"orderhub-bn-{n.pk}" for n in notices)
    assert len(gateway.sends("generic")) == 12  # no second POST for any of them
    assert {reload(n).state for n in notices} == {"done"}
