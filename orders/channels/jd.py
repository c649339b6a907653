"""JD (jingdong POP) adapter. Facts: shared/channels/README.md §1.2, §2–§9.

`api_base_url` is the full gateway URL: `https://api.jd.com/routerjson`, or the emulator's
`http://127.0.0.1:9100/jd/routerjson`. Business parameters travel as one JSON string in
`360buy_param_json`, which is part of the signed set. Success of a call is read from the result
object inside the `<method>_responce` envelope (JD's spelling), not from the HTTP status.
JD has no HTTP push that we know of: OrderHub polls `jingdong.pop.order.search` by modified time.

Line paid amount is not on the wire: it is derived as unit price × quantity − the line's type-30
coupon rows. JD has no "already shipped" error: a refused shipment re-reads the order.
"""

from __future__ import annotations

import contextlib
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
    WaybillAddress,
    WaybillBranch,
    WaybillErrorCode,
    WaybillRequest,
    WaybillResult,
)

STATUS_MAP = {
    "WAIT_SELLER_STOCK_OUT": c.AWAITING_SHIPMENT,
    "WAIT_SELLER_DELIVERY": c.AWAITING_SHIPMENT,
    "WAIT_SEND_CODE": c.AWAITING_SHIPMENT,
    "POP_ORDER_PAUSE": c.HOLD,
    "LOCKED": c.HOLD,
    "WAIT_GOODS_RECEIVE_CONFIRM": c.SHIPPED,
    "FINISHED_L": c.COMPLETED,
    "TRADE_CANCELED": c.CANCELLED,
}
#: LOCKED is read as "a refund/after-sale is open" (README §4, unconfirmed)
REFUND_REQUESTED_STATES = frozenset({"LOCKED"})
ALL_STATES = ",".join(STATUS_MAP)
OPTIONAL_FIELDS = (
    "orderId,venderId,orderType,orderTotalPrice,orderSellerPrice,orderPayment,freightPrice,sellerDiscount,"
    "orderState,orderStateRemark,orderRemark,venderRemark,orderStartTime,paymentConfirmTime,modified,pin,"
    "open_id_buyer,consigneeInfo,itemInfoList,couponDetailList"
)
LINE_COUPON_TYPE = "30"  # 单品促销优惠: the only coupon type that belongs to one SKU
RETRYABLE_ERROR_CODES = frozenset({"999999", "99999999"})


class Adapter(c.PlatformAdapter):
    platform = "jd"
    external_id_paths = (("orderId",),)

    def sign(self, params: dict[str, str]) -> str:
        """Sorted `namevalue` pairs (360buy_param_json included) wrapped in the secret, MD5, upper hex."""
        secret = self.credentials.app_secret
        return c.md5_hex(f"{secret}{c.concat_sorted(params)}{secret}").upper()

    # parsing --------------------------------------------------------------------------------
    @staticmethod
    def extract_orders(response: dict[str, Any]) -> list[dict[str, Any]]:
        if "jingdong_pop_order_search_responce" in response:
            return list(
                c.dig(
                    response,
                    "jingdong_pop_order_search_responce",
                    "searchorderinfo_result",
                    "orderInfoList",
                    default=[],
                )
            )
        if "jingdong_pop_order_get_responce" in response:
            return [c.dig(response, "jingdong_pop_order_get_responce", "orderDetailInfo", "orderInfo", default={})]
        return [response]

    def parse_order(self, payload: dict[str, Any]) -> NormalizedOrder:
        order = payload
        external_id = c.text(c.require(order, "orderId"))
        raw_status = c.text(c.require(order, "orderState"))
        status = STATUS_MAP.get(raw_status)
        if status is None:
            raise PayloadError("orderState", f"unknown JD order state {raw_status!r}")
        coupon_rows = c.object_list(order.get("couponDetailList"), "couponDetailList", required=False)
        rows = c.object_list(order.get("itemInfoList"), "itemInfoList")
        lines = [self._line(row, f"itemInfoList[{i}]", coupon_rows) for i, row in enumerate(rows)]
        consignee = c.obj(order.get("consigneeInfo"), "consigneeInfo")
        name = c.text(consignee.get("fullname"))
        phone = c.text(consignee.get("mobile") or consignee.get("telephone"))
        address = c.text(consignee.get("fullAddress"))
        coupons = [self._coupon(row) for row in coupon_rows]
        discount = (
            sum((c.yuan(r.get("couponPrice"), "couponDetailList.couponPrice") for r in coupon_rows), c.ZERO)
            if coupon_rows
            else c.yuan(order.get("sellerDiscount"), "sellerDiscount")
        )
        return NormalizedOrder(
            external_id=external_id,
            platform_status=status,
            platform_status_raw=raw_status,
            buyer_nick=c.text(order.get("pin")),
            buyer_id=c.text(order.get("open_id_buyer")),
            receiver_name=name,
            receiver_phone=phone,
            receiver_province=c.text(consignee.get("province")),
            receiver_city=c.text(consignee.get("city")),
            receiver_district=c.text(consignee.get("county")),
            receiver_town=c.text(consignee.get("town")),
            receiver_address=address,
            receiver_masked=c.looks_masked(name, phone, address),
            receiver_cipher=c.non_empty(
                {
                    k: consignee.get(k)
                    for k in ("encrypt_fullname", "encrypt_mobile", "encrypt_telephone", "encrypt_fullAddress")
                }
            ),
            lines=lines,
            goods_amount=c.yuan(order.get("orderTotalPrice"), "orderTotalPrice"),
            postage=c.yuan(order.get("freightPrice"), "freightPrice"),
            discount_amount=discount,
            paid_amount=c.yuan(order.get("orderPayment"), "orderPayment"),
            coupons=coupons,
            buyer_message=c.text(order.get("orderRemark")),
            seller_memo=c.text(order.get("venderRemark")),
            refund_requested=raw_status in REFUND_REQUESTED_STATES,
            platform_hold=status == c.HOLD,
            created_at=c.parse_local_time(order.get("orderStartTime"), "orderStartTime"),
            paid_at=c.parse_local_time(order.get("paymentConfirmTime"), "paymentConfirmTime"),
            modified_at=c.parse_local_time(order.get("modified"), "modified"),
            raw=payload,
        )

    @staticmethod
    def _line(row: dict[str, Any], field: str, coupon_rows: list[dict[str, Any]]) -> NormalizedLine:
        """`itemInfoList[]` carries no status or refund field (README §3.2: "—"): JD after-sales live in
        a separate domain, so every JD line keeps refund state none and the order-level `LOCKED`
        state (u) raises `refund_requested` for the whole order."""
        sku_id = c.text(c.require(row, "skuId", f"{field}.skuId"))
        qty = c.quantity(row.get("itemTotal"), f"{field}.itemTotal")
        price = c.yuan(row.get("jdPrice"), f"{field}.jdPrice", required=True)
        discount = sum(
            (
                c.yuan(r.get("couponPrice"), "couponDetailList.couponPrice")
                for r in coupon_rows
                if c.text(r.get("skuId")) == sku_id and _coupon_type(r) == LINE_COUPON_TYPE
            ),
            c.ZERO,
        )
        return NormalizedLine(
            external_line_id=sku_id,
            platform_item_id=c.text(row.get("wareId")),
            platform_sku_id=sku_id,
            sku_code=c.text(row.get("outerSkuId") or row.get("productNo")),
            title=c.text(row.get("skuName")),
            quantity=qty,
            unit_price=price,
            discount_amount=discount,
            paid_amount=max(price * qty - discount, c.ZERO),
        )

    @staticmethod
    def _coupon(row: dict[str, Any]) -> dict[str, str]:
        kind = _coupon_type(row)
        name = c.text(row.get("couponType")).partition("-")[2] or c.text(row.get("couponType"))
        line_id = c.text(row.get("skuId")) if kind == LINE_COUPON_TYPE else ""
        return c.coupon(
            "sku_promotion" if kind == LINE_COUPON_TYPE else "promotion",
            name,
            c.yuan(row.get("couponPrice"), "couponDetailList.couponPrice"),
            line_id,
        )

    # HTTP -----------------------------------------------------------------------------------
    def prepare(self, method: str, business: dict[str, Any], *, timestamp: str | None = None) -> c.PreparedCall:
        """A signed form POST; business params travel as one JSON string, signed with the rest."""
        params = {
            "method": method,
            "app_key": self.credentials.app_key,
            "access_token": self.credentials.access_token,
            "timestamp": timestamp or c.format_local_time(c.now_shanghai()),
            "v": "2.0",
            "format": "json",
            "360buy_param_json": c.compact_json(business),
        }
        params = {k: v for k, v in params.items() if v != ""}
        params["sign"] = self.sign(params)
        return c.PreparedCall(self.credentials.api_base_url, data=params)

    def call(self, method: str, business: dict[str, Any]) -> dict[str, Any]:
        body = self.prepare(method, business).send(self.credentials.timeout)
        if "error_response" in body:
            err = body["error_response"]
            code = c.text(err.get("code"))
            raise PermanentChannelError(
                f"JD gateway error {code}: {err.get('en_desc') or err.get('zh_desc') or ''}", code=code, payload=err
            )
        return body.get(method.replace(".", "_") + "_responce", body)

    @staticmethod
    def _api_result_error(result: dict[str, Any], what: str) -> Exception | None:
        api = result.get("apiResult", result)
        if api.get("success") in (True, "true"):
            return None
        code = c.text(api.get("numberCode") or api.get("errorCode"))
        message = f"JD {what} failed {code}: {api.get('englishErrCode') or api.get('chineseErrCode') or ''}"
        cls = RetryableChannelError if code in RETRYABLE_ERROR_CODES else PermanentChannelError
        return cls(message, code=code, payload=result)

    def pull_orders(self, *, start: datetime, end: datetime, page: Any = None, page_size: int = 50) -> OrderPage:
        page_no = int(page or 1)
        page_size = min(page_size, 100)
        body = self.call(
            "jingdong.pop.order.search",
            {
                "start_date": c.format_local_time(start),
                "end_date": c.format_local_time(end),
                "order_state": ALL_STATES,
                "optional_fields": OPTIONAL_FIELDS,
                "page": str(page_no),
                "page_size": str(page_size),
                "dateType": 0,
            },
        )
        result = body.get("searchorderinfo_result") or {}
        if error := self._api_result_error(result, "order search"):
            raise error
        orders, rejected = self.read_page(result.get("orderInfoList") or [])
        has_next = page_no * page_size < int(result.get("orderTotal") or 0)
        return OrderPage(
            orders=orders, has_next=has_next, next_page=page_no + 1 if has_next else None, rejected=rejected
        )

    def fetch_order(self, external_id: str) -> NormalizedOrder:
        body = self.call("jingdong.pop.order.get", {"order_id": external_id, "optional_fields": OPTIONAL_FIELDS})
        detail = body.get("orderDetailInfo") or {}
        if error := self._api_result_error(detail, "order get"):
            raise error
        if not detail.get("orderInfo"):
            raise PermanentChannelError(f"JD order {external_id} not returned", code="not_found", payload=body)
        return self.read_order(detail["orderInfo"])

    #: JD ships a whole order once: several parcels go in one call, numbers grouped by carrier
    ships_packages_together = True

    @staticmethod
    def ship_params(request: ShipRequest) -> tuple[str, dict[str, Any]]:
        """§5: several carriers joined with `|` in `logiCoprId`, the matching groups of numbers in
        `logiNo` (`|` between carriers, `,` within one carrier)."""
        groups: dict[str, list[str]] = {request.carrier_code: [request.tracking_number]}
        for package in request.packages:
            groups.setdefault(package.carrier_code, []).append(package.tracking_number)
        business = {
            "orderId": request.external_id,
            "logiCoprId": "|".join(groups),
            "logiNo": "|".join(",".join(numbers) for numbers in groups.values()),
        }
        return "jingdong.pop.order.shipment", business

    def shipped_tracking_numbers(self, order: NormalizedOrder) -> set[str]:
        """`waybill` of the order, split on the same `|` / `,` separators the ship call uses."""
        text = c.text(order.raw.get("waybill"))
        return {n for group in text.split("|") for n in group.split(",") if n}

    def ship(self, request: ShipRequest) -> dict[str, Any]:
        body = self.call(*self.ship_params(request))
        result = body.get("sopjosshipment_result") or {}
        if result.get("success") in (True, "true"):
            return body
        code = c.text(result.get("errorCode"))
        message = f"JD shipment refused {code}: {result.get('chineseErrCode') or result.get('englishErrCode') or ''}"
        if code in RETRYABLE_ERROR_CODES:
            raise RetryableChannelError(message, code=code, payload=body)
        self.confirm_shipped(request.external_id, PermanentChannelError(message, code=code, payload=body))

    def update_stock(self, update: StockUpdate) -> dict[str, Any]:
        """`updateSkuStock` overwrites the quantity (idempotent)."""
        body = self.call(
            "jingdong.stock.write.updateSkuStock", {"skuId": update.platform_sku_id, "stockNum": update.quantity}
        )
        if body.get("success") not in (True, "true"):
            raise PermanentChannelError("JD stock update refused", code=c.text(body.get("code")), payload=body)
        return body

    def fetch_stock(self, platform_item_id: str, platform_sku_id: str) -> int:
        """`jingdong.stock.read.findSkuStock` {skuId} → `skuStocks[]` rows; the row of this SKU's
        `stockNum` (u: the reply's row fields). JD stock is per SKU: the item id is not sent."""
        body = self.call("jingdong.stock.read.findSkuStock", {"skuId": c.text(platform_sku_id)})
        rows = body.get("skuStocks")
        if not isinstance(rows, list):
            if error := self._api_result_error(body, "stock read"):
                raise error
            rows = []
        row = next((r for r in rows if isinstance(r, dict) and c.text(r.get("skuId")) == platform_sku_id), None)
        if row is None:
            raise c.sku_not_found("JD", platform_item_id, platform_sku_id, body)
        return c.stock_count(row.get("stockNum"), f"JD sku {platform_sku_id}", body)

    # e-waybills: JD 无界 jingdong.ldop.alpha.* + jingdong.printing.printData.pullData (u shapes) ----
    waybill_batch_size = 1  # one order per receive call

    def waybill_receive_content(self, request: WaybillRequest) -> dict[str, Any]:
        """`{"content": …}` of `jingdong.ldop.alpha.waybill.receive`: `vendorOrderCode` is the parcel
        key (u: read as the idempotency key), `platformOrderNo` the JD order, weight in kg. The
        receiver goes as the order's `encrypt_*` ciphertext where it has it (u: JD's rule was not
        found), else as masked. `vendorCode` is the shop's JD vendor code; the channel's app key
        stands in for it (u)."""
        cipher = request.receiver.cipher
        to = _jd_address(request.receiver) | c.non_empty(
            {
                "contact": cipher.get("encrypt_fullname"),
                "mobile": cipher.get("encrypt_mobile"),
                "address": cipher.get("encrypt_fullAddress"),
            }
        )
        return {
            "waybillType": 1,
            "waybillCount": 1,
            "providerCode": request.carrier_code,
            "branchCode": request.branch_code,
            "vendorCode": self.credentials.app_key,
            "vendorOrderCode": request.parcel_key,
            "platformOrderNo": ",".join(request.external_ids),
            "salePlatform": "0010001",  # JD
            "weight": round(request.weight_grams / 1000, 3),
            "goodsName": ",".join(f"{i.name}×{i.count}" for i in request.items)[:200],
            "fromAddress": _jd_address(request.sender),
            "toAddress": to,
        }

    def waybill_call(self, method: str, business: dict[str, Any]) -> dict[str, Any]:
        """One 无界 call: `resultInfo.statusCode` 0 is success (1 parameter error, -1 failure); the
        printing API answers `returnType.code` 1 for success (u). Refusals typed by JD's words."""
        body = self.call(method, business)
        if "returnType" in body:
            info, status = body["returnType"] or {}, c.text(c.dig(body, "returnType", "code"))
            ok = status == "1"
        else:
            info = body.get("resultInfo") or {}
            status = c.text(info.get("statusCode"))
            ok = status == "0"
        if ok:
            return info
        message = c.text(info.get("statusMessage") or info.get("message"))
        error = PermanentChannelError(f"JD {method} refused {status}: {message}", code=status, payload=body)
        typed = c.waybill_error(error, known=JD_WAYBILL_ERRORS)
        if typed is error and status == "1" and "resultInfo" in body:
            raise PermanentChannelError(str(error), code=WaybillErrorCode.BAD_DATA, sub_code=status, payload=body)
        raise typed

    def waybill_get_batch(self, requests: list[WaybillRequest]) -> list[WaybillResult]:
        def call(batch: list[WaybillRequest]) -> dict[str, WaybillResult]:
            (request,) = batch
            info = self.waybill_call(
                "jingdong.ldop.alpha.waybill.receive", {"content": self.waybill_receive_content(request)}
            )
            data = info.get("data") or {}
            numbers = [c.text(n) for n in data.get("waybillCodeList") or [] if n]
            if not numbers:
                return {}
            result = WaybillResult(
                request.parcel_key,
                tracking_number=numbers[0],
                parent_tracking_number=c.text(data.get("parentWaybillCode")),
            )
            return {request.parcel_key: result}

        results = c.number_isolating_refusals(requests, call)
        for result in results:
            if result.tracking_number:
                # the number stands even when the label cannot be read now: the print page re-fetches it
                with contextlib.suppress(PermanentChannelError, RetryableChannelError):
                    result.print_data = self.waybill_print_data(
                        carrier_code=requests[0].carrier_code, tracking_number=result.tracking_number
                    )
        return results

    def waybill_cancel(self, *, carrier_code: str, tracking_number: str, branch_code: str = "") -> None:
        """`jingdong.ldop.alpha.waybill.api.unbind` (u: the cancel call of 无界)."""
        content = {"providerCode": carrier_code, "waybillCode": tracking_number, "vendorCode": self.credentials.app_key}
        self.waybill_call("jingdong.ldop.alpha.waybill.api.unbind", {"content": content})

    def waybill_print_data(self, *, carrier_code: str, tracking_number: str) -> dict[str, Any]:
        """`jingdong.printing.printData.pullData`: {wayBillNo, perPrintData} for the print component."""
        param = {
            "objectId": tracking_number,
            "parameters": {"ewCustomerCode": self.credentials.app_key},
            "wayBillInfos": [{"jdWayBillCode": tracking_number}],
            "cpCode": carrier_code,
        }
        info = self.waybill_call("jingdong.printing.printData.pullData", {"param1": param})
        row = next((r for r in info.get("prePrintDatas") or [] if c.text(r.get("wayBillNo")) == tracking_number), None)
        if row is None:
            raise PermanentChannelError(f"JD knows no number {tracking_number}", code=WaybillErrorCode.NOT_FOUND)
        return dict(row)

    def waybill_branches(self, *, carrier_code: str = "") -> list[WaybillBranch]:
        """`jingdong.ldop.alpha.provider.sign.success` lists the signed carriers and branches; the
        quota of each comes from `jingdong.ldop.alpha.vendor.stock.queryByProviderCode` (u shapes)."""
        info = self.waybill_call("jingdong.ldop.alpha.provider.sign.success", {"vendorCode": self.credentials.app_key})
        branches = []
        for row in info.get("data") or []:
            provider = c.text(row.get("providerCode"))
            if carrier_code and provider != carrier_code:
                continue
            branch_code = c.text(row.get("branchCode") or row.get("settlementCode"))
            stock = self.waybill_call(
                "jingdong.ldop.alpha.vendor.stock.queryByProviderCode",
                {"vendorCode": self.credentials.app_key, "providerCode": provider, "branchCode": branch_code},
            )
            amount = c.dig(stock, "data", "amount")
            address = row.get("address") or {}
            branches.append(
                WaybillBranch(
                    carrier_code=provider,
                    branch_code=branch_code,
                    branch_name=c.text(row.get("branchName")),
                    quota=None if amount in (None, "", -1) else int(amount),
                    sender=WaybillAddress(
                        name="",
                        mobile="",
                        province=c.text(address.get("provinceName")),
                        city=c.text(address.get("cityName")),
                        district=c.text(address.get("countryName")),
                        town=c.text(address.get("countrysideName")),
                        address=c.text(address.get("address")),
                    ),
                )
            )
        return branches

    def carriers(self) -> list[PlatformCarrier]:
        """`jingdong.delivery.logistics.get` (u): the shop's carriers with the `logiCoprId` ship uses."""
        body = self.call("jingdong.delivery.logistics.get", {})
        rows = c.dig(body, "logistics_companies", "logistics_list", default=[])
        return [
            PlatformCarrier(code=c.text(r.get("logistics_id")), name=c.text(r.get("logistics_name")))
            for r in rows
            if r.get("logistics_id") not in (None, "")
        ]


#: JD 无界 refusal codes (u: invented for the emulator; JD's words are matched too)
JD_WAYBILL_ERRORS = {
    "-1001": WaybillErrorCode.QUOTA_EXHAUSTED,
    "-1002": WaybillErrorCode.UNREACHABLE,
    "-1003": WaybillErrorCode.NOT_SUBSCRIBED,
    "-1004": WaybillErrorCode.PICKED_UP,
    "-1005": WaybillErrorCode.ALREADY_CANCELLED,
    "-1006": WaybillErrorCode.NOT_FOUND,
    "-1007": WaybillErrorCode.BAD_DATA,
}


def _jd_address(party: WaybillAddress) -> dict[str, Any]:
    """无界 address: names (ids are optional, u), `address` the detail, `contact` and `mobile`."""
    return c.non_empty(
        {
            "provinceName": party.province,
            "cityName": party.city,
            "countryName": party.district,
            "countrysideName": party.town,
            "address": party.address,
            "contact": party.name,
            "mobile": party.mobile,
        }
    )


def _coupon_type(row: dict[str, Any]) -> str:
    """`"30-单品促销优惠"` → `"30"`."""
    return c.text(row.get("couponType")).partition("-")[0].strip()
