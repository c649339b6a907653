"""Shipping admin: carriers, e-waybill accounts (refresh, quota), parcels (void and re-issue), scanner
devices (token shown once, revoke), and the outbox rows read-only. Thin: the services do the work."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from orderhub.admin_history import ReadOnlyAdmin, ReadOnlyHistoryAdmin
from shipping import services
from shipping.errors import ShippingError
from shipping.models import (
    Carrier,
    ScannerDevice,
    ScanRecord,
    Shipment,
    ShipmentLine,
    WaybillAccount,
    WriteBack,
)


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


class ShipmentLineInline(admin.TabularInline):
    model = ShipmentLine
    fields = ["order", "order_line", "quantity"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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
    list_filter = ["state", "carrier", "channel"]
    list_select_related = ["carrier"]
    search_fields = ["parcel_key", "tracking_number", "parent_tracking_number", "lines__order__external_id"]
    inlines = [ShipmentLineInline]
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


@admin.register(WriteBack)
class WriteBackAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "shipment", "state", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["state"]
    list_select_related = ["order", "order__channel", "shipment", "shipment__carrier"]


@admin.register(ScanRecord)
class ScanRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "device", "kind", "idempotency_key", "shipment", "response_status"]
    list_filter = ["kind", "device"]
    list_select_related = ["device", "shipment", "shipment__carrier"]


# print batches (the print page, its JSON endpoints and PDFs) are registered by shipping.print_admin
from shipping import print_admin  # noqa: E402, F401

# buyer notices (the outbox rows with their call log), notice templates and transit times
from shipping.notices import admin as notices_admin  # noqa: E402, F401
