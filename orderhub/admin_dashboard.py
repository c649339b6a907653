"""The admin index's dashboard as the template shows it: charts and the filtered list behind each
figure (orderhub.dashboard reads the figures). A figure links to its list only for a reader whose
role may open that list; for the others it is shown without a link (a click would end in a 403)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.apps import apps
from django.contrib.admin import AdminSite
from django.contrib.admin.exceptions import NotRegistered
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _

from orderhub.charts import Bar, Group, bar_chart
from orderhub.dashboard import SLA_HOURS, Dashboard, Throughput

#: the admin lists the dashboard's figures open, by the key the template reads (`dash_urls.<key>`)
LINKED_LISTS = {
    "orders": "orders.Order",
    "tasks": "rules.ExceptionTask",
    "writebacks": "shipping.WriteBack",
    "listings": "inventory.ChannelListing",
    "skus": "inventory.Sku",
    "alerts": "orders.Alert",
    "channels": "orders.Channel",
    "reconciliations": "inventory.ReconciliationRun",
}


def list_urls(request: HttpRequest, site: AdminSite) -> dict[str, str]:
    """Each linked list's address, or "" when the reader may not open it: the same check as the
    list itself (its ModelAdmin's view-or-change permission), so a link never leads to a 403."""
    urls = {}
    for key, label in LINKED_LISTS.items():
        model = apps.get_model(label)
        try:
            allowed = site.get_model_admin(model).has_view_or_change_permission(request)
        except NotRegistered:
            allowed = False
        opts = model._meta
        urls[key] = reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_changelist") if allowed else ""
    return urls


def order_list_url(**params) -> str:
    url = reverse("admin:orders_order_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def received_url(start: dt.datetime, end: dt.datetime, **params) -> str:
    """Orders received in [start, end) — index-friendly range lookups on received_at."""
    return order_list_url(received_at__gte=start.isoformat(), received_at__lt=end.isoformat(), **params)


def shipped_url(day: dt.date, **params) -> str:
    """Orders whose last parcel left on `day` (orders.admin.ShippedOnFilter)."""
    return order_list_url(shipped_on=day.isoformat(), **params)


def hours(minutes: int | None) -> str:
    """Minutes as "2 h 05 min" (or "—")."""
    if minutes is None:
        return "—"
    return _("%(h)d h %(m)02d min") % {"h": minutes // 60, "m": minutes % 60}


def share(figures: Throughput) -> str:
    return "—" if figures.sla_share is None else f"{figures.sla_share:.0%}"


def _day_label(day: dt.date) -> str:
    return formats.date_format(day, "m-d")


def _link_if(linked: bool, url: str) -> str | None:
    """The link, or None (the figure without a link) for a reader who may not open the list."""
    return url if linked else None


def throughput_chart(figures: Dashboard, *, linked: bool = True) -> str:
    groups = []
    for row in figures.days:
        day = formats.date_format(row.day, "Y-m-d")
        groups.append(
            Group(
                label=_day_label(row.day),
                bars=[
                    Bar(
                        row.figures.orders_in,
                        _("%(day)s: %(n)d orders in") % {"day": day, "n": row.figures.orders_in},
                        _link_if(linked, received_url(row.start, row.end)),
                        "in",
                    ),
                    Bar(
                        row.figures.shipped,
                        _("%(day)s: %(n)d shipped") % {"day": day, "n": row.figures.shipped},
                        _link_if(linked, shipped_url(row.day)),
                        "shipped",
                    ),
                ],
            )
        )
    return bar_chart(groups, label=_("Orders in and shipped per day"))


def sla_chart(figures: Dashboard, *, linked: bool = True) -> str:
    groups = []
    for row in figures.days:
        day = formats.date_format(row.day, "Y-m-d")
        value = 100 * (row.figures.sla_share or 0)
        title = _("%(day)s: %(share)s shipped within the SLA (%(n)d shipped)") % {
            "day": day,
            "share": share(row.figures),
            "n": row.figures.shipped,
        }
        groups.append(
            Group(label=_day_label(row.day), bars=[Bar(value, title, _link_if(linked, shipped_url(row.day)), "sla")])
        )
    return bar_chart(groups, label=_("Share shipped within the SLA per day"), unit="%", top=100)


def lead_time_chart(figures: Dashboard, *, linked: bool = True) -> str:
    groups = []
    for row in figures.days:
        day = formats.date_format(row.day, "Y-m-d")
        p50, p90 = row.figures.p50, row.figures.p90
        groups.append(
            Group(
                label=_day_label(row.day),
                bars=[
                    Bar(
                        (p50 or 0) / 60,
                        _("%(day)s: median paid → shipped %(t)s") % {"day": day, "t": hours(p50)},
                        _link_if(linked, shipped_url(row.day)),
                        "p50",
                    ),
                    Bar(
                        (p90 or 0) / 60,
                        _("%(day)s: 90th percentile paid → shipped %(t)s") % {"day": day, "t": hours(p90)},
                        _link_if(linked, shipped_url(row.day)),
                        "p90",
                    ),
                ],
            )
        )
    return bar_chart(groups, label=_("Paid → shipped time per day (hours)"), unit=" h")


def dashboard_context(figures: Dashboard, urls: dict[str, str]) -> dict:
    """The template's context; `urls` (list_urls) says which lists the reader may open: the order
    list's links below are None without it, and the template links the other figures by `dash_urls`."""
    today = figures.days[-1]
    first = figures.days[0]
    orders = bool(urls.get("orders"))
    deadlines = {row.channel.pk: row for row in figures.deadlines_by_channel}
    channels = [
        {
            "channel": row.channel,
            "today": row.today,
            "window": row.window,
            "today_in_url": _link_if(orders, received_url(today.start, today.end, channel__id__exact=row.channel.pk)),
            "today_shipped_url": _link_if(orders, shipped_url(today.day, channel__id__exact=row.channel.pk)),
            "window_in_url": _link_if(orders, received_url(first.start, today.end, channel__id__exact=row.channel.pk)),
            "window_shipped_url": _link_if(
                orders, order_list_url(shipped_on=f"{first.day}..{today.day}", channel__id__exact=row.channel.pk)
            ),
            "overdue": deadlines[row.channel.pk].overdue if row.channel.pk in deadlines else 0,
            "at_risk": deadlines[row.channel.pk].at_risk if row.channel.pk in deadlines else 0,
            "today_p50": hours(row.today.p50),
            "today_p90": hours(row.today.p90),
            "today_share": share(row.today),
            "window_p50": hours(row.window.p50),
            "window_p90": hours(row.window.p90),
            "window_share": share(row.window),
        }
        for row in figures.channels
    ]
    return {
        "dash": figures,
        "dash_urls": urls,
        "sla_hours": SLA_HOURS,
        "dash_channels": channels,
        "dash_today_in_url": _link_if(orders, received_url(today.start, today.end)),
        "dash_today_shipped_url": _link_if(orders, shipped_url(today.day)),
        "dash_window_in_url": _link_if(orders, received_url(first.start, today.end)),
        "dash_window_shipped_url": _link_if(orders, order_list_url(shipped_on=f"{first.day}..{today.day}")),
        "dash_hours": {
            "today_p50": hours(figures.today.p50),
            "today_p90": hours(figures.today.p90),
            "window_p50": hours(figures.window.p50),
            "window_p90": hours(figures.window.p90),
        },
        "dash_share": {"today": share(figures.today), "window": share(figures.window)},
        "dash_charts": {
            "throughput": throughput_chart(figures, linked=orders),
            "sla": sla_chart(figures, linked=orders),
            "lead_time": lead_time_chart(figures, linked=orders),
        },
    }
