"""A tiny real HTTP "platform" for push tests, and an adapter that talks to it over HTTP.

Written before the channels branch landed; kept because its adapter also has `fetch_stock`, which
the real adapters do not offer yet, so it exercises reconciliation check (c) "platform reports".
The `platform` fixture registers it for the `manual` platform in orders.channels.ADAPTER_MODULES.
Real sockets, real requests calls, no mocks. Push tests against the real adapters and the channels
emulator live in test_stock_push_on_the_channel_emulator.py."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from orders.channels.base import (
    ChannelAdapter,
    NormalizedOrder,
    OrderPage,
    PermanentChannelError,
    RetryableChannelError,
    ShipRequest,
    StockUpdate,
)


class PlatformServer:
    """Records every stock update per shop; `fail[shop] = n` answers the next n calls with 503."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.stock: dict[tuple[str, str, str], int] = {}
        self.fail: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                shop = self.path.strip("/").split("/")[0]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    if server.fail.get(shop, 0) > 0:
                        server.fail[shop] -= 1
                        server.calls.append({"shop": shop, **body, "ok": False})
                        return self._reply(503, {"error": "platform busy"})
                    server.calls.append({"shop": shop, **body, "ok": True})
                    server.stock[(shop, body["item"], body["sku"])] = body["quantity"]
                return self._reply(200, {"ok": True})

            def do_GET(self):
                shop, item, sku = self.path.strip("/").split("/")[:3]
                with server.lock:
                    quantity = server.stock.get((shop, item, sku))
                if quantity is None:
                    return self._reply(404, {"error": "unknown sku"})
                return self._reply(200, {"quantity": quantity})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def ok_calls(self, shop: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["shop"] == shop and c["ok"]]

    def __enter__(self) -> PlatformServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Adapter(ChannelAdapter):
    """api_base_url = <server>/<shop>."""

    platform = "manual"

    def sign(self, params: dict[str, str]) -> str:
        return ""

    def parse_order(self, payload: dict[str, Any]) -> NormalizedOrder:
        raise NotImplementedError

    def pull_orders(self, *, start, end, page=None, page_size=50) -> OrderPage:
        return OrderPage(orders=[], has_next=False)

    def fetch_order(self, external_id: str) -> NormalizedOrder:
        raise NotImplementedError

    def ship(self, request: ShipRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _check(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code >= 500:
            raise RetryableChannelError(f"HTTP {response.status_code}", code=str(response.status_code))
        if response.status_code >= 400:
            raise PermanentChannelError(f"HTTP {response.status_code}", code=str(response.status_code))
        return response.json()

    def update_stock(self, update: StockUpdate) -> dict[str, Any]:
        body = {
            "item": update.platform_item_id,
            "sku": update.platform_sku_id,
            "quantity": update.quantity,
            "last_pushed": update.last_pushed,
        }
        return self._check(requests.post(self.credentials.api_base_url, json=body, timeout=5))

    def fetch_stock(self, platform_item_id: str, platform_sku_id: str) -> int:
        url = f"{self.credentials.api_base_url}/{platform_item_id}/{platform_sku_id}"
        return int(self._check(requests.get(url, timeout=5))["quantity"])
