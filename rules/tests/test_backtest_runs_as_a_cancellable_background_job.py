"""A backtest never runs inside a web request: the admin records a BacktestRun and queues a django-q2
task; the worker evaluates chunk by chunk, stores its progress and result, and stops when cancelled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf

from rules import backtest, selectors, services, tasks
from rules.errors import BacktestPeriodInvalid
from rules.models import BacktestRun, BacktestState, RuleHit
from rules.tests.factories import bulk_orders, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker():
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


@pytest.fixture
def orders(channel):
    bulk_orders(channel, 600)


def _period(days: int = 7):
    now = timezone.now()
    return now - timedelta(days=days), now + timedelta(minutes=1)


def test_the_backtest_page_only_records_and_queues_the_run(
    admin_client, orders, broker, django_capture_on_commit_callbacks
):
    rule = make_rule(("receiver_valid", "is_false", ""), name="receiver check", enabled=False)
    hits_before = RuleHit.objects.count()
    today = timezone.localdate()
    form = {"since": (today - timedelta(days=6)).isoformat(), "until": today.isoformat()}
    url = reverse("admin:rules_interceptrule_backtest", args=[rule.pk])
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, form)
    run = BacktestRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:rules_interceptrule_backtest_run", args=[run.pk])
    # No order was read inside the request: the rule was not evaluated there.
    assert not [q["sql"] for q in queries.captured_queries if '"orders_order"' in q["sql"]]
    assert run.state == BacktestState.QUEUED and run.requested_by.is_superuser
    assert run.matched_count is None and run.progress_done == 0
    assert broker.queue_size() == 1  # the real queue (ORM or Redis, as configured)
    page = admin_client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in page and "Cancel backtest" in page

    # The worker runs the task: progress and result are stored, nothing is written to the hit log.
    assert tasks.run_backtest(run.pk) == BacktestState.DONE
    run.refresh_from_db()
    assert run.total_orders == 600 == run.progress_total == run.progress_done and run.percent == 100
    assert 0 < run.matched_count < 600 and run.method == "sql"  # receiver valid over its distinct values
    assert run.started_at <= run.finished_at and run.seconds is not None
    assert sum(group["matched"] for group in run.groups) == run.matched_count
    assert RuleHit.objects.count() == hits_before
    page = admin_client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in page and "Would act on" in page and "Cancel backtest" not in page
    # A replay of the task (the queue retried it) changes nothing.
    assert tasks.run_backtest(run.pk) == BacktestState.DONE
    assert BacktestRun.objects.get(pk=run.pk).finished_at == run.finished_at


def test_in_the_queues_sync_mode_the_run_completes_after_commit(
    orders, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(Conf, "SYNC", True)
    rule = make_rule(("paid_amount", "gte", "100"), name="big orders", enabled=False)
    since, until = _period()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.backtest_start(rule_id=rule.pk, since=since, until=until)
        assert BacktestRun.objects.get(pk=run.pk).state == BacktestState.QUEUED  # not before commit
    result = selectors.backtest_result(run_id=run.pk)
    assert result["state"] == BacktestState.DONE and result["method"] == "sql"
    assert 0 < result["matched"] < result["total_orders"] == 600


def test_cancel_stops_a_running_backtest_between_chunks(orders, monkeypatch):
    monkeypatch.setattr(backtest, "PYTHON_CHUNK", 100)  # 6 chunks
    rule = make_rule(("buyer_message", "regex", "顺丰|SF"), name="courier wishes", enabled=False)  # Python
    since, until = _period()
    run = services.backtest_start(rule_id=rule.pk, since=since, until=until, enqueue=False)
    seen: list[tuple[int, int]] = []

    def press_cancel_after_two_chunks(done: int, total: int) -> None:
        seen.append((done, total))
        assert BacktestRun.objects.get(pk=run.pk).progress_done == done  # stored as it goes
        if len(seen) == 2:
            services.backtest_cancel(run_id=run.pk)

    run = services.backtest_execute(run_id=run.pk, on_progress=press_cancel_after_two_chunks)
    assert run.state == BacktestState.CANCELLED and run.finished_at is not None
    assert len(seen) == 2 and seen[0][0] < seen[1][0] < 600  # stopped at the next chunk boundary
    assert seen[0] == (0, 600)  # the total is shown before the first chunk
    assert run.matched_count is None and run.sample_order_ids == []


def test_cancelling_a_queued_run_from_the_admin_means_the_worker_never_runs_it(admin_client, orders, broker):
    rule = make_rule(("paid_amount", "gte", "100"), name="big orders", enabled=False)
    since, until = _period()
    run = services.backtest_start(rule_id=rule.pk, since=since, until=until)
    cancel = reverse("admin:rules_interceptrule_backtest_cancel", args=[run.pk])
    assert admin_client.get(cancel).status_code == 405
    response = admin_client.post(cancel, follow=True)
    assert "Backtest cancelled" in response.content.decode()
    assert tasks.run_backtest(run.pk) == BacktestState.CANCELLED
    run.refresh_from_db()
    assert run.started_at is None and run.matched_count is None


def test_a_bad_period_is_refused_with_field_errors_and_nothing_is_recorded(admin_client, orders):
    rule = make_rule(("paid_amount", "gte", "100"), name="big orders", enabled=False)
    url = reverse("admin:rules_interceptrule_backtest", args=[rule.pk])
    today = timezone.localdate()
    backwards = admin_client.post(url, {"since": today.isoformat(), "until": (today - timedelta(days=2)).isoformat()})
    assert backwards.status_code == 200
    assert backwards.context["form"].errors["until"]
    too_long = admin_client.post(url, {"since": (today - timedelta(days=200)).isoformat(), "until": today.isoformat()})
    assert "at most 90 days" in str(too_long.context["form"].errors["since"])
    assert admin_client.post(url, {"since": "yesterday"}).context["form"].errors.keys() == {"since", "until"}
    assert not BacktestRun.objects.exists()
    since, until = _period()
    with pytest.raises(BacktestPeriodInvalid) as refused:
        services.backtest_start(rule_id=rule.pk, since=until, until=since)
    assert set(refused.value.errors) == {"until"}


def test_a_failing_run_records_the_error_instead_of_retrying(orders, monkeypatch):
    rule = make_rule(("paid_amount", "gte", "100"), name="big orders", enabled=False)
    since, until = _period()
    run = services.backtest_start(rule_id=rule.pk, since=since, until=until, enqueue=False)
    rule.conditions.update(value="not a number")  # saved around the admin's validation
    run = services.backtest_execute(run_id=run.pk)
    assert run.state == BacktestState.FAILED and "not a number" in run.error
