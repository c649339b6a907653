"""Buyer-notice admin (imported by shipping.admin): templates and transit times (editable, with
history), and the buyer-notice list (read-only rows with their call log; "retry now" and "mark as sent
by hand", both audited as NoticeAttempt rows with the user). Recipients are masked unless
orders.view_receiver_details."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from orderhub.admin_history import ReadOnlyAdmin, ReadOnlyHistoryAdmin, ReadOnlyInline
from orderhub.masking import can_view_receiver, mask_phone
from shipping.models import BuyerNotice, BuyerNoticeState, NoticeAttempt, NoticeMedium, NoticeTemplate, TransitTime
from shipping.notices import services
from shipping.notices.rendering import VARIABLES, TemplateError, render

#: what the preview fills the variables with
SAMPLE_VALUES = {
    "order_number": "10086",
    "platform_order_id": "3812345678901234",
    "shop_name": "示例旗舰店",
    "carrier_name": "中通快递",
    "tracking_number": "ZT7312345678901",
    "eta": "2026-12-02",
    "ship_by": "2026-11-30 18:00",
}


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(ReadOnlyHistoryAdmin):
    list_display = ["event", "medium", "enabled", "vendor_template_code", "body"]
    list_filter = ["event", "medium", "enabled"]
    fields = ["event", "medium", "enabled", "body", "vendor_template_code", "vendor_params", "variables", "preview"]
    readonly_fields = ["variables", "preview"]

    def get_readonly_fields(self, request, obj=None):
        # one template per event and medium: which one it is never changes once saved
        return [*self.readonly_fields, "event", "medium"] if obj is not None else self.readonly_fields

    @admin.display(description=_("variables"))
    def variables(self, obj: NoticeTemplate | None) -> str:
        return "; ".join(f"{{{name}}}: {meaning}" for name, meaning in VARIABLES.items())

    @admin.display(description=_("preview"))
    def preview(self, obj: NoticeTemplate | None) -> str:
        if obj is None or not obj.pk:
            return "-"
        try:
            return render(obj.body, SAMPLE_VALUES)
        except TemplateError as exc:
            return exc.message


@admin.register(TransitTime)
class TransitTimeAdmin(ReadOnlyHistoryAdmin):
    list_display = ["destination_province", "origin_province", "carrier", "days"]
    list_filter = ["carrier"]
    search_fields = ["destination_province", "origin_province"]


class NoticeAttemptInline(ReadOnlyInline):
    model = NoticeAttempt
    fields = ["at", "kind", "backend", "outcome", "user", "error", "response_masked"]

    def get_fields(self, request, obj=None):
        return _revealed(self.fields, request)

    def get_readonly_fields(self, request, obj=None):
        return _revealed(self.fields, request)

    @admin.display(description=_("gateway answer"))
    def response_masked(self, obj: NoticeAttempt) -> str:
        return _masked_json(obj.response, obj.notice.recipient)


@admin.register(BuyerNotice)
class BuyerNoticeAdmin(ReadOnlyAdmin):
    # fits 1440 px beside the filters: medium, attempts, text and error are on the notice's page
    list_display = ["created_at", "order", "shipment", "event", "state", "recipient_masked"]
    list_filter = ["state", "event", "medium", "backend"]
    list_select_related = ["order", "order__channel", "shipment", "shipment__carrier"]
    search_fields = ["=order__external_id", "=shipment__tracking_number", "=out_id"]
    fields = [
        "order",
        "shipment",
        "event",
        "state",
        "medium",
        "backend",
        "template",
        "recipient_masked",
        "rendered_text",
        "out_id",
        "gateway_message_id",
        "gateway_answer_masked",
        "attempts",
        "lookups",
        "next_attempt_at",
        "sending_since",
        "last_error",
        "created_at",
        "done_at",
    ]
    readonly_fields = fields
    inlines = [NoticeAttemptInline]

    actions = ["retry_now", "mark_sent"]

    def get_list_display(self, request):
        return _revealed(self.list_display, request)

    def get_fields(self, request, obj=None):
        return _revealed(self.fields, request)

    def get_readonly_fields(self, request, obj=None):
        return _revealed(self.fields, request)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.resend_buyernotice")

    @admin.display(description=_("recipient"))
    def recipient_masked(self, obj: BuyerNotice) -> str:
        if getattr(self, "_reveal", False) or obj.medium != NoticeMedium.SMS:
            return (
                obj.recipient if getattr(self, "_reveal", False) else (obj.recipient[:4] + "…" if obj.recipient else "")
            )
        return mask_phone(obj.recipient)

    @admin.display(description=_("gateway answer"))
    def gateway_answer_masked(self, obj: BuyerNotice) -> str:
        return format_html("<pre>{}</pre>", _masked_json(obj.gateway_answer, obj.recipient, self._reveal))

    @admin.action(description=_("Retry now (failed or unknown notices)"), permissions=["resend"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[BuyerNotice]) -> None:
        done = [
            pk
            for pk in queryset.filter(state__in=(BuyerNoticeState.FAILED, BuyerNoticeState.UNKNOWN))
            .order_by("pk")
            .values_list("pk", flat=True)
            if services.notice_retry(notice_id=pk, user=request.user)
        ]
        self.message_user(
            request,
            _("%(n)d notice(s) will be sent again; others were not failed or unknown.") % {"n": len(done)},
            messages.SUCCESS if done else messages.WARNING,
        )

    @admin.action(description=_("Mark as sent by hand (failed or unknown notices)"), permissions=["resend"])
    def mark_sent(self, request: HttpRequest, queryset: QuerySet[BuyerNotice]) -> None:
        done = [
            pk
            for pk in queryset.filter(state__in=(BuyerNoticeState.FAILED, BuyerNoticeState.UNKNOWN))
            .order_by("pk")
            .values_list("pk", flat=True)
            if services.notice_mark_sent(notice_id=pk, user=request.user)
        ]
        self.message_user(
            request,
            _("%(n)d notice(s) marked as sent.") % {"n": len(done)},
            messages.SUCCESS if done else messages.WARNING,
        )


def _revealed(names, request: HttpRequest) -> list[str]:
    """`*_masked` display names swapped for the plain field when the user may see receiver details."""
    if not can_view_receiver(request.user):
        return list(names)
    return [name.removesuffix("_masked") for name in names]


def _masked_json(value, recipient: str) -> str:
    """The stored answer as JSON text, the recipient's number masked."""
    text = json.dumps(value or {}, ensure_ascii=False, indent=1, default=str)
    if not recipient:
        return text
    masked = mask_phone(recipient)
    digits = recipient.lstrip("+")
    for form in {recipient, f"+86{digits}", digits}:
        text = text.replace(form, masked)
    return text
