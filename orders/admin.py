"""Ops console for channels and orders. Thin: every change goes through orders.services."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from orderhub.admin_export import ViewPermissionExportMixin
from orderhub.admin_history import ReadOnlyHistoryAdmin
from orderhub.admin_masking import ReceiverMaskingAdmin, SecretFieldsAdmin
from orderhub.masking import RECEIVER_DETAILS_PERMISSION, SECRET_FIELDS, mask_secret
from orders import gateway, selectors, services
from orders.errors import OrderError
from orders.models import Alert, Channel, Order, OrderEvent, OrderLine, OrderState, QuarantinedMessage
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
class OrderAdmin(ViewPermissionExportMixin, ReceiverMaskingAdmin, ReadOnlyHistoryAdmin):
    resource_classes = [OrderExportResource]
    export_resource_takes_user = True  # receiver columns masked by the exporting user's permission
    receiver_only_fields = ["raw_payload_pretty"]  # the native payload carries the full receiver
    change_form_template = "admin/orders/order/change_form.html"
    list_display = [
        "external_id",
        "channel",
        "state",
        "lane",
        "buyer_nick",
        "receiver_name",
        "paid_amount",
        "paid_at",
        "deadline",
        "hold_reason",
    ]
    list_filter = ["state", "channel", "lane", OverdueFilter, "platform_status", "refund_requested"]
    search_fields = ["=external_id", "buyer_nick", "receiver_phone", "receiver_name"]
    list_select_related = ["channel"]
    date_hierarchy = "received_at"
    inlines = [OrderLineInline, OrderEventInline]
    actions = ["action_hold", "action_release", "action_cancel", "action_mark_printed", "action_open_return"]
    readonly_fields = ["state", "channel", "external_id", "deadline", "raw_payload_pretty", "received_at", "source"]
    exclude = ["raw_payload"]

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

    @admin.display(description=_("ship by"), ordering="ship_by")
    def deadline(self, obj: Order) -> str:
        if not obj.ship_by:
            return "—"
        local = timezone.localtime(obj.ship_by).strftime("%m-%d %H:%M")
        if obj.is_overdue:
            return format_html('<strong style="color:#b00">{} ⚠ {}</strong>', local, _("overdue"))
        if obj.is_at_risk:
            return format_html('<strong style="color:#c60">{} ⏱ {}</strong>', local, _("< 1 h"))
        return local

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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        extra_context["show_save_and_add_another"] = False
        order = self.get_object(request, object_id)
        if order is not None:
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
    list_display = ["last_seen", "severity", "source", "alert_channel", "message", "count", "resolved_at"]
    list_filter = ["severity", "source", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["message", "key"]
    readonly_fields = ["key", "source", "severity", "message", "alert_channel", "count", "first_seen", "last_seen"]
    exclude = ["channel"]
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


# the workflow page, an order's path and the stage limits: orders.workflow_admin
from orders import workflow_admin  # noqa: E402, F401
