"""API-wide pieces: domain errors become clear HTTP answers, in the caller's Accept-Language."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from orders.errors import OrderPermissionDenied, OrderTransitionNotAllowed


def exception_handler(exc, context):
    if isinstance(exc, OrderTransitionNotAllowed):
        return Response(
            {"detail": str(exc), "code": "transition_not_allowed", "state": exc.state, "transition": exc.transition},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, OrderPermissionDenied):
        return Response({"detail": str(exc), "code": "permission_denied"}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, ParseError) and str(exc.detail).startswith("JSON parse error"):
        exc = ParseError(_json_error_text(str(exc.detail)))  # DRF's text is English, with Python's reason
    return drf_exception_handler(exc, context)


def _json_error_text(detail: str) -> str:
    where = re.search(r"line (\d+) column (\d+)", detail)
    if where is None:
        return _("The request body is not valid JSON.")
    return _("The request body is not valid JSON (line %(line)s, column %(column)s).") % {
        "line": where.group(1),
        "column": where.group(2),
    }
