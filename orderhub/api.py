"""API-wide pieces: domain errors become clear HTTP answers."""

from __future__ import annotations

from rest_framework import status
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
    return drf_exception_handler(exc, context)
