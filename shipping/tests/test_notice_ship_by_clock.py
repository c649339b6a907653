"""The ship-by clock: an order still owing a parcel at its ship-by time (partially shipped ones too)
raises one alert per channel and one `delayed` notice per order, not twice; the alert clears itself
when the channel has no late order left; the admin index counts overdue and at-risk orders per channel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import Alert, Channel, Order
from shipping.models import BuyerNotice
from shipping.notices.services import check_ship_by, drain_buyer_notices
from shipping.notices.services.ship_by import alert_key

pytestmark = pytest.mark.django_db


def _order(channel: Channel, *, state: str, ship_by_in: timedelta, phone: str = "13812345678") -> Order:
    n = Order.objects.count() + 1
    return Order.objects.create(
        channel=channel,
        external_id=f"D{n:05d}",
        state=state,
        platform_status="awaiting_shipment",
        receiver_phone=phone,
        receiver_province="浙江省",
        ship_by=timezone.now() + ship_by_in,
    )


@pytest.fixture
def shops(db) -> tuple[Channel, Channel]:
    return (
        Channel.objects.create(platform="manual", name="自建商城"),
        Channel.objects.create(platform="taobao", name="淘宝旗舰店"),
    )


def test_late_orders_raise_one_alert_per_channel_and_one_delayed_notice_each(shops):
    mall, taobao = shops
    late_ready = _order(mall, state="ready", ship_by_in=-timedelta(minutes=5))
    late_partial = _order(mall, state="partially_shipped", ship_by_in=-timedelta(hours=2))
    late_taobao = _order(taobao, state="printed", ship_by_in=-timedelta(minutes=1))
    _order(mall, state="shipped", ship_by_in=-timedelta(hours=3))  # shipped in time or not: done
    _order(mall, state="ready", ship_by_in=timedelta(minutes=30))  # at risk, not late yet
    _order(mall, state="ready", ship_by_in=-timedelta(days=10))  # late long before the clock ran

    result = check_ship_by()
    assert (result.overdue, result.notices_created, result.alerts_open) == (4, 3, 2)
    delayed = BuyerNotice.objects.filter(event="delayed")
    assert sorted(delayed.values_list("order_id", flat=True)) == sorted(
        [late_ready.pk, late_partial.pk, late_taobao.pk]
    )
    assert set(delayed.values_list("shipment", flat=True)) == {None}
    alert = Alert.objects.get(key=alert_key(mall.pk), resolved_at__isnull=True)
    assert alert.channel == mall and alert.count == 1 and "3 order(s) of 自建商城" in alert.message

    again = check_ship_by()  # the next run: nothing new, no bump
    assert (again.notices_created, again.alerts_open) == (0, 2)
    assert BuyerNotice.objects.filter(event="delayed").count() == 3
    assert Alert.objects.get(key=alert_key(mall.pk), resolved_at__isnull=True).count == 1

    # the taobao order ships: its channel's alert clears itself, the mall's stays
    Order.objects.filter(pk=late_taobao.pk).update(state="shipped")
    cleared = check_ship_by()
    assert cleared.alerts_cleared == 1
    assert not Alert.objects.filter(key=alert_key(taobao.pk), resolved_at__isnull=True).exists()
    assert Alert.objects.filter(key=alert_key(mall.pk), resolved_at__isnull=True).exists()


def test_a_delayed_notice_tells_the_deadline_or_is_skipped_once_the_order_shipped(shops):
    mall, _taobao = shops
    late = _order(mall, state="ready", ship_by_in=-timedelta(minutes=5))
    shipped_since = _order(mall, state="ready", ship_by_in=-timedelta(minutes=5))
    check_ship_by()
    Order.objects.filter(pk=shipped_since.pk).update(state="shipped")
    result = drain_buyer_notices()
    assert (result.sent, result.skipped) == (1, 1), result
    sent = BuyerNotice.objects.get(order=late, event="delayed")
    assert timezone.localtime(late.ship_by).strftime("%Y-%m-%d %H:%M") in sent.rendered_text
    assert sent.state == "done"
    skipped = BuyerNotice.objects.get(order=shipped_since, event="delayed")
    assert skipped.state == "skipped" and "shipped or closed" in skipped.last_error


def test_one_delayed_notice_per_order_is_a_database_rule(shops):
    from django.db import IntegrityError, transaction

    order = _order(shops[0], state="ready", ship_by_in=-timedelta(minutes=5))
    BuyerNotice.objects.create(order=order, event="delayed")
    with pytest.raises(IntegrityError), transaction.atomic():
        BuyerNotice.objects.create(order=order, event="delayed")


def test_the_admin_index_counts_late_and_at_risk_orders_per_channel(shops, admin_client):
    mall, taobao = shops
    _order(mall, state="ready", ship_by_in=-timedelta(minutes=5))
    _order(mall, state="partially_shipped", ship_by_in=-timedelta(minutes=5))
    _order(taobao, state="ready", ship_by_in=timedelta(minutes=20))
    page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    changelist = reverse("admin:orders_order_changelist")
    assert f"{changelist}?deadline=overdue&amp;channel__id__exact={mall.pk}" in page
    assert re.search(rf'\?deadline=overdue&amp;channel__id__exact={mall.pk}"[^>]*>2</a>', page)
    assert re.search(rf'\?deadline=at_risk&amp;channel__id__exact={taobao.pk}">1</a>', page)
    filtered = admin_client.get(f"{changelist}?deadline=overdue&channel__id__exact={mall.pk}")
    assert filtered.status_code == 200 and filtered.context["cl"].result_count == 2
