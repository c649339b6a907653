from django.urls import include, path
from rest_framework.routers import SimpleRouter

from orders.api.views import OrderViewSet
from orders.api.webhook import ChannelWebhookView

router = SimpleRouter(trailing_slash=True)
router.register("orders", OrderViewSet, basename="order")

urlpatterns = [
    path("channels/<int:channel_id>/webhook", ChannelWebhookView.as_view(), name="channel-webhook"),
    path("", include(router.urls)),
]
