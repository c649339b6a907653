"""Taobao / Tmall (TOP API) adapter. Facts: shared/channels/README.md §1.1, §2–§9.

`api_base_url` is the full gateway URL: `https://eco.taobao.com/router/rest`, or the emulator's
`http://127.0.0.1:9100/taobao/router/rest`. Every call is a signed form POST to it.

Pull follows the real flow: `taobao.trades.sold.increment.get` for the tids modified in the window
(asking only for `tid,tid_str,modified`), then `taobao.trade.fullinfo.get` per tid, because only the
detail call carries full line and receiver data. Taobao pushes over TMC (a socket OrderHub opens),
so there is nothing to verify over HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orders.channels import common as c
from orders.channels.base import (
    NormalizedLine,
    NormalizedOrder,
    OrderPage,
    PayloadError,
    PermanentChannelError,
    PlatformCarrier,
    RetryableChannelError,
    ShipRequest,
    StockUpdate,
    WaybillBranch,
    WaybillErrorCode,
    WaybillRequest,
    WaybillResult,
)

STATUS_MAP = {
    "WAIT_BUYER_PAY": c.UNPAID,
    "TRADE_NO_CREATE_PAY": c.UNPAID,
    "PAY_PENDING": c.UNPAID,
    "WAIT_PRE_AUTH_CONFIRM": c.UNPAID,
    "WAIT_SELLER_SEND_GOODS": c.AWAITING_SHIPMENT,
    "PAID_FORBID_CONSIGN": c.HOLD,
    "SELLER_CONSIGNED_PART": c.PARTIALLY_SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": c.SHIPPED,
    "TRADE_BUYER_SIGNED": c.DELIVERED,
    "TRADE_FINISHED": c.COMPLETED,
    "TRADE_CLOSED_BY_TAOBAO": c.CANCELLED,
    "TRADE_CLOSED": c.REFUNDED,
}
OPEN_REFUND_STATUSES = frozenset({"WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS"})
#: a line's own `refund_status` -> LineRefundState (README §3.2/§4). `CLOSED` is a request the buyer
#: withdrew (or that was closed): back to none. `SELLER_REFUSE_BUYER` (the seller refused, the buyer
#: may still escalate) is not in the sheet's open set, so it reads as none (u).
REFUND_STATES = {
    **dict.fromkeys(OPEN_REFUND_STATUSES, c.LINE_REFUND_REQUESTED),
    "SUCCESS": c.LINE_REFUND_REFUNDED,
    "CLOSED": c.LINE_REFUND_NONE,
    "NO_REFUND": c.LINE_REFUND_NONE,
    "SELLER_REFUSE_BUYER": c.LINE_REFUND_NONE,
}
#: line `status` values that close the line: nothing of it ships any more
CLOSED_LINE_STATUSES = frozenset({"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"})
TRADE_FIELDS = (
    "tid,tid_str,type,status,buyer_nick,buyer_open_uid,created,pay_time,modified,consign_time,send_time,"
    "total_fee,discount_fee,adjust_fee,post_fee,payment,step_trade_status,step_paid_fee,buyer_message,"
    "seller_memo,seller_flag,receiver_name,receiver_mobile,receiver_phone,receiver_state,receiver_city,"
    "receiver_district,receiver_town,receiver_address,receiver_zip,oaid,orders,promotion_details"
)
INCREMENT_FIELDS = "tid,tid_str,modified"
RETRYABLE_CODES = frozenset({"7", "10"})  # call limit; service temporarily unavailable
ALREADY_SHIPPED_SUB_CODE = "isv.logistics-offline-service-error:B04"
RETRYABLE_SUB_CODES = frozenset({"isv.logistics-offline-service-error:B150"})


class Adapter(c.PlatformAdapter):
    platform = "taobao"
    external_id_paths = (("tid_str",), ("tid",), ("trade", "tid_str"), ("trade", "tid"))

    # signing --------------------------------------------------------------------------------
    def sign(self, params: dict[str, str]) -> str:
        """TOP sign: sorted non-empty `namevalue` pairs; md5 wraps with the secret, hmac(-sha256) keys with it."""
        secret = self.credentials.app_secret
        joined = c.concat_sorted(params)
        method = params.get("sign_method", "md5")
        if method == "md5":
            return c.md5_hex(f"{secret}{joined}{secret}").upper()
        if method == "hmac":
            return c.hmac_hex(secret, joined, "md5").upper()
        if method == "hmac-sha256":
            return c.hmac_hex(secret, joined, "sha256").upper()
        raise ValueError(f"unknown Taobao sign_method {method!r}")

    # parsing --------------------------------------------------------------------------------
    @staticmethod
    def extract_orders(response: dict[str, Any]) -> list[dict[str, Any]]:
        """Trades in a fullinfo response, an increment/sold list response, or a bare trade."""
        if "trade_fullinfo_get_response" in response:
            return [c.dig(response, "trade_fullinfo_get_response", "trade", default={})]
        for key in ("trades_sold_increment_get_response", "trades_sold_get_response"):
            if key in response:
                return list(c.dig(response, key, "trades", "trade", default=[]))
        if "trade" in response:
            return [response["trade"]]
        return [response]

    def parse_order(self, payload: dict[str, Any]) -> NormalizedOrder:
        trade = payload.get("trade", payload) if isinstance(payload, dict) else payload
        if not isinstance(trade, dict):
            raise PayloadError("trade", "expected a JSON object")
        external_id = c.text(trade.get("tid_str") or trade.get("tid"))
        if not external_id:
            raise PayloadError("tid_str", "is required")
        raw_status = c.text(c.require(trade, "status"))
        status = STATUS_MAP.get(raw_status)
        if status is None:
            raise PayloadError("status", f"unknown Taobao trade status {raw_status!r}")

        promotions = c.object_list(
            c.dig(trade, "promotion_details", "promotion_detail"), "promotion_details", required=False
        )
        rows = c.object_list(c.dig(trade, "orders", "order"), "orders.order")
        lines = [self._line(row, f"orders.order[{i}]", promotions) for i, row in enumerate(rows)]

        name = c.text(trade.get("receiver_name"))
        phone = c.text(trade.get("receiver_mobile") or trade.get("receiver_phone"))
        address = c.text(trade.get("receiver_address"))
        step = c.text(trade.get("step_trade_status"))
        return NormalizedOrder(
            external_id=external_id,
            platform_status=status,
            platform_status_raw=raw_status,
            buyer_nick=c.text(trade.get("buyer_nick")),
            buyer_id=c.text(trade.get("buyer_open_uid")),
            receiver_name=name,
            receiver_phone=phone,
            receiver_province=c.text(trade.get("receiver_state")),
            receiver_city=c.text(trade.get("receiver_city")),
            receiver_district=c.text(trade.get("receiver_district")),
            receiver_town=c.text(trade.get("receiver_town")),
            receiver_address=address,
            receiver_zip=c.text(trade.get("receiver_zip")),
            receiver_masked=c.looks_masked(name, phone, address),
            receiver_cipher=c.non_empty({"oaid": trade.get("oaid")}),
            lines=lines,
            goods_amount=c.yuan(trade.get("total_fee"), "total_fee"),
            postage=c.yuan(trade.get("post_fee"), "post_fee"),
            discount_amount=c.yuan(trade.get("discount_fee"), "discount_fee"),
            paid_amount=c.yuan(trade.get("payment"), "payment"),
            coupons=self._coupons(promotions, external_id),
            buyer_message=c.text(trade.get("buyer_message")),
            seller_memo=c.text(trade.get("seller_memo")),
            is_presale=bool(step) or trade.get("type") == "step",
            refund_requested=c.any_line_refund_requested(lines),
            platform_hold=status == c.HOLD,
            created_at=c.parse_local_time(trade.get("created"), "created"),
            paid_at=c.parse_local_time(trade.get("pay_time"), "pay_time"),
            modified_at=c.parse_local_time(trade.get("modified"), "modified"),
            ship_by=c.parse_local_time(trade.get("send_time"), "send_time"),
            raw=payload,
        )

    @staticmethod
    def _line(row: dict[str, Any], field: str, promotions: list[dict[str, Any]]) -> NormalizedLine:
        oid = c.text(row.get("oid_str") or row.get("oid"))
        if not oid:
            raise PayloadError(f"{field}.oid_str", "is required")
        qty = c.quantity(row.get("num"), f"{field}.num")
        price = c.yuan(row.get("price"), f"{field}.price", required=True)
        own_promotions = [p for p in promotions if c.text(p.get("id")) == oid]
        if own_promotions:
            discount = sum(
                (c.yuan(p.get("discount_fee"), "promotion_details.discount_fee") for p in own_promotions), c.ZERO
            )
        else:
            discount = c.yuan(row.get("discount_fee"), f"{field}.discount_fee") + c.yuan(
                row.get("part_mjz_discount"), f"{field}.part_mjz_discount"
            )
        paid_raw = row.get("divide_order_fee") or row.get("payment")
        refund_status = c.text(row.get("refund_status"))
        return NormalizedLine(
            external_line_id=oid,
            platform_item_id=c.text(row.get("num_iid")),
            platform_sku_id=c.text(row.get("sku_id")),
            sku_code=c.text(row.get("outer_sku_id") or row.get("outer_iid")),
            title=c.text(row.get("title")),
            quantity=qty,
            unit_price=price,
            discount_amount=discount,
            paid_amount=c.yuan(paid_raw, f"{field}.divide_order_fee"),
            refund_status=refund_status,
            refund_state=REFUND_STATES.get(refund_status, c.LINE_REFUND_NONE),
            closed=c.text(row.get("status")) in CLOSED_LINE_STATUSES,
        )

    @staticmethod
    def _coupons(promotions: list[dict[str, Any]], tid: str) -> list[dict[str, str]]:
        """promotion_details rows; a row whose id is the tid (not an oid) applies to the whole trade."""
        result = []
        for row in promotions:
            promotion_id = c.text(row.get("promotion_id"))
            kind = "shop_coupon" if promotion_id.startswith("shopbonus") else "promotion"
            line_id = c.text(row.get("id"))
            result.append(
                c.coupon(
                    kind,
                    c.text(row.get("promotion_name") or row.get("promotion_desc")),
                    c.yuan(row.get("discount_fee"), "promotion_details.discount_fee"),
                    "" if line_id in ("", tid) else line_id,
                )
            )
        return result

    # HTTP -----------------------------------------------------------------------------------
    def prepare(self, method: str, business: dict[str, Any], *, timestamp: str | None = None) -> c.PreparedCall:
        """A signed form POST to the gateway; business params sit beside the system params."""
        params = {
            "method": method,
            "app_key": self.credentials.app_key,
            "session": self.credentials.access_token,
            "timestamp": timestamp or c.format_local_time(c.now_shanghai()),
            "format": "json",
            "v": "2.0",
            "sign_method": "md5",
            **{k: c.text(v) for k, v in business.items() if v is not None},
        }
        params = {k: v for k, v in params.items() if v != ""}
        params["sign"] = self.sign(params)
        return c.PreparedCall(self.credentials.api_base_url, data=params)

    def call(self, method: str, business: dict[str, Any]) -> dict[str, Any]:
        """One signed TOP call; returns the `<name>_response` body or raises a typed error."""
        body = self.prepare(method, business).send(self.credentials.timeout)
        if "error_response" in body:
            raise self.error(body["error_response"])
        key = method.removeprefix("taobao.").replace(".", "_") + "_response"
        return body.get(key, body)

    @staticmethod
    def error(err: dict[str, Any]) -> Exception:
        """§9: code 7 limit, 15 + isp.* and B150 are transient; the rest is permanent."""
        code, sub_code = c.text(err.get("code")), c.text(err.get("sub_code"))
        message = f"Taobao error {code} {sub_code}: {err.get('sub_msg') or err.get('msg') or ''}".strip()
        if code in RETRYABLE_CODES or sub_code.startswith("isp.") or sub_code in RETRYABLE_SUB_CODES:
            return RetryableChannelError(message, code=code, sub_code=sub_code, payload=err)
        return PermanentChannelError(message, code=code, sub_code=sub_code, payload=err)

    def pull_orders(self, *, start: datetime, end: datetime, page: Any = None, page_size: int = 50) -> OrderPage:
        page_no = int(page or 1)
        body = self.call(
            "taobao.trades.sold.increment.get",
            {
                "fields": INCREMENT_FIELDS,
                "start_modified": c.format_local_time(start),
                "end_modified": c.format_local_time(end),
                "page_no": page_no,
                "page_size": page_size,
                "use_has_next": "true",
            },
        )
        trades = c.dig(body, "trades", "trade", default=[])
        if not isinstance(trades, list):
            raise PermanentChannelError("Taobao trade list is not a list", code="bad_reply", payload=body)
        orders, rejected = [], []
        for i, listed in enumerate(trades):
            try:
                entry = c.obj(listed, f"trades.trade[{i}]")
                tid = c.short_text(entry.get("tid_str") or entry.get("tid"), f"trades.trade[{i}].tid_str", 64)
                if not tid:
                    raise PayloadError(f"trades.trade[{i}].tid_str", "is required")
                orders.append(self.fetch_order(tid))
            except PayloadError as exc:  # this trade only: quarantined by the caller, the page goes on
                exc.native = exc.native if exc.native is not None else listed
                rejected.append(exc)
        has_next = bool(body.get("has_next"))
        return OrderPage(
            orders=orders, has_next=has_next, next_page=page_no + 1 if has_next else None, rejected=rejected
        )

    def fetch_order(self, external_id: str) -> NormalizedOrder:
        body = self.call("taobao.trade.fullinfo.get", {"fields": TRADE_FIELDS, "tid": external_id})
        trade = body.get("trade")
        if not trade:
            raise PermanentChannelError(f"Taobao trade {external_id} not returned", code="not_found", payload=body)
        return self.read_order(trade)

    @staticmethod
    def ship_params(request: ShipRequest) -> tuple[str, dict[str, Any]]:
        """§5 `taobao.logistics.offline.send`; a partial shipment names its oids in `sub_tid`."""
        business: dict[str, Any] = {
            "tid": request.external_id,
            "out_sid": request.tracking_number,
            "company_code": request.carrier_code,
        }
        if request.line_ids:
            business |= {"sub_tid": ",".join(request.line_ids), "is_split": "1"}
        return "taobao.logistics.offline.send", business

    def ship(self, request: ShipRequest) -> dict[str, Any]:
        try:
            body = self.call(*self.ship_params(request))
        except PermanentChannelError as exc:
            if exc.sub_code == ALREADY_SHIPPED_SUB_CODE:  # also sent for closed trades: re-read
                self.confirm_shipped(request.external_id, exc)
            raise
        if not c.dig(body, "shipping", "is_success"):
            raise PermanentChannelError("Taobao did not confirm the shipment", code="not_success", payload=body)
        return body

    def shipped_tracking_numbers(self, order: NormalizedOrder) -> set[str]:
        """`invoice_no` of each sub-order (`orders.order[]`) of the full trade."""
        lines = c.dig(order.raw, "orders", "order", default=[]) or []
        return {c.text(line.get("invoice_no")) for line in lines if isinstance(line, dict) and line.get("invoice_no")}

    def update_stock(self, update: StockUpdate) -> dict[str, Any]:
        """Overwrite (type=1): idempotent, so a retried outbox row cannot double-count."""
        return self.call(
            "taobao.item.quantity.update",
            {
                "num_iid": update.platform_item_id,
                "sku_id": update.platform_sku_id or None,
                "quantity": update.quantity,
                "type": 1,
            },
        )

    def fetch_stock(self, platform_item_id: str, platform_sku_id: str) -> int:
        """`taobao.item.sku.get` (fields `sku_id,num_iid,quantity`) for a SKU; an item without SKUs
        is read with `taobao.item.seller.get` (fields `num_iid,num`) (u: the no-SKU read)."""
        if not platform_sku_id:
            body = self.call("taobao.item.seller.get", {"fields": "num_iid,num", "num_iid": platform_item_id})
            item = body.get("item")
            if not item:
                raise c.sku_not_found("Taobao", platform_item_id, "", body)
            return c.stock_count(item.get("num"), f"Taobao item {platform_item_id}", body)
        body = self.call(
            "taobao.item.sku.get",
            {"fields": "sku_id,num_iid,quantity", "num_iid": platform_item_id or None, "sku_id": platform_sku_id},
        )
        sku = body.get("sku")
        if not sku:
            raise c.sku_not_found("Taobao", platform_item_id, platform_sku_id, body)
        return c.stock_count(sku.get("quantity"), f"Taobao sku {platform_sku_id}", body)

    # e-waybills: Cainiao cloud print (shared/channels/shipping.md §1) ----------------------------
    waybill_batch_size = 10

    @property
    def order_channels_type(self) -> str:
        """Cainiao's name for where the trades come from: TB (Taobao) or TM (Tmall)."""
        return "TM" if self.credentials.platform == "tmall" else "TB"

    def waybill_apply_request(self, requests: list[WaybillRequest]) -> dict[str, Any]:
        """`param_waybill_cloud_print_apply_new_request`: one `trade_order_info_dtos` entry per parcel,
        `object_id` and `package_info.id` both the parcel key; the receiver as the order gave it
        (masked text plus `oaid` + `tid`: Cainiao decrypts on its side)."""
        first = requests[0]
        return {
            "cp_code": first.carrier_code,
            "sender": c.cloud_print_address(first.sender, with_contact=True),
            "need_encrypt": True,
            "trade_order_info_dtos": [
                {
                    "object_id": r.parcel_key,
                    "order_info": {"order_channels_type": self.order_channels_type, "trade_order_list": r.external_ids},
                    "package_info": {
                        "id": r.parcel_key,
                        "items": [{"name": i.name, "count": i.count} for i in r.items],
                        "weight": r.weight_grams or None,
                    },
                    "recipient": c.cloud_print_address(r.receiver, with_contact=True)
                    | c.non_empty({"oaid": r.receiver.cipher.get("oaid"), "tid": r.external_ids[0]}),
                    "template_url": r.template_url,
                }
                for r in requests
            ],
        }

    def waybill_call(self, method: str, business: dict[str, Any]) -> dict[str, Any]:
        """A Cainiao call through the TOP gateway; refusals typed as WaybillErrorCode."""
        try:
            return self.call(method, business)
        except PermanentChannelError as exc:
            raise c.waybill_error(exc, known=CAINIAO_ERRORS) from exc

    def waybill_get_batch(self, requests: list[WaybillRequest]) -> list[WaybillResult]:
        """`cainiao.waybill.ii.get`; a refusal of the whole call that names parcels fails only them."""

        def call(batch: list[WaybillRequest]) -> dict[str, WaybillResult]:
            body = self.waybill_call(
                "cainiao.waybill.ii.get",
                {
                    "param_waybill_cloud_print_apply_new_request": c.compact_json(
                        c.without_nulls(self.waybill_apply_request(batch))
                    )
                },
            )
            return {r.parcel_key: r for r in map(c.cloud_print_result, body.get("modules") or [])}

        return c.number_isolating_refusals(requests, call)

    def waybill_cancel(self, *, carrier_code: str, tracking_number: str, branch_code: str = "") -> None:
        body = self.waybill_call(
            "cainiao.waybill.ii.cancel", {"cp_code": carrier_code, "waybill_code": tracking_number}
        )
        if body.get("cancel_result") not in (True, "true"):
            raise PermanentChannelError(
                f"Cainiao did not confirm cancelling {tracking_number}", code="not_success", payload=body
            )

    def waybill_print_data(self, *, carrier_code: str, tracking_number: str) -> dict[str, Any]:
        """`cainiao.waybill.ii.query.by.waybillcode`: fresh `print_data` for a reprint."""
        query = [{"cp_code": carrier_code, "waybill_code": tracking_number}]
        body = self.waybill_call("cainiao.waybill.ii.query.by.waybillcode", {"param_list": c.compact_json(query)})
        module = next((m for m in body.get("modules") or [] if c.text(m.get("waybill_code")) == tracking_number), None)
        if module is None or not module.get("print_data"):
            raise PermanentChannelError(
                f"Cainiao knows no number {tracking_number}", code=WaybillErrorCode.NOT_FOUND, payload=body
            )
        return c.json_object(module["print_data"], "Cainiao print_data")

    def waybill_branches(self, *, carrier_code: str = "") -> list[WaybillBranch]:
        """`cainiao.waybill.ii.search`: each subscribed branch, its shipping address and `quantity` left."""
        body = self.waybill_call("cainiao.waybill.ii.search", {"cp_code": carrier_code or None})
        return c.subscription_branches(body.get("waybill_apply_subscription_cols") or [], "cp_code")

    def carriers(self) -> list[PlatformCarrier]:
        """`taobao.logistics.companies.get`: the carriers Taobao knows (code, name)."""
        body = self.call("taobao.logistics.companies.get", {"fields": "id,code,name,reg_mail_no"})
        rows = c.dig(body, "logistics_companies", "logistics_company", default=[])
        return [PlatformCarrier(code=c.text(r.get("code")), name=c.text(r.get("name"))) for r in rows if r.get("code")]


#: Cainiao refusal sub_codes (u: seen in integrators' tables; the words are matched too)
CAINIAO_ERRORS = {
    "isv.BALANCE_NOT_ENOUGH": WaybillErrorCode.QUOTA_EXHAUSTED,
    "isv.ADDRESS_NOT_REACHABLE": WaybillErrorCode.UNREACHABLE,
    "isv.SUBSCRIPTION_NOT_EXIST": WaybillErrorCode.NOT_SUBSCRIBED,
    "isv.WAYBILL_ALREADY_COLLECTED": WaybillErrorCode.PICKED_UP,
    "isv.WAYBILL_ALREADY_CANCELLED": WaybillErrorCode.ALREADY_CANCELLED,
    "isv.WAYBILL_NOT_EXIST": WaybillErrorCode.NOT_FOUND,
    "isv.PARAM_INVALID": WaybillErrorCode.BAD_DATA,
}
