"""Order export to Excel (django-import-export), receiver details masked by permission."""

from __future__ import annotations

from typing import Any

from django.utils.translation import pgettext_lazy
from import_export import fields, resources

from orderhub.masking import RECEIVER_FIELDS, can_view_receiver, mask_receiver_field
from orders.models import Order


class OrderExportResource(resources.ModelResource):
    """One row per order. `user` decides the receiver columns: in full only for
    orders.view_receiver_details; without a user (a script) they are masked too."""

    channel = fields.Field(attribute="channel__name", column_name="channel")
    #: header row in the user's language (orderhub.admin_export); other columns use the field's name
    column_labels = {
        "id": pgettext_lazy("excel column", "Order number"),
        "channel": pgettext_lazy("excel column", "Shop"),
    }

    def __init__(self, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reveal_receiver = can_view_receiver(user)

    class Meta:
        model = Order
        fields = (
            "id",
            "channel",
            "external_id",
            "state",
            "platform_status",
            "buyer_nick",
            "receiver_name",
            "receiver_phone",
            "receiver_province",
            "receiver_city",
            "receiver_district",
            "receiver_address",
            "goods_amount",
            "postage",
            "discount_amount",
            "paid_amount",
            "paid_at",
            "ship_by",
            "lane",
            "hold_reason",
        )
        export_order = fields

    def dehydrate_state(self, order: Order) -> str:
        return order.get_state_display()

    def dehydrate_platform_status(self, order: Order) -> str:
        return order.get_platform_status_display()

    def dehydrate_lane(self, order: Order) -> str:
        return order.get_lane_display()

    def dehydrate_hold_reason(self, order: Order) -> str:
        return order.hold_reason_text

    def export_field(self, field: fields.Field, instance: Order, **kwargs: Any) -> Any:
        value = super().export_field(field, instance, **kwargs)
        if field.attribute in RECEIVER_FIELDS and not self.reveal_receiver:
            return mask_receiver_field(field.attribute, value)
        return value
