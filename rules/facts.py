"""The registry of order facts that rule conditions can test.

Each fact has a name (what a condition row stores), a type (which decides the operators and how the
condition's text value is parsed), a translatable label, a Python getter over a `FactContext`, and,
where the database can compute the same value, an ORM expression (or a field path) so a backtest can
run in SQL. A fact without `sql` is evaluated in Python during a backtest.

Facts are read lazily and memoised per evaluation, so a rule set that never asks for the lines or for
the open orders of the same buyer never queries them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import phonenumbers
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rules import regions

if TYPE_CHECKING:
    from inventory.services import ReservationOutcome
    from orders.models import Order


class FactType:
    DECIMAL = "decimal"
    INT = "int"
    STR = "str"
    CHOICE = "choice"
    BOOL = "bool"
    LIST = "list"  # a list of strings (e.g. the SKU codes of the lines)


TEST_WORDS = ("测试", "test", "样品", "勿发", "不要发货", "假地址")
MERGEABLE_STATES = ("new", "ready", "on_hold", "awaiting_stock")
# Paid within half a fen of what is due counts as paid (float arithmetic in SQLite backtests).
PAYMENT_TOLERANCE = Decimal("0.005")


# ---- normalisation shared with the blacklist -----------------------------------------------------
def normalize_nick(value: str) -> str:
    return (value or "").strip().lower()


def normalize_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value or "")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def normalize_address(value: str) -> str:
    return re.sub(r"[\s,，·\-]", "", value or "").lower()


def full_address(order: Order) -> str:
    return normalize_address(
        f"{order.receiver_province}{order.receiver_city}{order.receiver_district}{order.receiver_address}"
    )


@dataclass
class Blacklist:
    nicks: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    addresses: tuple[str, ...] = ()  # normalised fragments; an order matches when its address contains one

    def matches(self, order: Order) -> bool:
        if order.buyer_nick and normalize_nick(order.buyer_nick) in self.nicks:
            return True
        if order.receiver_phone and normalize_phone(order.receiver_phone) in self.phones:
            return True
        if self.addresses:
            address = full_address(order)
            return bool(address) and any(fragment in address for fragment in self.addresses)
        return False


# ---- the context a rule set is evaluated in -------------------------------------------------------
class FactContext:
    """One order being evaluated, plus what the pipeline knows about it; facts memoised per instance."""

    __slots__ = ("_cache", "_lines", "blacklist", "changes", "now", "order", "reservation", "trigger")

    def __init__(
        self,
        *,
        order: Order,
        now: datetime,
        reservation: ReservationOutcome | None = None,
        changes: set[str] | None = None,
        trigger: str = "ingest",
        blacklist: Blacklist | None = None,
        lines: list | None = None,
    ):
        self.order = order
        self.now = now
        self.reservation = reservation
        self.changes = changes or set()
        self.trigger = trigger
        self.blacklist = blacklist or Blacklist()
        self._lines = lines
        self._cache: dict[str, Any] = {}

    @property
    def lines(self) -> list:
        if self._lines is None:
            self._lines = list(self.order.lines.all())
        return self._lines

    def prefill(self, known: dict[str, Any]) -> None:
        """Facts already read for this order (a batch reads some for all its orders in one query)."""
        self._cache.update(known)

    def get(self, name: str) -> Any:
        cache = self._cache
        if name in cache:
            return cache[name]
        fact = dict.get(FACTS, name) or FACTS[name]  # the filled registry as a plain dict (hot path)
        value = cache[name] = fact.getter(self)
        return value


@dataclass(frozen=True)
class Fact:
    name: str
    type: str
    label: Any
    getter: Callable[[FactContext], Any]
    #: a field path (str) or a callable returning an ORM expression over Order; None = Python only
    sql: str | Callable[[], Any] | None = None
    #: for LIST facts: the OrderLine field the list is made of (SQL through an EXISTS)
    line_field: str | None = None
    choices: tuple[tuple[str, Any], ...] = ()
    help: Any = ""
    #: the Order columns (values() names; "lines" for the lines) the getter reads: a backtest fetches
    #: only these as plain rows. A field-path fact (sql given as a str) reads that field.
    reads: tuple[str, ...] = ()
    #: the facts the getter asks the context for (a backtest fetches their columns too)
    needs: tuple[str, ...] = ()
    #: the getter is a pure function of `reads`: a backtest computes it once per distinct value
    memoize: bool = False
    #: BOOL facts: the Q of orders for which the fact is true (a backtest composes these)
    q_true: Callable[[], Q] | None = None
    #: BOOL facts made of others (`needs`): their "is true" Qs -> this fact's "is true" Q
    compose: Callable[[Callable[[str], Q]], Q] | None = None
    #: memoised BOOL facts: (rows the database decides, where the fact is true among them); the
    #: backtest evaluates only the other rows' distinct values in Python
    sql_split: Callable[[], tuple[Q, Q]] | None = None
    #: set-based form for backtests: {order pk: value} for a chunk of rows in one query (see backtest.py)
    batch: Callable[[list[Any]], dict[int, Any]] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        if self.reads:
            return self.reads
        return (self.sql,) if isinstance(self.sql, str) else ()


# ---- getters ----------------------------------------------------------------------------------
def _amount_due(order: Order) -> Decimal:
    return order.goods_amount + order.postage - order.discount_amount


def _payment_state(ctx: FactContext) -> str:
    order = ctx.order
    if order.platform_status == "unpaid" or order.paid_at is None:
        return "unpaid"
    if order.paid_amount + PAYMENT_TOLERANCE < _amount_due(order):
        return "partial"
    return "paid"


def _discount_ratio(ctx: FactContext) -> Decimal:
    goods = ctx.order.goods_amount
    if goods > 0:
        return ctx.order.discount_amount / goods
    return Decimal(0)


def _stacked_coupon_count(ctx: FactContext) -> int:
    """The most coupons/promotions that apply to one line: its own plus the order-level ones."""
    coupons = ctx.order.coupons or []
    order_level = sum(1 for c in coupons if not (isinstance(c, dict) and c.get("line_id")))
    per_line: dict[str, int] = {}
    for c in coupons:
        if isinstance(c, dict) and c.get("line_id"):
            key = str(c["line_id"])
            per_line[key] = per_line.get(key, 0) + 1
    return order_level + max(per_line.values(), default=0)


# An 11-digit number 13x–19x (not 179, one of the carrier prefixes the CN metadata strips when parsing):
# phonenumbers.parse(raw, "CN") keeps it whole as the national number of +86, so is_valid_number and
# number_type both reduce to the metadata's type patterns on the digits. Asking them directly skips
# the parse (about 7 times faster); test_phone_fast_path_agrees_with_phonenumbers checks the equality.
_PLAIN_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CN_METADATA = phonenumbers.PhoneMetadata.metadata_for_region("CN")
_VALID_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def phone_valid_raw(raw: str) -> bool:
    """Whether a (stripped, unmasked) receiver phone is a valid CN mobile or landline."""
    if not raw:
        return False
    if _PLAIN_CN_MOBILE.fullmatch(raw) and not raw.startswith("179"):
        return _plain_number_valid(raw)
    # Virtual numbers with an extension (13800000000-1234, 13800000000转1234): check the main number.
    raw = re.split(r"[-转#](?=\d{1,6}$)", raw)[0] if re.match(r"^\+?\d{11,13}[-转#]\d{1,6}$", raw) else raw
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    return phonenumbers.number_type(number) in _VALID_TYPES


def _phone_regex(desc) -> str | None:
    """The SQL regex an 11-digit number must fully match for `desc`, as phonenumbers matches it."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and 11 not in desc.possible_length:
        return None
    return f"^(?:{desc.national_number_pattern})$"


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regular expression (split on | outside groups and classes)."""
    parts, depth, in_class, start, escaped = [], 0, False, 0, False
    for i, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def phone_valid_split() -> tuple[Q, Q]:
    """(rows SQL decides, those of them where phone_valid is true) for backtests.

    Masked receivers are valid; a plain mobile-shaped number is valid exactly when the CN metadata's
    type patterns say so, in `_number_type_helper`'s order (general, then none of the other types,
    then fixed line or mobile), here as regular expressions the database runs (digits only: the same
    in Python, PostgreSQL and SQLite). Every other shape is left to the Python check.
    """
    md = _CN_METADATA
    plain = Q(receiver_phone__regex=r"^1[3-9][0-9]{9}$") & ~Q(receiver_phone__startswith="179")
    general = _phone_regex(md.general_desc)
    if general is None:
        valid = Q(pk__in=[])
    elif r"1\d{10}" in _alternatives(md.general_desc.national_number_pattern):
        valid = Q()  # the general pattern has 1\d{10} as an alternative: every plain number matches it
    else:
        valid = Q(receiver_phone__regex=general)
    for desc in (md.premium_rate, md.toll_free, md.shared_cost, md.voip, md.personal_number, md.pager, md.uan):
        pattern = _phone_regex(desc)
        if pattern:
            valid &= ~Q(receiver_phone__regex=pattern)
    pattern = _phone_regex(md.voicemail)
    if pattern:
        valid &= ~Q(receiver_phone__regex=pattern)
    # mobile first: most numbers match it and the database can skip the long fixed-line pattern
    typed = [p for p in (_phone_regex(md.mobile), _phone_regex(md.fixed_line)) if p]
    any_type = Q(pk__in=[])
    for pattern in typed:
        any_type |= Q(receiver_phone__regex=pattern)
    masked = Q(receiver_masked=True)
    unmasked_plain = Q(receiver_masked=False) & plain
    return masked | unmasked_plain, masked | (unmasked_plain & valid & any_type)


class _PlainNumberPatterns:
    """`_number_type_helper`'s answer for an 11-digit number, as three compiled expressions built once
    from the CN metadata (the same as `phone_valid_split`'s SQL): the general pattern, none of the
    other types, then mobile or fixed line. About 3 times cheaper than the helper's dozen lookups."""

    def __init__(self) -> None:
        md = _CN_METADATA
        general = _phone_regex(md.general_desc)
        others = [
            _phone_regex(desc)
            for desc in (md.premium_rate, md.toll_free, md.shared_cost, md.voip, md.personal_number, md.pager, md.uan)
        ] + [_phone_regex(md.voicemail)]
        typed = [p for p in (_phone_regex(md.mobile), _phone_regex(md.fixed_line)) if p]
        self.general = re.compile(general) if general else None
        self.other = re.compile("|".join(f"(?:{p})" for p in others if p)) if any(others) else None
        self.typed = re.compile("|".join(f"(?:{p})" for p in typed)) if typed else None

    def valid(self, raw: str) -> bool:
        if self.general is None or self.typed is None or not self.general.match(raw):
            return False
        return not (self.other is not None and self.other.match(raw)) and bool(self.typed.match(raw))


_plain_patterns: _PlainNumberPatterns | None = None


def _plain_number_valid(raw: str) -> bool:
    """Whether an 11-digit 13x–19x number (not 179) is a valid CN mobile or landline."""
    global _plain_patterns
    if _plain_patterns is None:
        _plain_patterns = _PlainNumberPatterns()
    return _plain_patterns.valid(raw)


def _phone_valid(ctx: FactContext) -> bool:
    order = ctx.order
    if order.receiver_masked:
        return True  # masked by the platform: the ciphertext is kept, the plain number cannot be checked
    return phone_valid_raw((order.receiver_phone or "").strip())


def _receiver_complete(ctx: FactContext) -> bool:
    o = ctx.order
    return bool(o.receiver_name.strip() and o.receiver_phone.strip() and o.receiver_address.strip())


def _has_test_words(ctx: FactContext) -> bool:
    o = ctx.order
    text = f"{o.receiver_name} {o.receiver_address}".lower()
    return any(word in text for word in TEST_WORDS)


def _receiver_valid(ctx: FactContext) -> bool:
    return (
        ctx.get("phone_valid")
        and ctx.get("province_recognised")
        and ctx.get("city_recognised")
        and ctx.get("district_recognised")
        and not ctx.get("address_has_test_words")
    )


def _open_orders_same_receiver(ctx: FactContext) -> int:
    from orders.models import Order

    o = ctx.order
    if not (o.buyer_nick and o.receiver_address):
        return 0
    return (
        Order.objects.filter(
            state__in=MERGEABLE_STATES,
            channel__platform=o.channel.platform,
            buyer_nick=o.buyer_nick,
            receiver_name=o.receiver_name,
            receiver_phone=o.receiver_phone,
            receiver_address=o.receiver_address,
        )
        .exclude(pk=o.pk)
        .count()
    )


def batch_facts(*, orders: list[Order], fact_names: set[str], stored: bool = True) -> dict[int, dict[str, Any]]:
    """Facts that would cost one query per order, read for a whole batch of new orders in one query
    (Order pk -> {fact: value}), to prefill each order's FactContext. Only those the rules use.

    open_orders_same_receiver: each order counts every other open order of its buyer and address,
    stored before or in the same batch (one by one, the first of two such orders would see none: the
    batch sees the pair, which is what the merge check is after). `stored`: whether the batch's orders
    (state new) are in the database yet; when they are not (decided before they are inserted, with
    their pks taken), the batch's own orders of the same key are counted here as if they were."""
    result: dict[int, dict[str, Any]] = {o.pk: {} for o in orders}
    if "open_orders_same_receiver" not in fact_names or not orders:
        return result
    counts = _open_orders_batch(orders)  # the backtest's grouped read, shared
    if not stored:
        keyed = [o for o in orders if o.buyer_nick and o.receiver_address]
        peers = Counter(_receiver_key(o) for o in keyed)
        for o in keyed:
            counts[o.pk] += peers[_receiver_key(o)]
    for pk, count in counts.items():
        result[pk]["open_orders_same_receiver"] = max(count, 0)
    return result


def _receiver_key(row: Any) -> tuple:
    """What `open_orders_same_receiver` groups by."""
    return (row.channel.platform, row.buyer_nick, row.receiver_name, row.receiver_phone, row.receiver_address)


def _open_orders_batch(rows: list[Any]) -> dict[int, int]:
    """`_open_orders_same_receiver` for a chunk of order rows: one grouped query instead of one per order.

    Counts the open orders per (platform, buyer, receiver) among the chunk's buyers, then takes the
    order itself off its own group when it is open, exactly as the per-order query excludes it.
    """
    from orders.models import Order

    keyed = [r for r in rows if r.buyer_nick and r.receiver_address]
    counts: dict[tuple, int] = Counter()
    for match in _buyer_phone_filters(keyed):
        # grouped by state too, and the open states kept here rather than in WHERE: a state condition
        # lets the planner start from an index of open orders, which statistics taken before a flash
        # sale think nearly empty (measured: 190 ms a batch, scanning every open order, for 1 ms)
        groups = (
            Order.objects.filter(match)
            .order_by()
            .values_list(
                "channel__platform", "buyer_nick", "receiver_name", "receiver_phone", "receiver_address", "state"
            )
            .annotate(c=Count("pk"))
        )
        for platform, nick, name, phone, address, state, c in groups:
            if state in MERGEABLE_STATES:
                counts[(platform, nick, name, phone, address)] += c
    result = dict.fromkeys((r.pk for r in rows), 0)
    for r in keyed:
        result[r.pk] = counts.get(_receiver_key(r), 0) - (1 if r.state in MERGEABLE_STATES else 0)
    return result


#: (buyer, phone) pairs per grouped read (two parameters each)
PAIRS_PER_READ = 5000


def _buyer_phone_filters(rows: list[Any]) -> list[RawSQL]:
    """Filters that together cover every stored order with one of the rows' (buyer nick, receiver
    phone) pairs, read pair by pair on the index (buyer_nick, receiver_phone). Why not the nicks
    alone: platforms mask nicks ("t**1"), so one nick matched thousands of other buyers' open orders
    in every batch. Why `IN (VALUES …)`: PostgreSQL joins it (a probe per pair), where OR-ed pairs
    or two IN lists cost milliseconds of planning or a probe per nick × phone."""
    pairs = sorted({(r.buyer_nick, r.receiver_phone) for r in rows})
    table = connection.ops.quote_name("orders_order")
    return [
        RawSQL(  # noqa: S611 — only placeholders and the quoted table name are formatted in
            f"({table}.buyer_nick, {table}.receiver_phone) IN (VALUES {', '.join(['(%s, %s)'] * len(chunk))})",
            [value for pair in chunk for value in pair],
            output_field=BooleanField(),
        )
        for chunk in (pairs[start : start + PAIRS_PER_READ] for start in range(0, len(pairs), PAIRS_PER_READ))
    ]


def _minutes_since_paid(ctx: FactContext) -> int | None:
    if ctx.order.paid_at is None:
        return None
    return int((ctx.now - ctx.order.paid_at).total_seconds() // 60)


# ---- SQL expressions --------------------------------------------------------------------------
def _bool_expr(q: Q) -> Case:
    return Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())


def _line_aggregate(aggregate) -> Coalesce:
    from orders.models import OrderLine

    sub = (
        OrderLine.objects.filter(order=OuterRef("pk")).order_by().values("order").annotate(v=aggregate).values("v")[:1]
    )
    return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0), output_field=IntegerField())


def _payment_state_sql() -> Case:
    due = F("goods_amount") + F("postage") - F("discount_amount")
    return Case(
        When(Q(platform_status="unpaid") | Q(paid_at__isnull=True), then=Value("unpaid")),
        When(paid_amount__lt=due - Value(PAYMENT_TOLERANCE), then=Value("partial")),
        default=Value("paid"),
        output_field=CharField(),
    )


def _discount_ratio_sql() -> Case:
    return Case(
        When(
            goods_amount__gt=0,
            then=Cast("discount_amount", FloatField()) / Cast("goods_amount", FloatField()),
        ),
        default=Value(0.0),
        output_field=FloatField(),
    )


def _receiver_complete_q() -> Q:
    return ~Q(receiver_name="") & ~Q(receiver_phone="") & ~Q(receiver_address="")


def _test_words_q() -> Q:
    q = Q()
    for word in TEST_WORDS:
        q |= Q(receiver_name__icontains=word) | Q(receiver_address__icontains=word)
    return q


def _test_words_sql() -> Case:
    return _bool_expr(_test_words_q())


def open_orders_exists() -> Q:
    """`open_orders_same_receiver > 0` as one EXISTS (PostgreSQL runs it as a hash semi-join over the
    open orders, not a count per order), with the per-order fact's empty-key rule."""
    from orders.models import Order

    others = Order.objects.filter(
        state__in=MERGEABLE_STATES,
        channel__platform=OuterRef("channel__platform"),
        buyer_nick=OuterRef("buyer_nick"),
        receiver_name=OuterRef("receiver_name"),
        receiver_phone=OuterRef("receiver_phone"),
        receiver_address=OuterRef("receiver_address"),
    ).exclude(pk=OuterRef("pk"))
    return ~Q(buyer_nick="") & ~Q(receiver_address="") & Q(Exists(others))


def _open_orders_sql() -> Case:
    from orders.models import Order

    sub = (
        Order.objects.filter(
            state__in=MERGEABLE_STATES,
            channel__platform=OuterRef("channel__platform"),
            buyer_nick=OuterRef("buyer_nick"),
            receiver_name=OuterRef("receiver_name"),
            receiver_phone=OuterRef("receiver_phone"),
            receiver_address=OuterRef("receiver_address"),
        )
        .exclude(pk=OuterRef("pk"))
        .order_by()
        .values("buyer_nick")
        .annotate(c=Count("pk"))
        .values("c")[:1]
    )
    return Case(
        When(Q(buyer_nick="") | Q(receiver_address=""), then=Value(0)),
        default=Coalesce(Subquery(sub, output_field=IntegerField()), Value(0)),
        output_field=IntegerField(),
    )


def _has_text_sql(field: str) -> Callable[[], Case]:
    return lambda: _bool_expr(~Q(**{field: ""}))


def _field(name: str) -> Callable[[FactContext], Any]:
    return lambda ctx: getattr(ctx.order, name)


def _text_present(name: str) -> Callable[[FactContext], bool]:
    return lambda ctx: bool(getattr(ctx.order, name).strip())


def _choices_of(text_choices) -> tuple[tuple[str, Any], ...]:
    return tuple((value, label) for value, label in text_choices.choices)


def _build_registry() -> dict[str, Fact]:
    from orders.models import Platform, PlatformStatus

    payment_choices = (
        ("unpaid", _("unpaid")),
        ("partial", _("paid less than due")),
        ("paid", pgettext_lazy("payment state", "paid")),  # "paid" alone is the paid amount (Order.paid_amount)
    )
    facts = [
        # money
        Fact("paid_amount", FactType.DECIMAL, _("paid amount (yuan)"), _field("paid_amount"), "paid_amount"),
        Fact("goods_amount", FactType.DECIMAL, _("goods total (yuan)"), _field("goods_amount"), "goods_amount"),
        Fact("discount_amount", FactType.DECIMAL, _("discount (yuan)"), _field("discount_amount"), "discount_amount"),
        Fact(
            "discount_ratio",
            FactType.DECIMAL,
            _("discount ratio (discount / goods total, 0–1)"),
            _discount_ratio,
            _discount_ratio_sql,
            reads=("goods_amount", "discount_amount"),
        ),
        Fact(
            "payment_state",
            FactType.CHOICE,
            _("payment state"),
            _payment_state,
            _payment_state_sql,
            choices=payment_choices,
            reads=("platform_status", "paid_at", "paid_amount", "goods_amount", "postage", "discount_amount"),
        ),
        Fact(
            "coupon_count",
            FactType.INT,
            _("number of coupons and promotions"),
            lambda ctx: len(ctx.order.coupons or []),
            reads=("coupons",),
            memoize=True,
        ),
        Fact(
            "stacked_coupon_count",
            FactType.INT,
            _("stacked coupons (most coupons applying to one line)"),
            _stacked_coupon_count,
            reads=("coupons",),
            memoize=True,
        ),
        # lines
        Fact(
            "line_count",
            FactType.INT,
            _("number of lines"),
            lambda ctx: len(ctx.lines),
            lambda: _line_aggregate(Count("pk")),
            reads=("lines",),
        ),
        Fact(
            "total_quantity",
            FactType.INT,
            _("total quantity"),
            lambda ctx: sum(line.quantity for line in ctx.lines),
            lambda: _line_aggregate(Sum("quantity")),
            reads=("lines",),
        ),
        Fact(
            "max_line_quantity",
            FactType.INT,
            _("largest line quantity"),
            lambda ctx: max((line.quantity for line in ctx.lines), default=0),
            lambda: _line_aggregate(Max("quantity")),
            reads=("lines",),
        ),
        Fact(
            "sku_codes",
            FactType.LIST,
            _("merchant SKU codes of the lines"),
            lambda ctx: [line.sku_code for line in ctx.lines],
            line_field="sku_code",
            reads=("lines",),
        ),
        # receiver
        Fact("receiver_name", FactType.STR, _("receiver name"), _field("receiver_name"), "receiver_name"),
        Fact("receiver_phone", FactType.STR, _("receiver phone"), _field("receiver_phone"), "receiver_phone"),
        Fact(
            "receiver_province", FactType.STR, _("receiver province"), _field("receiver_province"), "receiver_province"
        ),
        Fact("receiver_city", FactType.STR, _("receiver city"), _field("receiver_city"), "receiver_city"),
        Fact(
            "receiver_district", FactType.STR, _("receiver district"), _field("receiver_district"), "receiver_district"
        ),
        Fact(
            "receiver_address",
            FactType.STR,
            _("receiver street address"),
            _field("receiver_address"),
            "receiver_address",
        ),
        Fact(
            "receiver_complete",
            FactType.BOOL,
            _("receiver name, phone and address all present"),
            _receiver_complete,
            lambda: _bool_expr(_receiver_complete_q()),
            reads=("receiver_name", "receiver_phone", "receiver_address"),
        ),
        Fact(
            "phone_valid",
            FactType.BOOL,
            _("phone is a valid CN mobile or landline"),
            _phone_valid,
            reads=("receiver_masked", "receiver_phone"),
            memoize=True,
            sql_split=phone_valid_split,
        ),
        Fact(
            "province_recognised",
            FactType.BOOL,
            _("province recognised"),
            lambda ctx: regions.province_recognised(ctx.order.receiver_province),
            reads=("receiver_province",),
            memoize=True,
        ),
        Fact(
            "city_recognised",
            FactType.BOOL,
            _("city recognised (by suffix)"),
            lambda ctx: regions.city_recognised(ctx.order.receiver_city),
            reads=("receiver_city",),
            memoize=True,
        ),
        Fact(
            "district_recognised",
            FactType.BOOL,
            _("district recognised (by suffix; empty accepted)"),
            lambda ctx: regions.district_recognised(ctx.order.receiver_district),
            reads=("receiver_district",),
            memoize=True,
        ),
        Fact(
            "address_has_test_words",
            FactType.BOOL,
            _("test words in name or address (测试/test/样品 …)"),
            _has_test_words,
            _test_words_sql,
            reads=("receiver_name", "receiver_address"),
            q_true=_test_words_q,
        ),
        Fact(
            "receiver_valid",
            FactType.BOOL,
            _("receiver valid (phone, province, city, district, no test words)"),
            _receiver_valid,
            needs=(
                "phone_valid",
                "province_recognised",
                "city_recognised",
                "district_recognised",
                "address_has_test_words",
            ),
            compose=lambda true: (
                true("phone_valid")
                & true("province_recognised")
                & true("city_recognised")
                & true("district_recognised")
                & ~true("address_has_test_words")
            ),
        ),
        # state on the platform
        Fact(
            "platform_status",
            FactType.CHOICE,
            _("platform status"),
            _field("platform_status"),
            "platform_status",
            choices=_choices_of(PlatformStatus),
        ),
        Fact("refund_requested", FactType.BOOL, _("refund requested"), _field("refund_requested"), "refund_requested"),
        Fact("platform_hold", FactType.BOOL, _("held by the platform"), _field("platform_hold"), "platform_hold"),
        Fact("is_presale", FactType.BOOL, _("presale"), _field("is_presale"), "is_presale"),
        Fact(
            "minutes_since_paid",
            FactType.INT,
            _("minutes since paid (empty when unpaid)"),
            _minutes_since_paid,
            reads=("paid_at",),
        ),
        # buyer
        Fact("buyer_nick", FactType.STR, _("buyer nick"), _field("buyer_nick"), "buyer_nick"),
        Fact(
            "buyer_blacklisted",
            FactType.BOOL,
            _("buyer, phone or address on the blacklist"),
            lambda ctx: ctx.blacklist.matches(ctx.order),
            reads=(
                "buyer_nick",
                "receiver_phone",
                "receiver_province",
                "receiver_city",
                "receiver_district",
                "receiver_address",
            ),
        ),
        Fact("buyer_message", FactType.STR, _("buyer message"), _field("buyer_message"), "buyer_message"),
        Fact("seller_memo", FactType.STR, _("seller memo"), _field("seller_memo"), "seller_memo"),
        Fact(
            "has_buyer_message",
            FactType.BOOL,
            _("buyer message present"),
            _text_present("buyer_message"),
            _has_text_sql("buyer_message"),
            reads=("buyer_message",),
        ),
        Fact(
            "has_seller_memo",
            FactType.BOOL,
            _("seller memo present"),
            _text_present("seller_memo"),
            _has_text_sql("seller_memo"),
            reads=("seller_memo",),
        ),
        Fact(
            "open_orders_same_receiver",
            FactType.INT,
            _("other open orders to the same buyer and address"),
            _open_orders_same_receiver,
            _open_orders_sql,
            reads=("state", "channel_id", "buyer_nick", "receiver_name", "receiver_phone", "receiver_address"),
            batch=_open_orders_batch,
        ),
        # where from
        Fact(
            "platform",
            FactType.CHOICE,
            _("platform"),
            lambda ctx: ctx.order.channel.platform,
            "channel__platform",
            choices=_choices_of(Platform),
            reads=("channel_id",),
        ),
        Fact("channel_id", FactType.INT, _("channel (shop) id"), _field("channel_id"), "channel_id"),
    ]
    return {fact.name: fact for fact in facts}


class _LazyRegistry(dict):
    """Built on first use, after the apps are loaded (the choices come from orders.models)."""

    def _fill(self) -> None:
        if not dict.__len__(self):
            self.update(_build_registry())

    def __getitem__(self, key):
        self._fill()
        return dict.__getitem__(self, key)

    def __contains__(self, key):
        self._fill()
        return dict.__contains__(self, key)

    def __iter__(self):
        self._fill()
        return dict.__iter__(self)

    def __len__(self):
        self._fill()
        return dict.__len__(self)

    def get(self, key, default=None):
        self._fill()
        return dict.get(self, key, default)

    def values(self):
        self._fill()
        return dict.values(self)

    def items(self):
        self._fill()
        return dict.items(self)

    def keys(self):
        self._fill()
        return dict.keys(self)


FACTS: dict[str, Fact] = _LazyRegistry()


def fact_choices() -> list[tuple[str, str]]:
    return [(fact.name, f"{fact.label} [{fact.name}]") for fact in FACTS.values()]


def to_json(value: Any) -> Any:
    """A fact value as JSON for RuleHit.facts."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def parse_decimal(raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(raw) from None
    # Bounded like the money columns (12 digits, fen precision and below): no 1e999999 into SQL.
    if not value.is_finite() or abs(value) >= Decimal("1e12") or value.as_tuple().exponent < -6:
        raise ValueError(raw)
    return value
