"""The emulator's tracking services: Kuaidi100 and Kuaidiniao in miniature (shared/channels/shipping.md §3).

Routed from `orders/emulator.py` (one `TrackingDesk` per emulator):

    POST {base}/kuaidi100/poll                 subscribe: form {schema=json, param{company, number, key,
                                               parameters{callbackurl, salt, resultv2, phone?}}}
    POST {base}/kuaidi100/poll/query.do        query: form {customer, sign=upper(md5(param+key+customer)),
                                               param{com, num, phone?, resultv2}}
    POST {base}/kuaidiniao/Ebusiness/EbusinessOrderHandle.aspx
                                               form {EBusinessID, RequestType 1002 query | 1008 subscribe,
                                               RequestData, DataType=2, DataSign=base64(md5_hex(data+AppKey))}

Each call is verified as the real service would (Kuaidi100: the account `key` inside the subscribe
param, the query `sign`; Kuaidiniao: EBusinessID and DataSign) and refused in the service's own shape
otherwise. SF/ZTO queries without the receiver phone's last 4 digits are refused (Kuaidi100 code
408, u). Subscriptions are kept per (service, number) with their callback URL (Kuaidi100: sent in
the subscribe call; Kuaidiniao: the one registered "in the console", set through the accounts
control below).

Control (JSON, under /_emulator/):

    GET    tracking                      accounts, subscriptions, parcels with their events, pushes sent
    POST   tracking/accounts             {service: kuaidi100, customer, key} | {service: kuaidiniao,
                                          ebusiness_id, app_key, callback_url}
    POST   tracking/advance              {number, to: collected|in_transit|out_for_delivery|delivered|
                                          problem|refused|returning, company?, text?, location?, at?,
                                          eta?, status?}  the carrier moves the parcel: an event is added
                                          and a signed push goes to every subscription of the number
                                          (answer: the pushes with OrderHub's HTTP status and reply)
    POST   tracking/faults               {kind, service?, count?}  reply_error (the next subscribe/query
                                          answers the service's error), unreachable (HTTP 503, as the
                                          load balancer of a service that is down), bad_sign (the next
                                          push is signed with a wrong secret), lost_callback (the next
                                          push is never sent: only polling finds the movement)
    DELETE tracking/faults

Kuaidi100 pushes carry `status` polling / shutdown (delivered) / abort (given as `status`), the
latest `state` code and the events newest first, with `arrivalTime` (the ETA, "yyyy-MM-dd HH", u)
when the subscription asked for resultv2=8. Kuaidiniao pushes (RequestType 101, u) carry `State`
(1 collected, 2 in transit, 3 signed, 4 problem) and the traces oldest first with an `Action`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

SHANGHAI = ZoneInfo("Asia/Shanghai")
SERVICES = ("kuaidi100", "kuaidiniao")
PATHS = {
    "/kuaidi100/poll": ("kuaidi100", "subscribe"),
    "/kuaidi100/poll/query.do": ("kuaidi100", "query"),
    "/kuaidiniao/Ebusiness/EbusinessOrderHandle.aspx": ("kuaidiniao", "call"),
}
FAULT_KINDS = ("reply_error", "unreachable", "bad_sign", "lost_callback")
#: companies the emulated Kuaidi100 knows (u: its codes for the carriers OrderHub seeds)
KUAIDI100_COMPANIES = frozenset(
    {"shunfeng", "zhongtong", "yuantong", "shentong", "yunda", "jd", "ems", "youzhengguonei", "jtexpress"}
    | {"debangkuaidi"}
)
KUAIDINIAO_COMPANIES = frozenset({"SF", "ZTO", "YTO", "STO", "YD", "JD", "EMS", "YZPY", "JTSD", "DBL"})
PHONE_COMPANIES = frozenset({"shunfeng", "zhongtong", "SF", "ZTO"})
#: movement -> (Kuaidi100 state, Kuaidi100 word, Kuaidiniao State, Kuaidiniao Action, default words)
MOVES: dict[str, tuple[str, str, str, str, str]] = {
    "collected": ("1", "揽收", "1", "1", "【上海市浦东新区】快递员已揽收"),
    "in_transit": ("0", "在途", "2", "2", "快件已到达【杭州转运中心】，正发往下一站"),
    "out_for_delivery": ("5", "派件", "2", "202", "【杭州市西湖区】快递员正在派件，请保持电话畅通"),
    "delivered": ("3", "签收", "3", "3", "已签收，签收人：本人，感谢使用"),
    "problem": ("2", "疑难", "4", "4", "快件异常：收件地址不详，联系不上收件人"),
    "refused": ("14", "拒签", "4", "4", "收件人拒收，快件将退回"),
    "returning": ("6", "退回", "4", "4", "快件退回中，正发往寄件人"),
}


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def kuaidiniao_sign(request_data: str, app_key: str) -> str:
    return base64.b64encode(md5_hex(request_data + app_key).encode("ascii")).decode("ascii")


def _now() -> datetime:
    return datetime.now(tz=SHANGHAI).replace(microsecond=0)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Subscription:
    service: str
    company: str
    number: str
    callback_url: str = ""
    salt: str = ""
    resultv2: str = ""
    phone: str = ""


@dataclass
class Movement:
    at: str
    to: str
    text: str
    location: str


@dataclass
class TrackedParcel:
    number: str
    company: str = ""
    moves: list[Movement] = field(default_factory=list)
    eta: str = ""
    status: str = "polling"


@dataclass
class TrackingFault:
    kind: str
    service: str = "*"
    count: int = 1


class TrackingDesk:
    """State and logic of both emulated services; `orders/emulator.py` only routes to it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, dict[str, str]] = {
            "kuaidi100": {"customer": "emulator-customer", "key": "emulator-key"},
            "kuaidiniao": {"ebusiness_id": "1000001", "app_key": "emulator-app-key", "callback_url": ""},
        }
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.parcels: dict[str, TrackedParcel] = {}
        self.faults: list[TrackingFault] = []
        self.pushes: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self.lock:
            self.subscriptions.clear()
            self.parcels.clear()
            self.faults.clear()
            self.pushes.clear()
            self.calls.clear()

    def configure(self, service: str, **account: str) -> None:
        if service not in SERVICES:
            raise ValueError(f"service must be one of {SERVICES}")
        with self.lock:
            self.accounts[service] = {**self.accounts[service], **{k: str(v) for k, v in account.items()}}

    def add_fault(self, kind: str, service: str = "*", count: int = 1) -> TrackingFault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        fault = TrackingFault(kind=kind, service=service or "*", count=int(count))
        with self.lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, service: str, kinds: tuple[str, ...]) -> str:
        with self.lock:
            for fault in self.faults:
                if fault.kind in kinds and fault.service in ("*", service):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault.kind
        return ""

    # ---- the services' APIs ----------------------------------------------------------------
    def handles(self, path: str) -> bool:
        return path in PATHS

    def handle(self, path: str, form: dict[str, str]) -> tuple[int, Any]:
        service, call = PATHS[path]
        fault = self._take_fault(service, ("reply_error", "unreachable"))
        with self.lock:
            self.calls.append({"service": service, "call": call, "form": dict(form), "fault": fault})
        if fault == "unreachable":
            return 503, "Service Unavailable"
        if service == "kuaidi100":
            if fault:
                return 200, {"result": False, "returnCode": "502", "message": "服务器错误，请稍后重试"}
            return 200, self._kuaidi100_subscribe(form) if call == "subscribe" else self._kuaidi100_query(form)
        if fault:
            return 200, self._kdn_answer(False, "系统繁忙，请稍后重试")
        return 200, self._kuaidiniao(form)

    def _kuaidi100_subscribe(self, form: dict[str, str]) -> dict[str, Any]:
        def refuse(code: str, message: str) -> dict[str, Any]:
            return {"result": False, "returnCode": code, "message": message}

        if form.get("schema") != "json":
            return refuse("400", "schema 参数错误")
        try:
            param = json.loads(form.get("param") or "")
        except ValueError:
            return refuse("400", "param 不是合法的 JSON")
        parameters = param.get("parameters") or {}
        if param.get("key") != self.accounts["kuaidi100"]["key"]:
            return refuse("601", "key 不存在或已过期")
        company, number = str(param.get("company") or ""), str(param.get("number") or "")
        if company not in KUAIDI100_COMPANIES:
            return refuse("700", "不支持的快递公司")
        if not number or not parameters.get("callbackurl"):
            return refuse("400", "数据不完整：缺少单号或回调地址")
        with self.lock:
            key = ("kuaidi100", number)
            duplicate = key in self.subscriptions
            self.subscriptions[key] = Subscription(
                "kuaidi100",
                company,
                number,
                callback_url=str(parameters["callbackurl"]),
                salt=str(parameters.get("salt") or ""),
                resultv2=str(parameters.get("resultv2") or ""),
                phone=str(parameters.get("phone") or ""),
            )
            self.parcels.setdefault(number, TrackedParcel(number, company))
        if duplicate:
            return refuse("501", "重复订阅")
        return {"result": True, "returnCode": "200", "message": "提交成功"}

    def _kuaidi100_query(self, form: dict[str, str]) -> dict[str, Any]:
        account = self.accounts["kuaidi100"]
        param_text = form.get("param") or ""
        if form.get("customer") != account["customer"]:
            return {"result": False, "returnCode": "601", "message": "customer 不存在"}
        if form.get("sign") != md5_hex(param_text + account["key"] + account["customer"]).upper():
            return {"result": False, "returnCode": "503", "message": "验证签名失败"}
        try:
            param = json.loads(param_text)
        except ValueError:
            return {"result": False, "returnCode": "400", "message": "param 不是合法的 JSON"}
        company, number = str(param.get("com") or ""), str(param.get("num") or "")
        if company in PHONE_COMPANIES and not str(param.get("phone") or "").isdigit():
            return {"result": False, "returnCode": "408", "message": "该快递公司需要收件人手机号后四位"}
        with self.lock:
            parcel = self.parcels.get(number)
            if parcel is None or not parcel.moves:
                return {"result": False, "returnCode": "500", "message": "查询无结果，请隔段时间再查"}
            return self._kuaidi100_result(parcel, company or parcel.company, str(param.get("resultv2") or ""))

    def _kuaidi100_result(self, parcel: TrackedParcel, company: str, resultv2: str) -> dict[str, Any]:
        latest = parcel.moves[-1]
        result: dict[str, Any] = {
            "message": "ok",
            "nu": parcel.number,
            "ischeck": "1" if latest.to == "delivered" else "0",
            "com": company,
            "status": "200",
            "state": MOVES[latest.to][0],
            "data": [
                {
                    "time": m.at,
                    "ftime": m.at,
                    "context": m.text,
                    "status": MOVES[m.to][1],
                    "statusCode": MOVES[m.to][0],
                    "areaName": m.location,
                }
                for m in reversed(parcel.moves)
            ],
        }
        if "8" in resultv2 and parcel.eta:
            result["arrivalTime"] = parcel.eta
        return result

    def _kdn_answer(self, ok: bool, reason: str = "", **extra: Any) -> dict[str, Any]:
        return {
            "EBusinessID": self.accounts["kuaidiniao"]["ebusiness_id"],
            "UpdateTime": _fmt(_now()),
            "Success": ok,
            "Reason": reason,
            **extra,
        }

    def _kuaidiniao(self, form: dict[str, str]) -> dict[str, Any]:
        account = self.accounts["kuaidiniao"]
        if form.get("EBusinessID") != account["ebusiness_id"]:
            return self._kdn_answer(False, "EBusinessID 无效")
        data_text = form.get("RequestData") or ""
        if form.get("DataType") != "2":
            return self._kdn_answer(False, "DataType 必须为 2")
        if form.get("DataSign") != kuaidiniao_sign(data_text, account["app_key"]):
            return self._kdn_answer(False, "DataSign 签名错误")
        try:
            data = json.loads(data_text)
        except ValueError:
            return self._kdn_answer(False, "RequestData 不是合法的 JSON")
        company, number = str(data.get("ShipperCode") or ""), str(data.get("LogisticCode") or "")
        if company not in KUAIDINIAO_COMPANIES:
            return self._kdn_answer(False, "不支持的快递公司编码")
        if company in PHONE_COMPANIES and not str(data.get("CustomerName") or "").isdigit():
            return self._kdn_answer(False, "顺丰/中通单号需要 CustomerName（收件人手机号后四位）")
        request_type = form.get("RequestType")
        with self.lock:
            parcel = self.parcels.setdefault(number, TrackedParcel(number, company))
            if request_type == "1008":
                self.subscriptions[("kuaidiniao", number)] = Subscription(
                    "kuaidiniao", company, number, phone=str(data.get("CustomerName") or "")
                )
                return self._kdn_answer(True)
            if request_type == "1002":
                return self._kdn_answer(True, **self._kuaidiniao_item(parcel, company))
        return self._kdn_answer(False, f"RequestType {request_type} 不支持")

    def _kuaidiniao_item(self, parcel: TrackedParcel, company: str) -> dict[str, Any]:
        state = MOVES[parcel.moves[-1].to][2] if parcel.moves else "0"
        item: dict[str, Any] = {
            "ShipperCode": company,
            "LogisticCode": parcel.number,
            "State": state,
            "Traces": [
                {"AcceptTime": m.at, "AcceptStation": m.text, "Location": m.location, "Action": MOVES[m.to][3]}
                for m in parcel.moves
            ],
        }
        if parcel.eta:
            item["EstimatedDeliveryTime"] = parcel.eta
        return item

    # ---- the carrier moves a parcel: pushes ---------------------------------------------------
    def advance(
        self,
        number: str,
        to: str,
        *,
        company: str = "",
        text: str = "",
        location: str = "",
        at: str = "",
        eta: str = "",
        status: str = "",
    ) -> list[dict[str, Any]]:
        """Add a movement and push it to every subscription of `number`; returns what each push got."""
        if to not in MOVES:
            raise ValueError(f"to must be one of {sorted(MOVES)}")
        with self.lock:
            parcel = self.parcels.setdefault(number, TrackedParcel(number, company))
            parcel.company = parcel.company or company
            moment = datetime.strptime(at, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI) if at else _now()
            if parcel.moves and not at:
                last = datetime.strptime(parcel.moves[-1].at, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
                moment = max(moment, last + timedelta(seconds=1))
            parcel.moves.append(Movement(_fmt(moment), to, text or MOVES[to][4], location or "浙江省杭州市"))
            if eta:
                parcel.eta = eta
            parcel.status = status or ("shutdown" if to == "delivered" else "polling")
            targets = [s for (_service, n), s in self.subscriptions.items() if n == number]
            messages = [(s, *self._push_message(s, parcel)) for s in targets]
        results = []
        for subscription, url, form in messages:
            fault = self._take_fault(subscription.service, ("bad_sign", "lost_callback"))
            record: dict[str, Any] = {"service": subscription.service, "number": number, "to": to, "url": url}
            if fault == "lost_callback" or not url:
                record |= {"sent": False, "reason": fault or "no callback URL"}
            else:
                if fault == "bad_sign":
                    form = {**form, **_forged_sign(subscription.service)}
                try:
                    response = requests.post(url, data=form, timeout=10)
                    record |= {"sent": True, "status": response.status_code, "reply": _json_or_text(response)}
                except requests.RequestException as exc:
                    record |= {"sent": False, "reason": f"unreachable: {exc.__class__.__name__}"}
            with self.lock:
                self.pushes.append(record)
            results.append(record)
        return results

    def push_message(self, service: str, number: str) -> tuple[str, dict[str, str]]:
        """The callback URL and form of the push for the parcel as it is now (tests replay it)."""
        with self.lock:
            return self._push_message(self.subscriptions[(service, number)], self.parcels[number])

    def _push_message(self, subscription: Subscription, parcel: TrackedParcel) -> tuple[str, dict[str, str]]:
        if subscription.service == "kuaidi100":
            last_result = self._kuaidi100_result(parcel, subscription.company, subscription.resultv2)
            param = json.dumps(
                {"status": parcel.status, "billstatus": "check", "message": "", "lastResult": last_result},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            sign = md5_hex(param + subscription.salt).upper()
            return subscription.callback_url, {"param": param, "sign": sign}
        account = self.accounts["kuaidiniao"]
        item = {"EBusinessID": account["ebusiness_id"], "Success": True, "Reason": ""}
        item |= self._kuaidiniao_item(parcel, subscription.company)
        data = json.dumps(
            {"EBusinessID": account["ebusiness_id"], "PushTime": _fmt(_now()), "Count": "1", "Data": [item]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        form = {"RequestType": "101", "RequestData": data, "DataSign": kuaidiniao_sign(data, account["app_key"])}
        return account.get("callback_url", ""), form

    # ---- control -------------------------------------------------------------------------------
    def control(self, action: str, method: str, data: dict[str, Any]) -> tuple[int, Any]:
        if action == "tracking" and method == "GET":
            with self.lock:
                return 200, {
                    "accounts": {k: {n: v for n, v in a.items() if n != "app_key"} for k, a in self.accounts.items()},
                    "subscriptions": [asdict(s) for s in self.subscriptions.values()],
                    "parcels": {n: asdict(p) for n, p in self.parcels.items()},
                    "pushes": list(self.pushes),
                    "calls": list(self.calls),
                    "faults": [asdict(f) for f in self.faults],
                }
        if action == "tracking/accounts" and method == "POST":
            service = str(data.pop("service", ""))
            self.configure(service, **data)
            return 200, {"ok": True}
        if action == "tracking/advance" and method == "POST":
            options = {k: str(data[k]) for k in ("company", "text", "location", "at", "eta", "status") if k in data}
            pushes = self.advance(str(data["number"]), str(data["to"]), **options)
            return 200, {"ok": True, "pushes": pushes}
        if action == "tracking/faults" and method == "POST":
            fault = self.add_fault(str(data["kind"]), str(data.get("service", "*")), int(data.get("count", 1)))
            return 201, {"ok": True, "fault": asdict(fault)}
        if action == "tracking/faults" and method == "DELETE":
            with self.lock:
                self.faults.clear()
            return 200, {"ok": True}
        return 404, {"error": f"no control action {method} {action}"}


def _forged_sign(service: str) -> dict[str, str]:
    if service == "kuaidi100":
        return {"sign": md5_hex("forged").upper()}
    return {"DataSign": kuaidiniao_sign("forged", "not-the-app-key")}


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
