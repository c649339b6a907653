"""Kuaidi100 (快递100), the default tracking service (shared/channels/shipping.md §3, confirmed).

- Subscribe: POST form {schema=json, param={company, number, key, parameters{callbackurl, salt,
  resultv2, phone?}}}; answer {result, returnCode, message}: 200 accepted, 501 already subscribed
  (counted as success). Other return codes are refusals (u: 700 unknown company, 600/601 account).
- Query: POST form {customer, sign=upper(MD5(param + key + customer)), param={com, num, phone?,
  resultv2}}; `resultv2` "8" adds the predicted arrival (`arrivalTime`, u for the field's exact name
  and format: "yyyy-MM-dd HH" read, full times too).
- Push: form {param, sign=MD5(param + salt)} (compared without regard to case), param = {status
  polling|shutdown|abort, message, lastResult{state, com, nu, data[{time, context, status,
  areaName?, statusCode?}], arrivalTime?}}; answered {"result":true,"returnCode":"200","message":"成功"}.
- `state`: 0 in transit, 1 collected, 2 problem, 3 signed, 4 refused/returned, 5 out for delivery,
  6 returning, 14 refused (c). With resultv2 the service may send 3-digit sub-states (101, 301 …):
  read by their first digit (u).
- SF (shunfeng) and ZTO (zhongtong) answer only with the receiver phone (its last 4 digits).
"""

from __future__ import annotations

import json
from typing import Any

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
from shipping.tracking.common import md5_hex, parse_service_time

DEFAULT_QUERY_URL = "https://poll.kuaidi100.com/poll/query.do"
DEFAULT_SUBSCRIBE_URL = "https://poll.kuaidi100.com/poll"
RESULT_V2 = "8"  # predicted arrival (shipping.md §3)

#: OrderHub carrier -> Kuaidi100 company code (u, except shunfeng/zhongtong; editable by settings)
COMPANIES = {
    "SF": "shunfeng",
    "ZTO": "zhongtong",
    "YTO": "yuantong",
    "STO": "shentong",
    "YUNDA": "yunda",
    "JD": "jd",
    "EMS": "ems",
    "POSTB": "youzhengguonei",
    "JT": "jtexpress",
    "DEPPON": "debangkuaidi",
}
PHONE_COMPANIES = frozenset({"shunfeng", "zhongtong"})

STATES = {
    "0": TrackingState.IN_TRANSIT,
    "1": TrackingState.COLLECTED,
    "2": TrackingState.PROBLEM,
    "3": TrackingState.DELIVERED,
    "4": TrackingState.RETURNED,
    "5": TrackingState.OUT_FOR_DELIVERY,
    "6": TrackingState.RETURNING,
    "14": TrackingState.REFUSED,
}
#: an event's `status` word when it carries no code (u: the words Kuaidi100 shows)
WORDS = {
    "揽收": TrackingState.COLLECTED,
    "在途": TrackingState.IN_TRANSIT,
    "派件": TrackingState.OUT_FOR_DELIVERY,
    "签收": TrackingState.DELIVERED,
    "疑难": TrackingState.PROBLEM,
    "退签": TrackingState.RETURNED,
    "退回": TrackingState.RETURNING,
    "拒签": TrackingState.REFUSED,
}
OK_REPLY = {"result": True, "returnCode": "200", "message": "成功"}
#: subscribe return codes that mean the request itself is wrong: retrying changes nothing (u)
PERMANENT_CODES = frozenset({"600", "601", "700", "702", "408"})


def state_for(code: Any) -> str:
    raw = str(code or "").strip()
    if raw in STATES:
        return STATES[raw]
    if len(raw) == 3 and raw.isdigit():
        return STATES.get(raw[0], TrackingState.IN_TRANSIT)
    return ""


def query_sign(param: str, key: str, customer: str) -> str:
    return md5_hex(param + key + customer).upper()


def push_sign(param: str, salt: str) -> str:
    return md5_hex(param + salt).upper()


class Kuaidi100Backend(TrackingBackend):
    name = "kuaidi100"

    @property
    def configured(self) -> bool:
        return bool(self.config.get("customer") and self.config.get("key") and self.config.get("salt"))

    def company_for(self, carrier_code: str) -> str:
        return {**COMPANIES, **(self.config.get("companies") or {})}.get(carrier_code, "")

    def needs_phone(self, company: str) -> bool:
        return company in PHONE_COMPANIES

    def subscribe(self, parcel: ParcelRef, *, callback_url: str) -> None:
        parameters: dict[str, str] = {"callbackurl": callback_url, "salt": self.config["salt"], "resultv2": RESULT_V2}
        if parcel.phone_tail and self.needs_phone(parcel.company):  # sent only where the carrier needs it
            parameters["phone"] = parcel.phone_tail
        param = {
            "company": parcel.company,
            "number": parcel.number,
            "key": self.config["key"],
            "parameters": parameters,
        }
        answer = self._post_form(
            self.config.get("subscribe_url") or DEFAULT_SUBSCRIBE_URL,
            {"schema": "json", "param": json.dumps(param, ensure_ascii=False, separators=(",", ":"))},
        )
        code = str(answer.get("returnCode", ""))
        if answer.get("result") is True or code in ("200", "501"):
            return
        raise TrackingServiceError(
            f"kuaidi100 {code}: {answer.get('message', '')}", retryable=code not in PERMANENT_CODES, code=code
        )

    def query(self, parcel: ParcelRef) -> TrackingUpdate:
        ask: dict[str, str] = {"com": parcel.company, "num": parcel.number, "resultv2": RESULT_V2}
        if parcel.phone_tail and self.needs_phone(parcel.company):
            ask["phone"] = parcel.phone_tail
        param = json.dumps(ask, ensure_ascii=False, separators=(",", ":"))
        customer = self.config["customer"]
        answer = self._post_form(
            self.config.get("query_url") or DEFAULT_QUERY_URL,
            {"customer": customer, "sign": query_sign(param, self.config["key"], customer), "param": param},
        )
        if answer.get("result") is False or ("data" not in answer and str(answer.get("status", "")) != "200"):
            code = str(answer.get("returnCode", ""))
            raise TrackingServiceError(
                f"kuaidi100 {code}: {answer.get('message', '')}", retryable=code not in PERMANENT_CODES, code=code
            )
        try:
            return _update(answer, company=parcel.company, number=parcel.number)
        except TrackingPayloadError as exc:
            raise TrackingServiceError(f"kuaidi100 answer unreadable: {exc.message}") from exc

    def parse_callback(self, form: dict[str, str], body: bytes) -> list[TrackingUpdate]:
        param, sign = form.get("param", ""), form.get("sign", "")
        if not sign or not self.configured:
            raise TrackingSignatureError("missing signature")
        if not _same(push_sign(param, self.config["salt"]), sign):
            raise TrackingSignatureError("bad signature")
        try:
            push = json.loads(param)
        except ValueError:
            raise TrackingPayloadError("param is not JSON") from None
        if not isinstance(push, dict) or not isinstance(push.get("lastResult"), dict):
            raise TrackingPayloadError("param has no lastResult")
        result = push["lastResult"]
        update = _update(result, company=str(result.get("com", "")), number=str(result.get("nu", "")))
        update.service_status = str(push.get("status", ""))
        update.message = str(push.get("message", "") or "")
        if update.service_status == "shutdown" and not update.state:
            update.state = TrackingState.DELIVERED
        return [update]

    def callback_reply(self, *, ok: bool = True, message: str = "") -> CallbackReply:
        if ok:
            return CallbackReply(200, dict(OK_REPLY))
        return CallbackReply(200, {"result": False, "returnCode": "500", "message": message or "失败"})


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.upper().encode(), b.strip().upper().encode())


def _update(result: dict[str, Any], *, company: str, number: str) -> TrackingUpdate:
    if not number:
        raise TrackingPayloadError("no tracking number (nu)")
    data = result.get("data") or []
    if not isinstance(data, list):
        raise TrackingPayloadError("data is not a list")
    overall = state_for(result.get("state"))
    points: list[TrackingPoint] = []
    for position, item in enumerate(data):  # newest first
        if not isinstance(item, dict):
            raise TrackingPayloadError("a data entry is not an object")
        at = parse_service_time(item.get("ftime") or item.get("time"))
        if at is None:
            raise TrackingPayloadError(f"unreadable time {item.get('time')!r}")
        code = str(item.get("statusCode", "") or "")
        state = state_for(code) or WORDS.get(str(item.get("status", "")).strip(), "")
        if not state:
            state = overall if position == 0 and overall else TrackingState.IN_TRANSIT
        points.append(
            TrackingPoint(
                at=at,
                state=state,
                raw_state=code or (str(result.get("state", "")) if position == 0 else ""),
                text=str(item.get("context", "")),
                location=str(item.get("areaName", "") or item.get("location", "") or "")[:200],
            )
        )
    if not overall and points:
        overall = points[0].state
    return TrackingUpdate(
        company=company,
        number=number,
        points=points,
        state=overall,
        eta=parse_service_time(result.get("arrivalTime")),
    )
