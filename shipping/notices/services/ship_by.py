"""The ship-by clock: orders still owing a parcel at their ship-by time (partially shipped ones too)
raise one alert per channel, which clears itself once the channel has none left, and one `delayed`
buyer notice per order (the notice has no parcel yet; a unique rule keeps it to one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from orders.models import Alert, AlertSeverity, Channel, Order
from shipping.models import BuyerNotice

ALERT_SOURCE = "ship_by"


def alert_key(channel_id: int) -> str:
    return f"ship_by:overdue:{channel_id}"


@dataclass
class ShipByResult:
    overdue: int = 0
    notices_created: int = 0
    alerts_open: int = 0
    alerts_cleared: int = 0


def check_ship_by(*, now: datetime | None = None) -> ShipByResult:
    """Run by the schedule every few minutes; idempotent (a second run changes nothing)."""
    from orders.services import alert_raise, alert_resolve

    now = now or timezone.now()
    late = Order.objects.overdue(now=now)
    result = ShipByResult(overdue=late.count())
    lookback = now - timedelta(days=settings.NOTICE_DELAYED_LOOKBACK_DAYS)
    with transaction.atomic():
        missing = (
            late.filter(ship_by__gte=lookback)
            .exclude(
                pk__in=BuyerNotice.objects.filter(event=BuyerNotice.EVENT_DELAYED, shipment__isnull=True).values(
                    "order_id"
                )
            )
            .values_list("pk", flat=True)
        )
        created = BuyerNotice.objects.bulk_create(
            [BuyerNotice(order_id=pk, shipment=None, event=BuyerNotice.EVENT_DELAYED) for pk in missing],
            ignore_conflicts=True,  # a concurrent run made it first: the unique rule keeps one
        )
        result.notices_created = len(created)
    per_channel: dict[int, tuple[str, int]] = {}
    for channel_id, name in late.values_list("channel_id", "channel__name"):
        per_channel[channel_id] = (name, per_channel.get(channel_id, (name, 0))[1] + 1)
    open_alerts = {
        alert.key: alert
        for alert in Alert.objects.filter(source=ALERT_SOURCE, resolved_at__isnull=True, key__startswith="ship_by:")
    }
    channels = Channel.objects.in_bulk(list(per_channel))
    for channel_id, (name, count) in per_channel.items():
        message = gettext("%(n)d order(s) of %(channel)s are past their ship-by time.") % {
            "n": count,
            "channel": name,
        }
        existing = open_alerts.pop(alert_key(channel_id), None)
        if existing is None or existing.message != message:  # unchanged: no bump every few minutes
            alert_raise(
                key=alert_key(channel_id),
                source=ALERT_SOURCE,
                message=message,
                severity=AlertSeverity.WARNING,
                channel=channels.get(channel_id),
            )
        result.alerts_open += 1
    for key in open_alerts:  # channels with no late order left
        result.alerts_cleared += alert_resolve(key=key)
    if result.notices_created:
        from shipping.notices.services.sending import enqueue_drain

        transaction.on_commit(enqueue_drain)
    return result
