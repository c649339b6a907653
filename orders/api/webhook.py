"""POST /api/v1/channels/{channel_id}/webhook — one endpoint for every channel's pushes."""

from __future__ import annotations

import json
import logging
import re
import secrets

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.urls import get_script_prefix, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from orderhub import throttling
from orders import gateway, inbox, selectors
from orders.channels.base import PayloadError, SignatureError
from orders.errors import ChannelDisabled
from orders.models import Channel

logger = logging.getLogger(__name__)

#: an unknown or disabled channel is verified against this secret, which no sender knows, so it is
#: refused by the same code, in about the same time, with the same answer as a bad signature
_DECOY_CHANNEL = Channel(platform="manual", name="decoy", webhook_secret=secrets.token_hex(32))


class RawBodyParser(BaseParser):
    """Keep the body as bytes: signatures are computed over the exact bytes sent."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


class WebhookLineChangeSerializer(serializers.Serializer):
    line_id = serializers.IntegerField(help_text=_("OrderHub's id of the line"))
    external_line_id = serializers.CharField(help_text=_("the platform's id of the line"))
    sku_code = serializers.CharField()
    title = serializers.CharField()
    added = serializers.BooleanField(help_text=_("the platform listed this line for the first time"))
    changes = serializers.DictField(
        child=serializers.DictField(),
        help_text=_('per changed field ("refund_state", "refund_status", "quantity"): {"from": …, "to": …}'),
    )


class WebhookAcceptedSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    external_id = serializers.CharField()
    state = serializers.CharField()
    result = serializers.ChoiceField(
        choices=["created", "updated", "unchanged", "stale"],
        help_text=_(
            "created: a new order; updated: the message changed the stored order (see `changed`); "
            "unchanged: nothing new (a redelivery); stale: older than what is stored, ignored"
        ),
    )
    created = serializers.BooleanField(help_text=_("same as result == created"))
    changed = serializers.ListField(
        child=serializers.CharField(),
        help_text=_(
            'what an update changed: "address_changed", "refund_requested", "paid", "platform_hold", '
            '"buyer_message", "seller_memo", "amount_changed", "lines", and "status:" followed by the new '
            "platform status"
        ),
    )
    lines = WebhookLineChangeSerializer(many=True, help_text=_("the lines an update changed or added"))


class WebhookQueuedSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=["accepted"],
        help_text=_("accepted: verified, valid and stored; the order is decided within about a second"),
    )
    inbox_id = serializers.IntegerField(help_text=_("the stored message (admin: webhook inbox)"))
    external_id = serializers.CharField()


class WebhookErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    field = serializers.CharField(required=False)


class ChannelWebhookView(APIView):
    """Receive an order push.

    OrderHub's own format (any channel): the platform's native order JSON as the body, with
    `X-OrderHub-Timestamp` (Unix seconds, at most 5 minutes off) and `X-OrderHub-Signature`
    (hex HMAC-SHA256 of `timestamp + "." + body` keyed with the channel's webhook secret).
    The order is stored in the webhook inbox and decided by a drainer within about a second
    (`result: accepted`); with WEBHOOK_INBOX off it is decided within the request (`created`, …).
    Douyin (`event-sign` header) and Kuaishou (AES-encrypted body) native pushes are triggers:
    recorded once per message id, then the order is re-read with the platform's detail API."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [RawBodyParser]
    renderer_classes = [JSONRenderer]  # machines call it: no browsable page to negotiate per push
    throttle_classes: list = []

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter(gateway.TIMESTAMP_HEADER, str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter(gateway.SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=False),
        ],
        responses={
            202: PolymorphicProxySerializer(
                component_name="WebhookAnswer",
                serializers=[WebhookQueuedSerializer, WebhookAcceptedSerializer],
                resource_type_field_name=None,
            ),
            400: WebhookErrorSerializer,
            401: WebhookErrorSerializer,
            404: WebhookErrorSerializer,
            413: WebhookErrorSerializer,
            429: WebhookErrorSerializer,
        },
    )
    def post(self, request, channel_id: int):
        # a client that keeps failing is turned away before any work; signed pushes never count
        wait = throttling.webhook_failures_from(request).blocked()
        if wait:
            return _too_many_attempts(wait)
        body = _body_within_limit(request)
        if body is None:
            return _too_large()

        headers = {k.lower(): v for k, v in request.headers.items()}
        channel = selectors.channel_get_enabled(channel_id=channel_id)
        if channel is None:
            # never say whether the channel exists before the sender proved it holds its secret
            return self._orderhub_format(_DECOY_CHANNEL, headers, body, request=request, channel_id=channel_id)
        if gateway.SIGNATURE_HEADER.lower() in headers or channel.adapter_platform not in ("douyin", "kuaishou"):
            return self._orderhub_format(channel, headers, body, request=request, channel_id=channel_id)
        return self._platform_push(channel, headers, body, request=request, channel_id=channel_id)

    def _orderhub_format(self, channel, headers, body, *, request, channel_id: int):
        try:
            _verify(channel, headers, body)
        except SignatureError as exc:
            return _refused(request, channel_id, exc)
        if channel is _DECOY_CHANNEL:  # unreachable: nobody holds the decoy secret
            return _refused(request, channel_id, SignatureError("unknown or disabled channel"))
        if settings.WEBHOOK_INBOX:  # verified and validated now, decided by a drainer (docs/channels.md)
            try:
                message = inbox.inbox_accept(channel=channel, body=body)
            except PayloadError as exc:
                return Response({"detail": exc.message, "field": exc.field}, status=status.HTTP_400_BAD_REQUEST)
            except ChannelDisabled:  # disabled (or its secret changed) since it was read: as if unknown
                return _refused(request, channel_id, SignatureError("channel changed while the push was verified"))
            return _accepted(message)
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
                "result": result.outcome,
                "created": result.created,
                "changed": sorted(result.changes),
                "lines": [change.as_data() for change in result.line_changes],
            },
            status=status.HTTP_202_ACCEPTED,
        )

    def _platform_push(self, channel, headers, body, *, request, channel_id: int):
        try:
            gateway.receive_platform_push(channel=channel, headers=headers, body=body)
        except SignatureError as exc:
            return _refused(request, channel_id, exc)
        except PayloadError as exc:
            return Response({"detail": exc.message, "field": exc.field}, status=status.HTTP_400_BAD_REQUEST)
        if channel.adapter_platform == "kuaishou":
            return Response({"result": 1}, status=status.HTTP_200_OK)
        return Response({"code": 0, "msg": "success"}, status=status.HTTP_200_OK)


def _verify(channel: Channel, headers: dict[str, str], body: bytes) -> None:
    """OrderHub's own signature (SignatureError when it does not hold)."""
    gateway.verify_orderhub_signature(
        channel=channel,
        timestamp=headers.get(gateway.TIMESTAMP_HEADER.lower()),
        signature=headers.get(gateway.SIGNATURE_HEADER.lower()),
        body=body,
    )


def _body_within_limit(request) -> bytes | None:
    """The raw body, or None when it is (or says it is) larger than WEBHOOK_MAX_BODY_BYTES."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > settings.WEBHOOK_MAX_BODY_BYTES:
        return None
    body = request.body
    return body if len(body) <= settings.WEBHOOK_MAX_BODY_BYTES else None


class WebhookFastLaneMiddleware:
    """A flash sale's push, signed and well formed, for a channel this process read recently, is stored
    and answered here, before the middleware below it and DRF (`_accept_fast`); anything else (a
    refusal, a bad body, a platform's own format, the first push after a minute) goes on to the view.

    Why: the sessions, locale, CSRF, auth, messages, history and lockout middleware and DRF's request
    wrapping do nothing for a signed push and were a third of its web CPU. It sits after
    SecurityMiddleware (HTTPS redirect, security headers) and OutageAnswerMiddleware, and checks the
    Host against ALLOWED_HOSTS itself as CommonMiddleware would."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._path = None

    def __call__(self, request):
        if request.method == "POST":
            if self._path is None:  # the URLconf is read on the first request, not at start-up
                example = reverse("channel-webhook", kwargs={"channel_id": 0})
                example = "/" + example[len(get_script_prefix()) :]  # as request.path_info spells it
                before, after = example.split("/0/", 1)
                self._path = re.compile(re.escape(before) + "/([0-9]{1,18})/" + re.escape(after))
            match = self._path.fullmatch(request.path_info)
            if match is not None:
                try:
                    request.get_host()
                except DisallowedHost:
                    return self.get_response(request)  # refused below, as for any request
                accepted = _accept_fast(request, channel_id=int(match[1]))
                if accepted is not None:
                    return accepted
        return self.get_response(request)


def _accept_fast(request, *, channel_id: int) -> HttpResponse | None:
    """A signed push stored with the channel this process read recently (no read of its row per
    push); the store statement confirms the channel is still enabled with the same secret. Anything but
    success returns None and the view handles the push afresh (the failure budget first, the channel
    read again), so a rotated secret works at once and every refusal comes from the database."""
    if not settings.WEBHOOK_INBOX:
        return None
    signature = request.META.get(_SIGNATURE_META)
    channel = selectors.channel_get_enabled_recent(channel_id=channel_id) if signature else None
    if channel is None or throttling.webhook_failures_from(request).blocked_unless_seen_unspent(
        _BUDGET_SEEN_UNSPENT_SECONDS
    ):
        return None
    body = _body_within_limit(request)
    if body is None:
        return None
    try:
        gateway.verify_orderhub_signature(
            channel=channel, timestamp=request.META.get(_TIMESTAMP_META), signature=signature, body=body
        )
        message = inbox.inbox_accept(channel=channel, body=body)
    except (SignatureError, PayloadError, ChannelDisabled):
        return None
    answer = json.dumps(_accepted_data(message), ensure_ascii=False, separators=(",", ":")).encode()
    response = HttpResponse(answer, content_type="application/json", status=status.HTTP_202_ACCEPTED)
    response["Content-Length"] = str(len(answer))  # as CommonMiddleware would: no chunked answer
    return response


#: how long a web process takes a client's webhook failure budget, found unspent, as unspent
#: (FailureBudget.blocked_unless_seen_unspent): a client blocked by another process's refusals may
#: still have correctly signed pushes stored for up to this long
_BUDGET_SEEN_UNSPENT_SECONDS = 1.0
_SIGNATURE_META = "HTTP_" + gateway.SIGNATURE_HEADER.upper().replace("-", "_")
_TIMESTAMP_META = "HTTP_" + gateway.TIMESTAMP_HEADER.upper().replace("-", "_")


def _accepted_data(message) -> dict:
    return {"result": "accepted", "inbox_id": message.pk, "external_id": message.external_id}


def _accepted(message) -> Response:
    return Response(_accepted_data(message), status=status.HTTP_202_ACCEPTED)


def _refused(request, channel_id: int, reason: SignatureError) -> Response:
    """One answer for every failed signature and every unknown or disabled channel: the reason
    goes to the log only, so the answer tells an outsider nothing about which channels exist."""
    logger.info("webhook for channel %s refused: %s", channel_id, reason)
    waits = (
        throttling.webhook_failures_from(request).record(),
        throttling.webhook_failures_for(channel_id).record(),
    )
    wait = max(w or 0 for w in waits)
    if wait:
        return _too_many_attempts(wait)
    return Response(
        {"detail": _("authentication failed: signature missing, expired or wrong")},
        status=status.HTTP_401_UNAUTHORIZED,
        headers={"WWW-Authenticate": f'{gateway.SIGNATURE_HEADER} realm="channel webhook"'},
    )


def _too_many_attempts(wait: int) -> Response:
    return Response(
        {"detail": _("Too many failed attempts. Retry in %(seconds)d seconds.") % {"seconds": wait}},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(wait)},
    )


def _too_large() -> Response:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    return Response({"detail": f"body larger than {limit} bytes"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
