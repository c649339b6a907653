"""Print batches in the admin: the list, the print page run in the packer's browser (it talks to the
platform's print component), the JSON endpoints that page posts to, and the batch's PDFs.

Thin: every write goes through shipping.printing (re-exported by shipping.services)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from orderhub.admin_history import ReadOnlyHistoryAdmin, ReadOnlyInline
from shipping import documents, print_selectors, services
from shipping.errors import PrintRefused
from shipping.models import PrintBatch, PrintRecord, ShipmentState

PRINT_PERMISSION = "orders.print_order"

COMPONENT_NAMES = {
    "cainiao": _("Cainiao print component (菜鸟打印组件)"),
    "pdd": _("Pinduoduo print component (拼多多打印组件)"),
    "jd": _("JD cloud print component (京东云打印)"),
    "douyin": _("Douyin print component (抖音电子面单打印组件)"),
    "kuaishou": _("Kuaishou print component (快手打印组件)"),
}


class PrintResultForm(forms.Form):
    """What the print page posts for one label result."""

    shipment = forms.IntegerField(min_value=1)
    tracking_number = forms.CharField(max_length=64)
    ok = forms.BooleanField(required=False)
    message = forms.CharField(max_length=500, required=False)
    printer = forms.CharField(max_length=200, required=False)
    task_id = forms.CharField(max_length=64, required=False)


class PrintRecordInline(ReadOnlyInline):
    model = PrintRecord
    fields = ["at", "tracking_number", "ok", "reprint", "printer", "message", "actor"]
    ordering = ["-id"]


@admin.register(PrintBatch)
class PrintBatchAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "__str__",
        "carrier",
        "lane",
        "state",
        "parcels",
        "printed",
        "created_at",
        "printed_at",
        "print_link",
    ]
    list_filter = ["state", "lane", "account__carrier", "account__channel"]
    list_select_related = ["account__channel", "account__carrier"]
    readonly_fields = ["account", "lane", "state", "created_by", "created_at", "printed_at", "print_link"]
    inlines = [PrintRecordInline]
    change_list_template = "admin/shipping/printbatch/change_list.html"

    def has_add_permission(self, request):
        return False  # batches are filled by the service (ready orders), never typed in

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a batch changes only by printing it (the print page) or by the fill service

    @admin.display(description=pgettext_lazy("print batch column", "carrier"))
    def carrier(self, obj: PrintBatch) -> str:
        return obj.account.carrier.name

    def get_queryset(self, request: HttpRequest):
        live = ~Q(shipments__state=ShipmentState.VOIDED)
        printed = Q(shipments__state__in=[ShipmentState.PRINTED, ShipmentState.SHIPPED])
        return (
            super()
            .get_queryset(request)
            .annotate(parcel_count=Count("shipments", filter=live), printed_count=Count("shipments", filter=printed))
        )

    @admin.display(description=pgettext_lazy("print batch column", "parcels"), ordering="parcel_count")
    def parcels(self, obj: PrintBatch) -> int:
        return obj.parcel_count

    @admin.display(description=pgettext_lazy("print batch column", "printed"), ordering="printed_count")
    def printed(self, obj: PrintBatch) -> int:
        return obj.printed_count

    @admin.display(description=pgettext_lazy("print batch column", "print"))
    def print_link(self, obj: PrintBatch) -> str:
        return format_html(
            '<a class="button" style="white-space:nowrap" href="{}">{}</a>',
            reverse("admin:shipping_printbatch_print", args=[obj.pk]),
            gettext("Open print page"),
        )

    def fill_view(self, request: HttpRequest) -> HttpResponse:
        """The changelist's "fill now" button: the print queue without waiting for the schedule."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_view_permission(request) and request.user.has_perm(PRINT_PERMISSION)):
            raise PermissionDenied
        fill = services.print_queue_fill(actor=request.user)
        self.message_user(
            request,
            gettext(
                "%(created)d new parcel(s); %(parcels)d parcel(s) put into %(batches)d batch(es); "
                "%(numbered)d numbered, %(failed)d failed (held as waybill_failed)."
            )
            % {
                "created": fill.parcels_created,
                "parcels": fill.batched.parcels,
                "batches": len(fill.batched.batches),
                "numbered": fill.numbered,
                "failed": fill.failed,
            },
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:shipping_printbatch_changelist"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("fill/", view(self.fill_view), name="shipping_printbatch_fill"),
            path("<int:batch_id>/print/", view(self.print_view), name="shipping_printbatch_print"),
            path(
                "<int:batch_id>/print/printed-elsewhere/",
                view(self.printed_elsewhere_view),
                name="shipping_printbatch_printed_elsewhere",
            ),
            path("<int:batch_id>/print/result/", view(self.print_result_view), name="shipping_printbatch_result"),
            path(
                "<int:batch_id>/print/reprint/<int:shipment_id>/",
                view(self.reprint_view),
                name="shipping_printbatch_reprint",
            ),
            path("<int:batch_id>/pick-list.pdf", view(self.pick_list_view), name="shipping_printbatch_pick_list"),
            path(
                "<int:batch_id>/packing-slips.pdf",
                view(self.packing_slips_view),
                name="shipping_printbatch_packing_slips",
            ),
            *super().get_urls(),
        ]

    # ---- the print page ------------------------------------------------------------------------
    def _batch(self, request: HttpRequest, batch_id: int) -> PrintBatch:
        batch = get_object_or_404(
            PrintBatch.objects.select_related("account__channel", "account__carrier"), pk=batch_id
        )
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        return batch

    def print_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        batch = self._batch(request, batch_id)
        shipments = list(print_selectors.batch_shipments(batch=batch))
        component, url = print_selectors.print_component(platform=batch.account.channel.platform)
        component_name = COMPONENT_NAMES.get(component or "", "")
        strings = {
            "connecting": gettext("Connecting to the %(component)s at %(url)s …")
            % {"component": component_name, "url": url},
            "ready": gettext("Connected to the %(component)s at %(url)s.") % {"component": component_name, "url": url},
            "notFound": gettext(
                "Print component not found: nothing answers at %(url)s. Start the %(component)s on this computer "
                "(or check its port), then retry."
            )
            % {"component": component_name, "url": url},
            "closed": gettext("The print component closed the connection. Retry to reconnect."),
            "unsupported": gettext(
                "This shop has no e-waybill print component: print the labels with the carrier's own software."
            ),
            "sent": gettext("Sent to the printer …"),
            "refetching": gettext("Fetching fresh print data from the platform …"),
            "notRecorded": gettext("The result could not be recorded:"),
            "reprint": pgettext("print page", "Reprint"),
        }
        config = {
            "component": component,
            "componentUrl": url,
            "labels": [print_selectors.label(shipment=s) for s in shipments if s.tracking_number],
            "resultUrl": reverse("admin:shipping_printbatch_result", args=[batch.pk]),
            "reprintUrl": reverse("admin:shipping_printbatch_reprint", args=[batch.pk, 0]),
            "strings": strings,
        }
        last = print_selectors.last_print_records(shipment_ids=[s.pk for s in shipments])
        rows = [
            {
                "shipment": shipment,
                "last_print": last.get(shipment.pk),
                "orders": sorted({print_selectors.order_ref(line.order) for line in shipment.lines.all()}),
                "items": sum(line.quantity for line in shipment.lines.all()),
                "printable": bool(shipment.tracking_number and shipment.print_data),
            }
            for shipment in shipments
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Print batch #%(id)s") % {"id": batch.pk},
            "batch": batch,
            "rows": rows,
            "config": config,
            "component_name": component_name,
            "can_print": request.user.has_perm(PRINT_PERMISSION),
            "printed_count": sum(1 for s in shipments if s.state in (ShipmentState.PRINTED, ShipmentState.SHIPPED)),
        }
        return TemplateResponse(request, "admin/shipping/printbatch/print.html", context)

    def print_result_view(self, request: HttpRequest, batch_id: int) -> JsonResponse:
        return require_POST(self._print_result)(request, batch_id)

    def _print_result(self, request: HttpRequest, batch_id: int) -> JsonResponse:
        batch = self._batch(request, batch_id)
        if not request.user.has_perm(PRINT_PERMISSION):
            return JsonResponse({"detail": gettext("You may not print orders.")}, status=403)
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"errors": {"__all__": [gettext("The body is not JSON.")]}}, status=400)
        form = PrintResultForm(payload if isinstance(payload, dict) else {})
        if not form.is_valid():
            return JsonResponse({"errors": form.errors}, status=400)
        data = form.cleaned_data
        try:
            outcome = services.shipment_record_print_result(
                batch_id=batch.pk,
                shipment_id=data["shipment"],
                tracking_number=data["tracking_number"],
                ok=data["ok"],
                message=data["message"],
                printer=data["printer"],
                task_id=data["task_id"],
                actor=request.user,
            )
        except PrintRefused as exc:
            return _print_error(exc)
        shipment = outcome.shipment
        if data["ok"]:
            text = gettext("Printed at %(time)s.") % {
                "time": timezone.localtime(outcome.record.at).strftime("%H:%M:%S")
            }
        else:
            text = gettext("Not printed: %(reason)s") % {"reason": data["message"] or gettext("no reason given")}
        return JsonResponse(
            {
                "shipment": shipment.pk,
                "state": shipment.state,
                "state_label": shipment.get_state_display(),
                "printed_orders": outcome.printed_orders,
                "batch_state": outcome.batch.state,
                "batch_state_label": outcome.batch.get_state_display(),
                "message": text,
            }
        )

    def printed_elsewhere_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        """The manual channel's batch: labels printed by the carrier's software, confirmed here."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        batch = self._batch(request, batch_id)
        if not request.user.has_perm(PRINT_PERMISSION):
            raise PermissionDenied
        try:
            printed = services.batch_mark_printed_elsewhere(batch_id=batch.pk, actor=request.user)
        except PrintRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, gettext("%(n)d parcel(s) marked printed.") % {"n": len(printed)}, messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:shipping_printbatch_print", args=[batch.pk]))

    def reprint_view(self, request: HttpRequest, batch_id: int, shipment_id: int) -> JsonResponse:
        return require_POST(self._reprint)(request, batch_id, shipment_id)

    def _reprint(self, request: HttpRequest, batch_id: int, shipment_id: int) -> JsonResponse:
        batch = self._batch(request, batch_id)
        if not request.user.has_perm(PRINT_PERMISSION):
            return JsonResponse({"detail": gettext("You may not print orders.")}, status=403)
        try:
            shipment = services.shipment_refresh_print_data(shipment_id=shipment_id, batch_id=batch.pk)
        except PrintRefused as exc:
            return _print_error(exc)
        shipment = print_selectors.batch_shipments(batch=batch).get(pk=shipment.pk)
        return JsonResponse({"label": print_selectors.label(shipment=shipment)})

    # ---- PDFs ----------------------------------------------------------------------------------
    def pick_list_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        batch = self._batch(request, batch_id)
        pdf = documents.pick_list_pdf(
            title=gettext("Pick list · batch #%(id)s") % {"id": batch.pk},
            subtitle=str(batch.account),
            rows=print_selectors.pick_rows(batch=batch),
            generated_at=timezone.localtime(),
        )
        return _pdf(pdf, f"pick-list-{batch.pk}.pdf")

    def packing_slips_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        batch = self._batch(request, batch_id)
        pdf = documents.packing_slips_pdf(
            title=gettext("Packing slips · batch #%(id)s") % {"id": batch.pk},
            slips=print_selectors.packing_slips(batch=batch, viewer=request.user),
        )
        return _pdf(pdf, f"packing-slips-{batch.pk}.pdf")


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _print_error(exc: PrintRefused) -> JsonResponse:
    if exc.field:
        return JsonResponse({"errors": {exc.field: [exc.message]}}, status=400)
    return JsonResponse({"detail": exc.message, "code": exc.code}, status=409)
