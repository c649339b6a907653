from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from orderhub.masking import can_view_receiver
from orderhub.pagination import EstimatedCountPagination
from orders import selectors, services
from orders.api.serializers import OrderSerializer, TransitionErrorSerializer, TransitionSerializer
from orders.models import Order, OrderState


class IdFilter(django_filters.NumberFilter):
    """A primary key: a whole number the database can hold, else 400 naming the parameter
    (a decimal filter passed `-3e249` to the database and answered 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class ExactKeyFilter(django_filters.CharFilter):
    """One of the order's exact search keys (orders.selectors.EXACT_KEYS), matched through the
    selector so the API and the admin normalise and mask the same way; at most 64 characters."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        reveal = can_view_receiver(getattr(self.parent.request, "user", None))
        return selectors.orders_with_key(qs, key=self.field_name, value=value, reveal_receiver=reveal)


class OrderFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=OrderState.choices)
    channel = IdFilter(field_name="channel_id")
    lane = django_filters.CharFilter()
    external_id = ExactKeyFilter(help_text="Platform order id, exact.")
    buyer_nick = ExactKeyFilter(help_text="Buyer nick, exact.")
    receiver_phone = ExactKeyFilter(
        help_text="Receiver phone, exact (spaces, dashes, +86 ignored). Without view_receiver_details: "
        "orders whose masked phone (138****5678) equals this one masked."
    )
    tracking_number = ExactKeyFilter(help_text="Tracking number of one of the order's parcels, exact.")

    class Meta:
        model = Order
        fields = ["state", "channel", "lane", "external_id", "buyer_nick", "receiver_phone", "tracking_number"]


TRANSITION_RESPONSES = {200: OrderSerializer, 409: TransitionErrorSerializer}


class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Orders across every channel, newest first. Transitions answer 409 with the current state
    when the order's state does not allow them."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    pagination_class = EstimatedCountPagination  # no exact COUNT(*) over a million orders per page
    # ModelActionPermission (the default): reading needs orders.view_order; each transition the
    # permission the order services check, plus view_order for the order it answers with
    write_permissions = {
        name: ("orders.view_order", services.TRANSITION_PERMISSIONS[name]) for name in ("hold", "release", "cancel")
    }

    def get_queryset(self):
        return selectors.order_list()

    def _run(self, request, pk, call):
        payload = TransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        order = self.get_object()
        call(order.pk, request.user, payload.validated_data["note"])
        fresh = selectors.order_list().get(pk=order.pk)
        return Response(self.get_serializer(fresh).data)

    @extend_schema(request=TransitionSerializer, responses=TRANSITION_RESPONSES)
    @action(detail=True, methods=["post"])
    def hold(self, request, pk=None):
        """Pause shipment (暂停发货)."""
        return self._run(
            request, pk, lambda oid, user, note: services.order_hold(order_id=oid, actor=user, reason=note)
        )

    @extend_schema(request=TransitionSerializer, responses=TRANSITION_RESPONSES)
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        return self._run(
            request, pk, lambda oid, user, note: services.order_release(order_id=oid, actor=user, note=note)
        )

    @extend_schema(request=TransitionSerializer, responses=TRANSITION_RESPONSES)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._run(
            request, pk, lambda oid, user, note: services.order_cancel(order_id=oid, actor=user, note=note)
        )
