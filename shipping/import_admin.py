"""Waybill sheet import in the admin (运单导入): upload an xlsx or csv, preview every row with its
errors in the user's language, confirm to ship only the good rows. The list shows past imports (who,
which file, each row's fate); a template sheet with the headers in the user's language is offered.

Thin: reading the sheet and each row live in shipping.resources, shipping in the dispatch service."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV, XLSX
from import_export.forms import ImportForm

from orderhub.admin_history import ReadOnlyAdmin
from shipping.models import WaybillImport
from shipping.resources import COLUMNS, SheetInvalid, WaybillSheetResource, read_sheet, template_sheet

IMPORT_PERMISSION = "shipping.import_waybills"
FORMATS = [XLSX, CSV]


class WaybillSheetForm(ImportForm):
    """The upload form: a file that is not the chosen format, empty, or lacks a required column is
    refused here with one clear sentence, before any row is looked at."""

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("import_file")
        chosen = cleaned.get("format")
        if upload is None or chosen in (None, ""):
            return cleaned
        file_format = FORMATS[int(chosen)]().get_extension()
        data = b"".join(upload.chunks())
        upload.seek(0)
        try:
            read_sheet(data, file_format=file_format)
        except SheetInvalid as exc:
            self.add_error("import_file", str(exc))
        return cleaned


@admin.register(WaybillImport)
class WaybillImportAdmin(ImportMixin, ReadOnlyAdmin):
    resource_classes = [WaybillSheetResource]
    formats = FORMATS
    import_form_class = WaybillSheetForm
    import_template_name = "admin/shipping/waybillimport/import.html"
    import_export_change_list_template = "admin/shipping/waybillimport/change_list.html"
    list_display = ["started_at", "file_name", "source", "imported_by", "rows_total", "rows_shipped", "rows_refused"]
    list_filter = ["source"]
    search_fields = ["file_name", "imported_by__username"]
    date_hierarchy = "started_at"
    fields = [
        "file_name",
        "source",
        "imported_by",
        "started_at",
        "finished_at",
        "rows_total",
        "rows_shipped",
        "rows_refused",
        "row_results",
    ]
    readonly_fields = fields

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def get_import_resource_kwargs(self, request, **kwargs):
        return {}

    @admin.display(description=_("row results"))
    def row_results(self, obj: WaybillImport) -> str:
        """One line per row: where the sheet said it goes, and what became of it."""

        def outcome(result: dict) -> str:
            if result.get("errors"):
                return format_html_join(
                    "", "<div>{}: {}</div>", ((k, " ".join(v)) for k, v in result["errors"].items())
                )
            return format_html("<div>{}</div>", gettext("shipped in parcel %(parcel)s") % {"parcel": result["parcel"]})

        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r.get("row"),
                    r.get("order"),
                    r.get("carrier"),
                    r.get("tracking_number"),
                    outcome(r),
                )
                for r in obj.results or []
            ),
        )
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            gettext("row"),
            COLUMNS["order_ref"],
            COLUMNS["carrier_ref"],
            COLUMNS["tracking_number"],
            gettext("result"),
        )
        return format_html("<table><thead>{}</thead><tbody>{}</tbody></table>", head, rows)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        extra = [
            path(
                "template/<str:file_format>/",
                self.admin_site.admin_view(self.template_view),
                name="{}_{}_template".format(*info),
            )
        ]
        return extra + super().get_urls()

    def template_view(self, request: HttpRequest, file_format: str) -> HttpResponse:
        """The empty sheet to fill in, headers in the user's language (Chinese headers import too)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        if file_format not in ("xlsx", "csv"):
            file_format = "xlsx"
        content_type = (
            "text/csv; charset=utf-8"
            if file_format == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response = HttpResponse(template_sheet(file_format=file_format), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="waybill-sheet.{file_format}"'
        return response

    def import_action(self, request, **kwargs):
        """import-export offers "confirm" only for a sheet without a single bad row; a waybill sheet
        imports its good rows, so the confirm form is offered whenever at least one row is good."""
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        form = context.get("form")
        if (
            result is not None
            and form is not None
            and "confirm_form" not in context
            and not result.has_errors()
            and result.valid_rows()
        ):
            context["confirm_form"] = self.create_confirm_form(request, import_form=form)
        if "fields_list" in context:
            context["fields_list"] = [(gettext("waybill sheet"), [str(label) for label in COLUMNS.values()])]
        if result is not None:
            context["input_headers"] = [str(label) for label in COLUMNS.values()]
            context["valid_count"] = len(result.valid_rows())
            context["invalid_count"] = len(result.invalid_rows)
        return response

    def process_result(self, result, request):
        from django.contrib import messages

        response = super().process_result(result, request)
        shipped = len(result.valid_rows())
        refused = len(result.invalid_rows)
        messages.info(
            request,
            gettext("Waybill sheet imported: %(shipped)s parcel(s) shipped, %(refused)s row(s) refused.")
            % {"shipped": shipped, "refused": refused},
        )
        return response

    def add_success_message(self, result, request):
        """Replaced by the message in process_result (import-export's speaks of new/updated rows)."""
