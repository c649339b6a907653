"""Poison input stops here: every platform payload passes through this module before it can reach
the database, whether it was pushed (webhook, Douyin/Kuaishou native push) or pulled.

Why one module: the six dialects differ, the ways a payload can hurt us do not. A NUL byte or a
lone surrogate cannot be stored by PostgreSQL; `1e400`, `NaN` and 5,000-digit integers crash
arithmetic or `int()`; JSON nested thousands deep exhausts the recursion limit; a megabyte of buyer
message fills pages and exports. Each is either refused with a `PayloadError` naming the field (the
webhook answers 400, a pull quarantines that one order) or, for free text, stored truncated with a
marker. The limits are documented in docs/channels.md ("Poison input").
"""

from __future__ import annotations

import copy
import json
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from orders.channels.base import NormalizedLine, NormalizedOrder, PayloadError

#: deepest JSON the decoder is asked to read at all (Python's own decoder recurses per level)
MAX_DECODE_DEPTH = 200
#: deepest nesting accepted inside one order (the deepest real payload, Taobao's, has 4 levels)
MAX_ORDER_DEPTH = 32
#: integers longer than this (digits) are refused: no platform id or amount comes close
MAX_INT_DIGITS = 30
#: any string anywhere in a stored native payload is cut to this many characters (raw copy only)
MAX_RAW_STRING = 4000
#: free text stored truncated with TRUNCATION_MARKER: a long note must never cost us the order
FREE_TEXT_LIMITS = {
    "buyer_message": 2000,
    "seller_memo": 2000,
    "title": 300,  # OrderLine.title column
    "coupon_name": 200,
    "coupon_kind": 40,
}
#: receiver ciphertexts are refused beyond this: a truncated ciphertext cannot be decrypted
MAX_CIPHER_VALUE = 2000
TRUNCATION_MARKER = "…[truncated]"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
#: the escapes through which a decoded JSON string gets a NUL or a lone surrogate (raw, neither survives
#: decoding: a raw NUL is malformed JSON, and text decoded from UTF-8 holds no surrogate); after an even
#: run of backslashes only, since `\\u0000` is an escaped backslash and the letters "u0000"
_UNSAFE_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u(?:0000|[dD][89a-fA-F])")
_BRACKET = re.compile(r"[\[\]{}]")
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


class Unreadable:
    """A JSON number we refuse to turn into a Python value (NaN, ±Infinity, 1e400, a huge integer).

    The decoder puts this marker where the number was, so the tree walk can name the field."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Unreadable({self.text[:20]!r})"

    def describe(self) -> str:
        shown = self.text if len(self.text) <= 20 else f"{self.text[:12]}… ({len(self.text)} characters)"
        return f"number out of range: {shown}"


class MalformedJSON(PayloadError):
    """The body is not JSON at all (as opposed to JSON carrying a value we refuse)."""


def _int(text: str) -> int | Unreadable:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return Unreadable(text)
    return int(text)


def _float(text: str) -> float | Unreadable:
    value = float(text)
    return value if math.isfinite(value) else Unreadable(text)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded JSON text and what the text alone proved about it (`decode`)."""

    value: Any
    #: nothing in it that `check_tree` refuses, nested at most MAX_ORDER_DEPTH: walking it is redundant
    safe: bool
    #: no string (key or value) in it is longer than MAX_RAW_STRING characters, as the text shows
    #: (`_no_string_to_clip`): `clip_raw` would copy it unchanged
    short: bool
    #: the decoded text
    text: str = ""


def decode(data: bytes | str, *, field: str = "body") -> Decoded:
    """Bounded JSON decoding: UTF-8 only, nesting at most MAX_DECODE_DEPTH, NaN/Infinity, overflowing
    floats and huge integers become `Unreadable` markers, not walked (see `decode_json`).

    Why `safe`: every push is decoded on the web and again by a drainer, and walking the tree cost more
    than decoding it. A text that made no `Unreadable`, has no escape of a NUL or a surrogate (nor, for
    a str, a raw surrogate) and nests no deeper than MAX_ORDER_DEPTH cannot hold anything the walk
    refuses, so nobody walks it."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSON(field, f"not UTF-8 text (byte {exc.start})") from None
    else:
        text = data
    # no deeper than its opening brackets: counting them (C speed) spares the regex pass of nesting_depth
    # for every body that could not nest too deep anyway
    openings = text.count("[") + text.count("{")
    depth = openings  # at most
    if openings > MAX_ORDER_DEPTH:
        depth = nesting_depth(text)
        if depth > MAX_DECODE_DEPTH:
            raise PayloadError(field, f"JSON nested {depth} levels deep (at most {MAX_DECODE_DEPTH})")
    unreadable: list[Unreadable] = []

    def marked(value):
        if value.__class__ is Unreadable:
            unreadable.append(value)
        return value

    try:
        value = json.loads(
            text,
            parse_int=lambda number: marked(_int(number)),
            parse_float=lambda number: marked(_float(number)),
            parse_constant=lambda constant: marked(Unreadable(constant)),
        )
    except json.JSONDecodeError as exc:
        raise MalformedJSON(field, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise PayloadError(field, "JSON nested too deeply") from None
    safe = (
        not unreadable
        and depth <= MAX_ORDER_DEPTH
        and ("\\u" not in text or _UNSAFE_ESCAPE.search(text) is None)
        and (data is not text or _encodable(text))  # a str may hold a raw surrogate
    )
    return Decoded(value, safe=safe, short=_no_string_to_clip(text), text=text)


def _no_string_to_clip(text: str) -> bool:
    """Whether the JSON `text` shows that none of its strings is longer than MAX_RAW_STRING: the whole
    text is no longer, or no run between two quotes is (an escape only ever spells fewer characters
    than it takes). An escaped quote would split a string's run in two, so such a text is not vouched
    for. Why: a Douyin order is over 4,000 characters with no long string in it, and was clipped (a
    copy of the tree) and encoded again for every push."""
    if len(text) <= MAX_RAW_STRING:
        return True
    return '\\"' not in text and max(map(len, text.split('"'))) <= MAX_RAW_STRING


def _encodable(text: str) -> bool:
    """No surrogate in `text` (UTF-8 cannot encode one): ~8× faster than searching it with `_UNSAFE`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_json(data: bytes | str, *, field: str = "body", check: bool = True) -> Any:
    """`decode`'s value. With `check`, a tree the text did not prove safe is then walked
    (`check_tree`), so any marker, NUL, lone surrogate or over-deep value is refused naming its path."""
    decoded = decode(data, field=field)
    if check and not decoded.safe:
        check_tree(decoded.value, "" if field == "body" else field)
    return decoded.value


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text, strings skipped, without recursing."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _join(path: str, step: str | int) -> str:
    if isinstance(step, int):
        return f"{path}[{step}]"
    return f"{path}.{step}" if path else step


def check_text(field: str, value: str) -> None:
    """Refuse text PostgreSQL cannot store (NUL) or that is not Unicode at all (a lone surrogate)."""
    match = _UNSAFE.search(value)
    if match is None:
        return
    if match.group() == "\x00":
        raise PayloadError(field, "contains a NUL character")
    raise PayloadError(field, "contains a lone surrogate (not valid Unicode)")


def is_clean(value: str) -> bool:
    return _UNSAFE.search(value) is None


def check_tree(value: Any, path: str = "", *, max_depth: int = MAX_ORDER_DEPTH) -> None:
    """Walk a decoded JSON value; PayloadError naming the first unsafe spot (key or value).

    Paths are spelled only for the spot refused (`_path_of`): every push and every drained message is
    walked, and building each node's path cost more than checking it."""
    stack: list[tuple] = [(value, None, path, 0)]  # (node, parent entry, step from the parent, depth)
    while stack:
        entry = stack.pop()
        node, _parent, _step, depth = entry
        if depth > max_depth:
            raise PayloadError(_path_of(entry) or "body", f"nested deeper than {max_depth} levels")
        if isinstance(node, str):
            if _UNSAFE.search(node) is not None:
                check_text(_path_of(entry) or "body", node)
        elif isinstance(node, Unreadable):
            raise PayloadError(_path_of(entry) or "body", node.describe())
        elif isinstance(node, Mapping):
            for key, child in node.items():
                key_text = str(key)
                if _UNSAFE.search(key_text) is not None:
                    check_text(_join(_path_of(entry), key_text[:100]), key_text)
                stack.append((child, entry, key_text, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, entry, index, depth + 1) for index, child in enumerate(node))


def _path_of(entry: tuple) -> str:
    """The path of a check_tree stack entry: its steps joined from the root's path."""
    steps = []
    while entry[1] is not None:
        steps.append(entry[2])
        entry = entry[1]
    where = entry[2]
    for step in reversed(steps):
        where = _join(where, step)
    return where


def truncate(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, the cut marked, so a reader knows text is missing."""
    if len(value) <= limit:
        return value
    return value[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def clip_raw(value: Any) -> Any:
    """A copy of a native payload fit for storage: every string at most MAX_RAW_STRING characters."""
    if isinstance(value, str):
        return truncate(value, MAX_RAW_STRING)
    if isinstance(value, Mapping):
        return {str(k)[:MAX_RAW_STRING]: clip_raw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clip_raw(v) for v in value]
    return value


def clean_order(order: NormalizedOrder, *, raw_short: bool = False, raw_text: str | None = None) -> NormalizedOrder:
    """Free text truncated with a marker, ciphertexts bounded, the raw copy clipped (unless `raw_short`:
    it came from a text that shows no string to clip); every text checked again, because adapters
    derive some values (joined notes, coupon names) from several fields. `raw_text`: the JSON text `raw`
    was decoded from, kept only with `raw_short` (a clipped copy is no longer that text)."""
    limits = FREE_TEXT_LIMITS
    title = limits["title"]
    # a copy only of what changes (dataclasses.replace rebuilds every field: ~20 µs per order, twice)
    lines = [
        line if len(line.title) <= title else replace(line, title=truncate(line.title, title)) for line in order.lines
    ]
    coupons = [
        {
            **coupon,
            "kind": truncate(str(coupon.get("kind", "")), limits["coupon_kind"]),
            "name": truncate(str(coupon.get("name", "")), limits["coupon_name"]),
        }
        for coupon in order.coupons
    ]
    for key, cipher in order.receiver_cipher.items():
        if len(cipher) > MAX_CIPHER_VALUE:
            raise PayloadError(f"receiver_cipher.{key}", f"longer than {MAX_CIPHER_VALUE} characters")
    cleaned = copy.copy(order)
    cleaned.buyer_message = truncate(order.buyer_message, limits["buyer_message"])
    cleaned.seller_memo = truncate(order.seller_memo, limits["seller_memo"])
    cleaned.lines, cleaned.coupons = lines, coupons
    cleaned.raw = order.raw if raw_short else clip_raw(order.raw)
    cleaned.raw_text = raw_text if raw_short else None
    check_normalized(cleaned)
    return cleaned


def check_normalized(order: NormalizedOrder) -> None:
    """Every text of a neutral order is storable (no NUL, no lone surrogate); PayloadError otherwise.
    All texts are searched at once first (one C pass); only a find is looked for field by field."""
    try:
        texts = _ORDER_TEXTS(order) + tuple(text for line in order.lines for text in _LINE_TEXTS(line))
        clean = _UNSAFE.search("".join(texts)) is None
    except (AttributeError, TypeError):  # a text field holding something else: the careful walk names it
        clean = False
    if not clean or len(vars(order)) != _ORDER_FIELDS or any(len(vars(x)) != _LINE_FIELDS for x in order.lines):
        for name, value in vars(order).items():
            if isinstance(value, str):
                check_text(name, value)
        for index, line in enumerate(order.lines):
            for name, value in vars(line).items():
                if isinstance(value, str):
                    check_text(f"lines[{index}].{name}", value)
    check_tree(order.coupons, "coupons")
    check_tree(order.receiver_cipher, "receiver_cipher")


def _text_getter(cls) -> operator.attrgetter:
    return operator.attrgetter(*(f.name for f in fields(cls) if f.type == "str"))


_ORDER_TEXTS = _text_getter(NormalizedOrder)
_LINE_TEXTS = _text_getter(NormalizedLine)
_ORDER_FIELDS = len(fields(NormalizedOrder))
_LINE_FIELDS = len(fields(NormalizedLine))
