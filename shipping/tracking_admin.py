"""Tracking in the admin: a parcel's movements inline on its page, parcels filterable by delivered /
problem / no movement, and the subscription rows (state, service status, last movement) with
"send again now" for failed ones (permission checked, recorded in the admin log)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from orderhub.admin_history import ReadOnlyAdmin, ReadOnlyInline
from shipping.models import (
    PROBLEM_TRACKING_STATES,
    OutboxState,
    ShipmentState,
    TrackingEvent,
    TrackingSubscription,
)


class TrackingEventInline(ReadOnlyInline):
    model = TrackingEvent
    fields = ["at", "state", "text", "location", "source", "received_at"]
    verbose_name_plural = _("tracking")


class TrackingFilter(admin.SimpleListFilter):
    title = _("tracking")
    parameter_name = "tracking"

    def lookups(self, request, model_admin):
        return [
            ("delivered", _("Delivered")),
            ("problem", _("Problem reported")),
            ("no_movement", _("Shipped, no movement yet")),
        ]

    def queryset(self, request, queryset):
        problems = TrackingEvent.objects.filter(shipment=OuterRef("pk"), state__in=PROBLEM_TRACKING_STATES)
        any_event = TrackingEvent.objects.filter(shipment=OuterRef("pk"))
        if self.value() == "delivered":
            return queryset.filter(state=ShipmentState.DELIVERED)
        if self.value() == "problem":
            return queryset.filter(Exists(problems))
        if self.value() == "no_movement":
            return queryset.filter(state=ShipmentState.SHIPPED).exclude(Exists(any_event))
        return queryset


@admin.register(TrackingSubscription)
class TrackingSubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "shipment",
        "backend",
        "company",
        "number",
        "state",
        "attempts",
        "service_status",
        "last_state",
        "last_event_at",
        "last_error",
    ]
    list_filter = ["state", "backend", "last_state", "service_status"]
    list_select_related = ["shipment", "shipment__carrier"]
    search_fields = ["number", "shipment__parcel_key"]
    actions = ["send_again"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.retry_trackingsubscription")

    @admin.action(description=_("Send the subscription again now"), permissions=["retry"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[TrackingSubscription]) -> None:
        from shipping import services

        count = 0
        for row in queryset.exclude(state=OutboxState.DONE).order_by("pk"):
            services.tracking_subscription_retry(subscription_id=row.pk)
            self.log_change(request, row, _("Sent again by hand"))
            count += 1
        self.message_user(request, _("%(n)d subscription(s) queued to be sent again.") % {"n": count}, messages.SUCCESS)
