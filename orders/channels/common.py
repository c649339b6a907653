"""Plumbing shared by every adapter: HTTP with typed failures, money, times, hashing, field access.

Kept in one place so the five platform modules only hold what differs between platforms
(shared/channels/README.md §0): money is Decimal yuan, never float; times are aware Asia/Shanghai;
ids are strings; a "no value" time (JD `0001-01-01 00:00:00`, Douyin/Kuaishou `0`) becomes None.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import requests

from orders.channels import guard
from orders.channels.base import (
    AlreadyDoneError,
    ChannelAdapter,
    ChannelError,
    NormalizedOrder,
    PayloadError,
    PermanentChannelError,
    RetryableChannelError,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
PLATFORM_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: amounts at or beyond this many yuan are refused before any arithmetic (Decimal's 28 digits)
AMOUNT_LIMIT = Decimal("1e12")
#: line quantities above this are refused (the database column is a 32-bit integer)
MAX_QUANTITY = 2**31 - 1
#: platform times outside these years are refused: they cannot be real, and far ones overflow
TIME_YEARS = (1970, 2200)
#: time strings that mean "not set" on the wire (JD sends the .NET minimum for unpaid orders)
EMPTY_TIMES = frozenset({"", "0", "0000-00-00 00:00:00", "0001-01-01 00:00:00", "1970-01-01 08:00:00"})


# ---- HTTP ----------------------------------------------------------------------------------
def post(
    url: str,
    *,
    timeout: float,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """POST and return the decoded JSON body.

    Transport trouble (timeout, refused connection, HTTP 5xx/429, a non-JSON body) is the
    platform's fault and worth retrying; other 4xx mean our request is wrong. Business errors
    inside a 200 body are the adapter's job to type.
    """
    try:
        response = requests.post(url, params=params, data=data, headers=headers, timeout=timeout)
    except requests.Timeout as exc:
        raise RetryableChannelError(f"timeout calling {url}", code="timeout") from exc
    except requests.ConnectionError as exc:
        raise RetryableChannelError(f"cannot connect to {url}: {exc}", code="connection") from exc
    except requests.RequestException as exc:
        raise RetryableChannelError(f"HTTP failure calling {url}: {exc}", code="http") from exc
    status = response.status_code
    if status >= 500 or status == 429:
        raise RetryableChannelError(f"HTTP {status} from {url}", code=f"http{status}", payload=response.text[:500])
    if status >= 400:
        raise PermanentChannelError(f"HTTP {status} from {url}", code=f"http{status}", payload=response.text[:500])
    try:
        # bounded decoding: a poison value inside one order becomes a marker that the order's own
        # check refuses (that order is quarantined), instead of failing the whole page
        return guard.decode_json(response.content, field="response", check=False)
    except PayloadError as exc:
        raise RetryableChannelError(
            f"unreadable body from {url}: {exc}", code="bad_body", payload=response.text[:500]
        ) from exc


def compact_json(obj: Any, *, sort_keys: bool = False) -> str:
    """The JSON text we sign and send: no spaces, non-ASCII kept (what the platforms expect)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)


# ---- hashing -------------------------------------------------------------------------------
def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def hmac_hex(key: str, text: str, digest: str) -> str:
    return hmac.new(key.encode("utf-8"), text.encode("utf-8"), digest).hexdigest()


def hmac_b64(key: str, text: str, digest: str) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), text.encode("utf-8"), digest).digest()).decode("ascii")


def concat_sorted(params: Mapping[str, Any], *, skip: Iterable[str] = ("sign",)) -> str:
    """`name1value1name2value2…` over non-empty params sorted by name (Taobao/JD/PDD recipe)."""
    skipped = set(skip)
    return "".join(f"{k}{v}" for k, v in sorted(params.items()) if k not in skipped and v not in (None, ""))


def same_sign(expected: str, given: str) -> bool:
    """Constant-time comparison, case-insensitive for hex (platforms differ in case)."""
    return hmac.compare_digest(expected.lower().encode(), (given or "").lower().encode())


# ---- field access --------------------------------------------------------------------------
def require(obj: Mapping[str, Any], key: str, field: str | None = None) -> Any:
    """The value of a required field; PayloadError naming the field when absent or empty."""
    if not isinstance(obj, Mapping):
        raise PayloadError(field or key, "expected a JSON object")
    value = obj.get(key)
    if value is None or value == "":
        raise PayloadError(field or key, "is required")
    return value


def obj(value: Any, field: str) -> Mapping[str, Any]:
    """A nested JSON object (receiver, buyer, address); absent/empty → {}; any other type is refused."""
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(field, "expected a JSON object")
    return value


def short_text(value: Any, field: str, max_length: int) -> str:
    """An id or code that must fit its column whole: refused (not cut) when longer."""
    result = text(value)
    guard.check_text(field, result)
    if len(result) > max_length:
        raise PayloadError(field, f"longer than {max_length} characters")
    return result


def text(value: Any) -> str:
    """A platform value as text: ids and codes stay exact strings, None becomes ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    """obj[p0][p1]…, or `default` when any step is missing."""
    for step in path:
        try:
            obj = obj[step]
        except (KeyError, IndexError, TypeError):
            return default
        if obj is None:
            return default
    return obj


def object_list(value: Any, field: str, *, required: bool = True) -> list[dict[str, Any]]:
    """A list of JSON objects (order lines, coupon rows); PayloadError when empty and required."""
    if value in (None, ""):
        value = []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise PayloadError(field, "expected a list of objects")
    if required and not value:
        raise PayloadError(field, "at least one line is required")
    return list(value)


# ---- money ---------------------------------------------------------------------------------
def yuan(value: Any, field: str, *, required: bool = False, allow_negative: bool = False) -> Decimal:
    """A yuan amount (string or JSON number) as Decimal to the cent, via str() so never via float."""
    if value is None or value == "":
        if required:
            raise PayloadError(field, "is required")
        return ZERO
    if isinstance(value, bool):
        raise PayloadError(field, "expected an amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadError(field, f"not an amount: {_shown(value)}") from None
    if not amount.is_finite():
        raise PayloadError(field, f"not an amount: {_shown(value)}")
    if abs(amount) >= AMOUNT_LIMIT:
        raise PayloadError(field, f"amount out of range: {_shown(value)}")
    if amount < 0 and not allow_negative:
        raise PayloadError(field, "must not be negative")
    return amount.quantize(CENT)


def fen(value: Any, field: str, *, required: bool = False, allow_negative: bool = False) -> Decimal:
    """An integer fen amount (Douyin, Kuaishou) as exact Decimal yuan."""
    if value is None or value == "":
        if required:
            raise PayloadError(field, "is required")
        return ZERO
    if isinstance(value, bool):
        raise PayloadError(field, "expected an integer amount in fen")
    try:
        cents = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadError(field, f"not an amount in fen: {_shown(value)}") from None
    if not cents.is_finite() or abs(cents) >= AMOUNT_LIMIT * 100:
        raise PayloadError(field, f"amount out of range: {_shown(value)}")
    if cents != cents.to_integral_value():
        raise PayloadError(field, f"not an integer amount in fen: {_shown(value)}")
    if cents < 0 and not allow_negative:
        raise PayloadError(field, "must not be negative")
    return (cents / 100).quantize(CENT)


def _shown(value: Any) -> str:
    """A refused value as the error shows it: short, so a megabyte of junk is not echoed back."""
    shown = repr(value)
    return shown if len(shown) <= 40 else f"{shown[:30]}… ({len(shown)} characters)"


def to_fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def money_str(amount: Decimal) -> str:
    """Yuan as the 2-decimal string used in coupons and on the wire."""
    return str(amount.quantize(CENT))


def quantity(value: Any, field: str) -> int:
    """A line quantity: a required positive integer (JD sends it as a string)."""
    if value is None or value == "":
        raise PayloadError(field, "is required")
    if isinstance(value, bool):
        raise PayloadError(field, "expected an integer")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadError(field, f"not an integer: {_shown(value)}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise PayloadError(field, f"not an integer: {_shown(value)}")
    if number < 0:
        raise PayloadError(field, "must not be negative")
    if number == 0:
        raise PayloadError(field, "must be at least 1")
    if number > MAX_QUANTITY:
        raise PayloadError(field, f"more than {MAX_QUANTITY}")
    return int(number)


def stock_count(value: Any, what: str, payload: Any = None) -> int:
    """A stock quantity read back from a platform: a non-negative integer. Anything else means the
    reply is not what we expect, a PermanentChannelError (a person must look), not a PayloadError."""
    if isinstance(value, bool) or value in (None, ""):
        raise PermanentChannelError(f"{what}: no stock quantity in the reply", code="bad_reply", payload=payload)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        message = f"{what}: stock {value!r} is not a number"
        raise PermanentChannelError(message, code="bad_reply", payload=payload) from None
    if not number.is_finite() or number != number.to_integral_value():
        raise PermanentChannelError(f"{what}: stock {value!r} is not an integer", code="bad_reply", payload=payload)
    return int(number)


def sku_not_found(platform: str, item_id: str, sku_id: str, payload: Any = None) -> PermanentChannelError:
    return PermanentChannelError(
        f"{platform} does not know item {item_id or '-'} sku {sku_id or '-'}", code="not_found", payload=payload
    )


def coupon(kind: str, name: str, amount: Decimal, line_id: str = "") -> dict[str, str]:
    """One entry of NormalizedOrder.coupons; line_id "" means the whole order."""
    return {"kind": kind, "name": name, "amount": money_str(amount), "line_id": line_id}


# ---- times ---------------------------------------------------------------------------------
def parse_local_time(value: Any, field: str) -> datetime | None:
    """`yyyy-MM-dd HH:mm:ss` in UTC+8 → aware datetime; empty/placeholder → None."""
    if value is None:
        return None
    raw = str(value).strip()
    if raw in EMPTY_TIMES:
        return None
    try:
        parsed = datetime.strptime(raw[:19], PLATFORM_TIME_FORMAT)
    except ValueError:
        raise PayloadError(field, f"expected 'yyyy-MM-dd HH:mm:ss', got {_shown(raw)}") from None
    if parsed.year <= 1:
        return None
    return _plausible(parsed.replace(tzinfo=SHANGHAI), field)


def parse_epoch(value: Any, field: str, *, millis: bool = False) -> datetime | None:
    """Unix seconds (Douyin) or milliseconds (Kuaishou) → aware Asia/Shanghai; 0/empty → None."""
    if value in (None, "", 0, "0"):
        return None
    raw = str(value).strip()
    if isinstance(value, bool) or not raw.lstrip("-").isdigit() or len(raw) > 20:
        raise PayloadError(field, f"expected a Unix timestamp, got {_shown(value)}")
    number = int(raw)
    if number <= 0:
        return None
    try:
        if millis:
            moment = datetime.fromtimestamp(number // 1000, tz=SHANGHAI).replace(microsecond=(number % 1000) * 1000)
        else:
            moment = datetime.fromtimestamp(number, tz=SHANGHAI)
    except (OverflowError, OSError, ValueError):
        raise PayloadError(field, f"timestamp out of range: {_shown(value)}") from None
    return _plausible(moment, field)


def parse_iso_time(value: Any, field: str) -> datetime | None:
    """ISO-8601 (manual channel); a naive value is read as Asia/Shanghai."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=SHANGHAI)
        moment = parsed.astimezone(SHANGHAI)
    except (ValueError, OverflowError):
        raise PayloadError(field, f"expected an ISO-8601 time, got {_shown(value)}") from None
    return _plausible(moment, field)


def _plausible(moment: datetime, field: str) -> datetime:
    """Refuse a time no order can have: far ones overflow when the ship-by deadline is added."""
    low, high = TIME_YEARS
    if not low <= moment.year <= high:
        raise PayloadError(field, f"time out of range ({low}–{high}): {moment.isoformat()}")
    return moment


def format_local_time(moment: datetime) -> str:
    """Aware datetime → the platforms' `yyyy-MM-dd HH:mm:ss` in UTC+8."""
    return _aware(moment).astimezone(SHANGHAI).strftime(PLATFORM_TIME_FORMAT)


def epoch_seconds(moment: datetime) -> int:
    return int(_aware(moment).timestamp())


def epoch_millis(moment: datetime) -> int:
    return int(_aware(moment).timestamp() * 1000)


def now_shanghai() -> datetime:
    return datetime.now(tz=SHANGHAI)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def windows(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    """Split [start, end] into consecutive windows no longer than `size` (PDD 30 min, Kuaishou 7 d)."""
    result = []
    cursor = start
    while cursor < end:
        stop = min(cursor + size, end)
        result.append((cursor, stop))
        cursor = stop
    return result or [(start, end)]


# ---- receivers -----------------------------------------------------------------------------
def looks_masked(*values: str) -> bool:
    """Platforms mask PII with `*`; such text is fine for rules but not for a waybill."""
    return any("*" in (v or "") for v in values)


def non_empty(mapping: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in mapping.items() if v not in (None, "")}


# ---- neutral statuses ------------------------------------------------------------------------
# Mirrors orders.models.PlatformStatus (a test keeps them equal) so adapters need no Django import.
UNPAID = "unpaid"
AWAITING_SHIPMENT = "awaiting_shipment"
HOLD = "hold"
PARTIALLY_SHIPPED = "partially_shipped"
SHIPPED = "shipped"
DELIVERED = "delivered"
COMPLETED = "completed"
CANCELLED = "cancelled"
REFUNDED = "refunded"
NEUTRAL_STATUSES = (
    UNPAID,
    AWAITING_SHIPMENT,
    HOLD,
    PARTIALLY_SHIPPED,
    SHIPPED,
    DELIVERED,
    COMPLETED,
    CANCELLED,
    REFUNDED,
)
#: after a refused ship call, a re-read order in one of these states means "already shipped"
SHIPPED_STATUSES = frozenset({SHIPPED, DELIVERED, COMPLETED})


class PlatformAdapter(ChannelAdapter):
    """Behaviour shared by the marketplace adapters on top of the interface in base.py."""

    #: where the platform order id sits in one native order (read for quarantine records)
    external_id_paths: tuple[tuple[str, ...], ...] = ()

    def parse_response(self, response: Mapping[str, Any]) -> list[NormalizedOrder]:
        """Every order in a list/detail response envelope, parsed."""
        return [self.read_order(order) for order in self.extract_natives(response)]

    def extract_natives(self, response: Any) -> list[Any]:
        """`extract_orders`, but an envelope of an unexpected shape is a PayloadError, never a crash."""
        if not isinstance(response, Mapping):
            raise PayloadError("body", "expected one JSON object")
        try:
            natives = self.extract_orders(response)  # type: ignore[arg-type]
        except (TypeError, AttributeError, KeyError, IndexError) as exc:
            raise PayloadError("body", f"unexpected {self.platform} envelope ({type(exc).__name__})") from None
        if not isinstance(natives, list):
            raise PayloadError("body", f"unexpected {self.platform} envelope")
        return natives

    def read_order(self, native: Any) -> NormalizedOrder:
        """The one door every native order passes, pushed or pulled: poison refused (guard.check_tree),
        parsed, free text bounded (guard.clean_order). Any PayloadError carries the native payload and
        the order id when readable, so a pull can quarantine exactly this order."""
        try:
            guard.check_tree(native)
            try:
                order = self.parse_order(native)
            except PayloadError:
                raise
            except (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError) as exc:
                # a shape no adapter check foresaw: still the sender's fault, still a 400, never a 500
                raise PayloadError("body", f"unreadable {self.platform} order ({type(exc).__name__})") from exc
            return guard.clean_order(order)
        except PayloadError as exc:
            exc.native = native
            exc.external_id = exc.external_id or self.native_external_id(native)
            raise

    def read_page(self, natives: Any) -> tuple[list[NormalizedOrder], list[PayloadError]]:
        """Every order of a pulled page read on its own: the good ones, and the refusals to quarantine."""
        if not isinstance(natives, list):
            raise PermanentChannelError(f"{self.platform} order list is not a list", code="bad_reply")
        orders: list[NormalizedOrder] = []
        rejected: list[PayloadError] = []
        for native in natives:
            try:
                orders.append(self.read_order(native))
            except PayloadError as exc:
                rejected.append(exc)
        return orders, rejected

    def native_external_id(self, native: Any) -> str:
        """The platform order id of a native order when it is readable and storable, else ""."""
        for path in self.external_id_paths:
            value = dig(native, *path)
            if isinstance(value, str | int) and not isinstance(value, bool):
                candidate = str(value)
                if candidate and len(candidate) <= 64 and guard.is_clean(candidate):
                    return candidate
        return ""

    def confirm_shipped(self, external_id: str, error: ChannelError) -> NoReturn:
        """A ship call was refused: re-read the order (README §5). Already shipped → AlreadyDoneError,
        otherwise the original error stands."""
        try:
            current = self.fetch_order(external_id)
        except (ChannelError, PayloadError):
            raise error from None
        if current.platform_status in SHIPPED_STATUSES:
            raise AlreadyDoneError(
                f"order {external_id} is already {current.platform_status} on {self.platform}",
                code=error.code,
                sub_code=error.sub_code,
                payload=error.payload,
            ) from error
        raise error


@dataclass
class PreparedCall:
    """Exactly what goes on the wire: built and signed once, then sent unchanged (README §1)."""

    url: str
    params: dict[str, str] = field(default_factory=dict)  # query string
    data: dict[str, str] | bytes | None = None  # form fields or a raw body
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, timeout: float) -> Any:
        return post(self.url, params=self.params or None, data=self.data, headers=self.headers or None, timeout=timeout)
