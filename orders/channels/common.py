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
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    WaybillAddress,
    WaybillBranch,
    WaybillErrorCode,
    WaybillRequest,
    WaybillResult,
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


def without_nulls(obj: Any) -> Any:
    """A business payload without null members at any depth: an optional field left unset is
    absent on the wire, not `null` (the e-waybill DTOs)."""
    if isinstance(obj, Mapping):
        return {k: without_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [without_nulls(v) for v in obj]
    return obj


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
_EXACT_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", re.ASCII)


def parse_local_time(value: Any, field: str) -> datetime | None:
    """`yyyy-MM-dd HH:mm:ss` in UTC+8 → aware datetime; empty/placeholder → None."""
    if value is None:
        return None
    raw = str(value).strip()
    if raw in EMPTY_TIMES:
        return None
    head = raw[:19]
    try:
        # the usual exact shape by the C parser (strptime costs ~25 µs a time, three times an order)
        if _EXACT_TIME.fullmatch(head):
            parsed = datetime.fromisoformat(head)
        else:
            parsed = datetime.strptime(head, PLATFORM_TIME_FORMAT)
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

# A line's after-sale state: mirrors orders.models.LineRefundState (a test keeps them equal). Each
# adapter maps its platform's own line codes here and keeps the raw code in `refund_status`.
LINE_REFUND_NONE = "none"
LINE_REFUND_REQUESTED = "requested"
LINE_REFUND_REFUNDED = "refunded"
LINE_REFUND_STATES = (LINE_REFUND_NONE, LINE_REFUND_REQUESTED, LINE_REFUND_REFUNDED)


def any_line_refund_requested(lines: Iterable[Any]) -> bool:
    """The order-level `refund_requested` flag derived from line-level data: some line that still
    ships has an open request (a closed or refunded line needs no decision any more)."""
    return any(line.refund_state == LINE_REFUND_REQUESTED and not line.closed for line in lines)


# ---- e-waybills -------------------------------------------------------------------------------
#: the platforms' own words for each e-waybill refusal (shared/channels/shipping.md §1 "Failure
#: categories"), matched in the error text when the platform's code is not in the adapter's table
WAYBILL_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (WaybillErrorCode.QUOTA_EXHAUSTED, ("余额不足", "单号不足", "面单不足", "quota exhausted", "insufficient balance")),
    (WaybillErrorCode.UNREACHABLE, ("超区", "停发", "不可达", "不支持派送", "无法派送", "unreachable")),
    (WaybillErrorCode.NOT_SUBSCRIBED, ("未订购", "未开通", "未订阅", "未签约", "not subscribed")),
    (WaybillErrorCode.PICKED_UP, ("已揽收", "已揽件", "已收件", "picked up", "already collected")),
    (WaybillErrorCode.ALREADY_CANCELLED, ("已取消", "已回收", "重复取消", "already cancelled")),
    (WaybillErrorCode.NOT_FOUND, ("不存在", "未找到", "not found")),
    (WaybillErrorCode.BAD_DATA, ("参数错误", "格式错误", "过长", "不合法", "不正确", "bad data")),
)
#: refusals that belong to one parcel of a batch (the rest of the batch may still be numbered)
PARCEL_REFUSALS = frozenset({WaybillErrorCode.QUOTA_EXHAUSTED, WaybillErrorCode.UNREACHABLE, WaybillErrorCode.BAD_DATA})
WAYBILL_CODES = frozenset(kind for kind, _words in WAYBILL_WORDS) | {WaybillErrorCode.NOT_SUBSCRIBED}
_OBJECT_ID = re.compile(r"object_id[=:]\s*([^\s,;:：\]]+)")


def waybill_error_code(text_: str, *codes: str, known: Mapping[str, str] | None = None) -> str:
    """The WaybillErrorCode for a platform refusal: the adapter's code table first, then the
    platform's words; "" when neither says what it is (auth, signature, … stay the adapter's own)."""
    for code in codes:
        if known and code in known:
            return known[code]
    lowered = (text_ or "").lower()
    for kind, words in WAYBILL_WORDS:
        if any(word in lowered for word in words):
            return kind
    return ""


def waybill_error(error: ChannelError, *, known: Mapping[str, str] | None = None) -> ChannelError:
    """A platform error re-typed for the shipping app: `code` becomes the WaybillErrorCode and the
    platform's code moves to `sub_code`; the message keeps the platform's own words. Retryable
    errors and errors that are no e-waybill refusal come back unchanged."""
    if error.retryable or isinstance(error, AlreadyDoneError):
        return error
    platform_code = " ".join(x for x in (error.code, error.sub_code) if x)
    kind = waybill_error_code(str(error), error.code, error.sub_code, error.sub_code.rpartition(":")[2], known=known)
    if not kind:
        return error
    return PermanentChannelError(str(error), code=kind, sub_code=platform_code, payload=error.payload)


def waybill_refusal(
    platform: str, kind: str, message: str, *, platform_code: str = "", payload: Any = None
) -> PermanentChannelError:
    """A per-parcel refusal read from a batch answer (Douyin `err_infos`, Kuaishou `baseResponse`)."""
    return PermanentChannelError(f"{platform}: {message}", code=kind, sub_code=platform_code, payload=payload)


def named_object_ids(error: ChannelError) -> set[str]:
    """The parcel keys a whole-call refusal names (`object_id=…` in the platform's message)."""
    return set(_OBJECT_ID.findall(str(error)))


def number_isolating_refusals(
    requests: Sequence[WaybillRequest], call: Callable[[list[WaybillRequest]], dict[str, WaybillResult]]
) -> list[WaybillResult]:
    """Cainiao and PDD refuse a whole get-number call when one parcel is refused (u). The parcels the
    refusal names get that refusal as their result and the rest are asked again in one call; a
    refusal naming none fails every parcel (quota, unsubscribed sender). Keys are the platform's
    package ids, so asking again can never take a second number."""
    pending = list(requests)
    results: dict[str, WaybillResult] = {}
    while pending:
        try:
            results |= call(pending)
            break
        except PermanentChannelError as exc:
            if exc.code not in WAYBILL_CODES:
                raise  # auth, signature, a call the platform does not know: not one parcel's fault
            named = named_object_ids(exc)
            hit = [r for r in pending if r.parcel_key in named]
            if exc.code not in PARCEL_REFUSALS or not hit or len(hit) == len(pending):
                hit = pending  # the refusal is about every parcel of the call
            for request in hit:
                results[request.parcel_key] = WaybillResult(request.parcel_key, error=exc)
            pending = [r for r in pending if r.parcel_key not in results]
    return [results.get(r.parcel_key) or missing_result(r) for r in requests]


def missing_result(request: WaybillRequest) -> WaybillResult:
    """The platform answered but said nothing about this parcel: no number, say so plainly."""
    error = PermanentChannelError(
        f"the platform returned no number for parcel {request.parcel_key}", code=WaybillErrorCode.NOT_FOUND
    )
    return WaybillResult(request.parcel_key, error=error)


def json_object(value: Any, what: str) -> dict[str, Any]:
    """A payload the platform sends as JSON text (Cainiao/PDD `print_data`) or as an object."""
    if isinstance(value, Mapping):
        return dict(value)
    if value in (None, ""):
        return {}
    try:
        parsed = json.loads(str(value))
    except ValueError:
        raise PermanentChannelError(f"{what} is not JSON", code="bad_reply", payload=value) from None
    if not isinstance(parsed, dict):
        raise PermanentChannelError(f"{what} is not a JSON object", code="bad_reply", payload=value)
    return parsed


def address_of(sender: Any) -> WaybillAddress | None:
    """A WaybillAddress from an address dict of a branch answer (province/city/district/detail)."""
    if not isinstance(sender, Mapping):
        return None
    return WaybillAddress(
        name=text(sender.get("name")),
        mobile=text(sender.get("mobile")),
        province=text(sender.get("province")),
        city=text(sender.get("city")),
        district=text(sender.get("district")),
        town=text(sender.get("town")),
        address=text(sender.get("detail") or sender.get("address")),
    )


def cloud_print_address(address: WaybillAddress, *, with_contact: bool) -> dict[str, Any]:
    """Cainiao/PDD address DTO: {name, mobile, address {province, city, district, town, detail}}."""
    place = non_empty(
        {
            "province": address.province,
            "city": address.city,
            "district": address.district,
            "town": address.town,
            "detail": address.address,
        }
    )
    if not with_contact:
        return place
    return non_empty({"name": address.name, "mobile": address.mobile}) | {"address": place}


def cloud_print_result(module: dict[str, Any]) -> WaybillResult:
    """One `modules[]` entry (Cainiao and PDD share it): `print_data` arrives as JSON text."""
    return WaybillResult(
        parcel_key=text(module.get("object_id")),
        tracking_number=text(module.get("waybill_code")),
        parent_tracking_number=text(module.get("parent_waybill_code")),
        print_data=json_object(module.get("print_data"), "print_data"),
    )


def subscription_branches(cols: list[dict[str, Any]], carrier_key: str) -> list[WaybillBranch]:
    """`waybill_apply_subscription_cols[].branch_account_cols[]` (Cainiao `cp_code`, PDD `wp_code`):
    one branch each, with its first shipping address; `quantity` is the numbers left (None when the
    account does not count, e.g. a direct/monthly account)."""
    branches = []
    for col in cols:
        for account in col.get("branch_account_cols") or []:
            addresses = account.get("shipp_address_cols") or []
            quantity = account.get("quantity")
            branches.append(
                WaybillBranch(
                    carrier_code=text(col.get(carrier_key)),
                    branch_code=text(account.get("branch_code")),
                    branch_name=text(account.get("branch_name")),
                    quota=None if quantity in (None, "", -1) else int(quantity),
                    sender=address_of(addresses[0]) if addresses else None,
                )
            )
    return branches


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

    def read_order(self, native: Any, *, decoded: guard.Decoded | None = None) -> NormalizedOrder:
        """The one door every native order passes, pushed or pulled: poison refused (guard.check_tree),
        parsed, free text bounded (guard.clean_order). Any PayloadError carries the native payload and
        the order id when readable, so a pull can quarantine exactly this order.

        `decoded`: the decoding of the text `native` is part of; what its text proved is not walked again."""
        try:
            if decoded is None or not decoded.safe:
                guard.check_tree(native)
            try:
                order = self.parse_order(native)
            except PayloadError:
                raise
            except (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError) as exc:
                # a shape no adapter check foresaw: still the sender's fault, still a 400, never a 500
                raise PayloadError("body", f"unreadable {self.platform} order ({type(exc).__name__})") from exc
            if decoded is None:
                return guard.clean_order(order)
            # the text itself stands for `raw` when it was this order alone, proved safe
            bare = decoded.safe and native is decoded.value and order.raw is native
            return guard.clean_order(order, raw_short=decoded.short, raw_text=decoded.text if bare else None)
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

    # e-waybills: batching shared by every marketplace adapter ---------------------------------
    def waybill_get(self, requests: list[WaybillRequest]) -> list[WaybillResult]:
        """Batches of one carrier and branch, each at most `waybill_batch_size`; results in the
        order of `requests`. A failure of a whole call (transport, auth) raises."""
        groups: dict[tuple[str, str], list[WaybillRequest]] = {}
        for request in requests:
            groups.setdefault((request.carrier_code, request.branch_code), []).append(request)
        results: dict[str, WaybillResult] = {}
        for group in groups.values():
            for start in range(0, len(group), self.waybill_batch_size):
                batch = group[start : start + self.waybill_batch_size]
                results |= {r.parcel_key: r for r in self.waybill_get_batch(batch)}
        return [results[r.parcel_key] for r in requests]

    def waybill_get_batch(self, requests: list[WaybillRequest]) -> list[WaybillResult]:
        """One signed get-number call for parcels of one carrier and branch."""
        raise PermanentChannelError(f"{self.platform} has no e-waybill service", code=WaybillErrorCode.NOT_SUPPORTED)

    def waybill_lookup(self, request: WaybillRequest) -> WaybillResult:
        """Repeat the call with the same parcel key: the platform answers the number it issued for
        it (Douyin order+pack_id, Kuaishou requestId; u for Cainiao/PDD/JD) instead of a new one."""
        result = self.waybill_get_batch([request])[0]
        if result.error is not None:
            raise result.error
        return result


@dataclass
class PreparedCall:
    """Exactly what goes on the wire: built and signed once, then sent unchanged (README §1)."""

    url: str
    params: dict[str, str] = field(default_factory=dict)  # query string
    data: dict[str, str] | bytes | None = None  # form fields or a raw body
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, timeout: float) -> Any:
        return post(self.url, params=self.params or None, data=self.data, headers=self.headers or None, timeout=timeout)
