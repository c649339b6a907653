"""Waybill sheets (运单导入) through django-import-export: orders shipped outside OrderHub's e-waybill
flow, listed by a carrier or a warehouse with their tracking numbers.

Columns (headers in English or Chinese, any order): order (OrderHub's id "OH123"/123, or the platform
order id), shop (only needed when a platform order id is ambiguous), carrier (code, name or short
Chinese name: 顺丰, 中通 …), tracking number, lines (optional: "SKU × 2; SKU-B × 1"; empty = everything
the order still has to ship).

Each row goes through `order_dispatch_with_waybill`, the scanner's dispatch, in its own savepoint (a
refused row leaves nothing behind), so an imported row gets exactly the write-back and buyer-notice
rows a scan writes. The preview (dry run) really runs the service inside the transaction that
import-export rolls back, so what it shows is exactly what the import will do, later rows seeing the
earlier ones (a number used twice in the sheet, an order listed twice)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import tablib
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, override, pgettext_lazy
from import_export import fields, resources, widgets
from import_export.results import InvalidRow, Result

from shipping import selectors
from shipping.errors import DispatchRefused
from shipping.models import Shipment, WaybillImport, WriteBack

#: column key -> label (the header written in the template and shown in the preview)
COLUMNS = {
    "order_ref": pgettext_lazy("waybill sheet column", "order"),
    "channel_ref": pgettext_lazy("waybill sheet column", "shop"),
    "carrier_ref": pgettext_lazy("waybill sheet column", "carrier"),
    "tracking_number": pgettext_lazy("waybill sheet column", "tracking number"),
    "lines_ref": pgettext_lazy("waybill sheet column", "lines (SKU × quantity)"),
}
REQUIRED = ("order_ref", "carrier_ref", "tracking_number")
#: result columns of the preview (read-only)
RESULT_COLUMNS = {
    "parcel_key": gettext_lazy("parcel"),
    "order_state": gettext_lazy("order state after"),
}
#: headers people write, beyond the labels in either language (compared case- and space-insensitively)
HEADER_ALIASES = {
    "order_ref": (
        "order",
        "order id",
        "order ref",
        "order no",
        "platform order id",
        "订单",
        "订单号",
        "订单编号",
        "平台订单号",
        "原始单号",
    ),
    "channel_ref": ("shop", "channel", "store", "店铺", "渠道", "店铺名称"),
    "carrier_ref": ("carrier", "courier", "express", "快递公司", "物流公司", "快递", "承运商"),
    "tracking_number": (
        "tracking number",
        "tracking no",
        "waybill",
        "waybill number",
        "运单号",
        "快递单号",
        "物流单号",
    ),
    "lines_ref": ("lines", "items", "sku", "商品", "明细", "商品明细", "商品编码×数量"),
}
_LINE_SPLIT = re.compile(r"[;,；，、\n]+")
# "SKU × 2", "SKU*2", "SKU: 2", "SKU x 2" (a bare x only between spaces: SKU codes contain x)
_LINE_QUANTITY = re.compile(r"^(?P<sku>.+?)\s*(?:[×*＊:：]|\s[xX]\s)\s*(?P<qty>\d+)$")


class SheetInvalid(Exception):
    """The file as a whole cannot be read as a waybill sheet (not the format, empty, columns missing)."""


def _key(header: object) -> str:
    return " ".join(str(header or "").split()).casefold()


def header_map() -> dict[str, str]:
    """Accepted header (normalised) -> column key, in English, Chinese and the aliases."""
    accepted: dict[str, str] = {_key(column): column for column in (*COLUMNS, *RESULT_COLUMNS)}
    for column, aliases in HEADER_ALIASES.items():
        for alias in aliases:
            accepted[_key(alias)] = column
    for language in ("en", "zh-hans"):
        with override(language):
            for column, label in {**COLUMNS, **RESULT_COLUMNS}.items():
                accepted[_key(str(label))] = column
    return accepted


def read_sheet(data: bytes, *, file_format: str) -> tablib.Dataset:
    """The sheet as a dataset with the column keys as headers; SheetInvalid with a clear reason."""
    if not data or not data.strip():
        raise SheetInvalid(gettext("The file is empty."))
    try:
        if file_format == "xlsx":
            if not data.startswith(b"PK"):
                raise ValueError("not a zip container")
            dataset = tablib.Dataset().load(io.BytesIO(data), format="xlsx")
        else:
            dataset = tablib.Dataset().load(data.decode("utf-8-sig"), format="csv")
    except Exception:  # tablib/openpyxl raise many kinds; the user needs one sentence
        raise SheetInvalid(
            gettext("This is not a readable %(format)s file: save the sheet as %(format)s and try again.")
            % {"format": file_format.upper()}
        ) from None
    return normalise(dataset)


def normalise(dataset: tablib.Dataset) -> tablib.Dataset:
    """Rename the headers to column keys, drop unknown and empty rows; SheetInvalid when a required
    column is missing or no row is left."""
    accepted = header_map()
    headers = [accepted.get(_key(h), "") for h in (dataset.headers or [])]
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        raise SheetInvalid(
            gettext("The sheet has no column for: %(columns)s. Download the template to see the columns.")
            % {"columns": ", ".join(str(COLUMNS[c]) for c in missing)}
        )
    keep = [i for i, h in enumerate(headers) if h and h not in headers[:i]]
    out = tablib.Dataset(headers=[headers[i] for i in keep])
    for row in dataset:
        values = [_cell(row[i]) for i in keep]
        if any(values):
            out.append(values)
    if not len(out):
        raise SheetInvalid(gettext("The sheet has headers but no rows."))
    return out


def _cell(value: object) -> str:
    """xlsx gives numbers for long numeric ids (and floats for "123.0"): keep the digits as written."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() if value is not None else ""


def template_sheet(*, file_format: str = "xlsx") -> bytes:
    """An empty waybill sheet with the headers in the active language and one example row."""
    dataset = tablib.Dataset(headers=[str(label) for label in COLUMNS.values()])
    dataset.append(["OH1001", "", "顺丰", "SF1234567890123", ""])
    dataset.append(["2659011234567890123", gettext("Taobao"), "ZTO", "78912345678901", "MUG-350 × 2; TEE-L × 1"])
    exported = dataset.export(file_format)
    return exported.encode("utf-8-sig") if isinstance(exported, str) else exported


def parse_lines(text: str) -> list[tuple[str, int]]:
    """ "SKU × 2; SKU-B" -> [("SKU", 2), ("SKU-B", 1)]; ValueError on a quantity that is not ≥ 1."""
    parsed: list[tuple[str, int]] = []
    for part in _LINE_SPLIT.split(text or ""):
        part = part.strip()
        if not part:
            continue
        match = _LINE_QUANTITY.match(part)
        sku, quantity = (match["sku"].strip(), int(match["qty"])) if match else (part, 1)
        if quantity < 1:
            raise ValueError(gettext("%(sku)s: a quantity is a whole number ≥ 1.") % {"sku": sku})
        parsed.append((sku, quantity))
    return parsed


@dataclass
class RowOutcome:
    row: int
    order: str
    carrier: str
    tracking_number: str
    parcel: str = ""
    errors: dict[str, list[str]] | None = None


class WaybillSheetResult(Result):
    """The preview shows a refused row's values under the translated headers (import-export looks
    them up by header, which here is the label in the user's language, not the column key)."""

    def append_invalid_row(self, number, row, validation_error):
        values = tuple(row.get(column, "") for column in COLUMNS)  # a refused row has no result columns
        self.invalid_rows.append(InvalidRow(number=number, validation_error=validation_error, values=values))


class WaybillSheetResource(resources.ModelResource):
    """One row = one parcel that left: validated, then shipped through the dispatch service."""

    order_ref = fields.Field(attribute="order_ref", column_name="order_ref")
    channel_ref = fields.Field(attribute="channel_ref", column_name="channel_ref")
    carrier_ref = fields.Field(attribute="carrier_ref", column_name="carrier_ref")
    tracking_number = fields.Field(attribute="tracking_number", column_name="tracking_number")
    lines_ref = fields.Field(attribute="lines_ref", column_name="lines_ref")
    parcel_key = fields.Field(attribute="parcel_key", column_name="parcel_key", readonly=True)
    order_state = fields.Field(attribute="order_state", column_name="order_state", readonly=True)

    class Meta:
        model = Shipment
        fields = (*COLUMNS, *RESULT_COLUMNS)
        import_order = fields
        force_init_instance = True  # every row is a new parcel (or an OrderHub parcel found by the service)
        use_bulk = False
        skip_unchanged = False
        use_transactions = True
        store_instance = True  # the outcome of each row needs its parcel

    def __init__(self, *, source: str = WaybillImport.SOURCE_ADMIN, progress: Callable[[], None] | None = None):
        super().__init__()
        self.source = source
        self.progress = progress
        self.outcomes: list[RowOutcome] = []
        self.record: WaybillImport | None = None
        self._seen_numbers: dict[tuple[int, str], int] = {}  # (carrier, number) -> first row
        self._user = None
        self._file_name = ""

    def get_result_class(self):
        return WaybillSheetResult

    # ---- headers: stable keys inside, the user's language outside --------------------------------
    @classmethod
    def get_display_name(cls):
        return gettext("waybill sheet")

    def get_diff_headers(self):
        return [str({**COLUMNS, **RESULT_COLUMNS}[f.column_name]) for f in self.get_import_fields()]

    def get_user_visible_fields(self):
        return [f for f in self.get_import_fields() if f.column_name in COLUMNS]

    def before_import(self, dataset, **kwargs):
        """Headers become column keys whatever language the sheet speaks (SheetInvalid if unusable)."""
        normalised = normalise(dataset)
        dataset.headers = normalised.headers
        del dataset[0 : len(dataset)]
        for row in normalised:
            dataset.append(row)
        self._seen_numbers = {}
        self._user = kwargs.get("user")
        self._file_name = kwargs.get("file_name") or ""

    # ---- one row ------------------------------------------------------------------------------------
    def import_instance(self, instance, row, **kwargs):
        """Read the row's texts, then resolve order, shop, carrier and lines; every problem of the row
        is reported at once, on its column."""
        super().import_instance(instance, row, **kwargs)
        errors: dict[str, list[str]] = {}

        def refuse(column: str, message: str) -> None:
            errors.setdefault(str(COLUMNS[column]), []).append(message)

        for column in REQUIRED:
            if not getattr(instance, column, ""):
                refuse(column, gettext("This column is required."))
        instance.resolved_order = None
        instance.resolved_carrier = None
        instance.resolved_lines = None
        channels = None
        if getattr(instance, "channel_ref", ""):
            channels = selectors.channels_named(instance.channel_ref)
            if not channels:
                refuse("channel_ref", gettext("No shop is called %(shop)s.") % {"shop": instance.channel_ref})
        if instance.order_ref and channels != []:
            orders = selectors.orders_for_ref(ref=instance.order_ref, channels=channels)
            if not orders:
                refuse("order_ref", gettext("No order %(order)s.") % {"order": instance.order_ref})
            elif len(orders) > 1:
                refuse(
                    "order_ref",
                    gettext("%(order)s names several orders (%(shops)s): add the shop column.")
                    % {"order": instance.order_ref, "shops": ", ".join(f"{o.channel.name} #{o.pk}" for o in orders)},
                )
            else:
                instance.resolved_order = orders[0]
        if instance.carrier_ref:
            carriers = selectors.carriers_named(instance.carrier_ref)
            if len(carriers) == 1:
                instance.resolved_carrier = carriers[0]
            elif carriers:
                refuse(
                    "carrier_ref",
                    gettext("%(carrier)s could be %(carriers)s: write the carrier's code.")
                    % {"carrier": instance.carrier_ref, "carriers": ", ".join(c.code for c in carriers)},
                )
            else:
                refuse("carrier_ref", gettext("Unknown carrier %(carrier)s.") % {"carrier": instance.carrier_ref})
        if getattr(instance, "lines_ref", "") and instance.resolved_order is not None:
            try:
                instance.resolved_lines = self._lines(instance.resolved_order, parse_lines(instance.lines_ref))
            except ValueError as exc:
                refuse("lines_ref", str(exc))
        if instance.resolved_carrier is not None and instance.tracking_number:
            seen = (instance.resolved_carrier.pk, instance.tracking_number)
            first = self._seen_numbers.setdefault(seen, kwargs.get("row_number", 0))
            if first != kwargs.get("row_number", 0):
                refuse(
                    "tracking_number",
                    gettext("Tracking number %(number)s is already in row %(row)s of this sheet.")
                    % {"number": instance.tracking_number, "row": first},
                )
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def _lines(order, wanted: list[tuple[str, int]]) -> dict[int, int]:
        """SKU codes (merchant code or platform SKU id) -> OrderLine ids of `order`, filling lines of
        the same SKU in order."""
        lines = list(order.lines.order_by("pk"))
        chosen: dict[int, int] = {}
        for sku, quantity in wanted:
            matching = [line for line in lines if sku in (line.sku_code, line.platform_sku_id)]
            if not matching:
                raise ValueError(
                    gettext("%(sku)s is not on order %(order)s.") % {"sku": sku, "order": order.external_id}
                )
            left = quantity
            for line in matching:
                take = min(left, line.quantity - chosen.get(line.pk, 0))
                if take > 0:
                    chosen[line.pk] = chosen.get(line.pk, 0) + take
                    left -= take
            if left:
                chosen[matching[-1].pk] = chosen.get(matching[-1].pk, 0) + left  # the service says "too many"
        return chosen

    def save_instance(self, instance, is_create, row, **kwargs):
        from shipping.services.dispatch import order_dispatch_with_waybill

        user = self._user if getattr(self._user, "is_authenticated", False) else None
        note = gettext("shipped by waybill sheet %(file)s, row %(row)s") % {
            "file": self._file_name or "-",
            "row": kwargs.get("row_number", 0),
        }
        try:
            shipment = order_dispatch_with_waybill(
                order_id=instance.resolved_order.pk,
                carrier=instance.resolved_carrier,
                tracking_number=instance.tracking_number,
                lines=instance.resolved_lines,
                actor=user,
                note=note,
                data={"waybill_sheet": self._file_name, "row": kwargs.get("row_number", 0)},
            )
        except DispatchRefused as exc:
            column = {"tracking_number": "tracking_number", "lines": "lines_ref"}.get(exc.field, "order_ref")
            raise ValidationError({str(COLUMNS[column]): [exc.message]}) from None
        except IntegrityError:  # the same number bound to another parcel at the same moment
            message = gettext("The parcel changed while it was imported: import the row again.")
            raise ValidationError({str(COLUMNS["tracking_number"]): [message]}) from None
        instance.pk = shipment.pk
        instance.carrier = shipment.carrier
        instance.parcel_key = shipment.parcel_key
        instance.order_state = instance.resolved_order.__class__.objects.get(
            pk=instance.resolved_order.pk
        ).get_state_display()

    def import_row(self, row, instance_loader, **kwargs):
        row_result = super().import_row(row, instance_loader, **kwargs)
        if self.progress is not None:
            self.progress()
        return row_result

    def _outcomes(self, dataset, result) -> list[RowOutcome]:
        outcomes = []
        for number, (row_result, values) in enumerate(zip(result.rows, dataset.dict, strict=False), 1):
            outcome = RowOutcome(
                row=number,
                order=str(values.get("order_ref") or ""),
                carrier=str(values.get("carrier_ref") or ""),
                tracking_number=str(values.get("tracking_number") or ""),
            )
            if row_result.validation_error is not None:
                outcome.errors = {k: [str(m) for m in v] for k, v in row_result.validation_error.message_dict.items()}
            elif row_result.errors:
                outcome.errors = {"": [str(e.error) for e in row_result.errors]}
            elif row_result.instance is not None:
                outcome.parcel = getattr(row_result.instance, "parcel_key", "")
            outcomes.append(outcome)
        return outcomes

    def after_import(self, dataset, result, **kwargs):
        """The audit row of a real import (previews leave none): who, which file, each row's fate."""
        if kwargs.get("dry_run"):
            return
        user = self._user if getattr(self._user, "is_authenticated", False) else None
        self.outcomes = self._outcomes(dataset, result)
        shipped = [o for o in self.outcomes if not o.errors and o.parcel]
        self.record = WaybillImport.objects.create(
            file_name=(self._file_name or "-")[:255],
            source=self.source,
            imported_by=user,
            finished_at=timezone.now(),
            rows_total=len(self.outcomes),
            rows_shipped=len(shipped),
            rows_refused=len(self.outcomes) - len(shipped),
            results=[o.__dict__ for o in self.outcomes],
        )


class WriteBackExportResource(resources.ModelResource):
    """The write-back list as filtered in the admin: one row per write-back, attempts as a number,
    state, action and failure in the reader's language. No receiver details: a write-back carries the
    order and parcel numbers only."""

    id = fields.Field(attribute="id", column_name="id", widget=widgets.IntegerWidget())
    created_at = fields.Field(attribute="created_at", column_name="created_at", widget=widgets.DateTimeWidget())
    channel = fields.Field(attribute="order__channel__name", column_name="channel")
    order = fields.Field(attribute="order_id", column_name="order", widget=widgets.IntegerWidget())
    external_id = fields.Field(attribute="order__external_id", column_name="external_id")
    carrier = fields.Field(attribute="shipment__carrier__code", column_name="carrier")
    tracking_number = fields.Field(attribute="shipment__tracking_number", column_name="tracking_number")
    action = fields.Field(attribute="get_action_display", column_name="action")
    state = fields.Field(attribute="get_state_display", column_name="state")
    failure = fields.Field(attribute="get_failure_display", column_name="failure")
    attempts = fields.Field(attribute="attempts", column_name="attempts", widget=widgets.IntegerWidget())
    next_attempt_at = fields.Field(
        attribute="next_attempt_at", column_name="next_attempt_at", widget=widgets.DateTimeWidget()
    )
    last_error = fields.Field(attribute="last_error", column_name="last_error")
    done_at = fields.Field(attribute="done_at", column_name="done_at", widget=widgets.DateTimeWidget())
    column_labels = {
        "id": pgettext_lazy("excel column", "Write-back"),
        "created_at": pgettext_lazy("excel column", "Created at"),
        "channel": pgettext_lazy("excel column", "Shop"),
        "order": pgettext_lazy("excel column", "Order number"),
        "external_id": pgettext_lazy("excel column", "Platform order number"),
        "carrier": pgettext_lazy("excel column", "Carrier"),
        "tracking_number": pgettext_lazy("excel column", "Tracking number"),
        "action": pgettext_lazy("excel column", "Action"),
        "state": pgettext_lazy("excel column", "State"),
        "failure": pgettext_lazy("excel column", "Failure"),
        "attempts": pgettext_lazy("excel column", "Failed attempts"),
        "next_attempt_at": pgettext_lazy("excel column", "Next attempt at"),
        "last_error": pgettext_lazy("excel column", "Last error"),
        "done_at": pgettext_lazy("excel column", "Done at"),
    }

    class Meta:
        model = WriteBack
        fields = (
            "id",
            "created_at",
            "channel",
            "order",
            "external_id",
            "carrier",
            "tracking_number",
            "action",
            "state",
            "failure",
            "attempts",
            "next_attempt_at",
            "last_error",
            "done_at",
        )
        export_order = fields
