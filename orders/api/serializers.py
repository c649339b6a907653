from __future__ import annotations

from rest_framework import serializers

from orderhub.masking import RECEIVER_FIELDS, can_view_receiver, mask_receiver_mapping
from orders.models import Order, OrderLine


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [
            "id",
            "external_line_id",
            "platform_item_id",
            "platform_sku_id",
            "sku_code",
            "title",
            "quantity",
            "unit_price",
            "discount_amount",
            "paid_amount",
            "refund_status",
            "refund_state",
        ]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)
    platform = serializers.CharField(source="channel.platform", read_only=True)
    is_overdue = serializers.BooleanField(read_only=True)
    is_at_risk = serializers.BooleanField(read_only=True)
    hold_reason = serializers.CharField(
        source="hold_reason_text", read_only=True, help_text="Why the order is held, in the Accept-Language."
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "channel",
            "platform",
            "external_id",
            "state",
            "platform_status",
            "refund_requested",
            "buyer_nick",
            "receiver_name",
            "receiver_phone",
            "receiver_province",
            "receiver_city",
            "receiver_district",
            "receiver_address",
            "receiver_masked",
            "goods_amount",
            "postage",
            "discount_amount",
            "paid_amount",
            "coupons",
            "buyer_message",
            "seller_memo",
            "is_presale",
            "platform_created_at",
            "paid_at",
            "platform_modified_at",
            "ship_by",
            "is_overdue",
            "is_at_risk",
            "lane",
            "priority",
            "tags",
            "hold_reason",
            "received_at",
            "lines",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Order) -> dict:
        """Receiver name, phone and street address in full only for `orders.view_receiver_details`."""
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not can_view_receiver(request.user):
            masked = mask_receiver_mapping({k: data[k] for k in RECEIVER_FIELDS if k in data})
            data.update(masked)
        return data


class TransitionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class TransitionErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    state = serializers.CharField()
    transition = serializers.CharField()
