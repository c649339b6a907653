"""A generic signed HTTP gateway, for an in-house SMS/IM relay (request shape in docs/shipping.md).

POST {url}/messages with a JSON body {id, medium, event, to, text, template, params, order}; GET
{url}/messages/{id} reads its status. Every request carries X-OrderHub-Timestamp (Unix seconds) and
X-OrderHub-Signature = hex HMAC-SHA256(secret, "{timestamp}\\n{METHOD}\\n{path}\\n{body}"). The gateway
must treat `id` as an idempotency key (a repeated id answers 409 or the first answer, never a second
message) and answer GET 404 only for an id it never accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

import requests

from shipping.notices.backends.base import (
    Accepted,
    Lookup,
    LookupStatus,
    Message,
    NotSent,
    OutcomeUnknown,
    Refused,
    never_reached,
)


def sign(*, secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    text = f"{timestamp}\n{method}\n{path}\n{body}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class GenericGatewayBackend:
    name = "generic"

    def __init__(self, *, url: str, secret: str, timeout: float) -> None:
        if not url or not secret:
            raise ValueError("NOTICE_GATEWAY_URL and NOTICE_GATEWAY_SECRET are needed for the generic backend.")
        self.url = url.rstrip("/")
        self.secret = secret
        self.timeout = timeout

    def _call(self, method: str, url: str, body: str = "") -> requests.Response:
        timestamp = str(int(time.time()))
        path = urlsplit(url).path
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-OrderHub-Timestamp": timestamp,
            "X-OrderHub-Signature": sign(secret=self.secret, timestamp=timestamp, method=method, path=path, body=body),
        }
        return requests.request(method, url, data=body.encode(), headers=headers, timeout=self.timeout)

    def send(self, message: Message) -> Accepted:
        body = json.dumps(
            {
                "id": message.out_id,
                "medium": message.medium,
                "event": message.event,
                "to": message.recipient,
                "text": message.text,
                "template": message.template_code,
                "params": dict(message.params),
                "order": message.order_ref,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        try:
            response = self._call("POST", f"{self.url}/messages", body)
        except requests.RequestException as exc:
            if never_reached(exc):
                raise NotSent(str(exc)) from exc
            raise OutcomeUnknown(str(exc)) from exc
        answer = _json(response)
        if response.status_code in (200, 201, 202, 409):  # 409: this id was accepted before
            return Accepted(message_id=str(answer.get("message_id") or message.out_id), answer=answer)
        if response.status_code == 429 or response.status_code == 503:
            raise NotSent(f"HTTP {response.status_code}", code=str(response.status_code), answer=answer)
        if 400 <= response.status_code < 500:
            raise Refused(
                str(answer.get("error") or f"HTTP {response.status_code}"),
                code=str(response.status_code),
                answer=answer,
            )
        raise OutcomeUnknown(f"HTTP {response.status_code}", code=str(response.status_code), answer=answer)

    def lookup(self, message: Message) -> Lookup:
        try:
            response = self._call("GET", f"{self.url}/messages/{message.out_id}")
        except requests.RequestException as exc:
            return Lookup(LookupStatus.UNKNOWN, answer={"error": str(exc)})
        answer = _json(response)
        if response.status_code == 404:
            return Lookup(LookupStatus.NOT_SENT, answer=answer)
        if response.status_code == 200 and answer.get("status") in {"accepted", "sent", "delivered", "failed"}:
            return Lookup(LookupStatus.SENT, str(answer.get("message_id") or message.out_id), answer)
        return Lookup(LookupStatus.UNKNOWN, answer=answer)


def _json(response: requests.Response) -> dict:
    try:
        value = response.json()
    except ValueError:
        return {"text": response.text[:500]}
    return value if isinstance(value, dict) else {"value": value}
