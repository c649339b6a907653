"""OrderHub's own neutral order format, for self-built shops and ERP bridges.

A bridge speaks this JSON instead of a marketplace dialect. One order (the shape of
`parse_order`'s input, of each item of `orders` in a search reply, and of a pushed body):

    {
      "external_id": "M-1001",                      required, string
      "status": "awaiting_shipment",                required, one of orders.models.PlatformStatus
      "status_raw": "PAID",                         optional, the bridge's own status text
      "refund_requested": false, "platform_hold": false, "is_presale": false,
      "buyer": {"nick": "李**", "id": "erp-buyer-1"},
      "receiver": {"name": "李*", "phone": "138****0000", "province": "浙江省", "city": "杭州市",
                   "district": "西湖区", "town": "文新街道", "address": "文三路1号", "zip": "310000",
                   "masked": false, "cipher": {}},
      "lines": [                                    required, at least one
        {"line_id": "1", "item_id": "700001", "sku_id": "5100001", "sku_code": "DEMO-TEE-WHT-L",
         "title": "纯棉短袖T恤", "quantity": 2,     quantity required, integer ≥ 1
         "unit_price": "89.00",                     required, yuan string ≥ 0
         "discount": "20.00", "paid": "158.00", "refund_status": "",
         "refund_state": "none", "closed": false} refund_state: none | requested | refunded (the
                                                    bridge's own code goes in refund_status);
                                                    closed: the line ships nothing
      ],
      "goods_amount": "217.90", "postage": "0.00", "discount": "20.00", "paid": "197.90",
      "coupons": [{"kind": "shop_coupon", "name": "满150减20", "amount": "20.00", "line_id": "1"}],
      "buyer_message": "", "seller_memo": "",
      "created_at": "2024-03-08T20:15:31+08:00", "paid_at": "…", "modified_at": "…", "ship_by": "…",
      "tracking_numbers": []                         optional: the numbers written back so far
    }

Amounts are yuan as decimal strings (integers are accepted; JSON floats are refused so a bridge
cannot lose cents). Times are ISO-8601; a time without an offset is read as Asia/Shanghai.

HTTP API a bridge exposes at `api_base_url` (the emulator serves it under `/manual`), all POST with a
JSON body and `?app_key=…&timestamp=<unix s>&sign=…`, where sign = lower-case hex
HMAC-SHA256(app_secret, "app_key=<k>&body=<raw body>&timestamp=<ts>") — see `sign`:

    /orders/search {"modified_from", "modified_to" (ISO), "page" (from 1), "page_size"}
                   → {"code": "ok", "orders": [order…], "has_next": bool}
    /orders/get    {"external_id"}                      → {"code": "ok", "order": order}
    /orders/ship   {"external_id", "tracking_number", "carrier_code", "line_ids"} → {"code": "ok"}
                   (line_ids: the lines this parcel carries, for a split shipment; empty = the rest)
    /orders/tracking {"external_id", "previous_tracking_number", "tracking_number", "carrier_code"}
                   → {"code": "ok"}   replace a number already written back
    /stock/update  {"item_id", "sku_id", "quantity"}    → {"code": "ok"}
    /stock/get     {"item_id", "sku_id"}                → {"code": "ok", "quantity": N}
                   (the quantity buyers see now; an unknown SKU answers code "not_found")

Errors: {"code": "<text>", "message": "…", "retryable": bool}; `already_shipped` means done.
A bridge pushes an order with OrderHub's webhook format, the same for every channel
(README: `X-OrderHub-Timestamp` and `X-OrderHub-Signature` keyed with the channel's webhook secret).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orders.channels import common as c
from orders.channels.base import (
    AlreadyDoneError,
    NormalizedLine,
    NormalizedOrder,
    OrderPage,
    PayloadError,
    PermanentChannelError,
    RetryableChannelError,
    ShipRequest,
    StockUpdate,
)


def _amount(value: Any, field: str, *, required: bool = False) -> Any:
    if isinstance(value, float):
        raise PayloadError(field, "send amounts as decimal strings, not JSON floats")
    return c.yuan(value, field, required=required)


class Adapter(c.PlatformAdapter):
    platform = "manual"
    external_id_paths = (("external_id",),)

    def sign(self, params: dict[str, str]) -> str:
        """Lower-case hex HMAC-SHA256 over sorted `name=value` pairs joined with `&` (sign excluded)."""
        joined = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign")
        return c.hmac_hex(self.credentials.app_secret, joined, "sha256")

    # parsing --------------------------------------------------------------------------------
    @staticmethod
    def extract_orders(response: dict[str, Any]) -> list[dict[str, Any]]:
        if "orders" in response:
            return list(response["orders"] or [])
        if "order" in response:
            return [response["order"]]
        return [response]

    def parse_order(self, payload: dict[str, Any]) -> NormalizedOrder:
        order = payload
        external_id = c.text(c.require(order, "external_id"))
        status = c.text(c.require(order, "status"))
        if status not in c.NEUTRAL_STATUSES:
            raise PayloadError("status", f"must be one of {', '.join(c.NEUTRAL_STATUSES)}")
        rows = c.object_list(order.get("lines"), "lines")
        lines = [self._line(row, f"lines[{i}]") for i, row in enumerate(rows)]
        buyer = c.obj(order.get("buyer"), "buyer")
        receiver = c.obj(order.get("receiver"), "receiver")
        coupons = []
        for i, row in enumerate(c.object_list(order.get("coupons"), "coupons", required=False)):
            coupons.append(
                c.coupon(
                    c.text(row.get("kind")) or "promotion",
                    c.text(row.get("name")),
                    _amount(row.get("amount"), f"coupons[{i}].amount", required=True),
                    c.text(row.get("line_id")),
                )
            )
        goods = order.get("goods_amount")
        return NormalizedOrder(
            external_id=external_id,
            platform_status=status,
            platform_status_raw=c.text(order.get("status_raw")) or status,
            buyer_nick=c.text(buyer.get("nick")),
            buyer_id=c.text(buyer.get("id")),
            receiver_name=c.text(receiver.get("name")),
            receiver_phone=c.text(receiver.get("phone")),
            receiver_province=c.text(receiver.get("province")),
            receiver_city=c.text(receiver.get("city")),
            receiver_district=c.text(receiver.get("district")),
            receiver_town=c.text(receiver.get("town")),
            receiver_address=c.text(receiver.get("address")),
            receiver_zip=c.text(receiver.get("zip")),
            receiver_masked=bool(receiver.get("masked")),
            receiver_cipher={str(k): c.text(v) for k, v in c.obj(receiver.get("cipher"), "receiver.cipher").items()},
            lines=lines,
            goods_amount=(
                _amount(goods, "goods_amount")
                if goods not in (None, "")
                else sum((ln.unit_price * ln.quantity for ln in lines), c.ZERO)
            ),
            postage=_amount(order.get("postage"), "postage"),
            discount_amount=_amount(order.get("discount"), "discount"),
            paid_amount=_amount(order.get("paid"), "paid", required=True),
            coupons=coupons,
            buyer_message=c.text(order.get("buyer_message")),
            seller_memo=c.text(order.get("seller_memo")),
            is_presale=bool(order.get("is_presale")),
            refund_requested=bool(order.get("refund_requested")) or c.any_line_refund_requested(lines),
            platform_hold=bool(order.get("platform_hold")) or status == c.HOLD,
            created_at=c.parse_iso_time(order.get("created_at"), "created_at"),
            paid_at=c.parse_iso_time(order.get("paid_at"), "paid_at"),
            modified_at=c.parse_iso_time(order.get("modified_at"), "modified_at"),
            ship_by=c.parse_iso_time(order.get("ship_by"), "ship_by"),
            raw=payload,
        )

    @staticmethod
    def _line(row: dict[str, Any], field: str) -> NormalizedLine:
        qty = c.quantity(row.get("quantity"), f"{field}.quantity")
        price = _amount(row.get("unit_price"), f"{field}.unit_price", required=True)
        discount = _amount(row.get("discount"), f"{field}.discount")
        paid = row.get("paid")
        refund_state = c.text(row.get("refund_state")) or c.LINE_REFUND_NONE
        if refund_state not in c.LINE_REFUND_STATES:
            raise PayloadError(f"{field}.refund_state", f"must be one of {', '.join(c.LINE_REFUND_STATES)}")
        closed = row.get("closed", False)
        if not isinstance(closed, bool):
            raise PayloadError(f"{field}.closed", "must be true or false")
        return NormalizedLine(
            external_line_id=c.text(row.get("line_id")),
            platform_item_id=c.text(row.get("item_id")),
            platform_sku_id=c.text(row.get("sku_id")),
            sku_code=c.text(row.get("sku_code")),
            title=c.text(row.get("title")),
            quantity=qty,
            unit_price=price,
            discount_amount=discount,
            paid_amount=_amount(paid, f"{field}.paid") if paid not in (None, "") else price * qty - discount,
            refund_status=c.text(row.get("refund_status")),
            refund_state=refund_state,
            closed=closed,
        )

    # HTTP -----------------------------------------------------------------------------------
    def prepare(self, action: str, business: dict[str, Any], *, timestamp: str | None = None) -> c.PreparedCall:
        body = c.compact_json(business)
        query = {
            "app_key": self.credentials.app_key,
            "timestamp": timestamp or str(c.epoch_seconds(c.now_shanghai())),
        }
        query["sign"] = self.sign({**query, "body": body})
        return c.PreparedCall(
            self.credentials.api_base_url.rstrip("/") + "/" + action.lstrip("/"),
            params=query,
            data=body.encode("utf-8"),
            headers={"Content-Type": "application/json;charset=utf-8"},
        )

    def call(self, action: str, business: dict[str, Any]) -> dict[str, Any]:
        reply = self.prepare(action, business).send(self.credentials.timeout)
        code = c.text(reply.get("code"))
        if code == "ok":
            return reply
        message = f"manual channel error {code}: {reply.get('message', '')}"
        if code == "already_shipped":
            raise AlreadyDoneError(message, code=code, payload=reply)
        if reply.get("retryable"):
            raise RetryableChannelError(message, code=code, payload=reply)
        raise PermanentChannelError(message, code=code, payload=reply)

    def pull_orders(self, *, start: datetime, end: datetime, page: Any = None, page_size: int = 50) -> OrderPage:
        page_no = int(page or 1)
        reply = self.call(
            "orders/search",
            {
                "modified_from": start.isoformat(),
                "modified_to": end.isoformat(),
                "page": page_no,
                "page_size": page_size,
            },
        )
        orders, rejected = self.read_page(reply.get("orders") or [])
        has_next = bool(reply.get("has_next"))
        return OrderPage(
            orders=orders, has_next=has_next, next_page=page_no + 1 if has_next else None, rejected=rejected
        )

    def fetch_order(self, external_id: str) -> NormalizedOrder:
        reply = self.call("orders/get", {"external_id": external_id})
        if not reply.get("order"):
            raise PermanentChannelError(f"order {external_id} not returned", code="not_found", payload=reply)
        return self.read_order(reply["order"])

    @staticmethod
    def ship_params(request: ShipRequest) -> tuple[str, dict[str, Any]]:
        business = {
            "external_id": request.external_id,
            "tracking_number": request.tracking_number,
            "carrier_code": request.carrier_code,
            "line_ids": request.line_ids,
        }
        return "orders/ship", business

    def ship(self, request: ShipRequest) -> dict[str, Any]:
        """`already_shipped` surfaces as AlreadyDoneError (the write-back re-reads the order)."""
        return self.call(*self.ship_params(request))

    def shipped_tracking_numbers(self, order: NormalizedOrder) -> set[str]:
        """`tracking_numbers` of the bridge's order (every parcel written back to the shop)."""
        return {c.text(n) for n in order.raw.get("tracking_numbers") or [] if n}

    @staticmethod
    def modify_params(request: ShipRequest) -> tuple[str, dict[str, Any]]:
        business = {
            "external_id": request.external_id,
            "previous_tracking_number": request.previous_tracking_number,
            "tracking_number": request.tracking_number,
            "carrier_code": request.carrier_code,
        }
        return "orders/tracking", business

    def modify_tracking(self, request: ShipRequest) -> dict[str, Any]:
        return self.call(*self.modify_params(request))

    def update_stock(self, update: StockUpdate) -> dict[str, Any]:
        return self.call(
            "stock/update",
            {"item_id": update.platform_item_id, "sku_id": update.platform_sku_id, "quantity": update.quantity},
        )

    def fetch_stock(self, platform_item_id: str, platform_sku_id: str) -> int:
        reply = self.call("stock/get", {"item_id": platform_item_id, "sku_id": platform_sku_id})
        return c.stock_count(reply.get("quantity"), f"manual sku {platform_sku_id}", reply)
