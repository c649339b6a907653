"""What the drain does with each kind of answer, over real HTTP to the emulator: retryable failures
back off and succeed later or become a dead letter with an alert; "already shipped" counts only once
the re-read order shows our number; a closed platform order or a refusal becomes a task for a person
with the platform's reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.channels import get_adapter
from orders.channels.base import ShipRequest
from orders.models import Alert
from rules.models import ExceptionTask
from shipping import services
from shipping.models import AttemptOutcome, Carrier, OutboxState, WriteBack, WriteBackFailure
from shipping.services.writeback import backoff_seconds
from shipping.tests.conftest import account_on
from shipping.tests.writeback_world import emulator_shipments, platform_orders, ship_parcels, stock_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(shop, emulator, scanner):
    """Factory: an order of `platform` scanned out, its write-back pending (nothing called yet)."""
    stock_catalog()
    _device, client = scanner

    def make(platform: str = "taobao"):
        channel = shop(platform)
        account_on(channel, "ZTO")
        (order,) = platform_orders(channel, emulator, lines=[(0, 1)])
        (parcel,) = ship_parcels(order, client)
        return order, parcel, WriteBack.objects.get(order=order)

    return make


def outcomes(row: WriteBack) -> list[str]:
    return list(row.attempt_log.order_by("pk").values_list("outcome", flat=True))


def test_two_failures_then_success_on_the_third_attempt(shipped, emulator, settings):
    settings.WRITEBACK_BACKOFF_BASE_SECONDS = 0  # due again at once: no waiting in the test
    order, parcel, row = shipped("taobao")
    emulator.add_fault("taobao", "http500", count=2, method="taobao.logistics.offline.send")

    for expected_failures in (1, 2):
        report = services.write_backs_drain(limit=1)
        row.refresh_from_db()
        assert report.retrying == [row.pk] and row.state == OutboxState.PENDING
        assert row.attempts == expected_failures and "500" in row.last_error
    report = services.write_backs_drain(limit=1)
    row.refresh_from_db()
    assert report.done == [row.pk] and row.state == OutboxState.DONE and row.last_error == ""
    assert outcomes(row) == [AttemptOutcome.RETRY, AttemptOutcome.RETRY, AttemptOutcome.SHIPPED]
    assert all(a.request["out_sid"] == parcel.tracking_number for a in row.attempt_log.all())
    assert len(emulator_shipments(emulator, "taobao", order.external_id)) == 1


def test_a_retryable_failure_waits_with_exponential_backoff_and_jitter(shipped, emulator, settings):
    settings.WRITEBACK_BACKOFF_BASE_SECONDS = 40
    settings.WRITEBACK_BACKOFF_CAP_SECONDS = 100
    _order, _parcel, row = shipped("pdd")
    emulator.add_fault("pdd", "http500", count=1)
    before = timezone.now()
    services.write_backs_drain()
    row.refresh_from_db()
    assert before + timedelta(seconds=20) <= row.next_attempt_at <= timezone.now() + timedelta(seconds=40)
    assert services.write_backs_drain().claimed == 0  # not due yet
    assert all(20 <= backoff_seconds(2) <= 40 * 2 for _ in range(50))
    assert all(50 <= backoff_seconds(9) <= 100 for _ in range(50))  # capped


def test_failing_for_good_becomes_a_dead_letter_with_an_alert(shipped, emulator, settings):
    settings.WRITEBACK_BACKOFF_BASE_SECONDS = 0
    settings.WRITEBACK_MAX_ATTEMPTS = 3
    order, _parcel, row = shipped("douyin")
    emulator.add_fault("douyin", "error_code", count=50, code="20000", sub_code="isp.service-error:9999")

    report = services.write_backs_drain()
    row.refresh_from_db()
    assert report.failed == [row.pk]
    assert row.state == OutboxState.FAILED and row.failure == WriteBackFailure.DEAD_LETTER and row.attempts == 3
    assert outcomes(row) == [AttemptOutcome.RETRY, AttemptOutcome.RETRY, AttemptOutcome.DEAD_LETTER]
    alert = Alert.objects.get(key=f"write_back_dead_letter:{order.channel_id}", resolved_at__isnull=True)
    assert order.external_id in alert.message and "isp.service-error" in alert.message
    assert emulator_shipments(emulator, "douyin", order.external_id) == []
    assert services.write_backs_drain().claimed == 0  # a dead letter waits for a person


@pytest.mark.parametrize("platform", ["taobao", "douyin", "kuaishou"])
def test_already_shipped_with_our_number_counts_as_done_after_the_re_read(platform, shipped, emulator):
    order, parcel, row = shipped(platform)
    # an earlier call whose answer was lost: the platform has the shipment already
    adapter = get_adapter(order.channel)
    code = parcel.carrier.code_on(platform)
    adapter.ship(ShipRequest(external_id=order.external_id, tracking_number=parcel.tracking_number, carrier_code=code))

    report = services.write_backs_drain()
    row.refresh_from_db()
    assert report.done == [row.pk] and row.state == OutboxState.DONE
    assert outcomes(row) == [AttemptOutcome.ALREADY_SHIPPED]
    assert len(emulator_shipments(emulator, platform, order.external_id)) == 1
    assert not ExceptionTask.objects.filter(order=order).exists()


def test_already_shipped_with_another_number_goes_to_a_person(shipped, emulator):
    order, parcel, row = shipped("taobao")
    adapter = get_adapter(order.channel)
    adapter.ship(ShipRequest(external_id=order.external_id, tracking_number="YTO9999999999", carrier_code="YTO"))

    services.write_backs_drain()
    row.refresh_from_db()
    assert row.state == OutboxState.FAILED and row.failure == WriteBackFailure.REFUSED
    task = ExceptionTask.objects.get(order=order, exception_type__code="write_back_refused", state="open")
    assert parcel.tracking_number in task.note and "YTO9999999999" in task.note


@pytest.mark.parametrize("platform", ["taobao", "douyin", "pdd"])
def test_a_closed_platform_order_becomes_a_task_for_a_person(platform, shipped, emulator):
    order, _parcel, row = shipped(platform)
    emulator.apply_event(platform, order.external_id, "cancel")

    services.write_backs_drain()
    row.refresh_from_db()
    assert row.state == OutboxState.FAILED and row.failure == WriteBackFailure.ORDER_CLOSED
    assert outcomes(row) == [AttemptOutcome.ORDER_CLOSED]
    task = ExceptionTask.objects.get(order=order, exception_type__code="platform_order_closed", state="open")
    assert "closed" in task.note
    assert emulator_shipments(emulator, platform, order.external_id) == []


@pytest.mark.parametrize(("platform", "reason"), [("taobao", "company_code"), ("douyin", "60018"), ("jd", "10400010")])
def test_a_carrier_code_the_platform_refuses_goes_straight_to_a_person(platform, reason, shipped, emulator):
    order, _parcel, row = shipped(platform)
    carrier = Carrier.objects.get(code="ZTO")
    carrier.platform_codes = {**carrier.platform_codes, platform: "999"}
    carrier.save()

    services.write_backs_drain()
    row.refresh_from_db()
    assert row.state == OutboxState.FAILED and row.failure == WriteBackFailure.REFUSED and row.attempts == 1
    task = ExceptionTask.objects.get(order=order, exception_type__code="write_back_refused", state="open")
    assert reason in task.note
    assert emulator_shipments(emulator, platform, order.external_id) == []
