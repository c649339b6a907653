from django.urls import path

from shipping.api.returns import ReturnScanView
from shipping.api.views import ItemScanView, OutboundScanView

urlpatterns = [
    path("scans/outbound", OutboundScanView.as_view(), name="scan-outbound"),
    path("scans/items", ItemScanView.as_view(), name="scan-items"),
    path("scans/return", ReturnScanView.as_view(), name="scan-return"),
]
