"""Ops console for channels and orders. Thin: every change goes through orders.services."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from orderhub.admin_export import ViewPermissionExportMixin
from orderhub.admin_filters import RecentDateFilter
from orderhub.admin_history import ReadOnlyAdmin, ReadOnlyHistoryAdmin
from orderhub.admin_masking import ReceiverMaskingAdmin, SecretFieldsAdmin
from orderhub.masking import RECEIVER_DETAILS_PERMISSION, SECRET_FIELDS, mask_secret
from orderhub.pagination import EstimatedCountAdminMixin
from orders import gateway, selectors, services
from orders.errors import OrderError
from orders.models import (
    AWAITING_SHIPMENT_STATES,
    Alert,
    Channel,
    InboxMessage,
    Order,
    OrderEvent,
    OrderLine,
    OrderState,
    QuarantinedMessage,
)
from orders.resources import OrderExportResource

# Transitions ops staff may trigger from the admin: name -> (label, service)
ORDER_ACTIONS = {
    "hold": (
        _("Pause (hold)"),
        lambda order, user, note: services.order_hold(order_id=order.pk, actor=user, reason=note),
    ),
    "release": (
        pgettext_lazy("order action", "Release"),
        lambda order, user, note: services.order_release(order_id=order.pk, actor=user, note=note),
    ),
    "cancel": (_("Cancel"), lambda order, user, note: services.order_cancel(order_id=order.pk, actor=user, note=note)),
    "mark_printed": (
        _("Mark printed"),
        lambda order, user, note: services.order_mark_printed(order_id=order.pk, actor=user),
    ),
}
ACTION_SOURCES = {
    "hold": (OrderState.NEW, OrderState.READY, OrderState.AWAITING_STOCK, OrderState.PRINTED),
    "release": (OrderState.ON_HOLD, OrderState.AWAITING_STOCK),
    "cancel": (OrderState.NEW, OrderState.READY, OrderState.ON_HOLD, OrderState.AWAITING_STOCK, OrderState.PRINTED),
    "mark_printed": (OrderState.READY,),
}


class OverdueFilter(admin.SimpleListFilter):
    title = _("ship-by deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", _("Overdue")), ("at_risk", _("Less than 1 h left"))]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.overdue()
        if self.value() == "at_risk":
            return queryset.at_risk()
        return queryset


class ReceivedFilter(RecentDateFilter):
    title = _("received")
    parameter_name = "received"
    date_field = "received_at"


def yuan(amount) -> str:
    """An amount as ops read it: ¥1,234.50."""
    return f"¥{amount:,.2f}"


def duration_words(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes >= 60:
        return _("%(h)d h %(m)02d min") % {"h": minutes // 60, "m": minutes % 60}
    return _("%(m)d min") % {"m": minutes}


def ship_by_countdown(order: Order) -> str:
    """Time left to the ship-by deadline while the order still owes a parcel (late in red, < 1 h in
    orange); the deadline itself, in the admin's one date format, as the tooltip."""
    if not order.ship_by:
        return "—"
    when = date_format(timezone.localtime(order.ship_by), "DATETIME_FORMAT")
    left = order.time_left()
    if order.state not in AWAITING_SHIPMENT_STATES:
        return format_html('<span class="ship-by done">{}</span>', when)
    if left.total_seconds() < 0:
        text = _("%(time)s late") % {"time": duration_words(left.total_seconds())}
        return format_html('<strong class="ship-by late" title="{}">⚠ {}</strong>', when, text)
    text = _("%(time)s left") % {"time": duration_words(left.total_seconds())}
    css = "soon" if left.total_seconds() < 3600 else "ok"
    return format_html('<span class="ship-by {}" title="{}">{}</span>', css, when, text)


class ShippedOnFilter(admin.SimpleListFilter):
    """Orders whose last parcel left on a local day, or in a range of days ("2026-11-01..2026-11-14"):
    the list behind the dashboard's shipped figures (a grouped read of ship events by time)."""

    title = _("shipped on")
    parameter_name = "shipped_on"

    def lookups(self, request, model_admin):
        today = timezone.localdate()
        return [
            (today.isoformat(), _("Today")),
            ((today - timedelta(days=1)).isoformat(), _("Yesterday")),
            (f"{today - timedelta(days=13)}..{today}", _("Last 14 days")),
        ]

    def choices(self, changelist):
        """The offered days, plus the one asked for when it is another (a link from the dashboard)."""
        yield from super().choices(changelist)
        value = self.value()
        if value and value not in {str(lookup) for lookup, _title in self.lookup_choices}:
            yield {"selected": True, "query_string": changelist.get_query_string(), "display": value}

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        first, _sep, last = self.value().partition("..")
        try:
            start_day = date.fromisoformat(first)
            end_day = date.fromisoformat(last or first)
        except ValueError as exc:
            raise IncorrectLookupParameters(_("Give a day as YYYY-MM-DD.")) from exc
        tz = timezone.get_current_timezone()
        start = datetime.combine(start_day, time.min, tzinfo=tz)
        end = datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=tz)
        shipped = OrderEvent.objects.filter(kind="ship", at__gte=start, at__lt=end).values("order_id")
        return queryset.filter(pk__in=shipped)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = [
        "sku_code",
        "platform_sku_id",
        "title",
        "quantity",
        "unit_price",
        "discount_amount",
        "paid_amount",
        "refund_state",
        "refund_status",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["at", "event", "from_state_label", "to_state_label", "event_actor", "event_note"]
    readonly_fields = fields
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("event"))
    def event(self, obj: OrderEvent) -> str:
        return obj.kind_label

    @admin.display(description=_("from"))
    def from_state_label(self, obj: OrderEvent) -> str:
        return obj.from_state_label or self.get_empty_value_display()

    @admin.display(description=_("to"))
    def to_state_label(self, obj: OrderEvent) -> str:
        return obj.to_state_label or self.get_empty_value_display()

    @admin.display(description=_("by"))
    def event_actor(self, obj: OrderEvent) -> str:
        return str(obj.actor) if obj.actor else self.get_empty_value_display()

    @admin.display(description=_("note"))
    def event_note(self, obj: OrderEvent) -> str:
        return obj.description


class ChannelAdminForm(forms.ModelForm):
    """Credentials are write-only: each shows as `••••1234` (or "not set") above an empty input;
    typing a value sets or replaces it, leaving the input empty keeps the stored one."""

    class Meta:
        model = Channel
        fields = [
            "platform",
            "name",
            "enabled",
            "ship_within_hours",
            "api_base_url",
            "app_key",
            *SECRET_FIELDS,
            "pull_enabled",
            "pull_interval_minutes",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields.get(name)
            if field is None:
                continue
            field.required = False
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            current = getattr(self.instance, name, "") if self.instance.pk else ""
            field.help_text = format_html(
                "{}: <code>{}</code> · {}",
                _("stored"),
                mask_secret(current),
                _("Type a new value to set or replace it; leave empty to keep the stored one."),
            )
        self.replaced_secrets: list[str] = []

    def clean(self):
        data = super().clean()
        for name in SECRET_FIELDS:
            if name not in self.fields:
                continue
            stored = getattr(self.instance, name, "") if self.instance.pk else ""
            if not data.get(name):
                data[name] = stored
            elif data[name] != stored:
                self.replaced_secrets.append(name)
        return data

    def has_changed(self) -> bool:
        return bool(set(self.changed_data) - set(SECRET_FIELDS)) or bool(self.replaced_secrets)


@admin.register(Channel)
class ChannelAdmin(SecretFieldsAdmin, ReadOnlyHistoryAdmin):
    form = ChannelAdminForm
    list_display = [
        "name",
        "platform",
        "enabled",
        "health",
        "orders_today",
        "last_pull_ok_at",
        "pull_cursor",
        "short_error",
    ]
    list_filter = ["platform", "enabled"]
    search_fields = ["name", "app_key"]
    actions = ["pull_now"]
    readonly_fields = ["pull_cursor", "last_pull_at", "last_pull_ok_at", "last_pull_error", "consecutive_pull_failures"]
    fieldsets = [
        (None, {"fields": ["platform", "name", "enabled", "ship_within_hours"]}),
        (
            _("Platform API"),
            {"fields": ["api_base_url", "app_key", "app_secret", "access_token", "sign_secret", "message_key"]},
        ),
        (_("Push"), {"fields": ["webhook_secret"]}),
        (
            _("Pull"),
            {
                "fields": [
                    "pull_enabled",
                    "pull_interval_minutes",
                    "pull_cursor",
                    "last_pull_at",
                    "last_pull_ok_at",
                    "consecutive_pull_failures",
                    "last_pull_error",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        return selectors.channel_list_with_health()

    def save_model(self, request, obj, form, change):
        replaced = getattr(form, "replaced_secrets", [])
        if replaced:  # the history row says who replaced which credential, never the value
            obj._change_reason = "credentials set: " + ", ".join(replaced)
        super().save_model(request, obj, form, change)
        gateway.channel_sync_schedule(channel=obj)

    def construct_change_message(self, request, form, formsets, add=False):
        """The admin log names changed fields; a secret input counts only when a value was typed."""
        message = super().construct_change_message(request, form, formsets, add)
        if add or not isinstance(form, ChannelAdminForm):
            return message
        for entry in message:
            changed = entry.get("changed")
            if changed:
                kept = [f for f in changed["fields"] if f not in SECRET_FIELDS or f in form.replaced_secrets]
                changed["fields"] = kept
        return [entry for entry in message if "changed" not in entry or entry["changed"]["fields"]]

    @admin.display(description=_("orders today"), ordering="orders_today")
    def orders_today(self, obj: Channel) -> int:
        return obj.orders_today

    @admin.display(description=_("last error"))
    def short_error(self, obj: Channel) -> str:
        return (obj.last_pull_error[:80] + "…") if len(obj.last_pull_error) > 80 else obj.last_pull_error

    @admin.action(description=_("Pull orders now"), permissions=["change"])
    def pull_now(self, request, queryset):
        from django_q.tasks import async_task

        for channel in queryset.filter(enabled=True):
            async_task("orders.tasks.pull_channel", channel.pk)
        self.message_user(
            request, _("Pull queued for %(n)d channel(s).") % {"n": queryset.filter(enabled=True).count()}
        )

    @admin.display(description=_("health"))
    def health(self, obj: Channel) -> str:
        if not obj.enabled:
            return "—"
        if obj.consecutive_pull_failures:
            return format_html('<span style="color:#b00">✖ {}</span>', obj.consecutive_pull_failures)
        return format_html('<span style="color:#070">{}</span>', "✔")


@admin.register(Order)
class OrderAdmin(EstimatedCountAdminMixin, ViewPermissionExportMixin, ReceiverMaskingAdmin, ReadOnlyHistoryAdmin):
    resource_classes = [OrderExportResource]
    export_resource_takes_user = True  # receiver columns masked by the exporting user's permission
    receiver_only_fields = ["raw_payload_pretty"]  # the native payload carries the full receiver
    change_form_template = "admin/orders/order/change_form.html"
    list_display = [
        "external_id",
        "state",
        "shop",
        "buyer_nick",
        "receiver_name",
        "amount",
        "paid_at",
        "deadline",
        "short_hold_reason",
        "lane",
    ]
    list_filter = [
        "state",
        "channel",
        "lane",
        OverdueFilter,
        ShippedOnFilter,
        ReceivedFilter,
        "platform_status",
        "refund_requested",
    ]
    # shows the search box; the search itself is orders.selectors.order_search (indexed keys)
    search_fields = ["=external_id", "buyer_nick", "receiver_phone", "receiver_name"]
    search_help_text = _(
        "Platform order id, tracking number, buyer nick or receiver phone; 3 or more characters also "
        "find part of a buyer nick, receiver name or phone."
    )
    list_select_related = ["channel"]
    list_per_page = 50  # the admin renders each row in Python: 50 rows cost ~35 % less CPU than 100
    # No date_hierarchy: its year/month links are a DISTINCT over every order's date (3.6 s at a million
    # orders); the "received" filter above links the same ranges without reading the table.
    show_full_result_count = False  # a second count(*) of all orders on every filtered page

    class Media:
        css = {"all": ["orders/order_admin.css"]}  # the list fits 1440 px; names never wrap per character

    inlines = [OrderLineInline, OrderEventInline]
    actions = ["action_hold", "action_release", "action_cancel", "action_mark_printed", "action_open_return"]
    readonly_fields = ["state", "channel", "external_id", "received_at", "source", "hold_reason_display"]
    exclude = ["raw_payload", "hold_reason"]  # the hold reason shows in the reader's language
    # The page leads with the summary (state, what it waits for, who has it, the ship-by deadline:
    # shown there only), then lines, parcels, exceptions and history; these details follow, and the
    # native payload comes last, collapsed (templates/admin/orders/order/change_form.html).
    fieldsets = [
        (
            pgettext_lazy("a buyer's order", "Order"),
            {
                "fields": [
                    ("external_id", "channel", "source"),
                    ("platform_status", "platform_status_raw", "platform_hold", "refund_requested"),
                    ("platform_created_at", "paid_at", "platform_modified_at", "received_at"),
                    ("lane", "priority", "is_presale", "tags"),
                    "hold_reason_display",
                ]
            },
        ),
        (
            _("Buyer and receiver"),
            {
                "fields": [
                    ("buyer_nick", "buyer_id"),
                    ("receiver_name", "receiver_phone"),
                    ("receiver_province", "receiver_city", "receiver_district", "receiver_town"),
                    ("receiver_address", "receiver_zip"),
                    ("receiver_masked", "receiver_cipher"),
                ]
            },
        ),
        (_("Amounts"), {"fields": [("goods_amount", "postage", "discount_amount", "paid_amount"), "coupons"]}),
        (_("Messages"), {"fields": ["buyer_message", "seller_memo"]}),
    ]

    def has_add_permission(self, request):
        return False  # orders arrive through channels, never typed in

    def get_readonly_fields(self, request, obj=None):
        """Every field is read-only: a change goes through a service (transition buttons, the
        exception to-do's resolve actions), which locks, audits and re-checks the order."""
        model_fields = [f.name for f in Order._meta.fields if f.name not in self.exclude]
        names = list(super().get_readonly_fields(request, obj))  # + masked receiver displays
        return [*names, *(f for f in model_fields if f not in names)]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("hold reason"), ordering="hold_reason")
    def hold_reason_display(self, obj: Order) -> str:
        return obj.hold_reason_text

    def get_ordering(self, request):
        """Newest received first, on an index for each list: received_at alone, (channel,
        received_at) when filtered by channel, (state, received_at) by state. (Ordering by id let the
        planner walk the primary key backwards, discarding every order of other channels or states
        until it found a page: half a million rows for a quiet channel.)"""
        if request.GET.get("channel__id__exact"):
            return ["channel_id", "-received_at"]
        if request.GET.get("state__exact"):
            return ["state", "-received_at"]
        return ["-received_at"]

    def lookup_allowed(self, lookup, value, request=None):
        """The dashboard links a day's orders by `received_at__gte` / `__lt` (bounded: one range scan)."""
        return lookup in ("received_at__gte", "received_at__lt") or super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        """Indexed exact keys and trigram partial text (orders.selectors.order_search); the phone
        as masked for staff who may not see receiver details."""
        found = selectors.order_search(queryset, search_term, reveal_receiver=self._reveal(request))
        return found, False

    @admin.display(description=_("ship by"), ordering="ship_by")
    def deadline(self, obj: Order) -> str:
        return ship_by_countdown(obj)

    @admin.display(description=_("shop"), ordering="channel__name")
    def shop(self, obj: Order) -> str:
        return format_html('<span title="{}">{}</span>', obj.channel.get_platform_display(), obj.channel.name)

    @admin.display(description=_("amount"), ordering="paid_amount")
    def amount(self, obj: Order) -> str:
        return yuan(obj.paid_amount)

    @admin.display(description=_("hold reason"), ordering="hold_reason")
    def short_hold_reason(self, obj: Order) -> str:
        reason = obj.hold_reason_text
        if not reason:
            return ""
        short = reason if len(reason) <= 24 else reason[:23] + "…"
        return format_html('<span title="{}">{}</span>', reason, short)

    @admin.display(description=_("native payload"))
    def raw_payload_pretty(self, obj: Order) -> str:
        return format_html(
            "<pre style='max-height:30em;overflow:auto'>{}</pre>",
            json.dumps(obj.raw_payload, ensure_ascii=False, indent=2),
        )

    # ---- transition buttons (permission-checked in the services) ------------------------
    def get_urls(self):
        urls = super().get_urls()
        return [
            path(
                "<int:object_id>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            ),
            *urls,
        ]

    def transition_view(self, request: HttpRequest, object_id: int, name: str):
        order = get_object_or_404(Order, pk=object_id)
        change_url = reverse("admin:orders_order_change", args=[order.pk])
        if request.method != "POST" or name not in ORDER_ACTIONS:
            return HttpResponseRedirect(change_url)
        label, call = ORDER_ACTIONS[name]
        try:
            call(order, request.user, request.POST.get("note", ""))
        except OrderError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, _("%(action)s: done.") % {"action": label}, messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    def changelist_view(self, request, extra_context=None):
        """The list takes the page's width (its ten columns fit 1440 px beside the filters, not
        beside the app menu as well; the header's breadcrumbs still lead back)."""
        return super().changelist_view(request, {**(extra_context or {}), "is_nav_sidebar_enabled": False})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        extra_context["show_save_and_add_another"] = False
        order = self.get_object(request, object_id)
        if order is not None:
            extra_context["summary"] = selectors.order_summary(order=order)
            extra_context["ship_by_countdown"] = ship_by_countdown(order)
            extra_context["amount"] = yuan(order.paid_amount)
            if self._reveal(request):  # the native payload carries the full receiver
                extra_context["native_payload"] = self.raw_payload_pretty(order)
            extra_context["transition_buttons"] = [
                {"name": name, "label": label}
                for name, (label, _call) in ORDER_ACTIONS.items()
                if order.state in ACTION_SOURCES[name]
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Order], name: str) -> None:
        label, call = ORDER_ACTIONS[name]
        done, failed = 0, []
        for order in queryset.order_by("pk"):
            try:
                call(order, request.user, _("bulk action from the admin"))
                done += 1
            except OrderError as exc:
                failed.append(str(exc))
        if done:
            self.message_user(
                request, _("%(action)s: %(n)d order(s).") % {"action": label, "n": done}, messages.SUCCESS
            )
        for message in failed[:10]:
            self.message_user(request, message, messages.ERROR)

    @admin.action(description=_("Pause (hold) selected orders"))
    def action_hold(self, request, queryset):
        self._bulk(request, queryset, "hold")

    @admin.action(description=_("Release selected orders"))
    def action_release(self, request, queryset):
        self._bulk(request, queryset, "release")

    @admin.action(description=_("Cancel selected orders"))
    def action_cancel(self, request, queryset):
        self._bulk(request, queryset, "cancel")

    @admin.action(description=_("Mark selected orders printed"))
    def action_mark_printed(self, request, queryset):
        self._bulk(request, queryset, "mark_printed")

    def has_open_return_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.add_return")

    @admin.action(description=_("Open a return (RMA) for chosen lines"), permissions=["open_return"])
    def action_open_return(self, request, queryset):
        """The shipping app's page: choose the lines and units expected back."""
        if queryset.count() != 1:
            self.message_user(request, _("Choose one order to open a return for."), messages.WARNING)
            return None
        url = reverse("admin:shipping_return_open")
        return HttpResponseRedirect(f"{url}?order={queryset.get().pk}")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["last_seen", "severity", "source", "alert_channel", "alert_text", "count", "resolved_at"]
    list_filter = ["severity", "source", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["message", "key"]
    readonly_fields = ["key", "source", "severity", "alert_text", "alert_channel", "count", "first_seen", "last_seen"]
    exclude = ["channel", "message"]  # shown as alert_text, in the reader's language

    @admin.display(description=_("message"))
    def alert_text(self, obj: Alert) -> str:
        return obj.text

    actions = ["resolve"]

    @admin.display(description=_("channel"), ordering="channel")
    def alert_channel(self, obj: Alert):
        return obj.channel

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Mark resolved"), permissions=["change"])
    def resolve(self, request, queryset):
        n = queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
        self.message_user(request, _("%(n)d alert(s) resolved.") % {"n": n})


@admin.register(QuarantinedMessage)
class QuarantinedMessageAdmin(ReadOnlyHistoryAdmin):
    """Platform orders refused as malformed: why, the payload as received, and what a person did.

    Read-only but for two actions that need the change permission; both go through the gateway and
    services and are kept in the history (who retried or resolved what, when)."""

    list_display = [
        "last_seen",
        "channel",
        "source",
        "external_id",
        "field",
        "short_reason",
        "occurrences",
        "resolved_at",
    ]
    list_filter = ["channel", "source", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["external_id", "field", "reason"]
    readonly_fields = [
        "channel",
        "source",
        "external_id",
        "field",
        "reason",
        "occurrences",
        "retries",
        "created_at",
        "last_seen",
        "resolved_at",
        "resolved_by",
        "resolution",
        "payload_pretty",
    ]
    exclude = ["payload"]
    actions = ["retry", "mark_resolved"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("reason"))
    def short_reason(self, obj: QuarantinedMessage) -> str:
        return (obj.reason[:80] + "…") if len(obj.reason) > 80 else obj.reason

    def get_readonly_fields(self, request, obj=None):
        """The payload as received carries the receiver unmasked: only for who may see it."""
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm(RECEIVER_DETAILS_PERMISSION):
            fields[fields.index("payload_pretty")] = "payload_withheld"
        return fields

    @admin.display(description=_("native payload (JSON)"))
    def payload_withheld(self, obj: QuarantinedMessage) -> str:
        return _("Withheld: the payload carries receiver details you may not see.")

    @admin.display(description=_("native payload (JSON)"))
    def payload_pretty(self, obj: QuarantinedMessage) -> str:
        try:
            shown = json.dumps(json.loads(obj.payload), ensure_ascii=True, indent=2)
        except ValueError:  # cut when stored (very large payloads): show the text as kept
            shown = obj.payload
        return format_html("<pre style='max-height:30em;overflow:auto'>{}</pre>", shown)

    @admin.action(description=_("Retry selected quarantined orders"), permissions=["change"])
    def retry(self, request, queryset):
        done = failed = 0
        for message_id in queryset.filter(resolved_at__isnull=True).values_list("pk", flat=True):
            if gateway.quarantine_retry(message_id=message_id, actor=request.user):
                done += 1
            else:
                failed += 1
        self.message_user(request, _("%(n)d order(s) taken in.") % {"n": done})
        if failed:
            self.message_user(
                request, _("%(n)d order(s) still refused; see the reason.") % {"n": failed}, level=messages.WARNING
            )

    @admin.action(description=_("Mark selected quarantined orders resolved"), permissions=["change"])
    def mark_resolved(self, request, queryset):
        ids = list(queryset.filter(resolved_at__isnull=True).values_list("pk", flat=True))
        for message_id in ids:
            services.quarantine_resolve(message_id=message_id, actor=request.user, resolution="dismissed by a person")
        self.message_user(request, _("%(n)d quarantined order(s) resolved.") % {"n": len(ids)})


class InboxDecidedFilter(admin.SimpleListFilter):
    title = _("decided")
    parameter_name = "decided"

    def lookups(self, request, model_admin):
        return [("no", _("Waiting for a drainer")), ("yes", _("Decided"))]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(decided_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(decided_at__isnull=False)
        return queryset


INBOX_OUTCOME_LABELS = {
    "created": _("New order"),
    "updated": _("Order updated"),
    "unchanged": _("Unchanged (a redelivery)"),
    "stale": _("Stale (older than the stored order)"),
    "quarantined": _("Quarantined"),
}


class InboxOutcomeFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return list(INBOX_OUTCOME_LABELS.items())

    def queryset(self, request, queryset):
        return queryset.filter(outcome=self.value()) if self.value() else queryset


@admin.register(InboxMessage)
class InboxMessageAdmin(ReadOnlyAdmin):
    """The webhook inbox for ops: the backlog and its age in the title, each push's outcome. Written
    only by the webhook and the drainers; the body (the buyer's address in full) is not shown."""

    list_display = ["received_at", "channel", "external_id", "outcome_label", "attempts", "decided_at"]
    list_filter = [InboxDecidedFilter, InboxOutcomeFilter, "channel"]
    search_fields = ["external_id"]
    fields = [
        "channel",
        "external_id",
        "received_at",
        "claimed_by",
        "claimed_until",
        "attempts",
        "decided_at",
        "outcome_label",
        "order",
        "error",
    ]
    list_select_related = ["channel"]
    show_full_result_count = False  # the inbox can hold millions of decided rows
    readonly_fields = ["outcome_label"]

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_label(self, obj: InboxMessage) -> str:
        return INBOX_OUTCOME_LABELS.get(obj.outcome, obj.outcome) if obj.outcome else "-"

    def changelist_view(self, request, extra_context=None):
        oldest = selectors.inbox_oldest_undecided_at()
        if oldest is None:
            title = _("Webhook inbox: nothing waiting")
        else:
            title = _("Webhook inbox: %(count)d waiting, the oldest for %(seconds)d s") % {
                "count": selectors.inbox_backlog(),
                "seconds": (timezone.now() - oldest).total_seconds(),
            }
        return super().changelist_view(request, extra_context={**(extra_context or {}), "title": title})


# the workflow page, an order's path and the stage limits: orders.workflow_admin
from orders import workflow_admin  # noqa: E402, F401
