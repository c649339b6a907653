from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

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


class OrderFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=OrderState.choices)
    channel = IdFilter(field_name="channel_id")
    lane = django_filters.CharFilter()

    class Meta:
        model = Order
        fields = ["state", "channel", "lane"]


TRANSITION_RESPONSES = {200: OrderSerializer, 409: TransitionErrorSerializer}


class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Orders across every channel, newest first. Transitions answer 409 with the current state
    when the order's state does not allow them."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
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
