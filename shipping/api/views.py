"""Warehouse scanner endpoints: thin wrappers over shipping.services; errors become 4xx answers with
messages in the scanner's language (Accept-Language)."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from shipping import services
from shipping.api.authentication import IsScanner, ScannerTokenAuthentication
from shipping.api.serializers import (
    ItemCheckResultSerializer,
    ItemScanSerializer,
    OutboundScanResultSerializer,
    OutboundScanSerializer,
    ScanErrorSerializer,
)
from shipping.errors import (
    ItemCheckFailed,
    ParcelNotFound,
    ScanForbidden,
    ScanInputInvalid,
    ScanRefused,
    ShippingError,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128
ERROR_STATUS = (
    (ParcelNotFound, status.HTTP_404_NOT_FOUND),
    (ScanForbidden, status.HTTP_403_FORBIDDEN),
    (ScanInputInvalid, status.HTTP_400_BAD_REQUEST),
    (ItemCheckFailed, status.HTTP_409_CONFLICT),
    (ScanRefused, status.HTTP_409_CONFLICT),
)
ERRORS = {
    400: OpenApiResponse(description="Malformed body: errors by field."),
    401: OpenApiResponse(ScanErrorSerializer, description="No or unknown scanner token."),
    403: OpenApiResponse(ScanErrorSerializer, description="Scanner revoked, or the parcel is another warehouse's."),
    404: OpenApiResponse(ScanErrorSerializer, description="No parcel or order answers to the code."),
    409: OpenApiResponse(
        ScanErrorSerializer,
        description="The parcel must not leave (order on hold, cancelled, refunded, not printed; wrong, extra or "
        "missing item; key reused for another scan).",
    ),
}


def error_response(exc: ShippingError) -> Response:
    code = next((c for kind, c in ERROR_STATUS if isinstance(exc, kind)), status.HTTP_409_CONFLICT)
    if code == status.HTTP_400_BAD_REQUEST and exc.field:
        return Response({exc.field: [exc.message], "code": exc.code}, status=code)
    return Response({"detail": exc.message, "code": exc.code, **exc.data}, status=code)


class ScannerView(APIView):
    authentication_classes = [ScannerTokenAuthentication]
    permission_classes = [IsScanner]


class OutboundScanView(ScannerView):
    """出库扫描: ship the parcel the code names. A retry (same Idempotency-Key, or a parcel already
    shipped) answers the same and changes nothing."""

    @extend_schema(
        request=OutboundScanSerializer,
        responses={200: OutboundScanResultSerializer, **ERRORS},
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="The scanner's id for this scan: a retry with the same key gets the stored answer.",
            )
        ],
        tags=["scanner"],
    )
    def post(self, request):
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if len(key) > MAX_KEY_LENGTH:
            message = gettext("At most %(n)s characters.") % {"n": MAX_KEY_LENGTH}
            return Response({IDEMPOTENCY_HEADER: [message]}, status=status.HTTP_400_BAD_REQUEST)
        incoming = OutboundScanSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            answer = services.scan_outbound(
                device=request.auth,
                code=data["code"],
                label_number=data["label_number"],
                item_barcodes=data["items"],
                idempotency_key=key,
            )
        except ShippingError as exc:
            return error_response(exc)
        response = Response(answer.body, status=status.HTTP_200_OK)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class ItemScanView(ScannerView):
    """扫描验货: record item barcodes scanned into a parcel before its outbound scan."""

    @extend_schema(request=ItemScanSerializer, responses={200: ItemCheckResultSerializer, **ERRORS}, tags=["scanner"])
    def post(self, request):
        incoming = ItemScanSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            progress = services.scan_items(
                device=request.auth, code=incoming.validated_data["code"], barcodes=incoming.validated_data["items"]
            )
        except ShippingError as exc:
            return error_response(exc)
        return Response(progress, status=status.HTTP_200_OK)
