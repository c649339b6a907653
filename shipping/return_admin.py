"""Returns (RMA) in the admin: the list (state filter), items and receipts inline, the receive page
(a condition per item: resellable or damaged), close and cancel, and the page that opens a return
for chosen lines of an order (reached from the order list's action). Thin: shipping.services.returns
does every write; each page and action checks its own permission."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orderhub.admin_history import ReadOnlyHistoryAdmin, ReadOnlyInline
from orderhub.masking import RECEIVER_LABELS, can_view_receiver, mask_receiver_field
from shipping import return_selectors, services
from shipping.errors import ShippingError
from shipping.models import OPEN_RETURN_STATES, Return, ReturnCondition, ReturnItem, ReturnReceipt, ReturnState

RECEIVE_PERMISSION = "shipping.receive_return"
OPEN_PERMISSION = "shipping.add_return"
CLOSE_PERMISSION = "shipping.change_return"
RECEIVER = ("receiver_name", "receiver_phone", "receiver_address")


class ReturnItemInline(ReadOnlyInline):
    model = ReturnItem
    fields = ["order_line", "sku", "expected_quantity", "received_resellable", "received_damaged"]


class ReturnReceiptInline(ReadOnlyInline):
    model = ReturnReceipt
    fields = ["at", "item", "condition", "quantity", "warehouse", "movement", "quarantine", "device", "actor"]


def _receiver_display(name: str, *, masked: bool):
    def show(self, obj: Return) -> str:
        value = getattr(obj.order, name, "")
        return mask_receiver_field(name, value) if masked else value

    return admin.display(description=RECEIVER_LABELS[name])(show)


@admin.register(Return)
class ReturnAdmin(ReadOnlyHistoryAdmin):
    list_display = ["number", "order_link", "state", "source", "warehouse", "platform_refund_id", "created_at"]
    list_filter = ["state", "source", "warehouse"]
    list_select_related = ["order", "warehouse"]
    search_fields = ["=number", "=order__external_id", "=platform_refund_id"]
    inlines = [ReturnItemInline, ReturnReceiptInline]
    actions = ["receive", "close", "cancel"]
    base_fields = [
        "number",
        "order_link",
        "state",
        "source",
        "warehouse",
        "platform_refund_id",
        "note",
        "created_by",
        "created_at",
        "received_at",
        "closed_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False  # opened by a platform refund or from the order list ("open a return")

    def has_change_permission(self, request, obj=None):
        return False  # changes only by receiving, closing or cancelling (the services)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_receive_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RECEIVE_PERMISSION)

    def has_close_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CLOSE_PERMISSION)

    # receiver of the order: in full only for users who may see it (as on the order pages)
    def _receiver_names(self, request: HttpRequest) -> list[str]:
        prefix = "order_" if can_view_receiver(request.user) else "masked_order_"
        return [prefix + name for name in RECEIVER]

    def get_list_display(self, request: HttpRequest):
        names = list(super().get_list_display(request))
        return [*names[:2], self._receiver_names(request)[0], *names[2:]]

    def get_fields(self, request: HttpRequest, obj=None):
        return [*self.base_fields[:2], *self._receiver_names(request), *self.base_fields[2:]]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description=_("order"), ordering="order__external_id")
    def order_link(self, obj: Return) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]), obj.order.external_id
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        rma = Return.objects.filter(pk=object_id).first()
        if rma is not None and rma.is_open and self.has_receive_permission(request):
            extra_context["receive_url"] = reverse("admin:shipping_return_receive", args=[rma.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    # ---- actions -----------------------------------------------------------------------------
    @admin.action(description=_("Receive the return (condition per item)"), permissions=["receive"])
    def receive(self, request: HttpRequest, queryset: QuerySet[Return]):
        rma = queryset.order_by("pk").first()
        if queryset.count() != 1 or rma is None:
            self.message_user(request, gettext("Choose one return to receive."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:shipping_return_receive", args=[rma.pk]))

    @admin.action(description=_("Close: nothing more will come back"), permissions=["close"])
    def close(self, request: HttpRequest, queryset: QuerySet[Return]) -> None:
        self._each(request, queryset, services.return_close, gettext("%(number)s closed."))

    @admin.action(description=_("Cancel: the goods will not come back"), permissions=["close"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Return]) -> None:
        self._each(request, queryset, services.return_cancel, gettext("%(number)s cancelled."))

    def _each(self, request: HttpRequest, queryset: QuerySet[Return], verb, done: str) -> None:
        for rma in queryset.order_by("pk"):
            try:
                verb(return_id=rma.pk, actor=request.user)
            except ShippingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(request, done % {"number": rma.number}, messages.SUCCESS)

    # ---- pages -------------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("open/", view(self.open_view), name="shipping_return_open"),
            path("<int:return_id>/receive/", view(self.receive_view), name="shipping_return_receive"),
            *super().get_urls(),
        ]

    def receive_view(self, request: HttpRequest, return_id: int) -> HttpResponse:
        if not (self.has_view_permission(request) and self.has_receive_permission(request)):
            raise PermissionDenied
        rma = get_object_or_404(Return.objects.select_related("order", "warehouse"), pk=return_id)
        items = list(rma.items.select_related("sku", "order_line").order_by("pk"))
        form = ReceiveForm(request.POST or None, items=items, warehouse=rma.warehouse)
        if request.method == "POST" and form.is_valid():
            try:
                answer = services.return_receive(
                    reference=rma.number,
                    units=form.units(),
                    warehouse=form.cleaned_data["warehouse"],
                    request_key=f"admin:{form.cleaned_data['request_key']}",
                    actor=request.user,
                )
            except ShippingError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    gettext("Return %(number)s: %(state)s.")
                    % {"number": rma.number, "state": ReturnState(answer.body["state"]).label},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:shipping_return_change", args=[rma.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Receive return %(number)s") % {"number": rma.number},
            "rma": rma,
            "form": form,
            "rows": [(item, form[f"resellable_{item.pk}"], form[f"damaged_{item.pk}"]) for item in items],
            "is_open": rma.state in OPEN_RETURN_STATES,
        }
        return TemplateResponse(request, "admin/shipping/return/receive.html", context)

    def open_view(self, request: HttpRequest) -> HttpResponse:
        from orders.models import Order

        if not (self.has_view_permission(request) and request.user.has_perm(OPEN_PERMISSION)):
            raise PermissionDenied
        order = get_object_or_404(Order.objects.select_related("channel"), pk=request.GET.get("order") or 0)
        lines = list(order.lines.order_by("pk"))
        shipped = return_selectors.shipped_quantities(order_line_ids=[line.pk for line in lines])
        covered = return_selectors.expected_back(order_line_ids=[line.pk for line in lines])
        room = {line.pk: max(0, shipped.get(line.pk, 0) - covered.get(line.pk, 0)) for line in lines}
        form = OpenReturnForm(request.POST or None, lines=lines, room=room)
        if request.method == "POST" and form.is_valid():
            try:
                rma = services.return_open(
                    order_id=order.pk,
                    quantities=form.quantities(),
                    actor=request.user,
                    platform_refund_id=form.cleaned_data["platform_refund_id"],
                    note=form.cleaned_data["note"],
                )
            except ShippingError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    gettext("Return %(number)s opened for order %(order)s.")
                    % {"number": rma.number, "order": order.external_id},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:shipping_return_change", args=[rma.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Open a return for order %(order)s") % {"order": order.external_id},
            "order": order,
            "form": form,
            "rows": [(line, shipped.get(line.pk, 0), room[line.pk], form[f"line_{line.pk}"]) for line in lines],
            "any_room": any(room.values()),
        }
        return TemplateResponse(request, "admin/shipping/return/open.html", context)


for _name in RECEIVER:
    setattr(ReturnAdmin, f"order_{_name}", _receiver_display(_name, masked=False))
    setattr(ReturnAdmin, f"masked_order_{_name}", _receiver_display(_name, masked=True))


class ReceiveForm(forms.Form):
    """Per item: units back resellable and units back damaged (each at most what it still expects)."""

    warehouse = forms.ModelChoiceField(queryset=None, label=_("received at warehouse"))
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, items: list[ReturnItem], warehouse, **kwargs):
        from inventory.models import Warehouse

        super().__init__(*args, **kwargs)
        self.items = items
        self.fields["warehouse"].queryset = Warehouse.objects.filter(active=True).order_by("priority", "pk")
        self.fields["warehouse"].initial = warehouse.pk if warehouse else None
        self.fields["request_key"].initial = uuid.uuid4().hex  # a double submit receives once
        for item in items:
            for condition, label in ReturnCondition.choices:
                # bounded by what the item expects in all; the service refuses more than is still
                # outstanding (and knows a double submit of this form by its key)
                self.fields[f"{condition}_{item.pk}"] = forms.IntegerField(
                    label=label, min_value=0, max_value=item.expected_quantity, initial=0, required=False
                )

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(f"{c}_{item.pk}") for item in self.items for c in ReturnCondition.values):
            raise forms.ValidationError(gettext("Enter how many units came back of at least one item."))
        return cleaned

    def units(self) -> list[services.ReturnedUnits]:
        return [
            services.ReturnedUnits(condition=condition, quantity=quantity, item_id=item.pk)
            for item in self.items
            for condition in ReturnCondition.values
            if (quantity := self.cleaned_data.get(f"{condition}_{item.pk}") or 0)
        ]


class OpenReturnForm(forms.Form):
    """Per shipped line: units expected back (at most what shipped and no return covers yet)."""

    platform_refund_id = forms.CharField(label=_("platform refund id"), max_length=64, required=False)
    note = forms.CharField(label=_("note"), widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, lines, room: dict[int, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=str(line), min_value=0, max_value=room[line.pk], initial=0, required=False
            )

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(f"line_{line.pk}") for line in self.lines):
            raise forms.ValidationError(gettext("Enter how many units come back of at least one line."))
        return cleaned

    def quantities(self) -> dict[int, int]:
        return {line.pk: q for line in self.lines if (q := self.cleaned_data.get(f"line_{line.pk}") or 0)}
