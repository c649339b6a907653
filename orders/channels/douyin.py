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
import re
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
    PlatformCarrier,
    PushMessage,
    RetryableChannelError,
    ShipRequest,
    SignatureError,
    StockUpdate,
    WaybillAddress,
    WaybillBranch,
    WaybillErrorCode,
    WaybillRequest,
    WaybillResult,
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
#: after_sale_status 12: the after-sale succeeded, i.e. the line was refunded (u); the others in
#: CLOSED_AFTER_SALE are refused or withdrawn requests, which leave the line as it was (u)
AFTER_SALE_SUCCEEDED = 12
#: a sub-order's own order_status that says it was refunded: 21 before shipment, 22 after, 39 after
#: receipt (README §4 lists them for the order; the sub-order carries the same codes)
REFUNDED_LINE_STATUSES = frozenset({21, 22, 39})
#: a sub-order closed without a refund (cancelled): nothing of it ships
CLOSED_LINE_STATUSES = frozenset({4})
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
            refund_requested=c.any_line_refund_requested(lines),
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

    def shipped_tracking_numbers(self, order: NormalizedOrder) -> set[str]:
        """`logistics_info[].tracking_no` of the order detail."""
        rows = order.raw.get("logistics_info") or []
        return {c.text(r.get("tracking_no")) for r in rows if isinstance(r, dict) and r.get("tracking_no")}

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

    # e-waybills: logistics.* (shared/channels/shipping.md §1) -----------------------------------
    waybill_batch_size = 50

    def waybill_create_request(self, requests: list[WaybillRequest]) -> dict[str, Any]:
        """`logistics.newCreateOrder`: one `order_infos` entry per parcel, keyed by order id +
        `pack_id` (the parcel key, or a 15-character digest of it); the receiver as the order's
        ciphertext (`encrypt_post_receiver`, `encrypt_post_tel`, `encrypt_detail`). A merged parcel
        goes under its first order's id (u: Douyin names one order per parcel)."""
        first = requests[0]
        business: dict[str, Any] = {
            "logistics_code": first.carrier_code,
            "sender_info": _douyin_party(first.sender),
            "order_infos": [
                {
                    "order_id": r.external_ids[0],
                    "pack_id": pack_id(r.parcel_key),
                    "receiver_info": _douyin_party(r.receiver, cipher=r.receiver.cipher),
                    "items": [{"item_name": i.name, "item_count": i.count} for i in r.items],
                    "weight": r.weight_grams or None,
                }
                for r in requests
            ],
        }
        if first.branch_code:
            business["net_info"] = {"net_code": first.branch_code}
        return business

    def waybill_call(self, method: str, business: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.call(method, business)
        except (PermanentChannelError, AlreadyDoneError) as exc:
            raise c.waybill_error(exc, known=DOUYIN_WAYBILL_ERRORS) from exc

    def waybill_get_batch(self, requests: list[WaybillRequest]) -> list[WaybillResult]:
        """Per-parcel answers: `ebill_infos[]` numbered, `err_infos[]` refused. Print data is a
        separate call (`logistics.waybillApply`), made at once for the numbered parcels; if it fails
        the numbers stand and the print page re-fetches it."""

        def call(batch: list[WaybillRequest]) -> dict[str, WaybillResult]:
            keys = {(r.external_ids[0], pack_id(r.parcel_key)): r.parcel_key for r in batch}
            data = self.waybill_call("logistics.newCreateOrder", c.without_nulls(self.waybill_create_request(batch)))
            results: dict[str, WaybillResult] = {}
            for info in data.get("ebill_infos") or []:
                key = keys.get((c.text(info.get("order_id")), c.text(info.get("pack_id"))))
                if key:
                    parent = c.text(info.get("parent_waybill_code"))
                    results[key] = WaybillResult(
                        key, tracking_number=c.text(info.get("track_no")), parent_tracking_number=parent
                    )
            for err in data.get("err_infos") or []:
                key = keys.get((c.text(err.get("order_id")), c.text(err.get("pack_id"))))
                if key:
                    results[key] = WaybillResult(key, error=_douyin_refusal(err))
            self._attach_print_data(batch[0].carrier_code, [r for r in results.values() if r.tracking_number])
            return results

        return c.number_isolating_refusals(requests, call)

    def _attach_print_data(self, carrier_code: str, numbered: list[WaybillResult]) -> None:
        if not numbered:
            return
        try:
            labels = self._print_data(carrier_code, [r.tracking_number for r in numbered])
        except (PermanentChannelError, RetryableChannelError):
            return  # the numbers stand; waybill_print_data fetches the label later
        for result in numbered:
            result.print_data = labels.get(result.tracking_number, {})

    def _print_data(self, carrier_code: str, numbers: list[str]) -> dict[str, dict[str, Any]]:
        applies = [{"logistics_code": carrier_code, "track_no": n} for n in numbers]
        data = self.waybill_call("logistics.waybillApply", {"waybill_applies": applies})
        return {c.text(i.get("track_no")): dict(i) for i in data.get("waybill_infos") or [] if i.get("print_data")}

    def waybill_cancel(self, *, carrier_code: str, tracking_number: str, branch_code: str = "") -> None:
        """`logistics.cancelOrder`; 1105 already collected, 1102 cancelled twice."""
        data = self.waybill_call("logistics.cancelOrder", {"logistics_code": carrier_code, "track_no": tracking_number})
        if data.get("success") not in (True, "true"):
            raise PermanentChannelError(f"Douyin did not confirm cancelling {tracking_number}", payload=data)

    def waybill_print_data(self, *, carrier_code: str, tracking_number: str) -> dict[str, Any]:
        """`logistics.waybillApply`: {track_no, print_data (encrypted), sign, template_url}."""
        label = self._print_data(carrier_code, [tracking_number]).get(tracking_number)
        if not label:
            raise PermanentChannelError(f"Douyin knows no number {tracking_number}", code=WaybillErrorCode.NOT_FOUND)
        return label

    def waybill_branches(self, *, carrier_code: str = "") -> list[WaybillBranch]:
        """`logistics.listShopNetsite`: net sites with `amount` left and their sender addresses."""
        data = self.waybill_call("logistics.listShopNetsite", c.without_nulls({"logistics_code": carrier_code or None}))
        branches = []
        for site in data.get("netsites") or []:
            addresses = site.get("sender_address") or []
            amount = site.get("amount")
            branches.append(
                WaybillBranch(
                    carrier_code=c.text(site.get("logistics_code") or carrier_code),
                    branch_code=c.text(site.get("netsite_code")),
                    branch_name=c.text(site.get("netsite_name")),
                    quota=None if amount in (None, "", -1) else int(amount),
                    sender=_douyin_address(addresses[0]) if addresses else None,
                )
            )
        return branches

    def carriers(self) -> list[PlatformCarrier]:
        """`order.logisticsCompanyList`: Douyin's carrier codes (the `company_code` of ship calls)."""
        data = self.call("order.logisticsCompanyList", {})
        rows = data if isinstance(data, list) else data.get("logistics_company_list") or []
        return [PlatformCarrier(code=c.text(r.get("code")), name=c.text(r.get("name"))) for r in rows if r.get("code")]


#: Douyin e-waybill error codes: 1105/1102 from the cancel docs (shipping.md §1); the others (u)
#: invented for the emulator; Douyin's words are matched as well
DOUYIN_WAYBILL_ERRORS = {
    "isv.business-failed:1105": WaybillErrorCode.PICKED_UP,
    "isv.business-failed:1102": WaybillErrorCode.ALREADY_CANCELLED,
    "1105": WaybillErrorCode.PICKED_UP,
    "1102": WaybillErrorCode.ALREADY_CANCELLED,
    "210001": WaybillErrorCode.QUOTA_EXHAUSTED,
    "210002": WaybillErrorCode.UNREACHABLE,
    "210003": WaybillErrorCode.NOT_SUBSCRIBED,
    "210004": WaybillErrorCode.NOT_FOUND,
    "210005": WaybillErrorCode.BAD_DATA,
}
_PACK_ID = re.compile(r"^[A-Za-z0-9_-]{1,15}$")


def pack_id(parcel_key: str) -> str:
    """Douyin's `pack_id` (≤15 characters): the parcel key itself when it fits, else a stable digest."""
    return parcel_key if _PACK_ID.match(parcel_key) else c.md5_hex(parcel_key)[:15]


def _douyin_party(party: WaybillAddress, cipher: dict[str, str] | None = None) -> dict[str, Any]:
    """{address {country_code, province_name, city_name, district_name, street_name, detail_address},
    contact {name, mobile}}; ciphertext replaces the masked text where the order gave it."""
    cipher = cipher or {}
    address = {
        "country_code": "CHN",
        "province_name": party.province,
        "city_name": party.city,
        "district_name": party.district,
        "street_name": party.town,
        "detail_address": cipher.get("encrypt_detail") or party.address,
    }
    contact = {
        "name": cipher.get("encrypt_post_receiver") or party.name,
        "mobile": cipher.get("encrypt_post_tel") or party.mobile,
    }
    return {"address": c.non_empty(address), "contact": c.non_empty(contact)}


def _douyin_address(row: dict[str, Any]) -> WaybillAddress:
    return WaybillAddress(
        name="",
        mobile="",
        province=c.text(row.get("province_name")),
        city=c.text(row.get("city_name")),
        district=c.text(row.get("district_name")),
        town=c.text(row.get("street_name")),
        address=c.text(row.get("detail_address")),
    )


def _douyin_refusal(err: dict[str, Any]) -> PermanentChannelError:
    code, message = c.text(err.get("err_code")), c.text(err.get("err_msg"))
    kind = c.waybill_error_code(message, code, known=DOUYIN_WAYBILL_ERRORS) or WaybillErrorCode.BAD_DATA
    return c.waybill_refusal("Douyin", kind, f"{code} {message}".strip(), platform_code=code, payload=err)


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


def _line_refund_state(row: dict[str, Any]) -> str:
    """A sub-order's after-sale state from its own `order_status` and `after_sale_info` (u: the inner
    after-sale fields are unconfirmed, README §4)."""
    after_sale = _int(c.dig(row, "after_sale_info", "after_sale_status"))
    if _int(row.get("order_status")) in REFUNDED_LINE_STATUSES or after_sale == AFTER_SALE_SUCCEEDED:
        return c.LINE_REFUND_REFUNDED
    if _after_sale_open(row):
        return c.LINE_REFUND_REQUESTED
    return c.LINE_REFUND_NONE


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
        refund_state=_line_refund_state(row),
        closed=_int(row.get("order_status")) in CLOSED_LINE_STATUSES,
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
