"""Issue 10 across the apps, on the platform emulator: an order shipped and written back; the buyer
asks for a refund of one line on the platform; the next read of the order (as a pull or a push's
re-read does) marks that line requested and opens a return (RMA) for its shipped units; withdrawn on
the platform, the return that received nothing is cancelled."""

from __future__ import annotations

import pytest

from orders.channels import get_adapter
from orders.models import LineRefundState
from orders.services import ingest_order
from shipping import services
from shipping.models import Return, ReturnState
from shipping.tests.conftest import account_on
from shipping.tests.writeback_world import platform_orders, ship_parcels, stock_catalog

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("platform", ["taobao", "douyin"])  # the platforms with line-level refunds and events
def test_a_platform_refund_on_a_shipped_line_opens_and_a_withdrawal_cancels_a_return(platform, shop, emulator, scanner):
    stock_catalog()
    channel = shop(platform)
    account_on(channel, "ZTO")
    _device, client = scanner
    (order,) = platform_orders(channel, emulator, lines=[(0, 2), (1, 1)])
    ship_parcels(order, client)
    assert services.write_backs_drain().done
    adapter = get_adapter(channel)

    def read_again() -> None:
        result = ingest_order(channel=channel, incoming=adapter.fetch_order(order.external_id), source="pull")
        assert result.order.pk == order.pk

    emulator.apply_event(platform, order.external_id, "refund_request", line=0)
    read_again()
    first = order.lines.order_by("pk").first()
    first.refresh_from_db()
    assert first.refund_state == LineRefundState.REQUESTED
    rma = Return.objects.get(order=order)
    assert rma.state == ReturnState.EXPECTED and rma.source == "platform"
    assert list(rma.items.values_list("order_line_id", "expected_quantity")) == [(first.pk, 2)]

    read_again()  # the same message again opens nothing more
    assert Return.objects.filter(order=order).count() == 1

    emulator.apply_event(platform, order.external_id, "refund_withdraw", line=0)
    read_again()
    rma.refresh_from_db()
    assert rma.state == ReturnState.CANCELLED
