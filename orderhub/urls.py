from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orderhub.views import healthz

api_v1 = [
    path("", include("orders.api.urls")),
    path("", include("inventory.api.urls")),
    path("", include("shipping.api.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # the language follows each user's choice (cookie set by i18n/setlang/) or their browser,
    # falling back to LANGUAGE_CODE: English and Simplified Chinese on the same URLs
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
