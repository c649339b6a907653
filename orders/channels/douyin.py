"""Douyin shop (抖店) adapter. Facts: shared/channels/README.md §1.4, §2–§9.

`api_base_url` is the host part: `https://openapi-fxg.jinritemai.com`, or the emulator's
`http://127.0.0.1:9100/douyin`; the method becomes the path (`order.orderDetail` →
`/order/orderDetail`). System params go in the query string, the business JSON (`param_json`,
keys sorted at every level) is the request body, and both are signed together.

Money on the wire is integer fen; times are Unix seconds (0 = not set). Douyin posts signed HTTP
pushes: `verify_push` checks `app-id` and `event-sign` and returns one PushMessage per array item.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from orders.channels import common as c
from orders.channels import guard
from orders.channels.base import (
    AlreadyDoneError,
    NormalizedLine,
    NormalizedOrder,
    OrderPage,
    PayloadError,
    PermanentChannelError,
    PushMessage,
    RetryableChannelError,
    ShipRequest,
    SignatureError,
    StockUpdate,
)

STATUS_MAP = {
    1: c.UNPAID,
    103: c.UNPAID,
    2: c.AWAITING_SHIPMENT,
    105: c.HOLD,
    101: c.PARTIALLY_SHIPPED,
    3: c.SHIPPED,
    5: c.COMPLETED,
    4: c.CANCELLED,
    21: c.REFUNDED,
    22: c.REFUNDED,
    39: c.REFUNDED,
}
SUCCESS = 10000
ALREADY_SHIPPED = "60110"
RETRYABLE_BUSINESS = frozenset({"60109"})  # still in risk review: try later
#: after_sale_status values that mean the after-sale is over (u: inner fields unconfirmed)
CLOSED_AFTER_SALE = frozenset({0, 12, 27, 28, 29})
SIGNED_NAMES = ("app_key", "method", "param_json", "timestamp", "v")


def param_json(business: dict[str, Any]) -> str:
    """Compact JSON, keys sorted at every level, non-ASCII unescaped: the text both sent and signed."""
    return c.compact_json(business, sort_keys=True)


def push_sign(app_key: str, body: bytes, app_secret: str) -> str:
    """`event-sign` of a push: lower-case MD5 hex of app_key + raw body + app_secret."""
    return hashlib.md5(app_key.encode() + body + app_secret.encode(), usedforsecurity=False).hexdigest()


class Adapter(c.PlatformAdapter):
    platform = "douyin"
    http_push = True
    external_id_paths = (("order_id",),)

    def sign(self, params: dict[str, str]) -> str:
        """`app_key{v}method{v}param_json{v}timestamp{v}v{v}` wrapped in the secret; lower hex."""
        secret = self.credentials.app_secret
        wrapped = secret + "".join(f"{name}{params.get(name, '')}" for name in SIGNED_NAMES) + secret
        method = params.get("sign_method", "hmac-sha256")
        if method == "hmac-sha256":
            return c.hmac_hex(secret, wrapped, "sha256")
        if method == "md5":
            return c.md5_hex(wrapped)
        raise ValueError(f"unknown Douyin sign_method {method!r}")

    # push -----------------------------------------------------------------------------------
    def verify_push(self, headers: dict[str, str], body: bytes) -> list[PushMessage]:
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("app-id", "") != self.credentials.app_key:
            raise SignatureError("app-id header does not match this shop's app key")
        expected = push_sign(self.credentials.app_key, body, self.credentials.app_secret)
        if not c.same_sign(expected, lower.get("event-sign", "")):
            raise SignatureError("event-sign does not match")
        items = guard.decode_json(body)
        if not isinstance(items, list):
            raise PayloadError("body", "expected a JSON array of messages")
        return [self._message(item, i) for i, item in enumerate(items)]

    @staticmethod
    def _message(item: Any, index: int) -> PushMessage:
        if not isinstance(item, dict):
            raise PayloadError(f"[{index}]", "expected an object")
        tag = c.short_text(item.get("tag"), f"[{index}].tag", 80)
        msg_id = c.short_text(item.get("msg_id"), f"[{index}].msg_id", 128)
        data = item.get("data") or "{}"
        inner = guard.decode_json(data, field=f"[{index}].data") if isinstance(data, str) else data
        external_id = ""
        if isinstance(inner, dict):
            raw_id = inner.get("p_id") or inner.get("shop_order_id")
            external_id = c.short_text(raw_id, f"[{index}].data.p_id", 64)
        if tag == "0":  # the console's connectivity test (u)
            return PushMessage(message_id=msg_id, topic=tag, external_id=external_id, is_heartbeat=True)
        if not external_id:
            raise PayloadError(f"[{index}].data.p_id", "is required")
        return PushMessage(message_id=msg_id, topic=tag, external_id=external_id)

    # parsing --------------------------------------------------------------------------------
    @staticmethod
    def extract_orders(response: dict[str, Any]) -> list[dict[str, Any]]:
        data = response.get("data") if isinstance(response.get("data"), dict) else None
        if data is None:
            return [response]
        if "shop_order_detail" in data:
            return [data["shop_order_detail"]]
        return list(data.get("shop_order_list") or [])

    def parse_order(self, payload: dict[str, Any]) -> NormalizedOrder:
        order = payload
        external_id = c.text(c.require(order, "order_id"))
        raw_status = c.require(order, "order_status")
        status = STATUS_MAP.get(_int(raw_status))  # type: ignore[arg-type]
        if status is None:
            raise PayloadError("order_status", f"unknown Douyin order_status {raw_status!r}")
        rows = c.object_list(order.get("sku_order_list"), "sku_order_list")
        lines = [_line(row, f"sku_order_list[{i}]") for i, row in enumerate(rows)]
        addr = c.obj(order.get("post_addr"), "post_addr")
        masked_addr = c.obj(order.get("mask_post_addr"), "mask_post_addr")
        name = c.text(order.get("mask_post_receiver") or order.get("post_receiver"))
        phone = c.text(order.get("mask_post_tel") or order.get("post_tel"))
        address = c.text(masked_addr.get("detail") or addr.get("detail"))
        cipher = c.non_empty(
            {
                "encrypt_post_receiver": order.get("encrypt_post_receiver"),
                "encrypt_post_tel": order.get("encrypt_post_tel"),
                "encrypt_detail": addr.get("encrypt_detail"),
            }
        )
        goods = sum((c.fen(r.get("sum_amount"), f"sku_order_list[{i}].sum_amount") for i, r in enumerate(rows)), c.ZERO)
        return NormalizedOrder(
            external_id=external_id,
            platform_status=status,
            platform_status_raw=c.text(raw_status),
            buyer_nick="",
            buyer_id=c.text(order.get("doudian_open_id")),
            receiver_name=name,
            receiver_phone=phone,
            receiver_province=c.text(c.dig(addr, "province", "name")),
            receiver_city=c.text(c.dig(addr, "city", "name")),
            receiver_district=c.text(c.dig(addr, "town", "name")),
            receiver_town=c.text(c.dig(addr, "street", "name")),
            receiver_address=address,
            receiver_masked=bool(cipher) or c.looks_masked(name, phone, address),
            receiver_cipher=cipher,
            lines=lines,
            goods_amount=goods,
            postage=c.fen(order.get("post_amount"), "post_amount"),
            discount_amount=c.fen(order.get("promotion_amount"), "promotion_amount"),
            paid_amount=c.fen(order.get("pay_amount"), "pay_amount"),
            coupons=_coupons(rows),
            buyer_message=c.text(order.get("buyer_words")),
            seller_memo=c.text(order.get("seller_words")),
            is_presale=_int(order.get("trade_type")) == 2 or any(_int(r.get("pre_sale_type")) in (1, 2) for r in rows),
            refund_requested=any(_after_sale_open(r) for r in rows),
            platform_hold=status == c.HOLD,
            created_at=c.parse_epoch(order.get("create_time"), "create_time"),
            paid_at=c.parse_epoch(order.get("pay_time"), "pay_time"),
            modified_at=c.parse_epoch(order.get("update_time"), "update_time"),
            ship_by=c.parse_epoch(order.get("exp_ship_time"), "exp_ship_time"),
            raw=payload,
        )

    # HTTP -----------------------------------------------------------------------------------
    def prepare(self, method: str, business: dict[str, Any], *, timestamp: str | None = None) -> c.PreparedCall:
        """System params in the query, the sorted business JSON as the body; both signed together."""
        body_text = param_json(business)
        query = {
            "app_key": self.credentials.app_key,
            "method": method,
            "access_token": self.credentials.access_token,
            "timestamp": timestamp or str(c.epoch_seconds(c.now_shanghai())),
            "v": "2",
            "sign_method": "hmac-sha256",
        }
        query["sign"] = self.sign({**query, "param_json": body_text})
        return c.PreparedCall(
            self.credentials.api_base_url.rstrip("/") + "/" + method.replace(".", "/"),
            params=query,
            data=body_text.encode("utf-8"),
            headers={"Content-Type": "application/json;charset=utf-8"},
        )

    def call(self, method: str, business: dict[str, Any]) -> dict[str, Any]:
        body = self.prepare(method, business).send(self.credentials.timeout)
        if _int(body.get("code")) != SUCCESS:
            raise self.error(body)
        return body.get("data") or {}

    @staticmethod
    def error(body: dict[str, Any]) -> Exception:
        code, sub_code = c.text(body.get("code")), c.text(body.get("sub_code"))
        message = f"Douyin error {code} {sub_code}: {body.get('sub_msg') or body.get('msg') or ''}".strip()
        business_code = sub_code.rpartition(":")[2]
        if business_code == ALREADY_SHIPPED:
            return AlreadyDoneError(message, code=code, sub_code=sub_code, payload=body)
        if code == "20000" or sub_code.startswith("isp.") or business_code in RETRYABLE_BUSINESS:
            return RetryableChannelError(message, code=code, sub_code=sub_code, payload=body)
        return PermanentChannelError(message, code=code, sub_code=sub_code, payload=body)

    def pull_orders(self, *, start: datetime, end: datetime, page: Any = None, page_size: int = 50) -> OrderPage:
        page_no = int(page or 0)  # Douyin pages from 0
        size = min(page_size, 100)
        data = self.call(
            "order.searchList",
            {
                "update_time_start": c.epoch_seconds(start),
                "update_time_end": c.epoch_seconds(end),
                "page": page_no,
                "size": size,
                "order_by": "update_time",
                "order_asc": True,
            },
        )
        orders, rejected = self.read_page(data.get("shop_order_list") or [])
        has_next = (page_no + 1) * size < int(data.get("total") or 0)
        return OrderPage(
            orders=orders, has_next=has_next, next_page=page_no + 1 if has_next else None, rejected=rejected
        )

    def fetch_order(self, external_id: str) -> NormalizedOrder:
        data = self.call("order.orderDetail", {"shop_order_id": external_id})
        if not data.get("shop_order_detail"):
            raise PermanentChannelError(f"Douyin order {external_id} not returned", code="not_found", payload=data)
        return self.read_order(data["shop_order_detail"])

    @staticmethod
    def ship_params(request: ShipRequest) -> tuple[str, dict[str, Any]]:
        """Whole parent order via `order.logisticsAdd`; chosen sub-orders via `logisticsAddMultiPack` (u)."""
        if not request.line_ids:
            business: dict[str, Any] = {
                "order_id": request.external_id,
                "company_code": request.carrier_code,
                "logistics_code": request.tracking_number,
            }
            return "order.logisticsAdd", business
        business = {
            "order_id": request.external_id,
            "request_id": f"{request.external_id}-{request.tracking_number}",
            "pack_list": [
                {
                    "shipped_order_info": [{"shipped_order_id": line_id} for line_id in request.line_ids],
                    "company_code": request.carrier_code,
                    "logistics_code": request.tracking_number,
                }
            ],
        }
        return "order.logisticsAddMultiPack", business

    def ship(self, request: ShipRequest) -> dict[str, Any]:
        """Success is `code == 10000`; sub_code 60110 (already shipped) surfaces as AlreadyDoneError."""
        return self.call(*self.ship_params(request))

    def update_stock(self, update: StockUpdate) -> dict[str, Any]:
        """Overwrite (`incremental=false`) with `idempotent_id(update)`."""
        return self.call(
            "sku.syncStock",
            {
                "product_id": update.platform_item_id,
                "sku_id": update.platform_sku_id,
                "stock_num": update.quantity,
                "incremental": False,
                "idempotent_id": idempotent_id(update),
            },
        )

    def fetch_stock(self, platform_item_id: str, platform_sku_id: str) -> int:
        """`sku.stockNum` {sku_id} → `data.stock_num` (u: chosen over `sku.detail`; reply field).
        Douyin sku ids are unique across products, so the product id is not sent."""
        data = self.call("sku.stockNum", {"sku_id": platform_sku_id})
        if not data or data.get("stock_num") is None:
            raise c.sku_not_found("Douyin", platform_item_id, platform_sku_id, data)
        return c.stock_count(data.get("stock_num"), f"Douyin sku {platform_sku_id}", data)


def idempotent_id(update: StockUpdate) -> str:
    """`sku.syncStock`'s idempotent_id, derived from the update itself: a retried outbox row is
    recognised as a replay while a later change (new quantity or new last pushed) gets a new id."""
    key = f"{update.platform_item_id}:{update.platform_sku_id}:{update.quantity}:{update.last_pushed}"
    return c.md5_hex(key)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _after_sale_open(row: dict[str, Any]) -> bool:
    status = _int(c.dig(row, "after_sale_info", "after_sale_status"))
    return status is not None and status not in CLOSED_AFTER_SALE


def _line(row: dict[str, Any], field: str) -> NormalizedLine:
    line_id = c.text(c.require(row, "order_id", f"{field}.order_id"))
    out_sku_id = c.text(row.get("out_sku_id"))
    return NormalizedLine(
        external_line_id=line_id,
        platform_item_id=c.text(row.get("product_id")),
        platform_sku_id=c.text(row.get("sku_id")),
        sku_code=c.text(row.get("code")) or ("" if out_sku_id == "0" else out_sku_id),
        title=c.text(row.get("product_name")),
        quantity=c.quantity(row.get("item_num"), f"{field}.item_num"),
        unit_price=c.fen(row.get("origin_amount"), f"{field}.origin_amount", required=True),
        discount_amount=c.fen(row.get("promotion_amount"), f"{field}.promotion_amount"),
        paid_amount=c.fen(row.get("pay_amount"), f"{field}.pay_amount"),
        refund_status=c.text(c.dig(row, "after_sale_info", "after_sale_status", default="")),
    )


def _coupons(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each sub-order's promotion split by who funds it (shop, platform, talent, payment channel)."""
    parts = (
        ("shop_promotion", "店铺优惠", "promotion_shop_amount"),
        ("platform_promotion", "平台优惠", "promotion_platform_amount"),
        ("talent_promotion", "达人优惠", "promotion_talent_amount"),
        ("payment_discount", "支付优惠", "promotion_pay_amount"),
    )
    result = []
    for i, row in enumerate(rows):
        for kind, name, key in parts:
            amount = c.fen(row.get(key), f"sku_order_list[{i}].{key}")
            if amount:
                result.append(c.coupon(kind, name, amount, c.text(row.get("order_id"))))
    return result
