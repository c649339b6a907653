"""Excel export for the admin that needs the model's view permission.

django-import-export lets anyone who reaches the admin export unless a global setting names a
permission; a staff user with no permission at all could download every row. Every export in
OrderHub mixes this in instead of ExportMixin, and passes the requesting user to the resource (a
resource with receiver fields masks them for users without orders.view_receiver_details)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from import_export.admin import ExportMixin


class ViewPermissionExportMixin(ExportMixin):
    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        resource_kwargs = super().get_export_resource_kwargs(request, **kwargs)
        if getattr(self, "export_resource_takes_user", False):
            resource_kwargs["user"] = request.user
        return resource_kwargs
