from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from inventory.models import QUANTITY_MAX, MovementKind, StockLevel, StockMovement


class MovementInputSerializer(serializers.Serializer):
    """Shape only; stock rules (unknown SKU/warehouse, availability) are checked by the service."""

    warehouse = serializers.CharField(max_length=32, help_text=_("Warehouse code"))
    sku = serializers.CharField(max_length=64, help_text=_("Merchant SKU code"))
    kind = serializers.ChoiceField(choices=MovementKind.choices)
    quantity = serializers.IntegerField(
        min_value=-QUANTITY_MAX,
        max_value=QUANTITY_MAX,
        help_text=_("inbound/outbound/return: units > 0; adjustment: signed change ≠ 0; count: counted units ≥ 0"),
    )
    reference = serializers.CharField(max_length=128, help_text=_("Unique per WMS event: replays are idempotent"))
    note = serializers.CharField(required=False, allow_blank=True, default="")


class LevelFilterSerializer(serializers.Serializer):
    """Query parameters of the levels list: codes the columns can hold (no NUL bytes, bounded)."""

    sku = serializers.CharField(max_length=64, required=False, allow_blank=True)
    warehouse = serializers.CharField(max_length=32, required=False, allow_blank=True)


class MovementSerializer(serializers.ModelSerializer):
    warehouse = serializers.CharField(source="warehouse.code")
    sku = serializers.CharField(source="sku.code")
    actor = serializers.CharField(source="actor.get_username", default=None)
    #: a note a service wrote reads in the caller's Accept-Language; a typed note as typed
    note = serializers.CharField(source="note_text", read_only=True)
    flag_reason = serializers.CharField(source="flag_reason_text", read_only=True)

    class Meta:
        model = StockMovement
        fields = [
            "id",
            "warehouse",
            "sku",
            "kind",
            "quantity",
            "counted",
            "balance_after",
            "reference",
            "note",
            "flagged",
            "flag_reason",
            "actor",
            "at",
        ]
        read_only_fields = fields


class StockLevelSerializer(serializers.ModelSerializer):
    warehouse = serializers.CharField(source="warehouse.code")
    sku = serializers.CharField(source="sku.code")
    sku_name = serializers.CharField(source="sku.name")
    available = serializers.IntegerField()

    class Meta:
        model = StockLevel
        fields = ["sku", "sku_name", "warehouse", "on_hand", "reserved", "available", "updated_at"]
        read_only_fields = fields
