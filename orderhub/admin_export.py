"""Excel export for the admin that needs the model's view permission, and reads as Excel expects.

django-import-export lets anyone who reaches the admin export unless a global setting names a
permission; a staff user with no permission at all could download every row. Every export in
OrderHub mixes this in instead of ExportMixin, and passes the requesting user to the resource (a
resource with receiver fields masks them for users without orders.view_receiver_details).

The sheet is named after the list ("订单", not tablib's "Tablib Dataset") and the header row is in
the user's language: a resource's `column_labels` (column name → translatable label), else the
model field's verbose name. Numbers stay numbers: the admin asks the widgets for native values
for xlsx (`force_native_type`), so a column declared without a widget keeps its Python type."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import HttpRequest
from django.utils.text import capfirst
from import_export.admin import ExportMixin
from import_export.resources import Resource

#: characters Excel refuses in a sheet name; a sheet name has at most 31 characters
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


class ViewPermissionExportMixin(ExportMixin):
    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        resource_kwargs = super().get_export_resource_kwargs(request, **kwargs)
        if getattr(self, "export_resource_takes_user", False):
            resource_kwargs["user"] = request.user
        return resource_kwargs

    def get_data_for_export(self, request: HttpRequest, queryset: models.QuerySet, **kwargs: Any):
        export_form = kwargs.get("export_form")
        resource = self.choose_export_resource_class(export_form, request)(
            **self.get_export_resource_kwargs(request, **kwargs)
        )
        selected = self.get_export_resource_fields_from_form(export_form)
        dataset = resource.export(queryset=queryset, export_fields=selected, **kwargs)
        dataset.headers = column_labels(resource, selected)
        dataset.title = sheet_title(self.model)
        return dataset


def column_labels(resource: Resource, selected: list[str] | None = None) -> list[str]:
    """The export's header row in the active language."""
    labels = getattr(resource, "column_labels", {})
    model = resource._meta.model
    headers = []
    for field in resource.get_export_fields(selected):
        label = labels.get(field.column_name)
        if label is None and field.attribute and "__" not in field.attribute:
            try:
                label = model._meta.get_field(field.attribute).verbose_name
            except FieldDoesNotExist:
                label = None
        headers.append(str(capfirst(label)) if label is not None else str(field.column_name))
    return headers


def sheet_title(model: type[models.Model]) -> str:
    """The list's name in the active language, as Excel allows a sheet name."""
    return _SHEET_FORBIDDEN.sub(" ", str(capfirst(model._meta.verbose_name_plural)))[:31]
