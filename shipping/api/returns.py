"""退货入库: `POST /api/v1/scans/return`, a scanner receiving returned goods into its warehouse. The
scanner's rules: Bearer device token, Idempotency-Key (required here: a receipt adds units, so only
the key tells a retry from a second parcel), field-level 400s, 404 for an unknown reference, 409
when the return takes no more goods or not these."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from shipping import services
from shipping.api.serializers import MAX_ITEMS, ParcelOrderSerializer, ScanErrorSerializer
from shipping.api.views import IDEMPOTENCY_HEADER, MAX_KEY_LENGTH, ScannerView
from shipping.errors import ReturnNotFound, ReturnRefused, ShippingError
from shipping.models import ReturnCondition


class ReturnedItemSerializer(serializers.Serializer):
    barcode = serializers.CharField(max_length=64, help_text=_("The item's barcode (or merchant SKU code)."))
    condition = serializers.ChoiceField(choices=ReturnCondition.choices)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, default=1)


class ReturnScanSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=32, help_text=_("The RMA number on the return slip."))
    items = ReturnedItemSerializer(many=True, min_length=1, max_length=MAX_ITEMS)


class ReturnItemResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    expected = serializers.IntegerField()
    resellable = serializers.IntegerField()
    damaged = serializers.IntegerField()


class ReturnScanResultSerializer(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.CharField()
    order = ParcelOrderSerializer()
    items = ReturnItemResultSerializer(many=True)


ERROR_STATUS = ((ReturnNotFound, status.HTTP_404_NOT_FOUND), (ReturnRefused, status.HTTP_409_CONFLICT))


def error_response(exc: ShippingError) -> Response:
    code = next((c for kind, c in ERROR_STATUS if isinstance(exc, kind)), status.HTTP_409_CONFLICT)
    return Response({"detail": exc.message, "code": exc.code, **exc.data}, status=code)


class ReturnScanView(ScannerView):
    """退货入库: receive returned goods, each resellable (back into sellable stock, pushed to every
    storefront) or damaged (the warehouse's quarantine location)."""

    @extend_schema(
        request=ReturnScanSerializer,
        responses={
            200: ReturnScanResultSerializer,
            400: OpenApiResponse(description="Malformed body or no Idempotency-Key: errors by field."),
            401: OpenApiResponse(ScanErrorSerializer, description="No or unknown scanner token."),
            403: OpenApiResponse(ScanErrorSerializer, description="Scanner revoked."),
            404: OpenApiResponse(ScanErrorSerializer, description="No return answers to the reference."),
            409: OpenApiResponse(
                ScanErrorSerializer,
                description="The return is closed or cancelled, the item is not expected back, more than expected, "
                "or the key was used for another scan.",
            ),
        },
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="The scanner's id for this receipt: a retry with the same key gets the stored answer.",
            )
        ],
        tags=["scanner"],
    )
    def post(self, request):
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        errors: dict[str, list[str]] = {}
        if not key:
            errors[IDEMPOTENCY_HEADER] = [gettext("Required: a receipt adds units, so a retry must carry the key.")]
        elif len(key) > MAX_KEY_LENGTH:
            errors[IDEMPOTENCY_HEADER] = [gettext("At most %(n)s characters.") % {"n": MAX_KEY_LENGTH}]
        incoming = ReturnScanSerializer(data=request.data)
        if not incoming.is_valid():
            errors.update(incoming.errors)
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        data = incoming.validated_data
        units = [
            services.ReturnedUnits(condition=i["condition"], quantity=i["quantity"], barcode=i["barcode"])
            for i in data["items"]
        ]
        try:
            answer = services.scan_return(
                device=request.auth, reference=data["reference"], units=units, idempotency_key=key
            )
        except ShippingError as exc:
            return error_response(exc)
        response = Response(answer.body, status=status.HTTP_200_OK)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response
