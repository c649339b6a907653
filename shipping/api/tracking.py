"""POST /api/v1/tracking/{backend}/callback — the tracking services' pushes (Kuaidi100, Kuaidiniao).

No user: the push proves itself by its signature (Kuaidi100 md5(param + salt), Kuaidiniao DataSign
with the AppKey). Bad or missing signature → 401 (counted like webhook failures, then 429); signed
but unreadable → 400; a body over WEBHOOK_MAX_BODY_BYTES → 413; otherwise every update goes
through the one tracking update path and the answer is the one the service expects. A replayed
push changes nothing and gets the same answer."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from orderhub import throttling
from shipping import services
from shipping.tracking import BACKENDS, TrackingPayloadError, TrackingSignatureError, get_backend

logger = logging.getLogger(__name__)


class TrackingCallbackView(APIView):
    """Receive a tracking service's push for one parcel (or, Kuaidiniao, several)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser, MultiPartParser, JSONParser]
    throttle_classes: list = []

    @extend_schema(
        operation_id="tracking_callback",
        request={"application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The reply the service expects (success)."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Signed, but not a push we can read."),
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="Signature missing or wrong."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such tracking service."),
            413: OpenApiResponse(OpenApiTypes.OBJECT, description="Body larger than WEBHOOK_MAX_BODY_BYTES."),
            429: OpenApiResponse(OpenApiTypes.OBJECT, description="Too many failed signatures from this client."),
        },
    )
    def post(self, request, backend: str):
        if backend not in BACKENDS:
            raise Http404
        wait = throttling.webhook_failures_from(request).blocked()
        if wait:
            return _too_many_attempts(wait)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > settings.WEBHOOK_MAX_BODY_BYTES:
            return Response({"detail": _("The body is too large.")}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        service = get_backend(backend)
        body = request.body  # read before the form is parsed: kept for backends that sign raw bytes
        data = request.data
        form = {k: str(v) for k, v in data.items()} if hasattr(data, "items") else {}
        try:
            updates = service.parse_callback(form, body)
        except TrackingSignatureError as exc:
            logger.info("tracking callback via %s refused: %s", backend, exc.message)
            wait = throttling.webhook_failures_from(request).record()
            if wait:
                return _too_many_attempts(wait)
            reply = service.callback_reply(ok=False, message="sign error")
            return Response(
                {**reply.body, "detail": _("authentication failed: signature missing or wrong")},
                status=status.HTTP_401_UNAUTHORIZED,
            )
        except TrackingPayloadError as exc:
            reply = service.callback_reply(ok=False, message=exc.message)
            return Response({**reply.body, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
        for update in updates:
            services.tracking_apply_update(update=update, backend=backend, source="callback")
        reply = service.callback_reply(ok=True)
        return Response(reply.body, status=reply.status)


def _too_many_attempts(wait: int) -> Response:
    return Response(
        {"detail": _("Too many failed attempts. Retry in %(seconds)d seconds.") % {"seconds": wait}},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(wait)},
    )
