"""WMS API: movements in (idempotent by reference), stock levels out. No business logic here."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import selectors, services
from inventory.api.serializers import (
    LevelFilterSerializer,
    MovementInputSerializer,
    MovementSerializer,
    StockLevelSerializer,
)
from inventory.errors import MovementConflict, MovementInvalid
from inventory.models import StockLevel, StockMovement


class MovementCreateView(APIView):
    """Record a warehouse movement. 201 on first receipt, 200 with the stored result on a replay
    of the same reference, 400 with field errors (nothing written), 409 when a reference is reused
    for different data."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    # the default ModelActionPermission: POST needs inventory.add_stockmovement (give it to the WMS
    # token's user)
    permission_model = StockMovement
    write_permissions = {"post": "inventory.add_stockmovement"}

    @extend_schema(request=MovementInputSerializer, responses={200: MovementSerializer, 201: MovementSerializer})
    def post(self, request):
        incoming = MovementInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            result = services.record_movement(
                warehouse_code=data["warehouse"],
                sku_code=data["sku"],
                kind=data["kind"],
                quantity=data["quantity"],
                reference=data["reference"],
                source="wms",
                actor=request.user,
                note=data["note"],
            )
        except MovementInvalid as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        except MovementConflict as exc:
            return Response(
                {"detail": str(exc), "code": "reference_conflict", "movement_id": exc.movement_id},
                status=status.HTTP_409_CONFLICT,
            )
        body = MovementSerializer(result.movement).data
        body["replayed"] = not result.created
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class StockLevelListView(generics.ListAPIView):
    """Stock per SKU and warehouse: on hand, reserved, available."""

    serializer_class = StockLevelSerializer
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_model = StockLevel  # GET needs inventory.view_stocklevel
    filter_backends: list = []

    @extend_schema(
        parameters=[
            OpenApiParameter("sku", str, description="Merchant SKU code"),
            OpenApiParameter("warehouse", str, description="Warehouse code"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = LevelFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return selectors.stock_level_list(
            sku_code=params.validated_data.get("sku"), warehouse_code=params.validated_data.get("warehouse")
        )
