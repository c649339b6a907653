"""A local stand-in for the five marketplaces' open APIs (and the manual bridge), for tests and demos.

One threaded `http.server` answers each platform's order-list, order-detail, ship and stock APIs in
the platform's own request and response shape, checks every request's signature with the shop's
secret, and keeps orders, shipments and stock in memory. Adapters talk to it exactly as to the real
gateway; only `Channel.api_base_url` differs:

    taobao / tmall  {base}/taobao/router/rest      (real: https://eco.taobao.com/router/rest)
    jd              {base}/jd/routerjson           (real: https://api.jd.com/routerjson)
    pdd             {base}/pdd/api/router          (real: https://gw-api.pinduoduo.com/api/router)
    douyin          {base}/douyin                  + /order/orderDetail … (real: https://openapi-fxg.jinritemai.com)
    kuaishou        {base}/kuaishou                + /open/order/detail … (real: https://openapi.kwaixiaodian.com)
    manual          {base}/manual                  + /orders/search …   (OrderHub's neutral bridge API)

Control endpoints (JSON):

    GET    /_emulator/health
    POST   /_emulator/shops      {platform, app_key, app_secret, sign_secret?, access_token?, message_key?}
    GET    /_emulator/shops
    POST   /_emulator/orders     {platform, orders: [native…], app_key?}   or   {platform, generate: N, seed?}
    GET    /_emulator/orders?platform=…
    GET    /_emulator/shipments?platform=…
    GET    /_emulator/stock?platform=…
    POST   /_emulator/stock      {platform, app_key, item_id, sku_id, quantity}  set the quantity the platform
                                  shows (a seller editing it in the console): drift for reconciliation tests
    GET    /_emulator/calls?platform=…                  the last signed API calls (params as received)
    POST   /_emulator/faults     {platform, kind: http500|timeout|error_code|slow, count, code?, sub_code?, msg?,
                                  method?, path?, delay?, after?}  fail the next `count` matching calls
                                  (after letting `after` of them through); "slow" lets the call take
                                  effect and answers `delay` s later (a worker can die waiting)
    GET    /_emulator/faults     DELETE /_emulator/faults
    POST   /_emulator/events     {platform, external_id, event: pay|cancel|refund_request|refund_complete|
                                  refund_withdraw|address_change|memo, line?, push_url?, app_key?}  change an
                                  order as the platform would (modified time bumped; the refund events act on
                                  line `line`, 0-based, where the platform has line-level after-sales); with
                                  push_url, also POST the platform's push (Douyin, Kuaishou)
    POST   /_emulator/reset      forget orders, shipments, stock, calls, faults and waybills (shops stay)

E-waybills (orders/emulator_waybills.py): every shop is subscribed to each carrier of its platform at
one branch with a seeded quota; the get-number calls answer one number per parcel key.

    GET    /_emulator/waybills?platform=…   every number issued, by parcel key ("<platform>:<key>"),
                                             the waybills (state issued/cancelled/collected) and branches
    POST   /_emulator/waybill_quota  {platform, app_key, carrier_code, branch_code, quota}  (null: uncounted)
    POST   /_emulator/waybills/collect  {platform, tracking_number}  the carrier picked it up: cancel refused
    POST   /_emulator/faults     {platform, kind: quota_exhausted | unreachable (province?) |
                                  partial_failure (parcel_keys? positions? code?) | timeout_after_issue
                                  (delay), method?, count?}  e-waybill faults of the get-number calls

Tracking services (orders/emulator_tracking.py, documented there): Kuaidi100 at {base}/kuaidi100/poll
and {base}/kuaidi100/poll/query.do, Kuaidiniao at {base}/kuaidiniao/Ebusiness/EbusinessOrderHandle.aspx,
both verifying their signatures; `/_emulator/tracking…` advances a parcel (collected → in transit →
delivered, or a problem) and pushes signed callbacks to the subscribed URL, with faults (reply_error,
unreachable, bad_sign, lost_callback).

Orders posted without `app_key` are visible to every shop of the platform. The Taobao increment call
returns only the requested `fields` (pass `orders` etc. to get full trades); the adapter follows it
with `taobao.trade.fullinfo.get`, as on the real platform. Already-shipped orders answer the
platform's "already shipped" error where one exists (Taobao B04, Douyin 60110) and a generic
business refusal elsewhere.

Ship write-back (README §5): every ship call that takes effect is kept in `shipments` (platform,
api, kind ship|modify, order, carrier code, number(s), lines) and each order shows its numbers on
re-read as the platform does (Taobao `invoice_no` per sub-order, JD `waybill`, PDD `tracking_number`
+ `extra_track_list`, Douyin `logistics_info`, Kuaishou `orderLogisticsInfo`, manual
`tracking_numbers`). A carrier code not in the platform's list (§6) is refused (Taobao 41, JD
errorCode 10400010 (u), PDD 10000 (u), Douyin 60018, Kuaishou 802002 (u), manual bad_carrier), as is
a number failing the carrier's number rule (Taobao B60, Douyin 60017; the emulator's rule: 4–32
letters/digits). Multi-parcel calls: Taobao `sub_tid`+`is_split`, JD `|`/`,` groups, PDD
`pdd.order.upload.extra.logistics` (u), Douyin `order.logisticsAddMultiPack` (`request_id` replays
answer success without a second shipment), Kuaishou `open.order.goods.split.deliver` (u). Number
changes: PDD `redelivery_type=2` (u), Kuaishou `open.seller.order.logistics.update` (u), manual
`orders/tracking`.

Stock: the write APIs record a level per (platform, app_key, item, sku) in `stock_levels` (JD stock
is per SKU, so its item part is ""); the read APIs the adapters' `fetch_stock` use answer from the
same levels: `taobao.item.sku.get` / `taobao.item.seller.get`, `jingdong.stock.read.findSkuStock`,
`pdd.goods.information.get`, `sku.stockNum` (Douyin), `open.item.get` (Kuaishou), manual
`stock/get`. A SKU nobody pushed is unknown to the emulator: the read answers the platform's
not-found error (the codes are invented, see each handler) rather than a made-up 0.
`set_stock` / `POST /_emulator/stock` change a level without an API call, to inject drift.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from orders.channels import common as c
from orders.channels import douyin, jd, kuaishou, manual, pdd, taobao
from orders.channels.base import ChannelCredentials, PayloadError
from orders.channels.carriers import CARRIER_TABLE
from orders.channels.fakes import EVENTS, apply_event, generate_orders, native_id, native_modified
from orders.emulator_tracking import PATHS as TRACKING_PATHS
from orders.emulator_tracking import TrackingDesk
from orders.emulator_waybills import WAYBILL_FAULT_KINDS, Parcel, Refusal, Waybill, WaybillDesk, carrier_names

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou", "manual")
#: the control endpoints the root page lists (each handled in ChannelEmulator._control)
CONTROL_ENDPOINTS = [
    ("GET /_emulator/health", "platforms and their paths"),
    ("GET|POST /_emulator/shops", "shops (app keys, secrets)"),
    ("GET|POST /_emulator/orders", "orders held per platform; POST adds or generates orders"),
    ("GET /_emulator/shipments", "shipments written back"),
    ("GET|POST /_emulator/stock", "stock levels pushed; POST sets one"),
    ("GET /_emulator/calls", "every API call received"),
    ("GET|POST|DELETE /_emulator/faults", "injected failures (HTTP 500, timeouts, platform errors)"),
    ("POST /_emulator/events", "push an order event to OrderHub's webhook"),
    ("GET /_emulator/waybills", "e-waybill numbers issued per parcel key"),
    ("POST /_emulator/waybills/collect", "mark waybill numbers collected"),
    ("POST /_emulator/waybill_quota", "set an e-waybill account's quota"),
    ("GET|POST /_emulator/tracking/…", "tracking services: subscriptions, advance a parcel, callbacks"),
    ("POST /_emulator/reset", "forget everything"),
]

PATHS = {
    "taobao": "/taobao/router/rest",
    "jd": "/jd/routerjson",
    "pdd": "/pdd/api/router",
    "douyin": "/douyin",
    "kuaishou": "/kuaishou",
    "manual": "/manual",
}
ADAPTERS = {"taobao": taobao, "jd": jd, "pdd": pdd, "douyin": douyin, "kuaishou": kuaishou, "manual": manual}
CALL_FAULT_KINDS = ("http500", "timeout", "error_code", "reply", "slow")
FAULT_KINDS = CALL_FAULT_KINDS + WAYBILL_FAULT_KINDS
CALL_LOG_SIZE = 1000


def platform_of(name: str) -> str:
    name = (name or "").lower()
    return "taobao" if name == "tmall" else name


@dataclass
class Shop:
    platform: str
    app_key: str
    app_secret: str = ""
    sign_secret: str = ""
    access_token: str = ""
    message_key: str = ""

    def credentials(self, base_url: str = "") -> ChannelCredentials:
        return ChannelCredentials(
            platform=self.platform,
            app_key=self.app_key,
            app_secret=self.app_secret,
            access_token=self.access_token,
            sign_secret=self.sign_secret,
            message_key=self.message_key,
            api_base_url=base_url,
        )


@dataclass
class Fault:
    platform: str
    kind: str
    count: int = 1
    code: str = ""
    sub_code: str = ""
    msg: str = "injected fault"
    method: str = ""
    path: str = ""
    delay: float = 3.0
    after: int = 0  # let this many matching calls through first: a failure mid-way through a pull
    province: str = ""  # unreachable: only parcels to this province ("" = every parcel)
    parcel_keys: list[str] = field(default_factory=list)  # partial_failure: these parcels fail…
    positions: list[int] = field(default_factory=list)  # …and/or these positions in the batch
    body: Any = None  # kind "reply": answer HTTP 200 with exactly this body (a reply of the wrong shape)

    def matches(self, platform: str, method: str, path: str) -> bool:
        return (
            self.platform in ("*", platform)
            and (not self.method or self.method == method)
            and (not self.path or path.startswith(self.path))
        )


@dataclass
class Reply:
    status: int
    body: Any
    delay: float = 0.0
    content_type: str = ""  # default: JSON for data, plain text for text

    def encode(self) -> bytes:
        if isinstance(self.body, bytes | str):
            return self.body.encode() if isinstance(self.body, str) else self.body
        text = json.dumps(self.body, ensure_ascii=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (poison tests): sent escaped, as a platform would
            return json.dumps(self.body, ensure_ascii=True).encode("ascii")


@dataclass
class Request:
    method: str  # HTTP verb
    path: str
    query: dict[str, str]
    form: dict[str, str]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, str]:
        return {**self.query, **self.form}


class ApiError(Exception):
    """A platform error raised inside a handler, rendered in the platform's own error shape."""

    def __init__(self, code: Any, msg: str, sub_code: str = ""):
        super().__init__(msg)
        self.code, self.msg, self.sub_code = code, msg, sub_code


class ChannelEmulator:
    """The emulator's state and request dispatch; `start()` serves it on a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.lock = threading.RLock()
        self.shops: dict[tuple[str, str], Shop] = {}
        self.book: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in PLATFORMS}
        self.shipments: list[dict[str, Any]] = []
        self.ship_request_ids: set[tuple[str, str]] = set()  # idempotency keys of ship calls taken
        self.split_orders: set[tuple[str, str]] = set()  # orders shipped in packages (more may follow)
        self.stock_updates: list[dict[str, Any]] = []
        self.stock_levels: dict[tuple[str, str, str, str], int] = {}
        self.faults: list[Fault] = []
        self.waybills = WaybillDesk()
        self.tracking = TrackingDesk()
        self.calls: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_SIZE)
        self.server = _Server((host, port), _Handler)
        self.server.emulator = self
        self._thread: threading.Thread | None = None
        self._message_ids = itertools.count(1)

    # lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, platform: str) -> str:
        """The `api_base_url` a Channel of this platform should use to reach the emulator."""
        return self.base_url + PATHS[platform_of(platform)]

    def start(self) -> ChannelEmulator:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="channel-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> ChannelEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # state, callable directly from Python (tests) or over /_emulator ------------------------
    def add_shop(
        self,
        platform: str,
        app_key: str,
        app_secret: str = "",
        *,
        sign_secret: str = "",
        access_token: str = "",
        message_key: str = "",
    ) -> Shop:
        shop = Shop(platform_of(platform), app_key, app_secret, sign_secret, access_token, message_key)
        if shop.platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        with self.lock:
            self.shops[(shop.platform, app_key)] = shop
            self.waybills.seed_shop(shop.platform, app_key)
        return shop

    def credentials(self, platform: str, app_key: str) -> ChannelCredentials:
        """Credentials for a registered shop, pointing at this emulator (handy in tests)."""
        shop = self.shops[(platform_of(platform), app_key)]
        creds = shop.credentials(self.url_for(platform))
        creds.platform = platform
        return creds

    def add_orders(self, platform: str, orders: list[dict[str, Any]], app_key: str | None = None) -> list[str]:
        platform = platform_of(platform)
        ids = []
        with self.lock:
            for order in orders:
                order_id = native_id(platform, order)
                self.book[platform][order_id] = {"order": order, "app_key": app_key}
                ids.append(order_id)
        return ids

    def generate(self, platform: str, count: int, *, seed: int | None = None, app_key: str | None = None) -> list[str]:
        return self.add_orders(platform, generate_orders(platform_of(platform), count, seed=seed), app_key)

    def order(self, platform: str, order_id: str) -> dict[str, Any]:
        return self.book[platform_of(platform)][order_id]["order"]

    def set_stock(self, platform: str, app_key: str, item_id: Any, sku_id: Any, quantity: int) -> None:
        """Set the quantity the platform shows for one SKU, as a seller editing it in the platform's
        console would: no API call, no entry in `stock_updates`. JD keys stock by SKU only."""
        platform = platform_of(platform)
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        item = "" if platform == "jd" else str(item_id or "")
        with self.lock:
            self.stock_levels[(platform, app_key, item, str(sku_id or ""))] = int(quantity)

    def add_fault(self, platform: str, kind: str, count: int = 1, **options: Any) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        fault = Fault(platform=platform_of(platform) if platform != "*" else "*", kind=kind, count=count, **options)
        fault.code, fault.sub_code = str(fault.code), str(fault.sub_code)
        with self.lock:
            self.faults.append(fault)
        return fault

    def reset(self) -> None:
        with self.lock:
            for orders in self.book.values():
                orders.clear()
            self.shipments.clear()
            self.ship_request_ids.clear()
            self.split_orders.clear()
            self.stock_updates.clear()
            self.stock_levels.clear()
            self.faults.clear()
            self.calls.clear()
            self.waybills.reset()
            self.tracking.reset()

    # buyer/platform events and pushes (for the traffic simulator) -------------------------
    def apply_event(self, platform: str, external_id: str, event: str, *, line: int = 0) -> dict[str, Any]:
        """Change a stored order the way the platform would (pay, cancel, a refund requested /
        completed / withdrawn on line `line`, new address, seller memo) and bump its modified time,
        so the next incremental pull sees it."""
        platform = platform_of(platform)
        if event not in EVENTS:
            raise ValueError(f"event must be one of {sorted(EVENTS)}")
        with self.lock:
            order = self.book[platform][str(external_id)]["order"]
            try:
                apply_event(platform, order, event, line=line)
            except IndexError:
                raise ValueError(f"order {external_id} has no line {line}") from None
            return order

    def push_message(self, platform: str, app_key: str, external_id: str, event: str) -> tuple[dict[str, str], bytes]:
        """Headers and body of the HTTP push the platform would send for `event` (Douyin, Kuaishou)."""
        platform = platform_of(platform)
        shop = self.shops[(platform, app_key)]
        message_id = f"{int(time.time() * 1000)}{next(self._message_ids):06d}"
        if platform == "douyin":
            data = c.compact_json({"p_id": int(external_id), "shop_id": 100000001})
            body = c.compact_json([{"tag": DOUYIN_TAGS.get(event, "101"), "msg_id": message_id, "data": data}])
            raw = body.encode("utf-8")
            headers = {"app-id": app_key, "event-sign": douyin.push_sign(app_key, raw, shop.app_secret)}
            return headers | {"Content-Type": "application/json"}, raw
        if platform == "kuaishou":
            oid = int(external_id)
            plain = c.compact_json(
                {
                    "eventId": message_id,
                    "bizId": oid,
                    "event": KUAISHOU_EVENTS.get(event, "kwaishop_order_paySuccess"),
                    "info": c.compact_json({"oid": oid}),
                    "test": False,
                }
            )
            return {"Content-Type": "text/plain"}, kuaishou.encrypt_push(plain, shop.message_key).encode("ascii")
        raise ValueError(f"{platform} does not push over HTTP")

    def send_push(self, platform: str, app_key: str, external_id: str, event: str, url: str) -> int:
        """POST the push to OrderHub's webhook URL; returns the HTTP status it answered."""
        headers, body = self.push_message(platform, app_key, external_id, event)
        return requests.post(url, data=body, headers=headers, timeout=10).status_code

    # dispatch -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        if request.path.startswith("/_emulator/"):
            try:
                return self._control(request)
            except (ValueError, KeyError, TypeError, PayloadError) as exc:
                return Reply(400, {"error": str(exc)})
        if request.path == "/" and request.method == "GET":
            return Reply(200, self.index_page(), content_type="text/html;charset=utf-8")
        if self.tracking.handles(request.path):
            return Reply(*self.tracking.handle(request.path, request.form))
        for platform, prefix in PATHS.items():
            if request.path == prefix or request.path.startswith(prefix + "/"):
                return self._platform_call(platform, request)
        if request.path.startswith("/tmall/"):
            return self._platform_call("taobao", request)
        return Reply(404, {"error": f"no route for {request.path}"})

    def index_page(self) -> str:
        """The root answers a person who opens the emulator's address: what it serves, and where."""

        def rows(items: list[tuple[str, str]]) -> str:
            return "".join(
                f"<tr><td><code>{html.escape(a)}</code></td><td>{html.escape(b)}</td></tr>" for a, b in items
            )

        platforms = [(path, f"{platform} open API") for platform, path in PATHS.items()]
        platforms.append(("/tmall/…", "Tmall (served as Taobao)"))
        tracking = [(path, f"{service}: {call}") for path, (service, call) in TRACKING_PATHS.items()]
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>OrderHub platform emulator</title>"
            "<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:60em}td{padding:.2em 1em .2em 0}"
            "code{background:#f3f3f3;padding:0 .3em}</style></head><body>"
            "<h1>OrderHub platform emulator</h1>"
            "<p>Local stand-in for the marketplaces' open APIs: every call is signed and answered in the "
            "platform's own shapes. Point a channel's API base URL here.</p>"
            f"<h2>Platform APIs</h2><table>{rows(platforms)}</table>"
            f"<h2>Tracking services</h2><table>{rows(tracking)}</table>"
            f"<h2>Control (for tests and the demo)</h2><table>{rows(CONTROL_ENDPOINTS)}</table>"
            "</body></html>"
        )

    def _platform_call(self, platform: str, request: Request) -> Reply:
        handler = getattr(self, f"_{platform}")
        api = _api_name(platform, request)
        with self.lock:
            fault = next(
                (f for f in self.faults if f.kind in CALL_FAULT_KINDS and f.matches(platform, api, request.path)),
                None,
            )
            if fault and fault.after > 0:
                fault.after -= 1
                fault = None
            elif fault:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
        if fault and fault.kind == "http500":
            return Reply(500, "Internal Server Error")
        if fault and fault.kind == "timeout":
            return Reply(504, "Gateway Timeout", delay=fault.delay)
        if fault and fault.kind == "reply":
            return Reply(200, fault.body)
        try:
            if fault and fault.kind != "slow":
                raise ApiError(fault.code or "15", fault.msg, fault.sub_code)
            answer = handler(api, request)
            answer = answer if isinstance(answer, Reply) else Reply(200, answer)
            if fault:  # "slow": the call takes effect at once, the answer comes `delay` s later
                answer.delay = max(answer.delay, fault.delay)
            return answer
        except ApiError as err:
            return Reply(200, _error_body(platform, err))

    def _shop(self, platform: str, app_key: str) -> Shop:
        shop = self.shops.get((platform, app_key))
        if shop is None:
            raise ApiError(*AUTH_ERRORS[platform]["app"])
        return shop

    def _verify(self, platform: str, shop: Shop, params: dict[str, str], given: str) -> None:
        adapter = ADAPTERS[platform].Adapter(shop.credentials())
        if not c.same_sign(adapter.sign(params), given):
            raise ApiError(*AUTH_ERRORS[platform]["sign"])

    def _log(self, platform: str, api: str, shop: Shop, params: dict[str, Any]) -> None:
        self.calls.append({"platform": platform, "api": api, "app_key": shop.app_key, "params": params})

    def _visible(self, platform: str, shop: Shop) -> list[dict[str, Any]]:
        return [e["order"] for e in self.book[platform].values() if e["app_key"] in (None, shop.app_key)]

    def _find(self, platform: str, shop: Shop, order_id: str) -> dict[str, Any] | None:
        entry = self.book[platform].get(str(order_id))
        if entry is None or entry["app_key"] not in (None, shop.app_key):
            return None
        return entry["order"]

    def _modified_between(
        self, platform: str, shop: Shop, start: datetime, end: datetime, *, paid_only: bool = False
    ) -> list[dict[str, Any]]:
        rows = [
            o
            for o in self._visible(platform, shop)
            if start <= native_modified(platform, o) <= end and (not paid_only or _is_paid(platform, o))
        ]
        return sorted(rows, key=lambda o: (native_modified(platform, o), native_id(platform, o)))

    def _record_shipment(self, platform: str, shop: Shop, order_id: str, tracking: str, carrier: str, **extra: Any):
        self.shipments.append(
            {
                "platform": platform,
                "app_key": shop.app_key,
                "external_id": str(order_id),
                "tracking_number": str(tracking),
                "carrier_code": str(carrier),
                "at": c.now_shanghai().isoformat(),
                "kind": "ship",
                **extra,
            }
        )

    def _record_stock(
        self, platform: str, shop: Shop, item_id: Any, sku_id: Any, quantity: int, *, delta: bool = False, **extra: Any
    ) -> int:
        key = (platform, shop.app_key, str(item_id or ""), str(sku_id or ""))
        level = self.stock_levels.get(key, 0) + quantity if delta else quantity
        self.stock_levels[key] = level
        self.stock_updates.append(
            {
                "platform": platform,
                "app_key": shop.app_key,
                "item_id": key[2],
                "sku_id": key[3],
                "quantity": quantity,
                "delta": delta,
                "level": level,
                "at": c.now_shanghai().isoformat(),
                **extra,
            }
        )
        return level

    def _levels(self, platform: str, shop: Shop, *, item_id: Any = None, sku_id: Any = None) -> dict[tuple, int]:
        """This shop's stock levels as {(item, sku): quantity}, filtered by item and/or sku id."""
        return {
            (i, s): q
            for (p, k, i, s), q in self.stock_levels.items()
            if p == platform
            and k == shop.app_key
            and (item_id is None or i == str(item_id))
            and (sku_id is None or s == str(sku_id))
        }

    # e-waybills (orders/emulator_waybills.py decides; the handlers translate shapes) -------------
    def _waybill_faults(self, platform: str, api: str) -> dict[str, Fault]:
        """The waybill faults that may fire on this get-number call, by kind (the first of each)."""
        fired: dict[str, Fault] = {}
        for fault in [f for f in self.faults if f.kind in WAYBILL_FAULT_KINDS and f.matches(platform, api, "")]:
            if fault.after > 0:
                fault.after -= 1
                continue
            fired.setdefault(fault.kind, fault)
        return fired

    def _number(
        self, platform: str, api: str, shop: Shop, carrier: str, parcels: list[Parcel], *, atomic: bool, **where: Any
    ) -> tuple[list[Waybill | Refusal], float]:
        """Find the branch (`branch_code=` or `sender=`) and number the parcels there. A fault is
        used up (its count) only by a call it changed: an unreachable province or a partial failure
        waits for a parcel it names."""
        faults = self._waybill_faults(platform, api)
        used: set[str] = set()
        try:
            branch = self.waybills.branch_for(platform, shop.app_key, carrier, **where)
            return self.waybills.issue(branch, parcels, faults, used, atomic=atomic)
        finally:
            for kind in used:
                fault = faults[kind]
                fault.count -= 1
                if fault.count <= 0 and fault in self.faults:
                    self.faults.remove(fault)

    # Taobao ---------------------------------------------------------------------------------
    def _taobao(self, api: str, req: Request) -> dict[str, Any]:
        params = req.params
        shop = self._shop("taobao", params.get("app_key", ""))
        self._verify("taobao", shop, {k: v for k, v in params.items() if k != "sign"}, params.get("sign", ""))
        if shop.access_token and params.get("session") != shop.access_token:
            raise ApiError(27, "Invalid session", "invalid-sessionkey")
        with self.lock:
            self._log("taobao", api, shop, params)
            if api == "taobao.trades.sold.increment.get":
                start = _req_time(params, "start_modified", c.parse_local_time, 41)
                end = _req_time(params, "end_modified", c.parse_local_time, 41)
                page_no, size = _int(params.get("page_no"), 1), min(_int(params.get("page_size"), 40), 100)
                rows = self._modified_between("taobao", shop, start, end)
                fields = [f.strip() for f in params.get("fields", "").split(",") if f.strip()]
                page = rows[(page_no - 1) * size : page_no * size]
                trades = [{k: v for k, v in t.items() if not fields or k in fields} for t in page]
                return {
                    "trades_sold_increment_get_response": {
                        "total_results": len(rows),
                        "has_next": page_no * size < len(rows),
                        "trades": {"trade": trades},
                    }
                }
            if api == "taobao.trade.fullinfo.get":
                trade = self._find("taobao", shop, params.get("tid", ""))
                if trade is None:
                    raise ApiError(15, "Remote service error", "isv.trade-not-exist")
                return {"trade_fullinfo_get_response": {"trade": trade}}
            if api == "taobao.logistics.offline.send":
                return self._taobao_ship(shop, params)
            if api.startswith("cainiao.waybill.ii."):
                return self._cloud_print("taobao", api, shop, params)
            if api == "taobao.logistics.companies.get":
                companies = [
                    {"id": 500 + i, "code": code, "name": name, "reg_mail_no": ""}
                    for i, (code, name) in enumerate(carrier_names("taobao"))
                ]
                return {"logistics_companies_get_response": {"logistics_companies": {"logistics_company": companies}}}
            if api == "taobao.item.quantity.update":
                _need(params, ("num_iid", "quantity"), 40)
                quantity = _int(params["quantity"], 0)
                is_delta = params.get("type") == "2"
                level = self._record_stock(
                    "taobao", shop, params["num_iid"], params.get("sku_id"), quantity, delta=is_delta
                )
                return {
                    "item_quantity_update_response": {
                        "item": {"num_iid": int(params["num_iid"]), "num": level, "modified": _now_s()}
                    }
                }
            if api == "taobao.item.sku.get":
                _need(params, ("fields", "sku_id"), 40)
                rows = self._levels("taobao", shop, item_id=params.get("num_iid"), sku_id=params["sku_id"])
                if not rows:
                    raise ApiError(15, "Remote service error", "isv.item-sku-not-exist")  # (u) invented
                (item, sku), quantity = next(iter(rows.items()))
                full = {"sku_id": int(sku) if sku.isdigit() else sku, "num_iid": item, "quantity": quantity}
                fields = {f.strip() for f in params["fields"].split(",")}
                return {"item_sku_get_response": {"sku": {k: v for k, v in full.items() if k in fields}}}
            if api == "taobao.item.seller.get":
                _need(params, ("fields", "num_iid"), 40)
                rows = self._levels("taobao", shop, item_id=params["num_iid"])
                if not rows:
                    raise ApiError(15, "Remote service error", "isv.item-not-exist")  # (u) invented
                num = rows.get((params["num_iid"], ""), sum(rows.values()))
                return {"item_seller_get_response": {"item": {"num_iid": params["num_iid"], "num": num}}}
        raise ApiError(22, "Invalid method", "")

    def _taobao_ship(self, shop: Shop, params: dict[str, str]) -> dict[str, Any]:
        _need(params, ("tid", "out_sid", "company_code"), 40)
        trade = self._find("taobao", shop, params["tid"])
        prefix = "isv.logistics-offline-service-error"
        if trade is None:
            raise ApiError(15, "Remote service error", f"{prefix}:B01")
        if trade.get("status") not in ("WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART"):
            raise ApiError(15, "Remote service error", f"{prefix}:B04")
        if not _known_carrier("taobao", params["company_code"]):
            raise ApiError(41, "Invalid arguments:company_code", "isv.invalid-parameter:company_code")  # (u)
        if not _valid_number(params["out_sid"]):
            raise ApiError(15, "Remote service error", f"{prefix}:B60")
        sub_tids = [s for s in params.get("sub_tid", "").split(",") if s]
        waiting = [
            ln
            for ln in c.dig(trade, "orders", "order", default=[])
            if ln.get("status") != "WAIT_BUYER_CONFIRM_GOODS"
            and (not sub_tids or c.text(ln.get("oid_str") or ln.get("oid")) in sub_tids)
        ]
        if not waiting:  # every named sub-order has left already
            raise ApiError(15, "Remote service error", f"{prefix}:B04")
        for line in waiting:
            line["status"] = "WAIT_BUYER_CONFIRM_GOODS"
            line["invoice_no"], line["logistics_company"] = params["out_sid"], params["company_code"]
        lines = c.dig(trade, "orders", "order", default=[])
        done = all(ln.get("status") == "WAIT_BUYER_CONFIRM_GOODS" for ln in lines)
        trade["status"] = "WAIT_BUYER_CONFIRM_GOODS" if done else "SELLER_CONSIGNED_PART"
        trade["consign_time"] = trade["modified"] = _now_s()
        self._record_shipment(
            "taobao",
            shop,
            params["tid"],
            params["out_sid"],
            params["company_code"],
            line_ids=sub_tids,
            api="taobao.logistics.offline.send",
        )
        return {"logistics_offline_send_response": {"shipping": {"is_success": True}}}

    def _cloud_print(self, platform: str, api: str, shop: Shop, params: dict[str, str]) -> dict[str, Any] | Reply:
        """Cainiao (`cainiao.waybill.ii.*`, through the TOP gateway) and PDD (`pdd.waybill.*`) share
        one DTO: get (≤10 parcels, all or nothing), cancel, search (branches and quota),
        query.by.waybillcode (print data for a reprint). Cainiao names the carrier `cp_code`, PDD
        `wp_code`."""
        pdd_ = platform == "pdd"
        carrier_key, bad_args = ("wp_code", 10000) if pdd_ else ("cp_code", 40)
        op = api.rsplit(".", 1)[1] if not api.endswith("query.by.waybillcode") else "query"
        key = api.replace(".", "_") + "_response"
        try:
            if op == "get":
                ask = _json_param(params, "param_waybill_cloud_print_apply_new_request", bad_args)
                dtos = ask.get("trade_order_info_dtos") or []
                if not ask.get(carrier_key) or not dtos:
                    raise ApiError(bad_args, f"参数错误: {carrier_key} and trade_order_info_dtos are required")
                if len(dtos) > 10:
                    raise ApiError(bad_args, "参数错误: trade_order_info_dtos: at most 10 per call")
                parcels = [_cloud_print_parcel(d, bad_args) for d in dtos]
                sender = c.dig(ask, "sender", "address", default={})
                answers, delay = self._number(
                    platform, api, shop, ask[carrier_key], parcels, atomic=True, sender=sender
                )
                modules = [
                    {
                        "object_id": parcel.parcel_key,
                        "waybill_code": w.tracking_number,
                        "parent_waybill_code": w.parent_tracking_number,
                        carrier_key: w.carrier,
                        "print_data": _cloud_print_data(platform, w),
                    }
                    for parcel, w in zip(parcels, answers, strict=True)
                    if isinstance(w, Waybill)
                ]
                return Reply(200, {key: {"modules": modules, "request_id": _request_id()}}, delay=delay)
            if op == "cancel":
                _need(params, (carrier_key, "waybill_code"), bad_args)
                self.waybills.cancel(platform, shop.app_key, params[carrier_key], params["waybill_code"])
                return {key: {"cancel_result": True}}
            if op == "query":
                queries = _json_param(params, "param_list", bad_args)
                modules = []
                for query in queries if isinstance(queries, list) else []:
                    carrier, number = c.text(query.get(carrier_key)), c.text(query.get("waybill_code"))
                    w = self.waybills.find(platform, shop.app_key, carrier, number)
                    modules.append({"waybill_code": w.tracking_number, "print_data": _cloud_print_data(platform, w)})
                return {key: {"modules": modules}}
            if op == "search":
                cols: dict[str, dict[str, Any]] = {}
                for branch in self.waybills.branches_of(platform, shop.app_key, params.get(carrier_key, "")):
                    col = cols.setdefault(
                        branch.carrier, {carrier_key: branch.carrier, "branch_account_cols": [], "cp_type": 2}
                    )
                    col["branch_account_cols"].append(
                        {
                            "branch_code": branch.branch_code,
                            "branch_name": branch.branch_name,
                            "quantity": -1 if branch.quota is None else branch.quota,
                            "allocated_quantity": branch.allocated,
                            "cancel_quantity": branch.cancelled,
                            "print_quantity": 0,
                            "shipp_address_cols": [branch.sender],
                        }
                    )
                return {key: {"waybill_apply_subscription_cols": list(cols.values())}}
        except Refusal as refusal:
            named = f"object_id={refusal.parcel_key}: " if refusal.parcel_key else ""
            if pdd_:
                raise ApiError(50000, f"{named}{refusal}", PDD_REFUSALS[refusal.kind]) from None
            raise ApiError(15, f"{named}{refusal}", CAINIAO_REFUSALS[refusal.kind]) from None
        raise ApiError(bad_args, f"unknown method {api}")

    # JD -------------------------------------------------------------------------------------
    def _jd(self, api: str, req: Request) -> dict[str, Any]:
        params = req.params
        shop = self._shop("jd", params.get("app_key", ""))
        self._verify("jd", shop, {k: v for k, v in params.items() if k != "sign"}, params.get("sign", ""))
        if shop.access_token and params.get("access_token") != shop.access_token:
            raise ApiError("19", "Invalid access_token")
        try:
            biz = json.loads(params.get("360buy_param_json") or "{}")
        except ValueError:
            raise ApiError("61", "Invalid 360buy_param_json") from None
        key = api.replace(".", "_") + "_responce"
        ok = {"success": True, "englishErrCode": "", "chineseErrCode": "", "numberCode": 0}
        with self.lock:
            self._log("jd", api, shop, params)
            if api == "jingdong.pop.order.search":
                start = _req_time(biz, "start_date", c.parse_local_time, "66")
                end = _req_time(biz, "end_date", c.parse_local_time, "66")
                states = {s for s in str(biz.get("order_state", "")).split(",") if s}
                page_no, size = _int(biz.get("page"), 1), min(_int(biz.get("page_size"), 20), 100)
                rows = [
                    o
                    for o in self._modified_between("jd", shop, start, end, paid_only=True)
                    if not states or o.get("orderState") in states
                ]
                return {
                    key: {
                        "code": "0",
                        "searchorderinfo_result": {
                            "apiResult": ok,
                            "orderTotal": len(rows),
                            "orderInfoList": rows[(page_no - 1) * size : page_no * size],
                        },
                    }
                }
            if api == "jingdong.pop.order.get":
                order = self._find("jd", shop, c.text(biz.get("order_id")))
                if order is None:
                    missing = {"success": False, "numberCode": 10100040, "chineseErrCode": "订单不存在"}
                    return {key: {"code": "0", "orderDetailInfo": {"apiResult": {**ok, **missing}}}}
                return {key: {"code": "0", "orderDetailInfo": {"apiResult": ok, "orderInfo": order}}}
            if api in JD_WAYBILL_APIS:
                return self._jd_waybill(api, shop, biz, key)
            if api == "jingdong.delivery.logistics.get":
                rows = [
                    {"logistics_id": int(code), "logistics_name": name, "logistics_remark": "", "sequence": i}
                    for i, (code, name) in enumerate(carrier_names("jd"))
                ]
                return {key: {"logistics_companies": {"logistics_list": rows}}}
            if api == "jingdong.pop.order.shipment":
                order = self._find("jd", shop, c.text(biz.get("orderId")))
                if order is None or order.get("orderState") not in ("WAIT_SELLER_STOCK_OUT", "WAIT_SELLER_DELIVERY"):
                    refusal = {"success": False, "errorCode": "10400001", "chineseErrCode": "订单状态不正确，不能出库"}
                    return {key: {"code": "0", "sopjosshipment_result": refusal}}
                carriers = c.text(biz.get("logiCoprId")).split("|")
                groups = [[n for n in g.split(",") if n] for g in c.text(biz.get("logiNo")).split("|")]
                bad = len(carriers) != len(groups) or any(
                    not (_known_carrier("jd", code) or code == "1274") for code in carriers
                )
                if bad or not all(groups) or not all(_valid_number(n) for g in groups for n in g):
                    # (u) invented code: the refusal of a carrier or number JD does not accept
                    refusal = {"success": False, "errorCode": "10400010", "chineseErrCode": "承运商或运单号错误"}
                    return {key: {"code": "0", "sopjosshipment_result": refusal}}
                order["orderState"] = "WAIT_GOODS_RECEIVE_CONFIRM"
                order["waybill"], order["logisticsId"] = c.text(biz.get("logiNo")), c.text(biz.get("logiCoprId"))
                order["modified"] = _now_s()
                self._record_shipment(
                    "jd",
                    shop,
                    order["orderId"],
                    biz.get("logiNo"),
                    biz.get("logiCoprId"),
                    api=api,
                    tracking_numbers=[n for g in groups for n in g],
                )
                return {key: {"code": "0", "sopjosshipment_result": {"success": True}}}
            if api in ("jingdong.stock.write.updateSkuStock", "jingdong.stock.write.increaseSkuStock"):
                if biz.get("skuId") in (None, "") or biz.get("stockNum") in (None, ""):
                    raise ApiError("66", "missing skuId or stockNum")
                delta = api.endswith("increaseSkuStock")
                self._record_stock("jd", shop, "", biz["skuId"], _int(biz["stockNum"], 0), delta=delta)
                return {key: {"code": "0", "success": True}}
            if api == "jingdong.stock.read.findSkuStock":
                if biz.get("skuId") in (None, ""):
                    raise ApiError("66", "missing skuId")
                rows = self._levels("jd", shop, sku_id=c.text(biz["skuId"]))
                stocks = [{"skuId": _id_value(sku), "stockNum": quantity} for (_item, sku), quantity in rows.items()]
                return {key: {"code": "0", "skuStocks": stocks}}  # an unknown SKU: an empty list
        raise ApiError("67", f"Invalid method {api}")

    def _jd_waybill(self, api: str, shop: Shop, biz: dict[str, Any], key: str) -> dict[str, Any] | Reply:
        """JD 无界: waybill.receive (one order per call), waybill.api.unbind (cancel), provider.sign.success
        and vendor.stock.queryByProviderCode (branches, quota), printing.printData.pullData."""
        content = biz.get("content") if isinstance(biz.get("content"), dict) else biz
        try:
            if api == "jingdong.ldop.alpha.waybill.receive":
                order_key = c.text(content.get("vendorOrderCode"))
                if not order_key or not content.get("providerCode") or not content.get("platformOrderNo"):
                    return {
                        key: {
                            "resultInfo": {
                                "statusCode": 1,
                                "statusMessage": "参数错误: vendorOrderCode/providerCode/platformOrderNo",
                            }
                        }
                    }
                to = content.get("toAddress") or {}
                parcel = Parcel(
                    parcel_key=order_key,
                    order_ids=c.text(content["platformOrderNo"]).split(","),
                    province=c.text(to.get("provinceName")),
                    receiver_complete=all(c.text(to.get(k)) for k in ("contact", "mobile", "address")),
                )
                (number,), delay = self._number(
                    "jd",
                    api,
                    shop,
                    c.text(content["providerCode"]),
                    [parcel],
                    atomic=True,
                    branch_code=c.text(content.get("branchCode") or content.get("settlementCode")),
                )
                if not isinstance(number, Waybill):  # atomic: refusals are raised, this is for the type
                    raise number
                data = {
                    "platformOrderNo": content["platformOrderNo"],
                    "waybillCodeList": [number.tracking_number],
                    "parentWaybillCode": number.parent_tracking_number,
                }
                return Reply(
                    200, {key: {"resultInfo": {"statusCode": 0, "statusMessage": "成功", "data": data}}}, delay=delay
                )
            if api == "jingdong.ldop.alpha.waybill.api.unbind":
                self.waybills.cancel(
                    "jd", shop.app_key, c.text(content.get("providerCode")), c.text(content.get("waybillCode"))
                )
                return {key: {"resultInfo": {"statusCode": 0, "statusMessage": "成功"}}}
            if api == "jingdong.ldop.alpha.provider.sign.success":
                rows = [
                    {
                        "providerCode": b.carrier,
                        "providerName": b.branch_name.removesuffix("上海浦东张江网点"),
                        "branchCode": b.branch_code,
                        "branchName": b.branch_name,
                        "settlementCode": "",
                        "address": {
                            "provinceName": b.sender["province"],
                            "cityName": b.sender["city"],
                            "countryName": b.sender["district"],
                            "countrysideName": b.sender["town"],
                            "address": b.sender["detail"],
                        },
                    }
                    for b in self.waybills.branches_of("jd", shop.app_key)
                ]
                return {key: {"resultInfo": {"statusCode": 0, "statusMessage": "成功", "data": rows}}}
            if api == "jingdong.ldop.alpha.vendor.stock.queryByProviderCode":
                branch = self.waybills.branch_for(
                    "jd",
                    shop.app_key,
                    c.text(content.get("providerCode")),
                    branch_code=c.text(content.get("branchCode")),
                )
                amount = -1 if branch.quota is None else branch.quota
                data = {"providerCode": branch.carrier, "branchCode": branch.branch_code, "amount": amount}
                return {key: {"resultInfo": {"statusCode": 0, "statusMessage": "成功", "data": data}}}
            if api == "jingdong.printing.printData.pullData":
                param = biz.get("param1") or {}
                carrier = c.text(param.get("cpCode"))
                rows = []
                for info in param.get("wayBillInfos") or []:
                    w = self.waybills.find("jd", shop.app_key, carrier, c.text(info.get("jdWayBillCode")))
                    label = w.print_data
                    rows.append(
                        {
                            "wayBillNo": w.tracking_number,
                            "perPrintData": label["encrypted"],
                            "tempUrl": label["template_url"],
                            "signature": label["signature"],
                        }
                    )
                return {key: {"returnType": {"code": 1, "message": "成功", "prePrintDatas": rows}}}
        except Refusal as refusal:
            code = JD_REFUSALS[refusal.kind]
            if api == "jingdong.printing.printData.pullData":
                return {key: {"returnType": {"code": int(code), "message": str(refusal)}}}
            return {key: {"resultInfo": {"statusCode": int(code), "statusMessage": str(refusal)}}}
        raise ApiError("67", f"Invalid method {api}")

    # PDD ------------------------------------------------------------------------------------
    def _pdd(self, api: str, req: Request) -> dict[str, Any]:
        params = req.params
        shop = self._shop("pdd", params.get("client_id", ""))
        self._verify("pdd", shop, {k: v for k, v in params.items() if k != "sign"}, params.get("sign", ""))
        if shop.access_token and params.get("access_token") != shop.access_token:
            raise ApiError(10019, "access_token已过期")
        with self.lock:
            self._log("pdd", api, shop, params)
            if api == "pdd.order.number.list.increment.get":
                start = _req_time(params, "start_updated_at", c.parse_epoch, 10000)
                end = _req_time(params, "end_updated_at", c.parse_epoch, 10000)
                if end - start > timedelta(minutes=30):
                    raise ApiError(10000, "参数错误: start_updated_at and end_updated_at differ by more than 30 min")
                page_no, size = _int(params.get("page"), 1), min(_int(params.get("page_size"), 100), 100)
                rows = self._modified_between("pdd", shop, start, end, paid_only=True)
                return {
                    "order_sn_increment_get_response": {
                        "total_count": len(rows),
                        "has_next": page_no * size < len(rows),
                        "order_sn_list": rows[(page_no - 1) * size : page_no * size],
                    }
                }
            if api == "pdd.order.information.get":
                order = self._find("pdd", shop, params.get("order_sn", ""))
                if order is None:
                    raise ApiError(50001, "订单不存在")
                return {"order_info_get_response": {"order_info": order}}
            if api.startswith("pdd.waybill."):
                return self._cloud_print("pdd", api, shop, params)
            if api == "pdd.logistics.companies.get":
                rows = [
                    {"id": int(code), "logistics_company": name, "available": 1} for code, name in carrier_names("pdd")
                ]
                return {"logistics_companies_get_response": {"logistics_companies": rows}}
            if api == "pdd.logistics.online.send":
                _need(params, ("order_sn", "logistics_id", "tracking_number"), 10000)
                order = self._find("pdd", shop, params["order_sn"])
                modify = params.get("redelivery_type") == "2"  # 修改发货 (u): only a shipped order
                refunded = order is not None and _int(order.get("refund_status"), 1) == 4  # 退款成功: closed
                if order is None or refunded or order.get("order_status") != (2 if modify else 1):
                    raise ApiError(50001, "订单状态不允许发货")
                if not _known_carrier("pdd", params["logistics_id"]) or not _valid_number(params["tracking_number"]):
                    raise ApiError(10000, "参数错误：logistics_id / tracking_number")  # (u) code
                order["order_status"] = 2
                order["tracking_number"], order["logistics_id"] = (
                    params["tracking_number"],
                    _int(params["logistics_id"], 0),
                )
                order["shipping_time"] = order["updated_at"] = _now_s()
                self._record_shipment(
                    "pdd",
                    shop,
                    params["order_sn"],
                    params["tracking_number"],
                    params["logistics_id"],
                    api=api,
                    kind="modify" if modify else "ship",
                )
                return {"logistics_online_send_response": {"is_success": True}}
            if api == "pdd.order.upload.extra.logistics":  # (u) parameters: a public SDK's model
                _need(params, ("order_sn", "extra_track_list"), 10000)
                order = self._find("pdd", shop, params["order_sn"])
                if order is None or order.get("order_status") != 2:
                    raise ApiError(50001, "订单未发货，不能上传额外运单")  # (u) invented
                extras = _json_param(params, "extra_track_list", 10000)
                if not isinstance(extras, list) or not extras:
                    raise ApiError(10000, "参数错误：extra_track_list")
                for extra in extras:
                    code, number = c.text(extra.get("shipping_id")), c.text(extra.get("tracking_number"))
                    if not _known_carrier("pdd", code) or not _valid_number(number):
                        raise ApiError(10000, "参数错误：shipping_id / tracking_number")  # (u) code
                for extra in extras:
                    code, number = c.text(extra.get("shipping_id")), c.text(extra.get("tracking_number"))
                    order.setdefault("extra_track_list", []).append(
                        {"shipping_id": int(code), "tracking_number": number}
                    )
                    self._record_shipment("pdd", shop, params["order_sn"], number, code, api=api)
                order["updated_at"] = _now_s()
                return {"order_upload_extra_logistics_response": {"success": True}}
            if api == "pdd.goods.quantity.update":
                _need(params, ("goods_id", "quantity"), 10000)
                is_delta = params.get("update_type") == "2"
                self._record_stock(
                    "pdd", shop, params["goods_id"], params.get("sku_id"), _int(params["quantity"], 0), delta=is_delta
                )
                return {"goods_quantity_update_response": {"is_success": True}}
            if api == "pdd.goods.information.get":
                _need(params, ("goods_id",), 10000)
                rows = self._levels("pdd", shop, item_id=params["goods_id"])
                if not rows:
                    raise ApiError(50001, "商品不存在")  # (u) invented code
                skus = [{"sku_id": _id_value(s), "sku_quantity": q} for (_i, s), q in rows.items() if s]
                goods = {
                    "goods_id": _id_value(params["goods_id"]),
                    "goods_quantity": rows.get((params["goods_id"], ""), sum(rows.values())),
                    "sku_list": skus,
                }
                return {"goods_info_get_response": {"goods_info": goods}}
        raise ApiError(10001, f"unknown type {api}")

    # Douyin ---------------------------------------------------------------------------------
    def _douyin(self, api: str, req: Request) -> dict[str, Any]:
        query = req.query
        shop = self._shop("douyin", query.get("app_key", ""))
        body_text = req.body.decode("utf-8") or "{}"
        signed = {k: v for k, v in query.items() if k not in ("sign", "access_token")} | {"param_json": body_text}
        self._verify("douyin", shop, signed, query.get("sign", ""))
        if query.get("method") != api:
            raise ApiError(40004, "method does not match the path", "isv.parameter-invalid:method")
        if shop.access_token and query.get("access_token") != shop.access_token:
            raise ApiError(30005, "access_token无效", "isv.access-token-invalid")
        try:
            biz = json.loads(body_text)
        except ValueError:
            raise ApiError(40004, "param_json is not JSON", "isv.parameter-invalid:param_json") from None
        with self.lock:
            self._log("douyin", api, shop, biz)
            if api == "order.searchList":
                start = _req_time(biz, "update_time_start", c.parse_epoch, 40002)
                end = _req_time(biz, "update_time_end", c.parse_epoch, 40002)
                page_no, size = _int(biz.get("page"), 0), min(_int(biz.get("size"), 20), 100)
                rows = self._modified_between("douyin", shop, start, end)
                chunk = rows[page_no * size : (page_no + 1) * size]
                return _douyin_ok({"shop_order_list": chunk, "page": page_no, "size": size, "total": len(rows)})
            if api == "order.orderDetail":
                order = self._find("douyin", shop, c.text(biz.get("shop_order_id")))
                if order is None:
                    raise ApiError(50002, "业务处理失败", "isv.business-failed:60000")
                return _douyin_ok({"shop_order_detail": order})
            if api in ("order.logisticsAdd", "order.logisticsAddMultiPack"):
                return self._douyin_ship(shop, api, biz)
            if api in DOUYIN_WAYBILL_APIS:
                return self._douyin_waybill(api, shop, biz)
            if api == "order.logisticsCompanyList":
                rows = [
                    {"id": 900 + i, "code": code, "name": name}
                    for i, (code, name) in enumerate(carrier_names("douyin"))
                ]
                return _douyin_ok(rows)
            if api == "sku.syncStock":
                if biz.get("sku_id") in (None, "") or biz.get("stock_num") is None:
                    raise ApiError(40002, "缺少参数", "isv.missing-parameter:sku_id")
                self._record_stock(
                    "douyin",
                    shop,
                    biz.get("product_id"),
                    biz["sku_id"],
                    _int(biz["stock_num"], 0),
                    delta=bool(biz.get("incremental")),
                    idempotent_id=biz.get("idempotent_id", ""),
                )
                return _douyin_ok({"sku_id": biz["sku_id"], "stock_num": biz["stock_num"]})
            if api == "sku.stockNum":
                if biz.get("sku_id") in (None, ""):
                    raise ApiError(40002, "缺少参数", "isv.missing-parameter:sku_id")
                rows = self._levels("douyin", shop, sku_id=c.text(biz["sku_id"]))
                if not rows:
                    raise ApiError(50002, "业务处理失败", "isv.business-failed:sku-not-exist")  # (u) invented
                (_item, sku), quantity = next(iter(rows.items()))
                return _douyin_ok({"sku_id": _id_value(sku), "stock_num": quantity})
        raise ApiError(40004, f"unknown method {api}", "isv.parameter-invalid:method")

    def _douyin_ship(self, shop: Shop, api: str, biz: dict[str, Any]) -> dict[str, Any]:
        order = self._find("douyin", shop, c.text(biz.get("order_id")))
        if order is None:
            raise ApiError(50002, "业务处理失败", "isv.business-failed:60000")
        request_id = c.text(biz.get("request_id"))
        if api == "order.logisticsAddMultiPack" and ("douyin", request_id) in self.ship_request_ids:
            return _douyin_ok({})  # the same request_id again: the packs went already (idempotent)
        status = _int(order.get("order_status"), 0)
        refusals = {4: "60021", 21: "60068", 5: "60113", 105: "60109"}
        if status in (3, 22, 39) or (status == 101 and api == "order.logisticsAdd"):
            raise ApiError(50002, "订单已发货", "isv.business-failed:60110")
        if status in refusals:
            raise ApiError(50002, "订单状态不允许发货", f"isv.business-failed:{refusals[status]}")
        if api == "order.logisticsAdd":
            packs = [(None, biz.get("logistics_code"), biz.get("company_code"))]
        else:
            packs = [
                (
                    {c.text(s.get("shipped_order_id")) for s in pack.get("shipped_order_info", [])},
                    pack.get("logistics_code"),
                    pack.get("company_code"),
                )
                for pack in biz.get("pack_list") or []
            ]
        if not packs or not all(tracking and carrier for _w, tracking, carrier in packs):
            raise ApiError(40002, "缺少参数", "isv.missing-parameter:logistics_code")
        for _wanted, tracking, carrier in packs:
            if not _known_carrier("douyin", carrier):
                raise ApiError(50002, "该物流公司不支持发货", "isv.business-failed:60018")
            if not _valid_number(tracking):
                raise ApiError(50002, "运单号校验失败", "isv.business-failed:60017")
        for wanted, tracking, carrier in packs:
            for sub in order.get("sku_order_list", []):
                if wanted is None or c.text(sub.get("order_id")) in wanted:
                    sub["order_status"] = 3
            order.setdefault("logistics_info", []).append({"tracking_no": tracking, "company": carrier})
            self._record_shipment(
                "douyin", shop, order["order_id"], tracking, carrier, line_ids=sorted(wanted or []), api=api
            )
        all_done = all(_int(s.get("order_status"), 0) == 3 for s in order.get("sku_order_list", []))
        order["order_status"] = 3 if all_done else 101
        order["ship_time"] = order["update_time"] = int(time.time())
        if request_id:
            self.ship_request_ids.add(("douyin", request_id))
        return _douyin_ok({})

    def _douyin_waybill(self, api: str, shop: Shop, biz: dict[str, Any]) -> dict[str, Any] | Reply:
        """logistics.newCreateOrder (≤50, per-parcel `ebill_infos` / `err_infos`), cancelOrder,
        listShopNetsite, waybillApply (print data)."""
        try:
            if api == "logistics.newCreateOrder":
                infos = biz.get("order_infos") or []
                carrier = c.text(biz.get("logistics_code"))
                if not carrier or not infos:
                    raise ApiError(40002, "缺少参数", "isv.missing-parameter:order_infos")
                if len(infos) > 50:
                    raise ApiError(40004, "order_infos 最多 50 个", "isv.parameter-invalid:order_infos")
                parcels = [_douyin_parcel(info) for info in infos]
                where = {"branch_code": c.text(c.dig(biz, "net_info", "net_code"))}
                if not where["branch_code"]:
                    where = {"sender": _douyin_place(c.dig(biz, "sender_info", "address", default={}))}
                answers, delay = self._number("douyin", api, shop, carrier, parcels, atomic=False, **where)
                ebills, errors = [], []
                for info, answer in zip(infos, answers, strict=True):
                    ids = {"order_id": c.text(info.get("order_id")), "pack_id": c.text(info.get("pack_id"))}
                    if isinstance(answer, Waybill):
                        ebills.append(
                            ids
                            | {
                                "track_no": answer.tracking_number,
                                "parent_waybill_code": answer.parent_tracking_number,
                                "sort_code": "沪A-01",
                                "sub_waybill_codes": "",
                            }
                        )
                    else:
                        errors.append(ids | {"err_code": DOUYIN_REFUSALS[answer.kind], "err_msg": str(answer)})
                return Reply(200, _douyin_ok({"ebill_infos": ebills, "err_infos": errors}), delay=delay)
            if api == "logistics.cancelOrder":
                self.waybills.cancel(
                    "douyin", shop.app_key, c.text(biz.get("logistics_code")), c.text(biz.get("track_no"))
                )
                return _douyin_ok({"success": True})
            if api == "logistics.waybillApply":
                labels = []
                for ask in biz.get("waybill_applies") or []:
                    w = self.waybills.find(
                        "douyin", shop.app_key, c.text(ask.get("logistics_code")), c.text(ask.get("track_no"))
                    )
                    label = w.print_data
                    labels.append(
                        {
                            "track_no": w.tracking_number,
                            "print_data": label["encrypted"],
                            "sign": label["signature"],
                            "template_url": label["template_url"],
                        }
                    )
                return _douyin_ok({"waybill_infos": labels})
            if api == "logistics.listShopNetsite":
                sites = [
                    {
                        "logistics_code": b.carrier,
                        "netsite_code": b.branch_code,
                        "netsite_name": b.branch_name,
                        "amount": -1 if b.quota is None else b.quota,
                        "allocated_amount": b.allocated,
                        "cancelled_amount": b.cancelled,
                        "sender_address": [
                            {
                                "province_name": b.sender["province"],
                                "city_name": b.sender["city"],
                                "district_name": b.sender["district"],
                                "street_name": b.sender["town"],
                                "detail_address": b.sender["detail"],
                            }
                        ],
                    }
                    for b in self.waybills.branches_of("douyin", shop.app_key, c.text(biz.get("logistics_code")))
                ]
                return _douyin_ok({"netsites": sites})
        except Refusal as refusal:
            raise ApiError(50002, str(refusal), f"isv.business-failed:{DOUYIN_REFUSALS[refusal.kind]}") from None
        raise ApiError(40004, f"unknown method {api}", "isv.parameter-invalid:method")

    # Kuaishou -------------------------------------------------------------------------------
    def _kuaishou(self, api: str, req: Request) -> dict[str, Any]:
        params = req.params
        shop = self._shop("kuaishou", params.get("appkey", ""))
        self._verify("kuaishou", shop, params, params.get("sign", ""))
        if params.get("method") != api:
            raise ApiError(4000, "method does not match the path")
        if shop.access_token and params.get("access_token") != shop.access_token:
            raise ApiError(2800, "access_token is invalid")
        try:
            biz = json.loads(params.get("param") or "{}")
        except ValueError:
            raise ApiError(4000, "param is not JSON") from None
        with self.lock:
            self._log("kuaishou", api, shop, biz)
            if api == "open.order.cursor.list":
                start = _req_time(biz, "beginTime", lambda v, f: c.parse_epoch(v, f, millis=True), 4000)
                end = _req_time(biz, "endTime", lambda v, f: c.parse_epoch(v, f, millis=True), 4000)
                if end - start > timedelta(days=7):
                    raise ApiError(4000, "the time window must not exceed 7 days")
                offset = _int(str(biz.get("cursor") or "0").removeprefix("o"), 0)
                size = min(_int(biz.get("pageSize"), 20), 100)
                rows = self._modified_between("kuaishou", shop, start, end)
                chunk = rows[offset : offset + size]
                more = offset + size < len(rows)
                cursor = f"o{offset + size}" if more else kuaishou.NO_MORE
                data = {
                    "pageSize": size,
                    "beginTime": biz["beginTime"],
                    "endTime": biz["endTime"],
                    "cursor": cursor,
                    "orderList": chunk,
                }
                return {"result": 1, "data": data}
            if api == "open.order.detail":
                order = self._find("kuaishou", shop, c.text(biz.get("oid")))
                if order is None:
                    raise ApiError(802000, "订单不存在")
                return {"result": 1, "data": order}
            if api.startswith("open.express."):
                return self._kuaishou_waybill(api, shop, biz)
            if api in ("open.seller.order.goods.deliver", "open.order.goods.split.deliver"):
                return self._kuaishou_ship(shop, api, biz)
            if api == "open.seller.order.logistics.update":  # (u) parameter names
                order = self._find("kuaishou", shop, c.text(biz.get("orderId")))
                base = (order or {}).get("orderBaseInfo", {})
                if order is None or base.get("status") != 40:
                    raise ApiError(802001, "订单状态不允许修改物流")
                self._kuaishou_check_express(biz.get("expressCode"), biz.get("expressNo"))
                order["orderLogisticsInfo"] = [{"expressNo": biz["expressNo"], "expressCode": biz["expressCode"]}]
                base["updateTime"] = int(time.time() * 1000)
                self._record_shipment(
                    "kuaishou", shop, base["oid"], biz["expressNo"], biz["expressCode"], api=api, kind="modify"
                )
                return {"result": 1}
            if api == "open.item.sku.stock.update":
                change = _int(biz.get("skuChangeStock"), 0)
                signed_change = change if _int(biz.get("changeType"), 1) == 1 else -change
                self._record_stock("kuaishou", shop, biz.get("kwaiItemId"), biz.get("skuId"), signed_change, delta=True)
                return {"result": 1}
            if api == "open.item.get":
                if biz.get("kwaiItemId") in (None, ""):
                    raise ApiError(4000, "kwaiItemId is required")
                rows = self._levels("kuaishou", shop, item_id=c.text(biz["kwaiItemId"]))
                if not rows:
                    raise ApiError(802100, "商品不存在")  # (u) invented code
                skus = [{"kwaiSkuId": _id_value(sku), "skuStock": quantity} for (_item, sku), quantity in rows.items()]
                return {"result": 1, "data": {"kwaiItemId": biz["kwaiItemId"], "skuInfos": skus}}
        raise ApiError(4000, f"unknown method {api}")

    @staticmethod
    def _kuaishou_check_express(code: Any, number: Any) -> None:
        if not number or code in (None, ""):
            raise ApiError(4000, "expressNo and expressCode are required")
        if not _known_carrier("kuaishou", c.text(code)) or not _valid_number(c.text(number)):
            raise ApiError(802002, "快递公司编码或运单号错误")  # (u) invented code

    def _kuaishou_ship(self, shop: Shop, api: str, biz: dict[str, Any]) -> dict[str, Any]:
        """Whole order (`goods.deliver`), or one or more packages of it (`goods.split.deliver`, (u)
        shape: `deliveryItemInfoList` [{expressNo, expressCode, itemIdList}]); a split order may take
        further packages after its first."""
        order = self._find("kuaishou", shop, c.text(biz.get("orderId")))
        split = api == "open.order.goods.split.deliver"
        packs = biz.get("deliveryItemInfoList") if split else [biz]
        if not isinstance(packs, list) or not packs:
            raise ApiError(4000, "deliveryItemInfoList is required")
        for pack in packs:
            self._kuaishou_check_express(pack.get("expressCode"), pack.get("expressNo"))
        base = (order or {}).get("orderBaseInfo", {})
        open_states = (30, 40) if split and ("kuaishou", c.text(biz.get("orderId"))) in self.split_orders else (30,)
        if order is None or base.get("status") not in open_states or base.get("riskCode") == kuaishou.RISK_HOLD_CODE:
            raise ApiError(802001, "订单状态不允许发货")
        base["status"] = 40
        base["sendTime"] = base["updateTime"] = int(time.time() * 1000)
        if split:
            self.split_orders.add(("kuaishou", c.text(biz.get("orderId"))))
        for pack in packs:
            order.setdefault("orderLogisticsInfo", []).append(
                {"expressNo": pack["expressNo"], "expressCode": pack["expressCode"]}
            )
            lines = [c.text(i) for i in pack.get("itemIdList") or []]
            self._record_shipment(
                "kuaishou", shop, base["oid"], pack["expressNo"], pack["expressCode"], api=api, line_ids=lines
            )
        return {"result": 1}

    def _kuaishou_waybill(self, api: str, shop: Shop, biz: dict[str, Any]) -> dict[str, Any] | Reply:
        """open.express.ebill.get (≤10, one `baseResponse` per requestId, printData inline),
        ebill.cancel, subscribe.query."""
        try:
            if api == "open.express.ebill.get":
                asks = biz.get("getEbillOrderRequest") or []
                if not asks:
                    raise ApiError(4000, "getEbillOrderRequest is required")
                if len(asks) > 10:
                    raise ApiError(4000, "getEbillOrderRequest: at most 10 per call")
                carriers = {c.text(a.get("expressCompanyCode")) for a in asks}
                sites = {c.text(a.get("netSiteCode")) for a in asks}
                if len(carriers) != 1 or len(sites) != 1:
                    raise ApiError(4000, "one expressCompanyCode and netSiteCode per call")
                parcels = [_kuaishou_parcel(a) for a in asks]
                answers, delay = self._number(
                    "kuaishou", api, shop, carriers.pop(), parcels, atomic=False, branch_code=sites.pop()
                )
                data = []
                for parcel, answer in zip(parcels, answers, strict=True):
                    if isinstance(answer, Waybill):
                        label = answer.print_data
                        bill = {
                            "waybillCode": answer.tracking_number,
                            "parentWaybillCode": answer.parent_tracking_number,
                            "printData": label["encrypted"],
                            "signature": label["signature"],
                            "key": label["signature"][:16],
                            "version": "1.0",
                        }
                        outcome = {"result": 1, "success": True, "message": "成功"}
                        data.append({"requestId": parcel.parcel_key, "baseResponse": outcome, "data": [bill]})
                    else:
                        outcome = {
                            "result": int(KUAISHOU_REFUSALS[answer.kind]),
                            "success": False,
                            "message": str(answer),
                        }
                        data.append({"requestId": parcel.parcel_key, "baseResponse": outcome, "data": []})
                return Reply(200, {"result": 1, "data": data}, delay=delay)
            if api == "open.express.ebill.cancel":
                carrier, number = c.text(biz.get("expressCompanyCode")), c.text(biz.get("waybillCode"))
                self.waybills.cancel("kuaishou", shop.app_key, carrier, number)
                return {"result": 1, "data": True}
            if api == "open.express.subscribe.query":
                rows = [
                    {
                        "expressCompanyCode": b.carrier,
                        "expressCompanyType": 1,
                        "netSiteCode": b.branch_code,
                        "netSiteName": b.branch_name,
                        "availableQuantity": -1 if b.quota is None else b.quota,
                        "usedQuantity": b.allocated,
                        "cancelQuantity": b.cancelled,
                        "senderAddress": [
                            {
                                "provinceName": b.sender["province"],
                                "cityName": b.sender["city"],
                                "districtName": b.sender["district"],
                                "streetName": b.sender["town"],
                                "detailAddress": b.sender["detail"],
                            }
                        ],
                    }
                    for b in self.waybills.branches_of("kuaishou", shop.app_key, c.text(biz.get("expressCompanyCode")))
                ]
                return {"result": 1, "data": rows}
        except Refusal as refusal:
            raise ApiError(int(KUAISHOU_REFUSALS[refusal.kind]), str(refusal)) from None
        raise ApiError(4000, f"unknown method {api}")

    # manual bridge --------------------------------------------------------------------------
    def _manual(self, api: str, req: Request) -> dict[str, Any]:
        query = req.query
        shop = self._shop("manual", query.get("app_key", ""))
        body_text = req.body.decode("utf-8") or "{}"
        signed = {"app_key": query.get("app_key", ""), "body": body_text, "timestamp": query.get("timestamp", "")}
        self._verify("manual", shop, signed, query.get("sign", ""))
        try:
            biz = json.loads(body_text)
        except ValueError:
            raise ApiError("bad_request", "body is not JSON") from None
        with self.lock:
            self._log("manual", api, shop, biz)
            if api == "orders/search":
                start = _req_time(biz, "modified_from", c.parse_iso_time, "bad_request")
                end = _req_time(biz, "modified_to", c.parse_iso_time, "bad_request")
                page_no, size = _int(biz.get("page"), 1), _int(biz.get("page_size"), 50)
                rows = self._modified_between("manual", shop, start, end)
                page = rows[(page_no - 1) * size : page_no * size]
                return {"code": "ok", "orders": page, "has_next": page_no * size < len(rows)}
            if api == "orders/get":
                order = self._find("manual", shop, c.text(biz.get("external_id")))
                if order is None:
                    raise ApiError("not_found", "no such order")
                return {"code": "ok", "order": order}
            if api == "orders/ship":
                order = self._find("manual", shop, c.text(biz.get("external_id")))
                if order is None:
                    raise ApiError("not_found", "no such order")
                if order.get("status") in ("shipped", "delivered", "completed"):
                    raise ApiError("already_shipped", "the order is already shipped")
                if order.get("status") not in ("awaiting_shipment", "partially_shipped"):
                    raise ApiError("bad_state", f"cannot ship an order that is {order.get('status')}")
                if c.text(biz.get("carrier_code")) not in CARRIER_TABLE:
                    raise ApiError("bad_carrier", f"unknown carrier {biz.get('carrier_code')!r}")
                if not _valid_number(c.text(biz.get("tracking_number"))):
                    raise ApiError("bad_tracking_number", "the tracking number fails the carrier's rule")
                wanted = [c.text(x) for x in biz.get("line_ids") or []]
                shipped = set(order.get("shipped_line_ids") or []) | set(wanted)
                every = {c.text(ln.get("line_id")) for ln in order.get("lines") or []}
                order["shipped_line_ids"] = sorted(shipped)
                order["status"] = "partially_shipped" if wanted and not every <= shipped else "shipped"
                order.setdefault("tracking_numbers", []).append(c.text(biz.get("tracking_number")))
                order["modified_at"] = c.now_shanghai().isoformat()
                self._record_shipment(
                    "manual",
                    shop,
                    order["external_id"],
                    biz.get("tracking_number"),
                    biz.get("carrier_code"),
                    line_ids=wanted,
                    api=api,
                )
                return {"code": "ok"}
            if api == "orders/tracking":
                order = self._find("manual", shop, c.text(biz.get("external_id")))
                previous = c.text(biz.get("previous_tracking_number"))
                if order is None or previous not in (order.get("tracking_numbers") or []):
                    raise ApiError("not_found", "no such order or tracking number")
                if c.text(biz.get("carrier_code")) not in CARRIER_TABLE:
                    raise ApiError("bad_carrier", f"unknown carrier {biz.get('carrier_code')!r}")
                numbers = order["tracking_numbers"]
                numbers[numbers.index(previous)] = c.text(biz.get("tracking_number"))
                order["modified_at"] = c.now_shanghai().isoformat()
                self._record_shipment(
                    "manual",
                    shop,
                    order["external_id"],
                    biz.get("tracking_number"),
                    biz.get("carrier_code"),
                    api=api,
                    kind="modify",
                )
                return {"code": "ok"}
            if api == "stock/update":
                self._record_stock("manual", shop, biz.get("item_id"), biz.get("sku_id"), _int(biz.get("quantity"), 0))
                return {"code": "ok"}
            if api == "stock/get":
                key = ("manual", shop.app_key, c.text(biz.get("item_id")), c.text(biz.get("sku_id")))
                if key not in self.stock_levels:
                    raise ApiError("not_found", "no such sku")
                return {"code": "ok", "quantity": self.stock_levels[key]}
        raise ApiError("bad_request", f"unknown action {api}")

    # control --------------------------------------------------------------------------------
    def _control(self, req: Request) -> Reply:
        action = req.path.removeprefix("/_emulator/").strip("/")
        data = json.loads(req.body or b"{}") if req.method in ("POST", "PUT") else {}
        platform = platform_of(req.query.get("platform", "") or data.get("platform", ""))
        if action == "tracking" or action.startswith("tracking/"):  # pushes go out without the lock
            return Reply(*self.tracking.control(action, req.method, data))
        with self.lock:
            if action == "health":
                return Reply(200, {"ok": True, "platforms": list(PLATFORMS), "paths": PATHS})
            if action == "shops" and req.method == "POST":
                shop = self.add_shop(
                    data["platform"],
                    data["app_key"],
                    data.get("app_secret", ""),
                    sign_secret=data.get("sign_secret", ""),
                    access_token=data.get("access_token", ""),
                    message_key=data.get("message_key", ""),
                )
                return Reply(201, {"ok": True, "api_base_url": self.url_for(shop.platform)})
            if action == "shops":
                return Reply(
                    200, {"shops": [{"platform": s.platform, "app_key": s.app_key} for s in self.shops.values()]}
                )
            if action == "orders" and req.method == "POST":
                if platform not in PLATFORMS:
                    raise ValueError(f"unknown platform {platform!r}")
                if "generate" in data:
                    ids = self.generate(
                        platform, int(data["generate"]), seed=data.get("seed"), app_key=data.get("app_key")
                    )
                else:
                    ids = self.add_orders(platform, list(data["orders"]), data.get("app_key"))
                return Reply(201, {"ids": ids})
            if action == "orders":
                platforms = [platform] if platform else list(PLATFORMS)
                return Reply(200, {"orders": {p: [e["order"] for e in self.book[p].values()] for p in platforms}})
            if action == "shipments":
                return Reply(
                    200, {"shipments": [s for s in self.shipments if not platform or s["platform"] == platform]}
                )
            if action == "stock" and req.method == "POST":
                item, sku = data.get("item_id"), data.get("sku_id")
                self.set_stock(platform, data["app_key"], item, sku, int(data["quantity"]))
                return Reply(200, {"ok": True})
            if action == "stock":
                levels = [
                    {"platform": p, "app_key": k, "item_id": i, "sku_id": s, "quantity": q}
                    for (p, k, i, s), q in self.stock_levels.items()
                    if not platform or p == platform
                ]
                updates = [u for u in self.stock_updates if not platform or u["platform"] == platform]
                return Reply(200, {"levels": levels, "updates": updates})
            if action == "calls":
                return Reply(200, {"calls": [x for x in self.calls if not platform or x["platform"] == platform]})
            if action == "faults" and req.method == "POST":
                names = ("code", "sub_code", "msg", "method", "path", "delay", "after", "province", "parcel_keys")
                options = {k: data[k] for k in (*names, "positions", "body") if k in data}
                fault = self.add_fault(data.get("platform", "*"), data["kind"], int(data.get("count", 1)), **options)
                return Reply(201, {"ok": True, "fault": asdict(fault)})
            if action == "faults" and req.method == "DELETE":
                self.faults.clear()
                return Reply(200, {"ok": True})
            if action == "faults":
                return Reply(200, {"faults": [asdict(f) for f in self.faults]})
            if action == "events" and req.method == "POST":
                order_id = str(data["external_id"])
                self.apply_event(platform, order_id, data["event"], line=int(data.get("line", 0)))
                reply: dict[str, Any] = {"ok": True}
                if data.get("push_url"):
                    app_key = data.get("app_key") or self.book[platform][order_id]["app_key"] or ""
                    reply["push_status"] = self.send_push(platform, app_key, order_id, data["event"], data["push_url"])
                return Reply(200, reply)
            if action == "waybills":
                return Reply(200, self.waybills.listing(platform))
            if action == "waybills/collect" and req.method == "POST":
                waybill = self.waybills.collect(platform, str(data["tracking_number"]))
                return Reply(200, {"ok": True, "state": waybill.state})
            if action == "waybill_quota" and req.method == "POST":
                quota = data.get("quota")
                branch = self.waybills.set_quota(
                    platform,
                    data["app_key"],
                    str(data["carrier_code"]),
                    str(data["branch_code"]),
                    None if quota is None else int(quota),
                )
                return Reply(200, {"ok": True, "quota": branch.quota})
            if action == "reset" and req.method == "POST":
                self.reset()
                return Reply(200, {"ok": True})
        return Reply(404, {"error": f"no control action {req.method} {action}"})


# ---- helpers ---------------------------------------------------------------------------------
AUTH_ERRORS: dict[str, dict[str, tuple[Any, ...]]] = {
    "taobao": {"app": (29, "Invalid app Key", "isv.appkey-not-exists"), "sign": (25, "Invalid signature", "")},
    "jd": {"app": ("19", "Invalid app_key"), "sign": ("19", "Invalid signature")},
    "pdd": {"app": (10016, "client_id不存在"), "sign": (10017, "签名错误")},
    "douyin": {"app": (30001, "app_key不存在", "isv.app-key-invalid"), "sign": (30002, "签名错误", "isv.sign-invalid")},
    "kuaishou": {"app": (2900, "appkey is invalid"), "sign": (2901, "sign is invalid")},
    "manual": {"app": ("unauthorized", "unknown app_key"), "sign": ("unauthorized", "bad signature")},
}


def _error_body(platform: str, err: ApiError) -> dict[str, Any]:
    code = int(err.code) if str(err.code).lstrip("-").isdigit() else err.code
    if platform == "taobao":
        return {"error_response": {"code": code, "msg": err.msg, "sub_code": err.sub_code, "sub_msg": err.msg}}
    if platform == "jd":
        return {"error_response": {"code": str(err.code), "zh_desc": err.msg, "en_desc": err.msg}}
    if platform == "pdd":
        return {
            "error_response": {"error_code": code, "error_msg": err.msg, "sub_code": err.sub_code, "sub_msg": err.msg}
        }
    if platform == "douyin":
        return {"code": code, "msg": err.msg, "sub_code": err.sub_code, "sub_msg": err.msg, "data": {}}
    if platform == "kuaishou":
        result = code if isinstance(code, int) and code != 1 else 0
        return {"result": result, "code": str(err.code), "msg": err.msg, "subCode": err.sub_code, "errorMsg": err.msg}
    retryable = err.code in ("rate_limited", "unavailable")
    return {"code": str(err.code), "message": err.msg, "retryable": retryable}


#: Cainiao sub_codes for the e-waybill refusals (u: invented in the style of TOP's isv.* codes)
CAINIAO_REFUSALS = {
    "quota_exhausted": "isv.BALANCE_NOT_ENOUGH",
    "unreachable": "isv.ADDRESS_NOT_REACHABLE",
    "not_subscribed": "isv.SUBSCRIPTION_NOT_EXIST",
    "picked_up": "isv.WAYBILL_ALREADY_COLLECTED",
    "already_cancelled": "isv.WAYBILL_ALREADY_CANCELLED",
    "not_found": "isv.WAYBILL_NOT_EXIST",
    "bad_data": "isv.PARAM_INVALID",
}


#: PDD error sub_codes for the e-waybill refusals (u: invented; the words carry the meaning)
PDD_REFUSALS = {
    "quota_exhausted": "waybill.balance-not-enough",
    "unreachable": "waybill.address-unreachable",
    "not_subscribed": "waybill.subscription-not-exist",
    "picked_up": "waybill.already-collected",
    "already_cancelled": "waybill.already-cancelled",
    "not_found": "waybill.not-exist",
    "bad_data": "waybill.param-invalid",
}


DOUYIN_WAYBILL_APIS = frozenset(
    {"logistics.newCreateOrder", "logistics.cancelOrder", "logistics.waybillApply", "logistics.listShopNetsite"}
)
#: Douyin e-waybill error codes: 1105 collected and 1102 cancelled twice (shipping.md §1), the rest (u) invented
DOUYIN_REFUSALS = {
    "quota_exhausted": "210001",
    "unreachable": "210002",
    "not_subscribed": "210003",
    "picked_up": "1105",
    "already_cancelled": "1102",
    "not_found": "210004",
    "bad_data": "210005",
}


def _douyin_place(address: dict[str, Any]) -> dict[str, str]:
    """A Douyin address as the desk compares places (province, city, district, detail)."""
    return {
        "province": c.text(address.get("province_name")),
        "city": c.text(address.get("city_name")),
        "district": c.text(address.get("district_name")),
        "detail": c.text(address.get("detail_address")),
    }


def _douyin_parcel(info: dict[str, Any]) -> Parcel:
    """An `order_infos` entry: Douyin's key is order id + pack_id (an absent pack_id is the order's)."""
    order_id = c.text(info.get("order_id"))
    if not order_id:
        raise ApiError(40002, "缺少参数", "isv.missing-parameter:order_id")
    receiver = info.get("receiver_info") or {}
    contact, address = receiver.get("contact") or {}, receiver.get("address") or {}
    return Parcel(
        parcel_key=f"{order_id}:{c.text(info.get('pack_id'))}",
        aliases=(c.text(info.get("pack_id")),),
        listing_key=c.text(info.get("pack_id")) or order_id,
        order_ids=[order_id],
        province=c.text(address.get("province_name")),
        receiver_complete=all(
            c.text(v) for v in (contact.get("name"), contact.get("mobile"), address.get("detail_address"))
        ),
    )


#: Kuaishou e-waybill refusal codes (u: invented; Kuaishou's words carry the meaning)
KUAISHOU_REFUSALS = {
    "quota_exhausted": "803001",
    "unreachable": "803002",
    "not_subscribed": "803003",
    "picked_up": "803004",
    "already_cancelled": "803005",
    "not_found": "803006",
    "bad_data": "803007",
}


def _kuaishou_parcel(ask: dict[str, Any]) -> Parcel:
    """A `getEbillOrderRequest` entry: `requestId` is the key (server-side idempotency)."""
    key = c.text(ask.get("requestId") or ask.get("packageCode"))
    if not key:
        raise ApiError(4000, "requestId is required")
    contact, address = ask.get("receiverContract") or {}, ask.get("receiverAddress") or {}
    return Parcel(
        parcel_key=key,
        order_ids=[c.text(ask.get("tradeOrderCode"))],
        province=c.text(address.get("provinceName")),
        receiver_complete=all(
            c.text(v) for v in (contact.get("name"), contact.get("mobile"), address.get("detailAddress"))
        ),
        template_url=c.text(ask.get("templateUrl")),
    )


JD_WAYBILL_APIS = frozenset(
    {
        "jingdong.ldop.alpha.waybill.receive",
        "jingdong.ldop.alpha.waybill.api.unbind",
        "jingdong.ldop.alpha.provider.sign.success",
        "jingdong.ldop.alpha.vendor.stock.queryByProviderCode",
        "jingdong.printing.printData.pullData",
    }
)
#: JD 无界 refusal status codes (u: invented; JD's words carry the meaning)
JD_REFUSALS = {
    "quota_exhausted": "-1001",
    "unreachable": "-1002",
    "not_subscribed": "-1003",
    "picked_up": "-1004",
    "already_cancelled": "-1005",
    "not_found": "-1006",
    "bad_data": "-1007",
}


def _json_param(params: dict[str, Any], name: str, code: Any) -> Any:
    """A business parameter sent as JSON text (TOP, PDD, Kuaishou)."""
    try:
        return json.loads(params.get(name) or "")
    except ValueError:
        raise ApiError(code, f"Invalid arguments:{name}", f"isv.invalid-parameter:{name}") from None


def _request_id() -> str:
    return f"{int(time.time() * 1000):x}"


def _cloud_print_parcel(dto: dict[str, Any], bad_args: int) -> Parcel:
    """A Cainiao/PDD `trade_order_info_dtos` entry: the package id is the parcel key (else object_id)."""
    recipient = dto.get("recipient") or {}
    address = recipient.get("address") or {}
    key = c.text(c.dig(dto, "package_info", "id") or dto.get("object_id"))
    if not key:
        raise ApiError(bad_args, "参数错误: object_id is required", "isv.PARAM_INVALID")
    return Parcel(
        parcel_key=key,
        order_ids=[c.text(t) for t in c.dig(dto, "order_info", "trade_order_list", default=[])],
        province=c.text(address.get("province")),
        receiver_complete=all(
            c.text(v) for v in (recipient.get("name"), recipient.get("mobile"), address.get("detail"))
        ),
        template_url=c.text(dto.get("template_url")),
    )


def _cloud_print_data(platform: str, w: Waybill) -> str:
    """`print_data` as JSON text: Cainiao {encryptedData, signature, templateURL, ver}; PDD the same
    with `templateUrl` and its own version (u)."""
    label = w.print_data
    if platform == "pdd":
        template, version = {"templateUrl": label["template_url"]}, "3"
    else:
        template, version = {"templateURL": label["template_url"]}, "waybill_print_secret_version_1"
    return c.compact_json(
        {"encryptedData": label["encrypted"], "signature": label["signature"], **template, "ver": version}
    )


def _known_carrier(platform: str, code: Any) -> bool:
    """The platform's carrier list (README §6) knows this code: anything else is refused."""
    return c.text(code) in {known for known, _name in carrier_names(platform)}


#: the emulator's stand-in for a carrier's number rule (each carrier has its own; u)
_NUMBER_RULE = re.compile(r"[A-Za-z0-9]{4,32}")


def _valid_number(number: Any) -> bool:
    return bool(_NUMBER_RULE.fullmatch(c.text(number)))


def _douyin_ok(data: dict[str, Any] | list[Any]) -> dict[str, Any]:
    return {"code": douyin.SUCCESS, "msg": "success", "sub_code": "", "sub_msg": "", "data": data}


def _api_name(platform: str, req: Request) -> str:
    """The API a request calls: a parameter on the router gateways, the path on Douyin/Kuaishou/manual."""
    if platform in ("taobao", "jd"):
        return req.params.get("method", "")
    if platform == "pdd":
        return req.params.get("type", "")
    rest = req.path.split("/", 2)[2] if req.path.count("/") >= 2 else ""
    return rest if platform == "manual" else rest.replace("/", ".")


def _is_paid(platform: str, order: dict[str, Any]) -> bool:
    if platform == "jd":
        return c.parse_local_time(order.get("paymentConfirmTime"), "paymentConfirmTime") is not None
    if platform == "pdd":
        return c.parse_local_time(order.get("pay_time"), "pay_time") is not None
    return True


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _id_value(value: str) -> int | str:
    """Ids back on the wire as the platforms send them: JSON numbers when numeric."""
    return int(value) if value.isdigit() else value


def _now_s() -> str:
    return c.format_local_time(c.now_shanghai())


def _need(params: dict[str, Any], names: tuple[str, ...], code: Any) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise ApiError(code, f"Missing required arguments:{name}", f"isv.missing-parameter:{name}")


def _req_time(params: dict[str, Any], name: str, parse: Any, code: Any) -> datetime:
    try:
        moment = parse(params.get(name), name)
    except PayloadError as exc:
        raise ApiError(code, f"Invalid arguments:{name}", f"isv.invalid-parameter:{name}") from exc
    if moment is None:
        raise ApiError(code, f"Missing required arguments:{name}", f"isv.missing-parameter:{name}")
    return moment


# ---- pushes -----------------------------------------------------------------------------------
DOUYIN_TAGS = {"created": "100", "pay": "101", "ship": "102", "address_change": "105", "cancel": "106"}
DOUYIN_TAGS |= {"memo": "113", "refund_request": "200", "refund_complete": "206", "refund_withdraw": "207"}  # (u)
KUAISHOU_EVENTS = {
    "pay": "kwaishop_order_paySuccess",
    "ship": "kwaishop_order_delivering",
    "cancel": "kwaishop_order_orderFail",
    "refund_request": "kwaishop_aftersales_addRefund",
    "refund_complete": "kwaishop_aftersales_refundSuccess",  # (u)
    "refund_withdraw": "kwaishop_aftersales_refundClose",  # (u)
    "address_change": "kwaishop_order_addressChange",
    "memo": "kwaishop_order_sellerNoteChange",
}


# ---- HTTP plumbing ---------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    emulator: ChannelEmulator


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo would drown in access logs."""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        form: dict[str, str] = {}
        if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        request = Request(
            method=self.command,
            path=parts.path.rstrip("/") or "/",
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            form=form,
            body=body,
            headers=dict(self.headers.items()),
        )
        try:
            reply = self.server.emulator.handle(request)
        except Exception as exc:  # an emulator bug must not look like a hung platform
            reply = Reply(500, {"error": f"emulator failure: {exc!r}"})
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.encode()
        self.send_response(reply.status)
        is_json = not isinstance(reply.body, bytes | str)
        default_type = "application/json;charset=utf-8" if is_json else "text/plain;charset=utf-8"
        self.send_header("Content-Type", reply.content_type or default_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)  # the client may have given up (a timeout fault does exactly that)

    do_GET = do_POST = do_PUT = do_DELETE = _serve
