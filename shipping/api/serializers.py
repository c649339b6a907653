"""Scanner request and answer shapes (validation only; the services decide)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

MAX_ITEMS = 500


class OutboundScanSerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=64,
        help_text=_("The parcel's tracking number, or the order barcode printed on the packing slip."),
    )
    label_number = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The number on the carrier's own label (manual-channel parcels get their number this way)."),
    )
    items = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        max_length=MAX_ITEMS,
        help_text=_("Item barcodes scanned into the parcel (扫描验货); the parcel must then hold exactly these."),
    )


class ItemScanSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, help_text=_("The parcel's tracking number or the order barcode."))
    items = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=MAX_ITEMS, help_text=_("Item barcodes.")
    )


class ParcelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    parcel_key = serializers.CharField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    parent_tracking_number = serializers.CharField()
    state = serializers.CharField()


class ParcelOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    state = serializers.CharField()


class OutboundScanResultSerializer(serializers.Serializer):
    parcel = ParcelSerializer()
    orders = ParcelOrderSerializer(many=True)


class ItemCheckResultSerializer(serializers.Serializer):
    parcel = serializers.IntegerField()
    expected = serializers.DictField(child=serializers.IntegerField())
    checked = serializers.DictField(child=serializers.IntegerField())
    complete = serializers.BooleanField()


class ScanErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
