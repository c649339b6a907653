"""A local stand-in of the notice gateways, over real HTTP, for tests and the demo: Aliyun SMS
(SendSms, QuerySendDetails; ACS3-HMAC-SHA256 checked), Tencent Cloud SMS (SendSms,
PullSmsSendStatusByPhoneNumber; TC3-HMAC-SHA256 checked), WeChat (token, subscribeMessage.send) and
OrderHub's generic signed gateway (docs/shipping.md). It verifies each request the way the real
gateway would and answers in its shape; faults are queued per gateway (`fault`).

It plays one honest gateway: an accepted message is recorded before any fault delays the answer,
so "timeout after the gateway accepted" is real, and the lookups find what was really accepted."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from shipping.notices.backends.generic import sign as generic_sign

FAULTS = ("timeout_after_accept", "refuse", "throttle", "server_error")


@dataclass
class Seen:
    gateway: str
    action: str
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    signature_ok: bool


@dataclass
class GatewayEmulator:
    host: str = "127.0.0.1"
    port: int = 0
    aliyun_key: tuple[str, str] = ("ak-test", "ak-secret")
    tencent_key: tuple[str, str] = ("AKIDtest", "tc-secret")
    wechat_app: tuple[str, str] = ("wx-app", "wx-secret")
    generic_secret: str = "gw-secret"
    slow_seconds: float = 2.0
    seen: list[Seen] = field(default_factory=list)
    accepted: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    wechat_subscribed: set[str] = field(default_factory=set)
    _faults: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _ids: Any = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- control -------------------------------------------------------------------------------
    def start(self) -> GatewayEmulator:
        emulator = self

        class Handler(_Handler):
            gw = emulator

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def fault(self, gateway: str, mode: str, times: int = 1) -> None:
        assert mode in FAULTS, mode
        self._faults[gateway].extend([mode] * times)

    def _next_fault(self, gateway: str) -> str:
        with self._lock:
            return self._faults[gateway].pop(0) if self._faults[gateway] else ""

    def sends(self, gateway: str) -> list[Seen]:
        return [s for s in self.seen if s.gateway == gateway and s.action in ("SendSms", "send", "POST")]

    def _accept(self, gateway: str, record: dict) -> dict:
        with self._lock:
            record = {**record, "id": str(next(self._ids)), "at": datetime.now(UTC)}
            self.accepted[gateway].append(record)
            return record


class _Handler(BaseHTTPRequestHandler):
    gw: GatewayEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, payload: dict, *, delay: float = 0.0) -> None:
        if delay:
            time.sleep(delay)
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        body = self._body()
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "x-acs-action" in headers:
            return self._aliyun(method, parts.path, query, headers, body)
        if "x-tc-action" in headers:
            return self._tencent(method, parts.path, headers, body)
        if parts.path.startswith("/cgi-bin/"):
            return self._wechat(method, parts.path, query, body)
        if parts.path.startswith("/messages"):
            return self._generic(method, parts.path, headers, body)
        self._answer(404, {"error": "no such gateway"})

    # ---- Aliyun (RPC style, ACS3-HMAC-SHA256) ------------------------------------------------------
    def _aliyun_signature_ok(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> bool:
        auth = headers.get("authorization", "")
        if not auth.startswith("ACS3-HMAC-SHA256 "):
            return False
        fields = dict(item.split("=", 1) for item in auth[len("ACS3-HMAC-SHA256 ") :].split(","))
        key_id, secret = self.gw.aliyun_key
        if fields.get("Credential") != key_id:
            return False
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload_hash:
            return False
        signed = fields.get("SignedHeaders", "").split(";")
        canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
        canonical_query = "&".join(f"{k}={quote(query[k], safe='~')}" for k in sorted(query))
        canonical = (
            f"{method}\n{path or '/'}\n{canonical_query}\n{canonical_headers}\n{';'.join(signed)}\n{payload_hash}"
        )
        to_sign = f"ACS3-HMAC-SHA256\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("Signature", "")) and {"host", "x-acs-action"} <= set(signed)

    def _aliyun(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> None:
        action = headers["x-acs-action"]
        ok = self._aliyun_signature_ok(method, path, query, headers, body)
        self.gw.seen.append(Seen("aliyun", action, method, path, headers, query, ok))
        request_id = f"req-{next(self.gw._ids)}"
        if not ok or headers.get("x-acs-version") != "2017-05-25":
            return self._answer(
                400, {"Code": "SignatureDoesNotMatch", "Message": "bad signature", "RequestId": request_id}
            )
        if action == "SendSms":
            missing = [k for k in ("PhoneNumbers", "SignName", "TemplateCode") if not query.get(k)]
            if missing:
                return self._answer(
                    400, {"Code": "MissingParameter", "Message": ",".join(missing), "RequestId": request_id}
                )
            json.loads(query.get("TemplateParam") or "{}")  # must be a JSON string
            fault = self.gw._next_fault("aliyun")
            if fault == "refuse":
                return self._answer(
                    200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号", "RequestId": request_id}
                )
            if fault == "throttle":
                return self._answer(
                    200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控", "RequestId": request_id}
                )
            if fault == "server_error":
                return self._answer(500, {"Code": "InternalError", "Message": "boom", "RequestId": request_id})
            record = self.gw._accept("aliyun", query)
            answer = {"Code": "OK", "Message": "OK", "BizId": f"biz{record['id']}", "RequestId": request_id}
            return self._answer(200, answer, delay=self.gw.slow_seconds if fault == "timeout_after_accept" else 0)
        if action == "QuerySendDetails":
            day = query.get("SendDate", "")
            details = [
                {
                    "PhoneNum": r["PhoneNumbers"],
                    "SendStatus": 3,
                    "ErrCode": "DELIVERED",
                    "TemplateCode": r["TemplateCode"],
                    "Content": "",
                    "SendDate": r["at"].strftime("%Y-%m-%d %H:%M:%S"),
                    "ReceiveDate": r["at"].strftime("%Y-%m-%d %H:%M:%S"),
                    "OutId": r.get("OutId", ""),
                }
                for r in self.gw.accepted["aliyun"]
                if r["PhoneNumbers"] == query.get("PhoneNumber") and r["at"].astimezone().strftime("%Y%m%d") == day
            ]
            size, page = int(query.get("PageSize", "10")), int(query.get("CurrentPage", "1"))
            return self._answer(
                200,
                {
                    "Code": "OK",
                    "Message": "OK",
                    "RequestId": request_id,
                    "TotalCount": len(details),
                    "SmsSendDetailDTOs": {"SmsSendDetailDTO": details[(page - 1) * size : page * size]},
                },
            )
        return self._answer(400, {"Code": "InvalidAction.NotFound", "Message": action, "RequestId": request_id})

    # ---- Tencent Cloud (TC3-HMAC-SHA256) ---------------------------------------------------------
    def _tencent_signature_ok(self, method: str, path: str, headers: dict, body: bytes) -> bool:
        auth = headers.get("authorization", "")
        prefix = "TC3-HMAC-SHA256 "
        if not auth.startswith(prefix):
            return False
        fields = dict(item.strip().split("=", 1) for item in auth[len(prefix) :].split(","))
        secret_id, secret_key = self.gw.tencent_key
        credential = fields.get("Credential", "").split("/")
        if len(credential) != 4 or credential[0] != secret_id or credential[3] != "tc3_request":
            return False
        _sid, date, service, _term = credential
        timestamp = headers.get("x-tc-timestamp", "")
        if datetime.fromtimestamp(int(timestamp or 0), UTC).strftime("%Y-%m-%d") != date:
            return False
        signed = fields.get("SignedHeaders", "").split(";")
        canonical_headers = "".join(f"{name}:{headers.get(name, '')}\n" for name in signed)
        canonical = f"{method}\n{path}\n\n{canonical_headers}\n{';'.join(signed)}\n{hashlib.sha256(body).hexdigest()}"
        scope = f"{date}/{service}/tc3_request"
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
        key = hmac.new(key, service.encode(), hashlib.sha256).digest()
        key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("Signature", "")) and service == "sms"

    def _tencent(self, method: str, path: str, headers: dict, body: bytes) -> None:
        action = headers["x-tc-action"]
        ok = self._tencent_signature_ok(method, path, headers, body)
        params = json.loads(body or b"{}")
        self.gw.seen.append(Seen("tencent", action, method, path, headers, params, ok))
        request_id = f"req-{next(self.gw._ids)}"

        def error(code: str, message: str) -> None:
            self._answer(200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}})

        if not ok or headers.get("x-tc-version") != "2021-01-11":
            return error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        if action == "SendSms":
            fault = self.gw._next_fault("tencent")
            if fault == "server_error":
                return error("InternalError.Timeout", "timeout")
            phone = (params.get("PhoneNumberSet") or [""])[0]
            if fault in ("refuse", "throttle"):
                code = (
                    "InvalidParameterValue.IncorrectPhoneNumber"
                    if fault == "refuse"
                    else "LimitExceeded.DeliveryFrequencyLimit"
                )
                status = {
                    "SerialNo": "",
                    "PhoneNumber": phone,
                    "Fee": 0,
                    "SessionContext": params.get("SessionContext", ""),
                    "Code": code,
                    "Message": code,
                    "IsoCode": "CN",
                }
                return self._answer(200, {"Response": {"SendStatusSet": [status], "RequestId": request_id}})
            for name in ("SmsSdkAppId", "TemplateId", "SignName"):
                if not params.get(name):
                    return error("MissingParameter", name)
            record = self.gw._accept("tencent", params)
            status = {
                "SerialNo": f"serial-{record['id']}",
                "PhoneNumber": phone,
                "Fee": 1,
                "SessionContext": params.get("SessionContext", ""),
                "Code": "Ok",
                "Message": "send success",
                "IsoCode": "CN",
            }
            delay = self.gw.slow_seconds if fault == "timeout_after_accept" else 0
            return self._answer(200, {"Response": {"SendStatusSet": [status], "RequestId": request_id}}, delay=delay)
        if action == "PullSmsSendStatusByPhoneNumber":
            begin, end = int(params.get("BeginTime", 0)), int(params.get("EndTime", 2**31))
            receipts = [
                {
                    "UserReceiveTime": r["at"].strftime("%Y-%m-%d %H:%M:%S"),
                    "CountryCode": "86",
                    "SubscriberNumber": params.get("PhoneNumber", "")[-11:],
                    "PhoneNumber": params.get("PhoneNumber", ""),
                    "SerialNo": f"serial-{r['id']}",
                    "ReportStatus": "SUCCESS",
                    "Description": "用户接收成功",
                    "SessionContext": r.get("SessionContext", ""),
                }
                for r in self.gw.accepted["tencent"]
                if params.get("PhoneNumber") in r.get("PhoneNumberSet", []) and begin <= r["at"].timestamp() <= end + 1
            ]
            return self._answer(200, {"Response": {"PullSmsSendStatusSet": receipts, "RequestId": request_id}})
        return error("InvalidAction", action)

    # ---- WeChat ----------------------------------------------------------------------------------
    def _wechat(self, method: str, path: str, query: dict, body: bytes) -> None:
        app_id, secret = self.gw.wechat_app
        if path == "/cgi-bin/token":
            ok = query.get("appid") == app_id and query.get("secret") == secret
            self.gw.seen.append(Seen("wechat", "token", method, path, {}, query, ok))
            if not ok or query.get("grant_type") != "client_credential":
                return self._answer(200, {"errcode": 40013, "errmsg": "invalid appid"})
            return self._answer(200, {"access_token": f"token-{app_id}", "expires_in": 7200})
        if path == "/cgi-bin/message/subscribe/send":
            params = json.loads(body or b"{}")
            ok = query.get("access_token") == f"token-{app_id}"
            self.gw.seen.append(Seen("wechat", "send", method, path, {}, params, ok))
            if not ok:
                return self._answer(200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
            fault = self.gw._next_fault("wechat")
            if fault == "throttle":
                return self._answer(200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"})
            if params.get("touser") not in self.gw.wechat_subscribed or fault == "refuse":
                return self._answer(200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"})
            if not params.get("template_id") or not isinstance(params.get("data"), dict):
                return self._answer(200, {"errcode": 47003, "errmsg": "argument invalid!"})
            record = self.gw._accept("wechat", params)
            delay = self.gw.slow_seconds if fault == "timeout_after_accept" else 0
            return self._answer(200, {"errcode": 0, "errmsg": "ok", "msgid": int(record["id"])}, delay=delay)
        self._answer(404, {"errcode": 404, "errmsg": "not found"})

    # ---- generic signed gateway ------------------------------------------------------------------
    def _generic(self, method: str, path: str, headers: dict, body: bytes) -> None:
        timestamp = headers.get("x-orderhub-timestamp", "")
        expected = generic_sign(
            secret=self.gw.generic_secret, timestamp=timestamp, method=method, path=path, body=body.decode()
        )
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        ok = fresh and hmac.compare_digest(expected, headers.get("x-orderhub-signature", ""))
        params = json.loads(body) if body else {}
        self.gw.seen.append(Seen("generic", method, method, path, headers, params, ok))
        if not ok:
            return self._answer(401, {"error": "bad signature"})
        if method == "GET":
            wanted = path.rsplit("/", 1)[-1]
            for record in self.gw.accepted["generic"]:
                if record["body"]["id"] == wanted:
                    return self._answer(200, {"id": wanted, "status": "sent", "message_id": f"gw-{record['id']}"})
            return self._answer(404, {"error": "unknown id"})
        for record in self.gw.accepted["generic"]:
            if record["body"]["id"] == params.get("id"):
                return self._answer(
                    409, {"id": params["id"], "status": "duplicate", "message_id": f"gw-{record['id']}"}
                )
        fault = self.gw._next_fault("generic")
        if fault == "refuse":
            return self._answer(422, {"error": "invalid recipient"})
        if fault == "throttle":
            return self._answer(429, {"error": "slow down"})
        if fault == "server_error":
            return self._answer(503, {"error": "unavailable"})
        record = self.gw._accept("generic", {"body": params})
        delay = self.gw.slow_seconds if fault == "timeout_after_accept" else 0
        return self._answer(
            201, {"id": params.get("id"), "status": "accepted", "message_id": f"gw-{record['id']}"}, delay=delay
        )
