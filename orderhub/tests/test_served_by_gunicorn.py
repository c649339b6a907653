"""What a real gunicorn (the README's production server) answers (issue 14, findings 8 and 11):
a chunked push is read, not seen as an empty body; with the database or Redis unreachable the API
and the webhook answer 503 JSON with Retry-After instead of an HTML 500."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from orders import inbox
from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from orders.models import InboxMessage, Order
from orders.tests.factories import make_channel
from orders.tests.test_webhook import dumps, taobao_trade

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The database this test run uses, as a DATABASE_URL for a server process."""
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    return f"postgres://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


@contextmanager
def gunicorn(**env: str) -> Iterator[int]:
    """gunicorn serving orderhub.wsgi on a free port with the README's production switches."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    server_env = {
        **inherited,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on the loopback; TLS is the proxy's job
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "orderhub.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "60"],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {process.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def request(port: int, method: str, path: str, body=None, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=stamp, body=body),
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the convention: later tests keep their rows
def test_a_chunked_push_is_read_and_the_order_taken():
    channel = make_channel(platform="taobao")
    body = dumps(taobao_trade())
    with gunicorn(DATABASE_URL=test_database_url(), REDIS_URL=os.environ.get("REDIS_URL", "")) as port:
        # no Content-Length: http.client sends `Transfer-Encoding: chunked` for an iterator body
        status, _, content = request(
            port, "POST", f"/api/v1/channels/{channel.pk}/webhook", chunks(body), signed_headers("whsec", body)
        )
    assert status == 202, content
    assert json.loads(content)["result"] == "accepted"  # the server's default: stored in the webhook inbox
    inbox.drain(batch=10, stop=lambda: False, once=True)
    order = Order.objects.get(pk=InboxMessage.objects.get(pk=json.loads(content)["inbox_id"]).order_id)
    assert order.external_id == "3301234500012345678"
    assert order.lines.count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the convention: later tests keep their rows
def test_a_chunked_body_over_the_limit_is_413_and_nothing_stored(settings):
    channel = make_channel(platform="taobao")
    trade = taobao_trade()
    trade["buyer_message"] = "很" * 2_000_000  # 6 MB once encoded, above every body limit
    body = dumps(trade)
    with gunicorn(DATABASE_URL=test_database_url(), REDIS_URL=os.environ.get("REDIS_URL", "")) as port:
        status, _, _ = request(
            port, "POST", f"/api/v1/channels/{channel.pk}/webhook", chunks(body, 65536), signed_headers("whsec", body)
        )
    assert status == 413
    assert not Order.objects.exists()


DEAD = free_port  # nothing listens on a port just freed


def assert_outage_answer(status: int, headers: dict[str, str], content: bytes) -> None:
    assert status == 503, content[:500]
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Retry-After"]) > 0
    assert json.loads(content)["code"] == "service_unavailable"


def test_with_the_database_down_the_webhook_and_the_api_answer_503_json_with_retry_after():
    with gunicorn(DATABASE_URL=f"postgres://orderhub@127.0.0.1:{DEAD()}/orderhub") as port:
        body = dumps(taobao_trade())
        assert_outage_answer(*request(port, "POST", "/api/v1/channels/1/webhook", body, signed_headers("x", body)))
        assert_outage_answer(*request(port, "GET", "/api/v1/orders/", headers={"Authorization": "Token " + "a" * 40}))
        assert_outage_answer(
            *request(port, "GET", "/api/v1/inventory/levels", headers={"Cookie": "sessionid=" + "a" * 32})
        )
        status, _, content = request(port, "GET", "/healthz")
        assert status == 503 and json.loads(content)["checks"]["database"].startswith("error")


def test_with_redis_down_the_webhook_and_the_api_answer_503_json_with_retry_after(tmp_path):
    with gunicorn(
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}", REDIS_URL=f"redis://127.0.0.1:{DEAD()}/0"
    ) as port:
        body = dumps(taobao_trade())
        assert_outage_answer(*request(port, "POST", "/api/v1/channels/1/webhook", body, signed_headers("x", body)))
        assert_outage_answer(*request(port, "GET", "/api/v1/orders/"))
