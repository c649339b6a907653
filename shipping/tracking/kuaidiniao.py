"""Kuaidiniao (快递鸟), the second tracking service (shared/channels/shipping.md §3).

Confirmed (c): every call is a form {EBusinessID, RequestType (1002 query, 1008 subscribe),
RequestData (JSON text), DataType=2, DataSign}; DataSign = urlencode(base64(md5_hex(RequestData +
AppKey))): the "urlencode" is the form encoding itself, so the field carries the base64 text; `State`
3 = signed, 4 = problem.
Unconfirmed (u), kept configurable or tolerant:
- the other `State`s: 0 no information, 1 collected, 2 in transit; a trace's `Action` (1 collected,
  2 in transit, 202 out for delivery, 3 signed, 4 problem) when the service sends one;
- the push: form {RequestType=101, RequestData={EBusinessID, PushTime, Count, Data[{ShipperCode,
  LogisticCode, Success, State, Reason, Traces[{AcceptTime, AcceptStation, Location}],
  EstimatedDeliveryTime?}]}, DataSign}, signed like a request; answered {EBusinessID, UpdateTime,
  Success: true, Reason}. The push URL is registered in Kuaidiniao's console, not sent per parcel;
- `CustomerName` = the receiver phone's last 4 digits, required for SF (and ZTO) parcels;
- the company codes below.
"""

from __future__ import annotations

import base64
import hmac
import json
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from django.utils import timezone

from shipping.models import TrackingState
from shipping.tracking.base import (
    CallbackReply,
    ParcelRef,
    TrackingBackend,
    TrackingPayloadError,
    TrackingPoint,
    TrackingServiceError,
    TrackingSignatureError,
    TrackingUpdate,
)
from shipping.tracking.common import format_service_time, md5_hex, parse_service_time

DEFAULT_URL = "https://api.kdniao.com/Ebusiness/EbusinessOrderHandle.aspx"
QUERY, SUBSCRIBE, PUSH = "1002", "1008", "101"

COMPANIES = {
    "SF": "SF",
    "ZTO": "ZTO",
    "YTO": "YTO",
    "STO": "STO",
    "YUNDA": "YD",
    "JD": "JD",
    "EMS": "EMS",
    "POSTB": "YZPY",
    "JT": "JTSD",
    "DEPPON": "DBL",
}
PHONE_COMPANIES = frozenset({"SF", "ZTO"})
STATES = {
    "1": TrackingState.COLLECTED,
    "2": TrackingState.IN_TRANSIT,
    "3": TrackingState.DELIVERED,
    "4": TrackingState.PROBLEM,
}
ACTIONS = STATES | {"202": TrackingState.OUT_FOR_DELIVERY, "201": TrackingState.IN_TRANSIT}


def data_sign(request_data: str, app_key: str) -> str:
    """base64(md5_hex(RequestData + AppKey)); the form encoding adds the urlencode."""
    return base64.b64encode(md5_hex(request_data + app_key).encode("ascii")).decode("ascii")


class KuaidiniaoBackend(TrackingBackend):
    name = "kuaidiniao"

    @property
    def configured(self) -> bool:
        return bool(self.config.get("ebusiness_id") and self.config.get("app_key"))

    def company_for(self, carrier_code: str) -> str:
        return {**COMPANIES, **(self.config.get("companies") or {})}.get(carrier_code, "")

    def needs_phone(self, company: str) -> bool:
        return company in PHONE_COMPANIES

    def _call(self, request_type: str, data: dict[str, Any]) -> dict[str, Any]:
        request_data = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        form = {
            "EBusinessID": self.config["ebusiness_id"],
            "RequestType": request_type,
            "RequestData": request_data,
            "DataType": "2",
            "DataSign": data_sign(request_data, self.config["app_key"]),
        }
        answer = self._post_form(self.config.get("url") or DEFAULT_URL, form)
        if answer.get("Success") is not True:
            reason = str(answer.get("Reason") or "")
            raise TrackingServiceError(f"kuaidiniao: {reason or 'refused'}", retryable=not _permanent(reason))
        return answer

    def _ask(self, parcel: ParcelRef) -> dict[str, str]:
        ask = {"ShipperCode": parcel.company, "LogisticCode": parcel.number}
        if parcel.phone_tail and self.needs_phone(parcel.company):  # sent only where the carrier needs it
            ask["CustomerName"] = parcel.phone_tail
        return ask

    def subscribe(self, parcel: ParcelRef, *, callback_url: str) -> None:
        # the push URL is the one registered in the console (u); `callback_url` is what to register
        self._call(SUBSCRIBE, self._ask(parcel))

    def query(self, parcel: ParcelRef) -> TrackingUpdate:
        answer = self._call(QUERY, self._ask(parcel))
        try:
            return _update(answer)
        except TrackingPayloadError as exc:
            raise TrackingServiceError(f"kuaidiniao answer unreadable: {exc.message}") from exc

    def parse_callback(self, form: dict[str, str], body: bytes) -> list[TrackingUpdate]:
        request_data, sign = form.get("RequestData", ""), form.get("DataSign", "")
        if not sign or not self.configured:
            raise TrackingSignatureError("missing signature")
        expected = data_sign(request_data, self.config["app_key"])
        if not any(hmac.compare_digest(expected.encode(), s.strip().encode()) for s in (sign, unquote(sign))):
            raise TrackingSignatureError("bad signature")
        try:
            push = json.loads(request_data)
        except ValueError:
            raise TrackingPayloadError("RequestData is not JSON") from None
        if not isinstance(push, dict) or not isinstance(push.get("Data"), list):
            raise TrackingPayloadError("RequestData has no Data list")
        return [_update(item) for item in push["Data"] if isinstance(item, dict) and item.get("Success") is not False]

    def callback_reply(self, *, ok: bool = True, message: str = "") -> CallbackReply:
        return CallbackReply(
            200,
            {
                "EBusinessID": self.config.get("ebusiness_id", ""),
                "UpdateTime": format_service_time(timezone.now()),
                "Success": ok,
                "Reason": message,
            },
        )


def _permanent(reason: str) -> bool:
    """Refusals retrying cannot fix (u: Kuaidiniao's words for a bad company code or account)."""
    return any(word in reason for word in ("不支持", "编码错误", "未开通", "无效", "签名"))


def _update(item: dict[str, Any]) -> TrackingUpdate:
    number = str(item.get("LogisticCode") or "")
    if not number:
        raise TrackingPayloadError("no LogisticCode")
    traces = item.get("Traces") or []
    if not isinstance(traces, list):
        raise TrackingPayloadError("Traces is not a list")
    raw = str(item.get("State", "") or "")
    overall = STATES.get(raw, "")
    points: list[TrackingPoint] = []
    for position, trace in enumerate(traces):  # oldest first
        if not isinstance(trace, dict):
            raise TrackingPayloadError("a trace is not an object")
        at: datetime | None = parse_service_time(trace.get("AcceptTime"))
        if at is None:
            raise TrackingPayloadError(f"unreadable AcceptTime {trace.get('AcceptTime')!r}")
        action = str(trace.get("Action", "") or "")
        last = position == len(traces) - 1
        state = ACTIONS.get(action) or (overall if last and overall else TrackingState.IN_TRANSIT)
        points.append(
            TrackingPoint(
                at=at,
                state=state,
                raw_state=action or (raw if last else ""),
                text=str(trace.get("AcceptStation", "")),
                location=str(trace.get("Location", "") or "")[:200],
            )
        )
    if not overall and points:
        overall = points[-1].state
    return TrackingUpdate(
        company=str(item.get("ShipperCode") or ""),
        number=number,
        points=points,
        state=overall,
        message=str(item.get("Reason") or ""),
        eta=parse_service_time(item.get("EstimatedDeliveryTime")),
    )
