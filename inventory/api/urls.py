from django.urls import path

from inventory.api.views import MovementCreateView, StockLevelListView

urlpatterns = [
    path("inventory/movements", MovementCreateView.as_view(), name="inventory-movements"),
    path("inventory/levels", StockLevelListView.as_view(), name="inventory-levels"),
]
