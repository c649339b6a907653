from __future__ import annotations

import django_filters
from rest_framework import viewsets

from orders import selectors
from orders.api.serializers import OrderSerializer
from orders.models import Order, OrderState


class OrderFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=OrderState.choices)
    channel = django_filters.NumberFilter(field_name="channel_id")
    lane = django_filters.CharFilter()

    class Meta:
        model = Order
        fields = ["state", "channel", "lane"]


class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Orders across every channel, newest first."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter

    def get_queryset(self):
        return selectors.order_list()
