"""The API's one permission rule, the default for every DRF view (settings.REST_FRAMEWORK).

- Reading (GET/HEAD/OPTIONS) needs the model's `view_<model>` permission.
- Every write needs its own permission(s), named by the view in `write_permissions` (a write
  that answers with the object names the view permission too): keyed by the viewset action
  (`"hold"`, `"cancel"`, `"create"` …) or, for a plain APIView, by the lowercase HTTP method
  (`"post"`). A write the view does not name is refused: a new endpoint is closed until its
  author says which permission opens it.
- `has_object_permission` asks the view's `object_permission(request, obj)` when it has one, so a
  view can narrow access to single objects (e.g. one channel's orders) without a new class.

The model is the view's `permission_model`, else its queryset's model. A view that must be
reachable without a user (the signed channel webhook) says so explicitly with its own
`permission_classes` and `authentication_classes`.

Example for a new endpoint::

    class ScanView(APIView):
        permission_model = Shipment
        write_permissions = {"post": ("shipping.view_shipment", "shipping.scan_shipment")}
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


def view_permission(model: type[Model]) -> str:
    """`app_label.view_modelname` of a model."""
    return f"{model._meta.app_label}.view_{model._meta.model_name}"


def _view_model(view: Any) -> type[Model] | None:
    model = getattr(view, "permission_model", None)
    if model is not None:
        return model
    queryset = getattr(view, "queryset", None)
    if queryset is None and hasattr(view, "get_queryset"):
        try:
            queryset = view.get_queryset()
        except (AssertionError, NotImplementedError):
            queryset = None
    return getattr(queryset, "model", None)


def required_permissions(request: Request, view: Any) -> list[str] | None:
    """The permissions this request needs, or None when the view names none for this write."""
    model = _view_model(view)
    if model is None:
        return None
    if request.method in SAFE_METHODS:
        return [view_permission(model)]
    writes: dict[str, str | tuple[str, ...]] = getattr(view, "write_permissions", {}) or {}
    key = getattr(view, "action", None) or request.method.lower()
    permission = writes.get(key) or writes.get(request.method.lower())
    if not permission:
        return None
    return [permission] if isinstance(permission, str) else list(permission)


class ModelActionPermission(BasePermission):
    """Read needs `view_<model>`; each write the permission the view names for it (see module doc)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        needed = required_permissions(request, view)
        return needed is not None and user.has_perms(needed)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        check = getattr(view, "object_permission", None)
        return True if check is None else bool(check(request, obj))
