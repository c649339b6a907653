"""Excel through django-import-export: stock level export, stocktake import, movement and diff exports.

Stocktake rows (SKU, warehouse, counted quantity) become count movements through the service,
so the ledger, the level, pushes and the presale switch all follow. Two pitfalls handled:
- xlsx cells arrive as strings ("12", "12.0"): the counted widget parses them strictly;
- a dry run (the preview) really calls save() inside a transaction that is rolled back: the
  service runs for real there, which makes the preview exact (delta, balance, flag) and leaves
  nothing behind. On-commit effects (push nudges) are discarded with the rollback.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from import_export import fields, resources, widgets

from inventory.errors import MovementConflict, MovementInvalid
from inventory.models import MovementKind, ReconciliationDiff, Sku, StockLevel, StockMovement, Warehouse
from orders.texts import wording


class CodeWidget(widgets.ForeignKeyWidget):
    """A foreign key by code; an unknown code is a row validation error, not a crash."""

    def clean(self, value, row=None, **kwargs):
        value = str(value).strip() if value is not None else ""
        if not value:
            raise ValueError(_("This column is required."))
        try:
            return self.model.objects.get(**{self.field: value})
        except self.model.DoesNotExist:
            raise ValueError(_("Unknown code %(code)s.") % {"code": value}) from None


class CountedWidget(widgets.IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        text = str(value).strip() if value is not None else ""
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(_("Not a number: %(value)s.") % {"value": text}) from None
        if not number.is_finite() or number != number.to_integral_value() or number < 0:
            raise ValueError(_("A counted quantity is a whole number ≥ 0, not %(value)s.") % {"value": text})
        return int(number)


class StockLevelResource(resources.ModelResource):
    sku = fields.Field(attribute="sku__code", column_name="sku")
    sku_name = fields.Field(attribute="sku__name", column_name="name")
    warehouse = fields.Field(attribute="warehouse__code", column_name="warehouse")
    on_hand = fields.Field(attribute="on_hand", column_name="on_hand", widget=widgets.IntegerWidget())
    reserved = fields.Field(attribute="reserved", column_name="reserved", widget=widgets.IntegerWidget())
    available = fields.Field(attribute="available", column_name="available", widget=widgets.IntegerWidget())
    column_labels = {
        "sku": pgettext_lazy("excel column", "SKU"),
        "name": pgettext_lazy("excel column", "Product name"),
        "warehouse": pgettext_lazy("excel column", "Warehouse"),
        "on_hand": pgettext_lazy("excel column", "On hand"),
        "reserved": pgettext_lazy("excel column", "Reserved"),
        "available": pgettext_lazy("excel column", "Available"),
    }

    class Meta:
        model = StockLevel
        fields = ("sku", "sku_name", "warehouse", "on_hand", "reserved", "available")
        export_order = fields

    def get_export_queryset(self, request=None):
        return StockLevel.objects.select_related("sku", "warehouse").order_by("sku__code", "warehouse__priority")


class StocktakeResource(resources.ModelResource):
    """Import columns: sku, warehouse, counted. The preview also shows the change and the flag."""

    sku = fields.Field(attribute="sku", column_name="sku", widget=CodeWidget(Sku, "code"))
    warehouse = fields.Field(attribute="warehouse", column_name="warehouse", widget=CodeWidget(Warehouse, "code"))
    counted = fields.Field(attribute="counted", column_name="counted", widget=CountedWidget())
    quantity = fields.Field(attribute="quantity", column_name="change", readonly=True)
    balance_after = fields.Field(attribute="balance_after", column_name="on_hand_after", readonly=True)
    flagged = fields.Field(attribute="flag_reason_text", column_name="flag", readonly=True)

    class Meta:
        model = StockMovement
        fields = ("sku", "warehouse", "counted", "quantity", "balance_after", "flagged")
        force_init_instance = True  # every row is a new count movement
        use_bulk = False

    def import_data(self, dataset, **kwargs):
        """All or nothing: a file with any bad row writes nothing (also outside the admin flow)."""
        kwargs.setdefault("rollback_on_validation_errors", True)
        return super().import_data(dataset, **kwargs)

    def before_import(self, dataset, **kwargs):
        self._batch = uuid.uuid4().hex[:12]
        self._user = kwargs.get("user")
        self._counted_rows: dict[tuple[int, int], int] = {}  # (sku, warehouse) -> first row counting it

    def save_instance(self, instance, is_create, row, **kwargs):
        from inventory.services import movement_record_in_transaction

        # A second count of one place would silently replace the first: refuse the file instead.
        place = (instance.sku.pk, instance.warehouse.pk)
        row_number = kwargs.get("row_number", 0)
        first = self._counted_rows.setdefault(place, row_number)
        if first != row_number:
            raise ValidationError(
                {
                    "sku": _("%(sku)s at %(warehouse)s is already counted in row %(row)s; one row per place.")
                    % {"sku": instance.sku.code, "warehouse": instance.warehouse.code, "row": first}
                }
            )
        try:
            result = movement_record_in_transaction(
                warehouse_code=instance.warehouse.code,
                sku_code=instance.sku.code,
                kind=MovementKind.COUNT,
                quantity=instance.counted,
                reference=f"stocktake:{self._batch}:{kwargs.get('row_number', 0)}",
                source="stocktake",
                actor=self._user if getattr(self._user, "is_authenticated", False) else None,
                note=wording("stock.stocktake_import"),
            )
        except MovementInvalid as exc:
            raise ValidationError(dict(exc.errors)) from None
        except MovementConflict as exc:
            raise ValidationError(str(exc)) from None
        movement = result.movement
        for name in ("pk", "quantity", "balance_after", "flagged", "flag_reason", "flag_wording", "reference", "at"):
            setattr(instance, name, getattr(movement, name))


class ReconciliationDiffResource(resources.ModelResource):
    run = fields.Field(attribute="run_id", column_name="run", widget=widgets.IntegerWidget())
    kind = fields.Field(attribute="get_kind_display", column_name="kind")
    sku = fields.Field(attribute="sku__code", column_name="sku")
    warehouse = fields.Field(attribute="warehouse__code", column_name="warehouse")
    listing = fields.Field(attribute="listing", column_name="listing")
    order = fields.Field(attribute="order_id", column_name="order", widget=widgets.IntegerWidget())
    expected = fields.Field(attribute="expected", column_name="expected", widget=widgets.IntegerWidget())
    actual = fields.Field(attribute="actual", column_name="actual", widget=widgets.IntegerWidget())
    difference = fields.Field(attribute="difference", column_name="difference", widget=widgets.IntegerWidget())
    note = fields.Field(attribute="note_text", column_name="note")
    corrected_at = fields.Field(attribute="corrected_at", column_name="corrected_at", widget=widgets.DateTimeWidget())
    column_labels = {
        "run": pgettext_lazy("excel column", "Reconciliation run"),
        "kind": pgettext_lazy("excel column", "Difference"),
        "sku": pgettext_lazy("excel column", "SKU"),
        "warehouse": pgettext_lazy("excel column", "Warehouse"),
        "listing": pgettext_lazy("excel column", "Listing"),
        "order": pgettext_lazy("excel column", "Order number"),
        "expected": pgettext_lazy("excel column", "Expected"),
        "actual": pgettext_lazy("excel column", "Actual"),
        "difference": pgettext_lazy("excel column", "Gap"),
        "note": pgettext_lazy("excel column", "Note"),
        "corrected_at": pgettext_lazy("excel column", "Corrected at"),
    }

    class Meta:
        model = ReconciliationDiff
        fields = (
            "run",
            "kind",
            "sku",
            "warehouse",
            "listing",
            "order",
            "expected",
            "actual",
            "difference",
            "note",
            "corrected_at",
        )
        export_order = fields


class StockMovementExportResource(resources.ModelResource):
    """The ledger as filtered in the admin: one row per movement, quantities as numbers, the kind and
    the note in the reader's language (no receiver details: a movement names an order by its number)."""

    at = fields.Field(attribute="at", column_name="at", widget=widgets.DateTimeWidget())
    kind = fields.Field(attribute="get_kind_display", column_name="kind")
    sku = fields.Field(attribute="sku__code", column_name="sku")
    warehouse = fields.Field(attribute="warehouse__code", column_name="warehouse")
    quantity = fields.Field(attribute="quantity", column_name="quantity", widget=widgets.IntegerWidget())
    counted = fields.Field(attribute="counted", column_name="counted", widget=widgets.IntegerWidget())
    balance_after = fields.Field(attribute="balance_after", column_name="balance_after", widget=widgets.IntegerWidget())
    source = fields.Field(attribute="source", column_name="source")
    reference = fields.Field(attribute="reference", column_name="reference")
    order = fields.Field(attribute="order_id", column_name="order", widget=widgets.IntegerWidget())
    actor = fields.Field(attribute="actor__username", column_name="actor")
    note = fields.Field(attribute="note_text", column_name="note")
    flagged = fields.Field(attribute="flagged", column_name="flagged", widget=widgets.BooleanWidget())
    flag_reason = fields.Field(attribute="flag_reason_text", column_name="flag_reason")
    column_labels = {
        "at": pgettext_lazy("excel column", "At"),
        "kind": pgettext_lazy("excel column", "Movement"),
        "sku": pgettext_lazy("excel column", "SKU"),
        "warehouse": pgettext_lazy("excel column", "Warehouse"),
        "quantity": pgettext_lazy("excel column", "Change to on hand"),
        "counted": pgettext_lazy("excel column", "Counted"),
        "balance_after": pgettext_lazy("excel column", "On hand after"),
        "source": pgettext_lazy("excel column", "Source"),
        "reference": pgettext_lazy("excel column", "Reference"),
        "order": pgettext_lazy("excel column", "Order number"),
        "actor": pgettext_lazy("excel column", "By"),
        "note": pgettext_lazy("excel column", "Note"),
        "flagged": pgettext_lazy("excel column", "Flagged"),
        "flag_reason": pgettext_lazy("excel column", "Flag reason"),
    }

    class Meta:
        model = StockMovement
        fields = (
            "at",
            "kind",
            "sku",
            "warehouse",
            "quantity",
            "counted",
            "balance_after",
            "source",
            "reference",
            "order",
            "actor",
            "note",
            "flagged",
            "flag_reason",
        )
        export_order = fields
