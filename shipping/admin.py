"""Shipping admin: carriers, e-waybill accounts (refresh, quota), parcels (void and re-issue), scanner
devices (token shown once, revoke), write-backs (attempts, retry now, mark done by hand, change a
shipped parcel's number) and the other outbox rows read-only. Thin: the services do the work."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from orderhub.admin_export import ViewPermissionExportMixin
from orderhub.admin_history import ReadOnlyAdmin, ReadOnlyHistoryAdmin, ReadOnlyInline
from shipping import services
from shipping.errors import ShippingError
from shipping.models import (
    Carrier,
    OutboxState,
    ScannerDevice,
    ScanRecord,
    Shipment,
    ShipmentLine,
    WaybillAccount,
    WriteBack,
    WriteBackAttempt,
)
from shipping.resources import WriteBackExportResource
from shipping.tracking_admin import TrackingEventInline, TrackingFilter  # also registers the subscriptions


@admin.register(Carrier)
class CarrierAdmin(ReadOnlyHistoryAdmin):
    list_display = ["code", "name", "codes", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["code", "name"]
    actions = ["load_from_platforms"]

    @admin.display(description=_("platform codes"))
    def codes(self, obj: Carrier) -> str:
        return ", ".join(f"{platform}: {code}" for platform, code in sorted((obj.platform_codes or {}).items()))

    @admin.action(description=_("Load carrier codes from the platforms"), permissions=["change"])
    def load_from_platforms(self, request: HttpRequest, queryset: QuerySet[Carrier]) -> None:
        """One enabled channel per platform answers for its platform's carrier list."""
        from orders.models import Channel

        seen: set[str] = set()
        for channel in Channel.objects.filter(enabled=True).exclude(platform="manual").order_by("pk"):
            platform = "taobao" if channel.platform == "tmall" else channel.platform
            if platform in seen:
                continue
            seen.add(platform)
            try:
                report = services.carriers_load_from_platform(channel_id=channel.pk, actor=request.user)
            except ShippingError as exc:
                self.message_user(request, f"{channel}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                _("%(platform)s: %(n)d carrier code(s) updated.") % {"platform": platform, "n": len(report.updated)},
                messages.SUCCESS,
            )


@admin.register(WaybillAccount)
class WaybillAccountAdmin(ReadOnlyHistoryAdmin):
    list_display = ["channel", "carrier", "branch_code", "branch_name", "quota_shown", "quota_checked_at", "enabled"]
    list_filter = ["channel", "carrier", "enabled"]
    list_select_related = ["channel", "carrier"]
    search_fields = ["branch_code", "branch_name", "channel__name"]
    readonly_fields = ["quota", "quota_checked_at"]
    actions = ["refresh"]
    fieldsets = [
        (None, {"fields": ["channel", "carrier", "branch_code", "branch_name", "enabled"]}),
        (
            _("Sender"),
            {
                "fields": [
                    "sender_name",
                    "sender_mobile",
                    "sender_province",
                    "sender_city",
                    "sender_district",
                    "sender_address",
                ]
            },
        ),
        (_("Templates"), {"fields": ["template_url", "custom_area_template_url"]}),
        (_("Quota"), {"fields": ["quota", "quota_checked_at", "quota_alert_below"]}),
    ]

    @admin.display(description=_("remaining quota"), ordering="quota")
    def quota_shown(self, obj: WaybillAccount) -> str:
        if obj.quota is None:
            return "—"
        return f"{obj.quota} ⚠" if obj.quota_low else str(obj.quota)

    @admin.action(description=_("Refresh branch and quota from the platform"), permissions=["change"])
    def refresh(self, request: HttpRequest, queryset: QuerySet[WaybillAccount]) -> None:
        for account in queryset.order_by("pk"):
            try:
                account = services.waybill_account_refresh(account_id=account.pk, actor=request.user)
            except ShippingError as exc:
                self.message_user(request, f"{account}: {exc.message}", messages.ERROR)
                continue
            level = messages.WARNING if account.quota_low else messages.SUCCESS
            self.message_user(
                request,
                _("%(account)s: %(quota)s numbers left.")
                % {"account": account, "quota": "—" if account.quota is None else account.quota},
                level,
            )


class ShipmentLineInline(ReadOnlyInline):
    model = ShipmentLine
    fields = ["order", "order_line", "quantity"]


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "parcel_key",
        "carrier",
        "tracking_number",
        "state",
        "order_ids",
        "batch_number",
        "failure_reason",
        "created_at",
        "shipped_at",
    ]
    list_filter = ["state", TrackingFilter, "carrier", "channel"]
    list_select_related = ["carrier"]
    search_fields = ["parcel_key", "tracking_number", "parent_tracking_number", "lines__order__external_id"]
    inlines = [ShipmentLineInline, TrackingEventInline]
    actions = ["void_and_reissue"]
    exclude = ["print_data", "item_check"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # parcels change through the services only (print, scan, void)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_void_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.void_shipment")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lines")

    @admin.display(description=_("print batch"), ordering="batch")
    def batch_number(self, obj: Shipment) -> str:
        """`#12`: the batch's full name (shop · carrier · branch) pushed the list past 1440 px."""
        return f"#{obj.batch_id}" if obj.batch_id else "-"

    @admin.display(description=_("orders"))
    def order_ids(self, obj: Shipment) -> str:
        order_ids = sorted({line.order_id for line in obj.lines.all()})  # a parcel carries lines, an order once
        return format_html_join(", ", "{}", ((order_id,) for order_id in order_ids))

    def get_urls(self):
        return [
            path(
                "<int:object_id>/change-tracking-number/",
                self.admin_site.admin_view(self.change_tracking_number_view),
                name="shipping_shipment_change_tracking_number",
            ),
            *super().get_urls(),
        ]

    def change_tracking_number_view(self, request: HttpRequest, object_id: int):
        """A shipped parcel's number was wrong: store the new one and tell the platform (its modify
        call, or a task for a person where it has none)."""
        if not request.user.has_perm("shipping.retry_writeback"):
            raise PermissionDenied
        shipment = get_object_or_404(Shipment.objects.select_related("carrier"), pk=object_id)
        back_url = reverse("admin:shipping_shipment_change", args=[shipment.pk])
        form = TrackingNumberForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.shipment_change_tracking_number(
                    shipment_id=shipment.pk,
                    tracking_number=form.cleaned_data["tracking_number"],
                    actor=request.user,
                    note=form.cleaned_data["note"],
                )
            except ShippingError as exc:
                form.add_error("tracking_number", exc.message)
            else:
                self.message_user(request, _("Tracking number changed; the platform will be told."), messages.SUCCESS)
                return HttpResponseRedirect(back_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Change the tracking number of a shipped parcel"),
            "intro": _("Parcel %(key)s, now %(carrier)s %(number)s.")
            % {"key": shipment.parcel_key, "carrier": shipment.carrier.code, "number": shipment.tracking_number},
            "form": form,
            "submit_label": _("Change"),
            "back_url": back_url,
            "back_label": Shipment._meta.verbose_name_plural,
            "opts": Shipment._meta,
        }
        return TemplateResponse(request, "admin/shipping/writeback/action_form.html", context)

    @admin.action(description=_("Void and re-issue the number"), permissions=["void"])
    def void_and_reissue(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> None:
        for shipment in queryset.order_by("pk"):
            try:
                new = services.parcel_void_and_reissue(shipment_id=shipment.pk, actor=request.user)
            except ShippingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            if new.tracking_number:
                message = _("%(old)s voided; new number %(new)s.") % {
                    "old": shipment.tracking_number,
                    "new": new.tracking_number,
                }
                self.message_user(request, message, messages.SUCCESS)
            else:
                message = _("%(old)s voided; no new number yet: %(reason)s") % {
                    "old": shipment.tracking_number,
                    "reason": new.failure_reason,
                }
                self.message_user(request, message, messages.WARNING)


@admin.register(ScannerDevice)
class ScannerDeviceAdmin(ReadOnlyHistoryAdmin):
    list_display = ["name", "warehouse", "token_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["warehouse", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["warehouse", "created_by"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        scope = ["warehouse"] if obj is not None else []  # a token's warehouse never changes
        return [*scope, "token_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the scans it made keep their device

    def save_model(self, request, obj: ScannerDevice, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        device, token = services.scanner_device_create(name=obj.name, warehouse=obj.warehouse, actor=request.user)
        obj.pk, obj.token_prefix, obj.token_hash, obj.created_at = (
            device.pk,
            device.token_prefix,
            device.token_hash,
            device.created_at,
        )
        obj._state.adding = False
        self.message_user(
            request,
            _("Token for %(name)s (shown only now, copy it into the scanner): %(token)s")
            % {"name": device.name, "token": token},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected scanners"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ScannerDevice]) -> None:
        for device in queryset.order_by("pk"):
            services.scanner_device_revoke(device_id=device.pk, actor=request.user)
        self.message_user(request, _("%(n)d scanner(s) revoked.") % {"n": queryset.count()}, messages.SUCCESS)


class WriteBackAttemptInline(ReadOnlyInline):
    model = WriteBackAttempt
    fields = ["at", "api", "request", "response", "error", "outcome", "duration_ms"]
    ordering = ["-id"]


class NoteForm(forms.Form):
    note = forms.CharField(
        label=_("note"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text=_("What was done on the platform (who, when, which number)."),
    )


class TrackingNumberForm(forms.Form):
    tracking_number = forms.CharField(label=_("new tracking number"), max_length=64)
    note = forms.CharField(label=_("note"), max_length=2000, required=False)


@admin.register(WriteBack)
class WriteBackAdmin(ViewPermissionExportMixin, ReadOnlyHistoryAdmin):
    """The write-back list: state, platform, attempts; ops retry now or mark done by hand (audited);
    the filtered list exports to Excel (a backlog or dead letters to hand to a platform's support)."""

    resource_classes = [WriteBackExportResource]

    # fits 1440 px beside the filters: shop and action are filters, the rest is on the row's page
    list_display = ["created_at", "order", "tracking_number", "state", "failure", "attempts", "error_summary"]
    list_filter = ["state", "failure", "action", "order__channel__platform", "order__channel"]
    list_select_related = ["order", "order__channel", "shipment", "shipment__carrier"]
    search_fields = ["order__external_id", "shipment__tracking_number", "shipment__parcel_key"]
    readonly_fields = [
        "order",
        "shipment",
        "action",
        "previous_tracking_number",
        "state",
        "failure",
        "attempts",
        "next_attempt_at",
        "claimed_until",
        "last_error",
        "note",
        "created_at",
        "done_at",
    ]
    exclude = ["claim_token"]
    inlines = [WriteBackAttemptInline]
    actions = ["retry_now", "mark_done_by_hand"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # rows change through the drain and the two actions only

    def has_delete_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.retry_writeback")

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.resolve_writeback")

    @admin.display(description=_("last error"))
    def error_summary(self, obj: WriteBack) -> str:
        # the platform's whole answer is on the row's page; the list keeps one line a row
        return Truncator(obj.last_error).chars(24)

    @admin.display(description=_("channel"), ordering="order__channel")
    def channel(self, obj: WriteBack) -> str:
        return obj.order.channel.name

    @admin.display(description=_("tracking number"), ordering="shipment__tracking_number")
    def tracking_number(self, obj: WriteBack) -> str:
        return f"{obj.shipment.carrier.code} {obj.shipment.tracking_number}"

    @admin.action(description=_("Retry now"), permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WriteBack]) -> None:
        try:
            queued = services.write_back_retry(
                write_back_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
            )
        except ShippingError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, _("%(n)d write-back(s) queued again.") % {"n": queued}, messages.SUCCESS)

    @admin.action(description=_("Mark done by hand (with a note)"), permissions=["resolve"])
    def mark_done_by_hand(self, request: HttpRequest, queryset: QuerySet[WriteBack]):
        first = queryset.exclude(state=OutboxState.DONE).order_by("pk").first()
        if first is None:
            self.message_user(request, _("The selected write-backs are already done."), messages.WARNING)
            return None
        if queryset.count() > 1:
            self.message_user(request, _("Mark one write-back at a time: each needs its own note."), messages.WARNING)
        return HttpResponseRedirect(reverse("admin:shipping_writeback_mark_done", args=[first.pk]))

    def get_urls(self):
        return [
            path(
                "<int:object_id>/mark-done/",
                self.admin_site.admin_view(self.mark_done_view),
                name="shipping_writeback_mark_done",
            ),
            *super().get_urls(),
        ]

    def mark_done_view(self, request: HttpRequest, object_id: int):
        """A required note, then the service (which checks the permission again and audits)."""
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        row = get_object_or_404(WriteBack.objects.select_related("order", "shipment"), pk=object_id)
        back_url = reverse("admin:shipping_writeback_change", args=[row.pk])
        form = NoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.write_back_mark_done(write_back_id=row.pk, actor=request.user, note=form.cleaned_data["note"])
            except ShippingError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, _("Write-back marked done by hand."), messages.SUCCESS)
                return HttpResponseRedirect(back_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Mark write-back done by hand"),
            "intro": _("Order %(order)s, parcel %(number)s: only when the number is on the platform already.")
            % {"order": row.order.external_id, "number": row.shipment.tracking_number},
            "form": form,
            "submit_label": _("Mark done"),
            "back_url": back_url,
            "back_label": WriteBack._meta.verbose_name_plural,
            "opts": WriteBack._meta,
        }
        return TemplateResponse(request, "admin/shipping/writeback/action_form.html", context)


@admin.register(ScanRecord)
class ScanRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "device", "kind", "idempotency_key", "shipment", "response_status"]
    list_filter = ["kind", "device"]
    list_select_related = ["device", "shipment", "shipment__carrier"]


# print batches (the print page, its JSON endpoints and PDFs) are registered by shipping.print_admin;
# returns (RMA), their receive page and the page that opens one, by shipping.return_admin; the
# waybill sheet import (运单导入) by shipping.import_admin
from shipping import import_admin, print_admin, return_admin  # noqa: E402, F401

# buyer notices (the outbox rows with their call log), notice templates and transit times
from shipping.notices import admin as notices_admin  # noqa: E402, F401
