from django.urls import include, path
from rest_framework.routers import SimpleRouter

from orders.api.views import OrderViewSet

router = SimpleRouter(trailing_slash=True)
router.register("orders", OrderViewSet, basename="order")

urlpatterns = [
    path("", include(router.urls)),
]
