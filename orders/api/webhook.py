"""POST /api/v1/channels/{channel_id}/webhook — one endpoint for every channel's pushes."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import gateway, selectors
from orders.channels.base import PayloadError, SignatureError
from orders.errors import ChannelDisabled


class RawBodyParser(BaseParser):
    """Keep the body as bytes: signatures are computed over the exact bytes sent."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


class WebhookAcceptedSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    external_id = serializers.CharField()
    state = serializers.CharField()
    created = serializers.BooleanField()
    duplicate = serializers.BooleanField()


class WebhookErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    field = serializers.CharField(required=False)


class ChannelWebhookView(APIView):
    """Receive an order push.

    OrderHub's own format (any channel): the platform's native order JSON as the body, with
    `X-OrderHub-Timestamp` (Unix seconds, at most 5 minutes off) and `X-OrderHub-Signature`
    (hex HMAC-SHA256 of `timestamp + "." + body` keyed with the channel's webhook secret).
    Douyin (`event-sign` header) and Kuaishou (AES-encrypted body) native pushes are triggers:
    recorded once per message id, then the order is re-read with the platform's detail API."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [RawBodyParser]
    throttle_classes: list = []

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter(gateway.TIMESTAMP_HEADER, str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter(gateway.SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=False),
        ],
        responses={
            202: WebhookAcceptedSerializer,
            400: WebhookErrorSerializer,
            401: WebhookErrorSerializer,
            404: WebhookErrorSerializer,
            413: WebhookErrorSerializer,
        },
    )
    def post(self, request, channel_id: int):
        channel = selectors.channel_get_enabled(channel_id=channel_id)
        if channel is None:
            return Response({"detail": "unknown or disabled channel"}, status=status.HTTP_404_NOT_FOUND)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > settings.WEBHOOK_MAX_BODY_BYTES:
            return _too_large()
        body: bytes = request.data if isinstance(request.data, bytes) else request.body
        if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
            return _too_large()

        headers = {k.lower(): v for k, v in request.headers.items()}
        if gateway.SIGNATURE_HEADER.lower() in headers or channel.adapter_platform not in ("douyin", "kuaishou"):
            return self._orderhub_format(channel, headers, body)
        return self._platform_push(channel, headers, body)

    def _orderhub_format(self, channel, headers, body):
        try:
            gateway.verify_orderhub_signature(
                channel=channel,
                timestamp=headers.get(gateway.TIMESTAMP_HEADER.lower()),
                signature=headers.get(gateway.SIGNATURE_HEADER.lower()),
                body=body,
            )
        except SignatureError as exc:
            return Response({"detail": f"authentication failed: {exc}"}, status=status.HTTP_401_UNAUTHORIZED)
        try:
            result = gateway.receive_signed_order(channel=channel, body=body)
        except PayloadError as exc:
            return Response({"detail": exc.message, "field": exc.field}, status=status.HTTP_400_BAD_REQUEST)
        except ChannelDisabled:
            return Response({"detail": "unknown or disabled channel"}, status=status.HTTP_404_NOT_FOUND)
        order = result.order
        return Response(
            {
                "order_id": order.pk,
                "external_id": order.external_id,
                "state": order.state,
                "created": result.created,
                "duplicate": not result.created and not result.changed,
            },
            status=status.HTTP_202_ACCEPTED,
        )

    def _platform_push(self, channel, headers, body):
        try:
            gateway.receive_platform_push(channel=channel, headers=headers, body=body)
        except SignatureError as exc:
            return Response({"detail": f"authentication failed: {exc}"}, status=status.HTTP_401_UNAUTHORIZED)
        except PayloadError as exc:
            return Response({"detail": exc.message, "field": exc.field}, status=status.HTTP_400_BAD_REQUEST)
        if channel.adapter_platform == "kuaishou":
            return Response({"result": 1}, status=status.HTTP_200_OK)
        return Response({"code": 0, "msg": "success"}, status=status.HTTP_200_OK)


def _too_large() -> Response:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    return Response({"detail": f"body larger than {limit} bytes"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
