"""The same order delivered many times — at once, by push and pull, or out of order — is one order."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection

from conftest import postgres_only
from orders.models import Order, OrderLine, OrderState
from orders.tests.factories import make_channel, make_incoming


def _deliver_concurrently(ingest, channel, incoming, times: int) -> list:
    barrier = threading.Barrier(times)
    results, errors = [], []

    def deliver():
        try:
            barrier.wait(timeout=10)
            results.append(ingest(channel=channel, incoming=incoming, source="push"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_concurrent_deliveries_make_one_order(ingest):
    from inventory.tests.factories import make_sku, make_warehouse, stock

    stock(make_sku("SKU-TEA-250"), make_warehouse("WH"), 5)  # a real inventory: the line must have stock
    channel = make_channel()
    incoming = make_incoming()
    results = _deliver_concurrently(ingest, channel, incoming, times=20)
    assert len(results) == 20
    assert sum(r.created for r in results) == 1
    assert Order.objects.filter(channel=channel, external_id=incoming.external_id).count() == 1
    assert OrderLine.objects.filter(order__external_id=incoming.external_id).count() == len(incoming.lines)
    assert Order.objects.get(external_id=incoming.external_id).state == OrderState.READY


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_five_deliveries_at_once_make_one_order_on_any_database(ingest):
    channel = make_channel()
    incoming = make_incoming()
    results = _deliver_concurrently(ingest, channel, incoming, times=5)
    assert sum(r.created for r in results) == 1
    assert Order.objects.filter(external_id=incoming.external_id).count() == 1


@pytest.mark.django_db
def test_push_then_pull_of_same_order_is_one_order(channel, ingest):
    incoming = make_incoming()
    first = ingest(channel=channel, incoming=incoming, source="push")
    second = ingest(channel=channel, incoming=incoming, source="pull")
    assert first.created and not second.created and not second.changed
    assert Order.objects.filter(channel=channel).count() == 1


@pytest.mark.django_db
def test_same_external_id_on_two_channels_is_two_orders(ingest):
    incoming = make_incoming()
    ingest(channel=make_channel(), incoming=incoming, source="push")
    ingest(channel=make_channel(platform="jd"), incoming=incoming, source="push")
    assert Order.objects.filter(external_id=incoming.external_id).count() == 2


@pytest.mark.django_db
def test_older_message_changes_nothing(channel, ingest):
    incoming = make_incoming()
    ingest(channel=channel, incoming=incoming, source="pull")
    older = make_incoming(
        external_id=incoming.external_id,
        receiver_address="旧地址 1 号",
        modified_at=incoming.modified_at - timedelta(minutes=1),
    )
    result = ingest(channel=channel, incoming=older, source="push")
    assert result.stale and not result.changed
    assert Order.objects.get(channel=channel).receiver_address == incoming.receiver_address


@pytest.mark.django_db
def test_platform_close_cancels_an_open_order(channel, ingest):
    incoming = make_incoming()
    ingest(channel=channel, incoming=incoming, source="pull")
    closed = make_incoming(
        external_id=incoming.external_id,
        platform_status="cancelled",
        platform_status_raw="TRADE_CLOSED_BY_TAOBAO",
        modified_at=incoming.modified_at + timedelta(minutes=3),
    )
    result = ingest(channel=channel, incoming=closed, source="pull")
    assert result.changed
    order = Order.objects.get(channel=channel)
    assert order.state == OrderState.CANCELLED
    assert order.events.filter(kind="cancel").exists()


@pytest.mark.django_db
def test_refund_request_after_acceptance_holds_the_order(channel, ingest):
    incoming = make_incoming()
    ingest(channel=channel, incoming=incoming, source="pull")
    refund = make_incoming(
        external_id=incoming.external_id, refund_requested=True, modified_at=incoming.modified_at + timedelta(minutes=1)
    )
    result = ingest(channel=channel, incoming=refund, source="pull")
    assert "refund_requested" in result.changes
    order = Order.objects.get(channel=channel)
    assert order.refund_requested is True


@pytest.mark.django_db
def test_address_change_is_applied_and_recorded(channel, ingest):
    incoming = make_incoming()
    ingest(channel=channel, incoming=incoming, source="pull")
    moved = make_incoming(
        external_id=incoming.external_id,
        receiver_address="莫干山路 88 号",
        modified_at=incoming.modified_at + timedelta(minutes=1),
    )
    result = ingest(channel=channel, incoming=moved, source="push")
    assert "address_changed" in result.changes
    order = Order.objects.get(channel=channel)
    assert order.receiver_address == "莫干山路 88 号"
    assert order.events.filter(kind="platform_update", note__contains="address_changed").exists()


@pytest.mark.django_db
def test_disabled_channel_ingests_nothing(ingest):
    from orders.errors import ChannelDisabled

    channel = make_channel(enabled=False)
    with pytest.raises(ChannelDisabled):
        ingest(channel=channel, incoming=make_incoming(), source="push")
    assert not Order.objects.filter(channel=channel).exists()


@pytest.mark.django_db
def test_buyer_message_added_later_puts_a_ready_order_on_hold_for_review(channel, ingest):
    from inventory.tests.factories import make_sku, make_warehouse, stock

    stock(make_sku("SKU-TEA-250"), make_warehouse("WH"), 5)  # a real inventory: the line must have stock
    incoming = make_incoming()
    assert ingest(channel=channel, incoming=incoming, source="pull").order.state == OrderState.READY
    later = make_incoming(
        external_id=incoming.external_id,
        buyer_message="请改发顺丰，运费我补",
        modified_at=incoming.modified_at + timedelta(minutes=2),
    )
    ingest(channel=channel, incoming=later, source="pull")
    order = Order.objects.get(channel=channel)
    assert order.state == OrderState.ON_HOLD
    assert order.exception_tasks.filter(exception_type__code="remark_review").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_concurrent_webhook_deliveries_make_one_order(live_server):
    """The same signed delivery posted 20 times at once over HTTP: all accepted, one order
    (row locks on PostgreSQL, IMMEDIATE transactions on SQLite)."""
    import json
    import time
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
    from orders.tests.conftest import load_sample

    channel = make_channel(platform="taobao")
    body = json.dumps(load_sample("taobao_order.json"), ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: webhook_signature(secret=channel.webhook_secret, timestamp=stamp, body=body),
    }
    url = f"{live_server.url}/api/v1/channels/{channel.pk}/webhook"
    barrier = threading.Barrier(20)

    def deliver(_):
        barrier.wait(timeout=10)
        return requests.post(url, data=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(deliver, range(20)))
    assert [r.status_code for r in responses] == [202] * 20
    assert sum(r.json()["created"] for r in responses) == 1
    assert len({r.json()["order_id"] for r in responses}) == 1
    assert Order.objects.filter(channel=channel).count() == 1
    assert OrderLine.objects.filter(order__channel=channel).count() == 2


@pytest.mark.django_db
def test_order_first_seen_closed_is_stored_cancelled_and_never_printed(channel, ingest):
    closed = make_incoming(platform_status="cancelled", platform_status_raw="TRADE_CLOSED_BY_TAOBAO")
    result = ingest(channel=channel, incoming=closed, source="pull")
    assert result.created
    assert result.order.state == OrderState.CANCELLED


@pytest.mark.django_db
def test_order_first_seen_shipped_is_held_not_printed(channel, ingest):
    shipped = make_incoming(platform_status="shipped", platform_status_raw="WAIT_BUYER_CONFIRM_GOODS")
    order = ingest(channel=channel, incoming=shipped, source="pull").order
    assert order.state == OrderState.ON_HOLD
    assert order.hold_reason.startswith("shipped outside OrderHub")
    assert not order.stock_reservations.exists()


@pytest.mark.django_db
def test_ready_order_shipped_from_the_platform_console_is_held(channel, ingest):
    from inventory.tests.factories import make_sku, make_warehouse, stock

    stock(make_sku("SKU-TEA-250"), make_warehouse("WH"), 5)
    incoming = make_incoming()
    assert ingest(channel=channel, incoming=incoming, source="pull").order.state == OrderState.READY
    shipped = make_incoming(
        external_id=incoming.external_id,
        platform_status="shipped",
        platform_status_raw="WAIT_BUYER_CONFIRM_GOODS",
        modified_at=incoming.modified_at + timedelta(minutes=5),
    )
    ingest(channel=channel, incoming=shipped, source="pull")
    order = Order.objects.get(channel=channel)
    assert order.state == OrderState.ON_HOLD
    assert "shipped outside OrderHub" in order.hold_reason


@pytest.mark.django_db
def test_held_order_shipped_from_the_platform_console_says_so_first(channel, ingest):
    incoming = make_incoming()  # its SKU is unknown: held as sku_unmatched
    ingest(channel=channel, incoming=incoming, source="pull")
    shipped = make_incoming(
        external_id=incoming.external_id,
        platform_status="shipped",
        platform_status_raw="WAIT_BUYER_CONFIRM_GOODS",
        modified_at=incoming.modified_at + timedelta(minutes=5),
    )
    ingest(channel=channel, incoming=shipped, source="pull")
    order = Order.objects.get(channel=channel)
    assert order.state == OrderState.ON_HOLD
    assert order.hold_reason.startswith("shipped outside OrderHub") and "sku_unmatched" in order.hold_reason
