"""Kuaishou shop (快手小店) adapter. Facts: shared/channels/README.md §1.5, §2–§9.

`api_base_url` is the host part: `https://openapi.kwaixiaodian.com`, or the emulator's
`http://127.0.0.1:9100/kuaishou`; the method becomes the path (`open.order.detail` →
`/open/order/detail`). System params go in the query string and `param` (business JSON) in the
form body; all seven are signed with `signSecret`, a credential of its own (not the app secret).

One order holds exactly one SKU (`orderItemInfo`), so a checkout of two products arrives as two
orders. Money is integer fen, times Unix milliseconds (0 = not set). `open.order.detail` is assumed
to return the same object shape as one cursor-list entry (u). Stock is delta-only: the delta is
computed from `StockUpdate.last_pushed`. Pushes are AES-128-CBC bodies with no signature:
`verify_push` decrypts with the shop's message key, which is the authentication.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from orders.channels import common as c
from orders.channels import guard
from orders.channels.base import (
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
    WaybillAddress,
    WaybillBranch,
    WaybillErrorCode,
    WaybillRequest,
    WaybillResult,
)

STATUS_MAP = {
    10: c.UNPAID,
    30: c.AWAITING_SHIPMENT,
    40: c.SHIPPED,
    50: c.DELIVERED,
    70: c.COMPLETED,
    80: c.CANCELLED,
}
RISK_HOLD_CODE = 10001
REFUND_OPEN = range(10, 51)  # refundStatus 10–50: a refund in progress
REFUND_DONE = 60
#: a refund the buyer withdrew or that was closed without refunding (u: the code is not in the sheet;
#: any refundStatus outside 10–60 reads as "no refund")
REFUND_CLOSED = 70
SIGNED_NAMES = ("access_token", "appkey", "method", "param", "signMethod", "timestamp", "version")
WINDOW = timedelta(days=7)
NO_MORE = "nomore"
LIMIT_MESSAGES = ("exceed quota limit", "exceed qps limit")
ZERO_IV = bytes(16)


def encrypt_push(plaintext: str, message_key: str) -> str:
    """What the platform does to a push body; the emulator and tests use it to build pushes."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(message_key)), modes.CBC(ZERO_IV)).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def decrypt_push(body: bytes | str, message_key: str) -> str:
    """Base64 → AES-128-CBC (zero IV) → PKCS#7 unpad → UTF-8; SignatureError when any step fails."""
    try:
        key = base64.b64decode(message_key, validate=True)
        raw = base64.b64decode(body.strip() if isinstance(body, bytes) else body.strip().encode(), validate=True)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(ZERO_IV)).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise SignatureError(f"push body does not decrypt with this shop's message key: {exc}") from None


class Adapter(c.PlatformAdapter):
    platform = "kuaishou"
    http_push = True
    external_id_paths = (("orderBaseInfo", "oid"),)

    def sign(self, params: dict[str, str]) -> str:
        """Sorted `name=value&…` of the seven system params + `&signSecret=…`; MD5 hex or HMAC Base64."""
        secret = self.credentials.sign_secret
        joined = "&".join(f"{k}={params[k]}" for k in sorted(SIGNED_NAMES) if params.get(k) not in (None, ""))
        text_to_sign = f"{joined}&signSecret={secret}"
        method = params.get("signMethod", "MD5")
        if method == "MD5":
            return c.md5_hex(text_to_sign)
        if method == "HMAC_SHA256":
            return c.hmac_b64(secret, text_to_sign, "sha256")
        raise ValueError(f"unknown Kuaishou signMethod {method!r}")

    # push -----------------------------------------------------------------------------------
    def verify_push(self, headers: dict[str, str], body: bytes) -> list[PushMessage]:
        if not self.credentials.message_key:
            raise SignatureError("no message key configured for this Kuaishou shop")
        plaintext = decrypt_push(body, self.credentials.message_key)
        try:
            message = guard.decode_json(plaintext)
        except guard.MalformedJSON:
            raise SignatureError("decrypted push is not JSON") from None
        if not isinstance(message, dict):
            raise PayloadError("body", "expected a JSON object")
        event_id = c.short_text(message.get("eventId"), "eventId", 128)
        if message.get("test") is True:
            return [PushMessage(message_id=event_id, topic="test", external_id="", is_heartbeat=True)]
        external_id = c.short_text(message.get("bizId"), "bizId", 64)
        if not external_id:
            raise PayloadError("bizId", "is required")
        if not event_id:
            raise PayloadError("eventId", "is required")
        topic = c.short_text(message.get("event"), "event", 80)
        return [PushMessage(message_id=event_id, topic=topic, external_id=external_id)]

    # parsing --------------------------------------------------------------------------------
    @staticmethod
    def extract_orders(response: dict[str, Any]) -> list[dict[str, Any]]:
        data = response.get("data")
        if isinstance(data, dict) and "orderList" in data:
            return list(data.get("orderList") or [])
        if isinstance(data, dict) and "orderBaseInfo" in data:
            return [data]
        return [response]

    def parse_order(self, payload: dict[str, Any]) -> NormalizedOrder:
        base = payload.get("orderBaseInfo") if isinstance(payload, dict) else None
        if not isinstance(base, dict):
            raise PayloadError("orderBaseInfo", "is required")
        external_id = c.text(c.require(base, "oid", "orderBaseInfo.oid"))
        raw_status = _int(c.require(base, "status", "orderBaseInfo.status"))
        refunds = c.object_list(payload.get("orderRefundList"), "orderRefundList", required=False)
        refund_states = {_int(r.get("refundStatus")) for r in refunds}
        status = STATUS_MAP.get(raw_status)  # type: ignore[arg-type]
        if status is None:
            raise PayloadError("orderBaseInfo.status", f"unknown Kuaishou status {base.get('status')!r}")
        if status == c.AWAITING_SHIPMENT and _int(base.get("riskCode")) == RISK_HOLD_CODE:
            status = c.HOLD
        elif status == c.CANCELLED and REFUND_DONE in refund_states:
            status = c.REFUNDED
        item = payload.get("orderItemInfo")
        if not isinstance(item, dict) or not item:
            raise PayloadError("orderItemInfo", "the order's line is required")
        line = _line(item, external_id, base)
        # one line per order: the order's refund list is that line's after-sale history; a completed
        # refund wins over an open one (u: how a second request after a refund is listed)
        line.refund_status = ",".join(str(s) for s in sorted(x for x in refund_states if x is not None))[:40]
        if REFUND_DONE in refund_states:
            line.refund_state = c.LINE_REFUND_REFUNDED
        elif any(s in REFUND_OPEN for s in refund_states if s is not None):
            line.refund_state = c.LINE_REFUND_REQUESTED
        address = c.obj(payload.get("orderAddress"), "orderAddress")
        name = c.text(address.get("desensitiseConsignee"))
        phone = c.text(address.get("desensitiseMobile"))
        detail = c.text(address.get("desensitiseAddress"))
        cipher = c.non_empty({k: address.get(k) for k in ("encryptedConsignee", "encryptedMobile", "encryptedAddress")})
        coupons = []
        if line.discount_amount:
            coupons.append(c.coupon("promotion", "商家优惠", line.discount_amount, external_id))
        return NormalizedOrder(
            external_id=external_id,
            platform_status=status,
            platform_status_raw=c.text(base.get("status")),
            buyer_nick=c.text(base.get("buyerNick")),
            buyer_id=c.text(base.get("buyerOpenId")),
            receiver_name=name,
            receiver_phone=phone,
            receiver_province=c.text(address.get("province")),
            receiver_city=c.text(address.get("city")),
            receiver_district=c.text(address.get("district")),
            receiver_town=c.text(address.get("town")),
            receiver_address=detail,
            receiver_masked=bool(cipher) or c.looks_masked(name, phone, detail),
            receiver_cipher=cipher,
            lines=[line],
            goods_amount=line.unit_price * line.quantity,
            postage=c.fen(base.get("expressFee"), "orderBaseInfo.expressFee"),
            discount_amount=c.fen(base.get("discountFee"), "orderBaseInfo.discountFee"),
            paid_amount=c.fen(base.get("totalFee"), "orderBaseInfo.totalFee"),
            coupons=coupons,
            buyer_message=c.text(base.get("remark")),
            seller_memo=_note_text(payload.get("orderNote") or base.get("orderNote")),
            is_presale=_int(base.get("preSale")) == 1 or _int(base.get("activityType")) == 6,
            refund_requested=c.any_line_refund_requested([line]),
            platform_hold=status == c.HOLD,
            created_at=c.parse_epoch(base.get("createTime"), "orderBaseInfo.createTime", millis=True),
            paid_at=c.parse_epoch(base.get("payTime"), "orderBaseInfo.payTime", millis=True),
            modified_at=c.parse_epoch(base.get("updateTime"), "orderBaseInfo.updateTime", millis=True),
            ship_by=c.parse_epoch(
                base.get("promiseTimeStampOfDelivery"), "orderBaseInfo.promiseTimeStampOfDelivery", millis=True
            ),
            raw=payload,
        )

    # HTTP -----------------------------------------------------------------------------------
    def prepare(self, method: str, business: dict[str, Any], *, timestamp: str | None = None) -> c.PreparedCall:
        """System params in the query, `param` (business JSON) in the form body; all seven signed."""
        param = c.compact_json(business)
        query = {
            "appkey": self.credentials.app_key,
            "method": method,
            "version": "1",
            "access_token": self.credentials.access_token,
            "timestamp": timestamp or str(c.epoch_millis(c.now_shanghai())),
            "signMethod": "MD5",
        }
        query = {k: v for k, v in query.items() if v != ""}
        query["sign"] = self.sign({**query, "param": param})
        url = self.credentials.api_base_url.rstrip("/") + "/" + method.replace(".", "/")
        return c.PreparedCall(url, params=query, data={"param": param})

    def call(self, method: str, business: dict[str, Any]) -> dict[str, Any]:
        body = self.prepare(method, business).send(self.credentials.timeout)
        if _int(body.get("result")) != 1:
            raise self.error(body)
        return body

    @staticmethod
    def error(body: dict[str, Any]) -> Exception:
        code = c.text(body.get("code") or body.get("result"))
        sub_code = c.text(body.get("subCode"))
        text = " ".join(c.text(body.get(k)) for k in ("msg", "subMsg", "errorMsg", "error_msg") if body.get(k))
        message = f"Kuaishou error {code} {sub_code}: {text}".strip()
        if any(m in text.lower() for m in LIMIT_MESSAGES):
            return RetryableChannelError(message, code=code, sub_code=sub_code, payload=body)
        return PermanentChannelError(message, code=code, sub_code=sub_code, payload=body)

    def pull_orders(self, *, start: datetime, end: datetime, page: Any = None, page_size: int = 50) -> OrderPage:
        """Cursor paging inside ≤7-day windows; `next_page` is an opaque `{"w": window, "c": cursor}`."""
        spans = c.windows(start, end, WINDOW)
        state = page or {"w": 0, "c": ""}
        index, cursor = int(state["w"]), c.text(state["c"])
        window_start, window_end = spans[index]
        body = self.call(
            "open.order.cursor.list",
            {
                "queryType": 2,  # by update time
                "beginTime": c.epoch_millis(window_start),
                "endTime": c.epoch_millis(window_end),
                "cursor": cursor,
                "pageSize": min(page_size, 100),
                "orderViewStatus": 1,  # all states
                "sort": 1,
            },
        )
        data = body.get("data") or {}
        rows = data.get("orderList") or []
        orders, rejected = self.read_page(rows)
        next_cursor = c.text(data.get("cursor"))
        if rows and next_cursor and next_cursor != NO_MORE:
            next_page: dict[str, Any] | None = {"w": index, "c": next_cursor}
        elif index + 1 < len(spans):
            next_page = {"w": index + 1, "c": ""}
        else:
            next_page = None
        return OrderPage(orders=orders, has_next=next_page is not None, next_page=next_page, rejected=rejected)

    def fetch_order(self, external_id: str) -> NormalizedOrder:
        body = self.call("open.order.detail", {"oid": _id(external_id)})
        data = body.get("data")
        if not data:
            raise PermanentChannelError(f"Kuaishou order {external_id} not returned", code="not_found", payload=body)
        return self.read_order(data)

    @staticmethod
    def ship_params(request: ShipRequest) -> tuple[str, dict[str, Any]]:
        """Whole order: `open.seller.order.goods.deliver`. Split: `open.order.goods.split.deliver`
        (§5) with one `deliveryItemInfoList` entry for this parcel — (u) the parameter names of the
        split call were not researched; `orderId` / `expressNo` / `expressCode` follow the whole-order
        call and `itemIdList` names the lines carried."""
        if request.split:
            business: dict[str, Any] = {
                "orderId": _id(request.external_id),
                "deliveryItemInfoList": [
                    {
                        "expressNo": request.tracking_number,
                        "expressCode": _id(request.carrier_code),
                        "itemIdList": [_id(line_id) for line_id in request.line_ids],
                    }
                ],
            }
            return "open.order.goods.split.deliver", business
        business = {
            "orderId": _id(request.external_id),
            "expressNo": request.tracking_number,
            "expressCode": _id(request.carrier_code),
        }
        return "open.seller.order.goods.deliver", business

    def ship(self, request: ShipRequest) -> dict[str, Any]:
        try:
            return self.call(*self.ship_params(request))
        except PermanentChannelError as exc:
            self.confirm_shipped(request.external_id, exc)

    def shipped_tracking_numbers(self, order: NormalizedOrder) -> set[str]:
        """`orderLogisticsInfo[].expressNo` of the order detail."""
        rows = order.raw.get("orderLogisticsInfo") or []
        return {c.text(r.get("expressNo")) for r in rows if isinstance(r, dict) and r.get("expressNo")}

    @staticmethod
    def modify_params(request: ShipRequest) -> tuple[str, dict[str, Any]]:
        """`open.seller.order.logistics.update` (§5): the order's new number and carrier. (u) Its
        parameter names were not researched; they follow the deliver call."""
        business = {
            "orderId": _id(request.external_id),
            "expressNo": request.tracking_number,
            "expressCode": _id(request.carrier_code),
        }
        return "open.seller.order.logistics.update", business

    def modify_tracking(self, request: ShipRequest) -> dict[str, Any]:
        return self.call(*self.modify_params(request))

    def update_stock(self, update: StockUpdate) -> dict[str, Any]:
        """Delta-only API: push quantity − last_pushed (changeType 1 add, 2 subtract; u)."""
        if update.last_pushed is None:
            raise PermanentChannelError(
                "Kuaishou stock is delta-only: the last pushed quantity is needed", code="needs_last_pushed"
            )
        delta = update.quantity - update.last_pushed
        if delta == 0:
            return {"result": 1, "skipped": True}
        return self.call(
            "open.item.sku.stock.update",
            {
                "kwaiItemId": _id(update.platform_item_id),
                "skuId": _id(update.platform_sku_id),
                "skuChangeStock": abs(delta),
                "changeType": 1 if delta > 0 else 2,
            },
        )

    def fetch_stock(self, platform_item_id: str, platform_sku_id: str) -> int:
        """`open.item.get` {kwaiItemId} → `data.skuInfos[]`, the row whose `kwaiSkuId` (or `skuId`) is
        this SKU, its `skuStock` (u: chosen over `open.item.sku.get`; reply field names)."""
        body = self.call("open.item.get", {"kwaiItemId": _id(platform_item_id)})
        rows = c.dig(body, "data", "skuInfos", default=[])
        row = next(
            (
                r
                for r in rows
                if isinstance(r, dict) and c.text(r.get("kwaiSkuId") or r.get("skuId")) == platform_sku_id
            ),
            None,
        )
        if row is None:
            raise c.sku_not_found("Kuaishou", platform_item_id, platform_sku_id, body)
        return c.stock_count(row.get("skuStock"), f"Kuaishou sku {platform_sku_id}", body)

    # e-waybills: open.express.* (shared/channels/shipping.md §1) --------------------------------
    waybill_batch_size = 10

    @staticmethod
    def waybill_get_request(requests: list[WaybillRequest]) -> dict[str, Any]:
        """`getEbillOrderRequest[]`: `requestId` and `packageCode` are the parcel key (Kuaishou's
        server-side idempotency); the receiver is the order's ciphertext (`encryptedConsignee`,
        `encryptedMobile`, `encryptedAddress`), which Kuaishou decrypts on its side."""
        asks = []
        for r in requests:
            cipher = r.receiver.cipher
            asks.append(
                {
                    "requestId": r.parcel_key,
                    "tradeOrderCode": r.external_ids[0],
                    "packageCode": r.parcel_key,
                    "expressCompanyCode": r.carrier_code,
                    "netSiteCode": r.branch_code,
                    "receiverContract": {
                        "name": cipher.get("encryptedConsignee") or r.receiver.name,
                        "mobile": cipher.get("encryptedMobile") or r.receiver.mobile,
                    },
                    "receiverAddress": _ks_address(r.receiver, detail=cipher.get("encryptedAddress")),
                    "senderContract": {"name": r.sender.name, "mobile": r.sender.mobile},
                    "senderAddress": _ks_address(r.sender),
                    "itemList": [{"itemTitle": i.name, "itemQuantity": i.count} for i in r.items],
                    "totalPackageWeight": r.weight_grams or None,
                    "templateUrl": r.template_url or None,
                    "tradeOrderRemark": ",".join(r.external_ids[1:]) or None,  # the other orders of a merged parcel
                }
            )
        return {"getEbillOrderRequest": asks}

    def waybill_call(self, method: str, business: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.call(method, business)
        except PermanentChannelError as exc:
            raise c.waybill_error(exc, known=KUAISHOU_WAYBILL_ERRORS) from exc

    def waybill_get_batch(self, requests: list[WaybillRequest]) -> list[WaybillResult]:
        """`open.express.ebill.get`: one `data[]` entry per requestId, each with its own
        `baseResponse`; `printData` comes with the number."""

        def call(batch: list[WaybillRequest]) -> dict[str, WaybillResult]:
            body = self.waybill_call("open.express.ebill.get", c.without_nulls(self.waybill_get_request(batch)))
            results: dict[str, WaybillResult] = {}
            for entry in body.get("data") or []:
                key = c.text(entry.get("requestId"))
                outcome = entry.get("baseResponse") or {}
                bills = entry.get("data") or []
                if outcome.get("success") in (True, "true") and bills:
                    bill = bills[0]
                    label = {k: bill.get(k) for k in ("printData", "signature", "key", "version") if k in bill}
                    results[key] = WaybillResult(
                        key,
                        tracking_number=c.text(bill.get("waybillCode")),
                        parent_tracking_number=c.text(bill.get("parentWaybillCode")),
                        print_data=label,
                    )
                else:
                    results[key] = WaybillResult(key, error=_ks_refusal(outcome))
            return results

        return c.number_isolating_refusals(requests, call)

    def waybill_cancel(self, *, carrier_code: str, tracking_number: str, branch_code: str = "") -> None:
        self.waybill_call(
            "open.express.ebill.cancel", {"expressCompanyCode": carrier_code, "waybillCode": tracking_number}
        )

    def waybill_print_data(self, *, carrier_code: str, tracking_number: str) -> dict[str, Any]:
        """Kuaishou has no print-data read by number (its express APIs: get, cancel, update, append,
        subscribe.query, reachable.query, templates): a reprint repeats the get with the parcel's
        key (`waybill_lookup`), which answers the same number with fresh `printData`."""
        raise PermanentChannelError(
            "Kuaishou re-reads print data only by repeating open.express.ebill.get with the parcel's key",
            code=WaybillErrorCode.NOT_SUPPORTED,
        )

    def waybill_branches(self, *, carrier_code: str = "") -> list[WaybillBranch]:
        """`open.express.subscribe.query`: subscriptions with `availableQuantity` and sender addresses (u)."""
        body = self.waybill_call(
            "open.express.subscribe.query", c.without_nulls({"expressCompanyCode": carrier_code or None})
        )
        branches = []
        for row in body.get("data") or []:
            addresses = row.get("senderAddress") or []
            left = row.get("availableQuantity")
            branches.append(
                WaybillBranch(
                    carrier_code=c.text(row.get("expressCompanyCode")),
                    branch_code=c.text(row.get("netSiteCode")),
                    branch_name=c.text(row.get("netSiteName")),
                    quota=None if left in (None, "", -1) else int(left),
                    sender=_ks_place(addresses[0]) if addresses else None,
                )
            )
        return branches


#: Kuaishou e-waybill refusal codes (u: invented for the emulator; Kuaishou's words are matched too)
KUAISHOU_WAYBILL_ERRORS = {
    "803001": WaybillErrorCode.QUOTA_EXHAUSTED,
    "803002": WaybillErrorCode.UNREACHABLE,
    "803003": WaybillErrorCode.NOT_SUBSCRIBED,
    "803004": WaybillErrorCode.PICKED_UP,
    "803005": WaybillErrorCode.ALREADY_CANCELLED,
    "803006": WaybillErrorCode.NOT_FOUND,
    "803007": WaybillErrorCode.BAD_DATA,
}


def _ks_address(party: WaybillAddress, *, detail: str | None = None) -> dict[str, str]:
    return c.non_empty(
        {
            "provinceName": party.province,
            "cityName": party.city,
            "districtName": party.district,
            "streetName": party.town,
            "detailAddress": detail or party.address,
        }
    )


def _ks_place(row: dict[str, Any]) -> WaybillAddress:
    return WaybillAddress(
        name="",
        mobile="",
        province=c.text(row.get("provinceName")),
        city=c.text(row.get("cityName")),
        district=c.text(row.get("districtName")),
        town=c.text(row.get("streetName")),
        address=c.text(row.get("detailAddress")),
    )


def _ks_refusal(outcome: dict[str, Any]) -> PermanentChannelError:
    code, message = c.text(outcome.get("result")), c.text(outcome.get("message"))
    kind = c.waybill_error_code(message, code, known=KUAISHOU_WAYBILL_ERRORS) or WaybillErrorCode.BAD_DATA
    return c.waybill_refusal("Kuaishou", kind, f"{code} {message}".strip(), platform_code=code, payload=outcome)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _id(value: str) -> int | str:
    """Kuaishou ids are JSON numbers (int64; Python keeps them exact)."""
    return int(value) if str(value).isdigit() else value


def _line(item: dict[str, Any], oid: str, base: dict[str, Any]) -> NormalizedLine:
    qty = c.quantity(item.get("num"), "orderItemInfo.num")
    original = item.get("originalPrice")
    unit = c.fen(original if original not in (None, "", 0) else item.get("price"), "orderItemInfo.price", required=True)
    return NormalizedLine(
        external_line_id=oid,
        platform_item_id=c.text(item.get("itemId")),
        platform_sku_id=c.text(item.get("skuId")),
        sku_code=c.text(item.get("skuNick") or item.get("goodsCode")),
        title=c.text(item.get("itemTitle")),
        quantity=qty,
        unit_price=unit,
        discount_amount=c.fen(item.get("discountFee"), "orderItemInfo.discountFee"),
        paid_amount=c.fen(base.get("totalFee"), "orderBaseInfo.totalFee"),
    )


def _note_text(note: Any) -> str:
    """`orderNote` structure is unconfirmed (u): accept text, or objects/lists holding note text."""
    if note in (None, ""):
        return ""
    if isinstance(note, str):
        return note
    if isinstance(note, dict):
        for key in ("note", "content", "orderNoteInfoList", "noteList"):
            if key in note:
                return _note_text(note[key])
        return ""
    if isinstance(note, list):
        return "\n".join(t for t in (_note_text(n) for n in note) if t)
    return str(note)
