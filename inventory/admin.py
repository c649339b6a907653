"""Inventory admin. Stock numbers are read-only here: they change through movements (WMS API,
stocktake import) and reconciliation corrections, which write the ledger."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Sum
from django.http import HttpResponseRedirect
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from import_export.admin import ImportMixin

from inventory import selectors, services
from inventory.models import (
    ChannelListing,
    InventoryEvent,
    QuarantineEntry,
    ReconciliationDiff,
    ReconciliationRun,
    Sku,
    StockLevel,
    StockMovement,
    StockPush,
    StockReservation,
    Warehouse,
    movement_source_label,
)
from inventory.resources import (
    ReconciliationDiffResource,
    StockLevelResource,
    StockMovementExportResource,
    StocktakeResource,
)
from orderhub.admin_export import ViewPermissionExportMixin
from orderhub.admin_filters import RecentDateFilter
from orderhub.admin_history import ReadOnlyAdmin, ReadOnlyHistoryAdmin
from orderhub.pagination import EstimatedCountAdminMixin


@admin.register(Warehouse)
class WarehouseAdmin(ReadOnlyHistoryAdmin):
    list_display = ["code", "name", "priority", "active"]
    list_editable = ["priority", "active"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "active" in form.changed_data:  # its stock joins or leaves what storefronts show
            sku_ids = list(StockLevel.objects.filter(warehouse=obj).values_list("sku_id", flat=True))
            if sku_ids:
                services.sku_settings_changed(sku_ids=sku_ids)  # presale switch, listing flags, push


class StockLevelInline(admin.TabularInline):
    model = StockLevel
    fields = ["warehouse", "on_hand", "reserved"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ChannelListingInline(admin.TabularInline):
    model = ChannelListing
    fields = ["channel", "platform_item_id", "platform_sku_id", "buffer_percent", "buffer_quantity", "presale"]
    readonly_fields = ["presale"]
    extra = 0


@admin.register(Sku)
class SkuAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "code",
        "name",
        "barcode",
        "on_hand",
        "available",
        "safety_stock",
        "presale_allowed",
        "on_presale",
        "min_price",
    ]
    list_filter = ["presale_allowed", "on_presale"]
    search_fields = ["code", "name", "barcode"]
    readonly_fields = ["on_presale"]
    inlines = [StockLevelInline, ChannelListingInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                total_on_hand=Sum("levels__on_hand"), total_available=Sum(F("levels__on_hand") - F("levels__reserved"))
            )
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.sku_settings_changed(sku_ids=[form.instance.pk])  # presale switch, listing flags, push

    @admin.display(description=_("on hand"), ordering="total_on_hand")
    def on_hand(self, obj):
        return obj.total_on_hand or 0

    @admin.display(description=_("available"), ordering="total_available")
    def available(self, obj):
        return obj.total_available or 0


@admin.register(StockLevel)
class StockLevelAdmin(ViewPermissionExportMixin, ReadOnlyAdmin):
    resource_classes = [StockLevelResource]
    list_display = ["sku", "warehouse", "on_hand", "reserved", "available", "updated_at"]
    list_filter = ["warehouse"]
    search_fields = ["sku__code", "sku__name"]
    list_select_related = ["sku", "warehouse"]


class MovementSourceFilter(admin.SimpleListFilter):
    """By source, its choices read with one index probe per source (inventory.selectors)."""

    title = _("source")
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [(source, movement_source_label(source)) for source in selectors.movement_sources()]

    def queryset(self, request, queryset):
        return queryset.filter(source=self.value()) if self.value() else queryset


class MovementAtFilter(RecentDateFilter):
    title = _("at")
    parameter_name = "moved"
    date_field = "at"


def _titled(text: str, title: str) -> str:
    """A list cell cut to its column's width (ledger_admin.css), whole in its tooltip."""
    return format_html('<span title="{}">{}</span>', title, text)


class LedgerListCells:
    """The cells the two big inventory lists share, narrow enough for both lists to fit 1440 px:
    the SKU and warehouse by code (code and name in the tooltip), a long SKU code wrapped onto a second
    line, long texts cut, whole in the tooltip."""

    class Media:
        css = {"all": ["inventory/ledger_admin.css"]}

    @admin.display(description=_("SKU"), ordering="sku__code")
    def sku_cell(self, obj) -> str:
        return _titled(obj.sku.code, str(obj.sku)) if obj.sku_id else "-"

    @admin.display(description=_("warehouse"), ordering="warehouse__code")
    def warehouse_cell(self, obj) -> str:
        return _titled(obj.warehouse.code, str(obj.warehouse)) if obj.warehouse_id else "-"


@admin.register(StockMovement)
class StockMovementAdmin(
    LedgerListCells, EstimatedCountAdminMixin, ImportMixin, ViewPermissionExportMixin, ReadOnlyAdmin
):
    """The ledger, append-only. Import = stocktake (sku, warehouse, counted) with a preview; export =
    the filtered ledger. Estimated/capped counts and bounded date ranges: it grows by millions of rows."""

    resource_classes = [StocktakeResource]
    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
    # what ops scan the ledger by; the counted quantity, source, note and flag reason are on the row's page
    list_display = [
        "at",
        "kind",
        "sku_cell",
        "warehouse_cell",
        "quantity",
        "balance_after",
        "reference_cell",
        "flagged",
    ]
    list_filter = ["kind", "flagged", "ledger_only", MovementSourceFilter, "warehouse", MovementAtFilter]
    search_fields = ["sku__code", "reference", "note"]
    list_select_related = ["sku", "warehouse"]
    exclude = ["note", "source", "flag_reason"]  # shown in the reader's language instead (*_shown)
    readonly_fields = ["source_shown", "flag_reason_shown", "note_shown"]

    @admin.display(description=_("reference"), ordering="reference")
    def reference_cell(self, obj: StockMovement) -> str:
        return _titled(obj.reference, obj.reference)

    @admin.display(description=_("flag reason"))
    def flag_reason_shown(self, obj: StockMovement) -> str:
        return obj.flag_reason_text

    @admin.display(description=_("note"))
    def note_shown(self, obj: StockMovement) -> str:
        return obj.note_text

    @admin.display(description=_("source"))
    def source_shown(self, obj: StockMovement) -> str:
        return obj.source_label

    def has_import_permission(self, request):
        return request.user.has_perm("inventory.add_stockmovement")

    def get_export_resource_classes(self, request):
        return [StockMovementExportResource]  # the stocktake resource is the import's three columns


@admin.register(StockReservation)
class StockReservationAdmin(ReadOnlyAdmin):
    list_display = ["id", "order", "sku", "warehouse", "quantity", "state", "created_at"]
    list_filter = ["state", "warehouse"]
    search_fields = ["sku__code", "order__external_id"]
    list_select_related = ["order", "sku", "warehouse", "order__channel"]


@admin.register(ChannelListing)
class ChannelListingAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "sku",
        "channel",
        "platform_item_id",
        "platform_sku_id",
        "buffer_percent",
        "buffer_quantity",
        "presale",
        "enabled",
        "last_pushed_quantity",
        "last_pushed_at",
        "push_failures",
        "last_push_error",
    ]
    list_filter = ["channel", "presale", "enabled"]
    search_fields = ["sku__code", "platform_item_id", "platform_sku_id"]
    readonly_fields = ["presale", "last_pushed_quantity", "last_pushed_at", "last_push_error", "push_failures"]
    list_select_related = ["sku", "channel"]
    actions = ["push_now"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.sku_settings_changed(sku_ids=[obj.sku_id])  # new buffer or listing: push its figure

    @admin.action(description=_("Push stock now"), permissions=["change"])
    def push_now(self, request, queryset):
        count = services.stock_push_request(listing_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("%(count)d push(es) queued.") % {"count": count}, messages.SUCCESS)


@admin.register(StockPush)
class StockPushAdmin(ReadOnlyAdmin):
    list_display = ["listing", "requested_at", "next_attempt_at", "attempts", "last_error"]
    list_select_related = ["listing", "listing__sku", "listing__channel"]


@admin.register(InventoryEvent)
class InventoryEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "sku", "message_shown"]
    list_select_related = ["sku"]  # nullable: the admin's default select_related() skips it
    list_filter = ["kind"]
    search_fields = ["sku__code", "message"]
    exclude = ["message"]
    readonly_fields = ["message_shown"]

    @admin.display(description=_("message"))
    def message_shown(self, obj: InventoryEvent) -> str:
        return obj.text


class ReconciliationDiffInline(admin.TabularInline):
    model = ReconciliationDiff
    fields = ["kind", "sku", "warehouse", "listing", "order", "expected", "actual", "note_shown", "corrected_at"]
    readonly_fields = fields

    @admin.display(description=_("note"))
    def note_shown(self, obj: ReconciliationDiff) -> str:
        return obj.note_text

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "started_at", "finished_at", "trigger", "diff_count"]
    inlines = [ReconciliationDiffInline]
    actions = ["run_now"]
    change_list_template = "admin/inventory/reconciliationrun/change_list.html"  # a "run now" button

    def changelist_view(self, request, extra_context=None):
        """The list's "run now" button posts here: an action needs a chosen row, and the first run
        has none to choose."""
        if request.method == "POST" and "run_reconciliation" in request.POST:
            if not (self.has_view_permission(request) and self.has_run_permission(request)):
                raise PermissionDenied
            self.run_now(request, self.get_queryset(request).none())
            return HttpResponseRedirect(request.get_full_path())
        extra_context = {**(extra_context or {}), "can_run_reconciliation": self.has_run_permission(request)}
        return super().changelist_view(request, extra_context)

    def has_run_permission(self, request):
        # The admin never adds runs by hand (read-only), but starting one writes a run: add permission.
        return request.user.has_perm("inventory.add_reconciliationrun")

    @admin.action(description=_("Run a new reconciliation now"), permissions=["run"])
    def run_now(self, request, queryset):
        run = services.reconciliation_run(trigger="admin")
        self.message_user(
            request, _("Reconciliation #%(id)d: %(n)d difference(s).") % {"id": run.pk, "n": run.diff_count}
        )


@admin.register(ReconciliationDiff)
class ReconciliationDiffAdmin(LedgerListCells, ViewPermissionExportMixin, ReadOnlyAdmin):
    resource_classes = [ReconciliationDiffResource]
    # the listing and the order are on the row's page
    list_display = [
        "run_cell",
        "kind_cell",
        "sku_cell",
        "warehouse_cell",
        "expected",
        "actual",
        "note_cell",
        "corrected_cell",
    ]
    list_filter = ["kind", ("corrected_at", admin.EmptyFieldListFilter), "run"]
    list_select_related = ["run", "sku", "warehouse"]
    exclude = ["note"]
    readonly_fields = ["note_shown"]

    @admin.display(description=_("note"))
    def note_shown(self, obj: ReconciliationDiff) -> str:
        return obj.note_text

    @admin.display(description=pgettext_lazy("a reconciliation run, as a narrow list column", "run"), ordering="run")
    def run_cell(self, obj: ReconciliationDiff) -> str:
        return _titled(f"#{obj.run_id}", str(obj.run))

    @admin.display(description=_("kind"), ordering="kind")
    def kind_cell(self, obj: ReconciliationDiff) -> str:
        return obj.get_kind_display()

    @admin.display(description=_("note"))
    def note_cell(self, obj: ReconciliationDiff) -> str:
        return _titled(obj.note_text, obj.note_text)

    @admin.display(description=_("corrected at"), ordering="corrected_at")
    def corrected_cell(self, obj: ReconciliationDiff) -> str:
        """Month, day and time (the year in the tooltip): the run's differences are days old at most."""
        if obj.corrected_at is None:
            return "-"
        at = timezone.localtime(obj.corrected_at)
        return _titled(formats.date_format(at, "m-d H:i"), formats.date_format(at, "DATETIME_FORMAT"))

    actions = ["correct"]

    def has_correct_permission(self, request):
        return request.user.has_perm("inventory.add_stockmovement")

    @admin.action(description=_("Correct the chosen differences (audited adjustments)"), permissions=["correct"])
    def correct(self, request, queryset):
        corrected = services.reconciliation_correct(
            diff_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(
            request, _("%(count)d difference(s) corrected.") % {"count": len(corrected)}, messages.SUCCESS
        )


class _QuarantineCodeFilter(admin.SimpleListFilter):
    """A code column of the (small) quarantine table, its values named in the reader's language."""

    def lookups(self, request, model_admin):
        codes = QuarantineEntry.objects.order_by(self.parameter_name).values_list(self.parameter_name, flat=True)
        return [(code, self.label(code)) for code in codes.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class QuarantineReasonFilter(_QuarantineCodeFilter):
    title = _("reason")
    parameter_name = "reason"

    def label(self, code: str) -> str:
        return QuarantineEntry(reason=code).reason_label


class QuarantineSourceFilter(_QuarantineCodeFilter):
    title = _("source")
    parameter_name = "source"

    def label(self, code: str) -> str:
        return movement_source_label(code)


@admin.register(QuarantineEntry)
class QuarantineEntryAdmin(ReadOnlyAdmin):
    """Each warehouse's quarantine location (隔离区): damaged returns, kept out of sellable stock."""

    list_display = ["at", "warehouse", "sku", "quantity", "reason_shown", "source_shown", "reference", "order"]
    list_filter = ["warehouse", QuarantineReasonFilter, QuarantineSourceFilter]
    search_fields = ["sku__code", "reference", "note"]
    list_select_related = ["sku", "warehouse", "order"]
    exclude = ["reason", "source", "note"]  # shown in the reader's language instead (*_shown)
    readonly_fields = ["reason_shown", "source_shown", "note_shown"]

    @admin.display(description=_("reason"), ordering="reason")
    def reason_shown(self, obj: QuarantineEntry) -> str:
        return obj.reason_label

    @admin.display(description=_("source"), ordering="source")
    def source_shown(self, obj: QuarantineEntry) -> str:
        return obj.source_label

    @admin.display(description=_("note"))
    def note_shown(self, obj: QuarantineEntry) -> str:
        return obj.note_text

    date_hierarchy = "at"
