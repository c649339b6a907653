from django.urls import path

from shipping.api.returns import ReturnScanView
from shipping.api.tracking import TrackingCallbackView
from shipping.api.views import ItemScanView, OutboundScanView

urlpatterns = [
    path("scans/outbound", OutboundScanView.as_view(), name="scan-outbound"),
    path("scans/items", ItemScanView.as_view(), name="scan-items"),
    path("tracking/<str:backend>/callback", TrackingCallbackView.as_view(), name="tracking-callback"),
    path("scans/return", ReturnScanView.as_view(), name="scan-return"),
]
