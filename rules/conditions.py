"""Condition operators: which ones fit which fact type, how a condition's text value is parsed, and
how one condition compiles to a Python predicate (live orders) and to a Q object (backtests in SQL).

User text is only ever parsed as data (numbers, lists, a bounded regular expression compiled with `re`);
nothing is evaluated as code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from rules.facts import FACTS, Fact, FactType, parse_decimal

logger = logging.getLogger(__name__)

REGEX_MAX_LENGTH = 200
# Rule regexes run inside ingestion: a pattern that backtracks catastrophically would stall order
# intake. The `regex` module can time a search out; a pattern that needs longer than this on
# adversarial text is refused at save, and at run time a search that times out counts as no match.
REGEX_PROBE_TIMEOUT = 0.05
REGEX_RUN_TIMEOUT = 0.05
REGEX_PROBES = ("a" * 5000 + "!", "1" * 5000 + "!", "测" * 3000 + "!", " " * 5000 + "x", "ab" * 2500 + "!", "x" * 5000)
TEXT_MAX_LENGTH = 200
LIST_MAX_ITEMS = 200

OPERATORS: dict[str, Any] = {
    "eq": _("equals"),
    "ne": _("does not equal"),
    "in": _("is one of (comma-separated)"),
    "not_in": _("is none of (comma-separated)"),
    "contains": _("contains"),
    "not_contains": _("does not contain"),
    "startswith": _("starts with"),
    "regex": _("matches regular expression"),
    "lt": _("<"),
    "lte": _("≤"),
    "gt": _(">"),
    "gte": _("≥"),
    "between": _("between (a, b inclusive)"),
    "is_empty": _("is empty"),
    "not_empty": _("is not empty"),
    "is_true": _("is true"),
    "is_false": _("is false"),
    "any_empty": _("has an empty item"),
}
OPERATOR_CHOICES = list(OPERATORS.items())

TYPE_OPERATORS: dict[str, tuple[str, ...]] = {
    FactType.DECIMAL: ("eq", "ne", "lt", "lte", "gt", "gte", "between"),
    FactType.INT: ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "not_in", "is_empty", "not_empty"),
    FactType.STR: (
        "eq",
        "ne",
        "in",
        "not_in",
        "contains",
        "not_contains",
        "startswith",
        "regex",
        "is_empty",
        "not_empty",
    ),
    FactType.CHOICE: ("eq", "ne", "in", "not_in"),
    FactType.BOOL: ("is_true", "is_false"),
    FactType.LIST: ("contains", "in", "not_in", "any_empty", "is_empty", "not_empty"),
}
NO_VALUE_OPERATORS = {"is_empty", "not_empty", "is_true", "is_false", "any_empty"}
_LIST_SPLIT = re.compile(r"[,，;\n]")


class ConditionError(ValueError):
    """A condition row that cannot be compiled; `field` names the form field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CompiledCondition:
    fact: str
    operator: str
    value: Any
    test: Callable[[Any], bool]


# ---- parsing -------------------------------------------------------------------------------------
def _scalar(fact: Fact, raw: str) -> Any:
    raw = raw.strip()
    if fact.type == FactType.DECIMAL:
        try:
            return parse_decimal(raw)
        except ValueError:
            raise ConditionError("value", _("“%(value)s” is not a number.") % {"value": raw}) from None
    if fact.type == FactType.INT:
        if not re.fullmatch(r"-?\d{1,12}", raw):
            raise ConditionError("value", _("“%(value)s” is not a whole number.") % {"value": raw})
        return int(raw)
    if fact.type == FactType.CHOICE:
        allowed = [value for value, _label in fact.choices]
        if raw not in allowed:
            raise ConditionError(
                "value",
                _("“%(value)s” is not one of: %(allowed)s.") % {"value": raw, "allowed": ", ".join(allowed)},
            )
        return raw
    if not raw:
        raise ConditionError("value", _("A value is required."))
    if len(raw) > TEXT_MAX_LENGTH:
        raise ConditionError("value", _("At most %(n)d characters.") % {"n": TEXT_MAX_LENGTH})
    return raw


def parse_value(fact: Fact, operator: str, raw: str) -> Any:
    raw = raw or ""
    if operator in NO_VALUE_OPERATORS:
        if raw.strip():
            raise ConditionError("value", _("The operator “%(op)s” takes no value.") % {"op": OPERATORS[operator]})
        return None
    if operator in ("in", "not_in") or (fact.type == FactType.LIST and operator == "contains"):
        items = [item.strip() for item in _LIST_SPLIT.split(raw) if item.strip()]
        if not items:
            raise ConditionError("value", _("Give at least one value (comma-separated)."))
        if len(items) > LIST_MAX_ITEMS:
            raise ConditionError("value", _("At most %(n)d values.") % {"n": LIST_MAX_ITEMS})
        scalar_fact = fact if fact.type != FactType.LIST else Fact(fact.name, FactType.STR, fact.label, fact.getter)
        parsed = [_scalar(scalar_fact, item) for item in items]
        if operator == "contains":
            if len(parsed) != 1:
                raise ConditionError("value", _("“contains” takes one value; use “is one of” for several."))
            return parsed[0]
        return tuple(parsed)
    if operator == "between":
        items = [item.strip() for item in _LIST_SPLIT.split(raw) if item.strip()]
        if len(items) != 2:
            raise ConditionError("value", _("“between” takes two values: low, high."))
        low, high = (_scalar(fact, item) for item in items)
        if low > high:
            raise ConditionError("value", _("The low value must not exceed the high value."))
        return (low, high)
    if operator == "regex":
        pattern = raw.strip()
        if not pattern:
            raise ConditionError("value", _("A regular expression is required."))
        if len(pattern) > REGEX_MAX_LENGTH:
            raise ConditionError(
                "value", _("A regular expression may have at most %(n)d characters.") % {"n": REGEX_MAX_LENGTH}
            )
        try:
            compiled = regex.compile(pattern)
        except regex.error as exc:
            raise ConditionError("value", _("Invalid regular expression: %(error)s") % {"error": exc}) from None
        try:
            for probe in REGEX_PROBES:
                compiled.search(probe, timeout=REGEX_PROBE_TIMEOUT)
        except TimeoutError:
            raise ConditionError(
                "value", _("This regular expression is too slow on long text (nested repetition?): simplify it.")
            ) from None
        return compiled
    return _scalar(fact, raw)


def validate_condition(field: str, operator: str, raw: str) -> tuple[Fact, Any]:
    """Check one condition row; raise ConditionError naming the form field at fault."""
    fact = FACTS.get(field)
    if fact is None:
        raise ConditionError("field", _("Unknown field “%(field)s”.") % {"field": field})
    if operator not in OPERATORS:
        raise ConditionError("operator", _("Unknown operator “%(op)s”.") % {"op": operator})
    if operator not in TYPE_OPERATORS[fact.type]:
        allowed = ", ".join(str(OPERATORS[op]) for op in TYPE_OPERATORS[fact.type])
        raise ConditionError(
            "operator",
            _("The operator “%(op)s” does not fit the field “%(field)s”; use one of: %(allowed)s.")
            % {"op": OPERATORS[operator], "field": fact.label, "allowed": allowed},
        )
    return fact, parse_value(fact, operator, raw)


# ---- Python predicates ---------------------------------------------------------------------------
def _is_empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or v == ()


def _python_test(fact: Fact, operator: str, value: Any) -> Callable[[Any], bool]:
    ftype = fact.type
    if ftype == FactType.LIST:
        if operator == "contains":
            return lambda v: value in v
        if operator == "in":
            members = frozenset(value)
            return lambda v: any(item in members for item in v)
        if operator == "not_in":
            members = frozenset(value)
            return lambda v: not any(item in members for item in v)
        if operator == "any_empty":
            return lambda v: any(not item for item in v)
        if operator == "is_empty":
            return lambda v: not v
        return lambda v: bool(v)  # not_empty
    if operator == "is_true":
        return lambda v: v is True
    if operator == "is_false":
        return lambda v: v is False
    if operator == "is_empty":
        return _is_empty
    if operator == "not_empty":
        return lambda v: not _is_empty(v)
    if operator == "eq":
        return lambda v: v is not None and v == value
    if operator == "ne":
        return lambda v: v != value
    if operator == "in":
        members = frozenset(value)
        return lambda v: v in members
    if operator == "not_in":
        members = frozenset(value)
        return lambda v: v not in members
    if operator == "contains":
        needle = value.lower()
        return lambda v: v is not None and needle in v.lower()
    if operator == "not_contains":
        needle = value.lower()
        return lambda v: v is None or needle not in v.lower()
    if operator == "startswith":
        prefix = value.lower()
        return lambda v: v is not None and v.lower().startswith(prefix)
    if operator == "regex":
        return _regex_predicate(value)
    if operator == "lt":
        return lambda v: v is not None and v < value
    if operator == "lte":
        return lambda v: v is not None and v <= value
    if operator == "gt":
        return lambda v: v is not None and v > value
    if operator == "gte":
        return lambda v: v is not None and v >= value
    if operator == "between":
        low, high = value
        return lambda v: v is not None and low <= v <= high
    raise ConditionError("operator", f"unsupported operator {operator}")


def compile_condition(field: str, operator: str, raw: str) -> CompiledCondition:
    fact, value = validate_condition(field, operator, raw)
    return CompiledCondition(fact=field, operator=operator, value=value, test=_python_test(fact, operator, value))


# ---- SQL -----------------------------------------------------------------------------------------
def sql_condition(field: str, operator: str, raw: str) -> tuple[dict[str, Any], Q] | None:
    """(annotations, Q) over Order for one condition, or None when it can only run in Python."""
    fact, value = validate_condition(field, operator, raw)
    if operator == "regex":
        return None  # SQLite and PostgreSQL regex dialects differ from Python's `re`: evaluate in Python
    if fact.type == FactType.LIST:
        if fact.line_field is None:
            return None
        from orders.models import OrderLine

        lines = OrderLine.objects.filter(order=OuterRef("pk"))
        lf = fact.line_field
        if operator == "contains":
            return {}, Q(Exists(lines.filter(**{lf: value})))
        if operator == "in":
            return {}, Q(Exists(lines.filter(**{f"{lf}__in": value})))
        if operator == "not_in":
            return {}, ~Q(Exists(lines.filter(**{f"{lf}__in": value})))
        if operator == "any_empty":
            return {}, Q(Exists(lines.filter(**{lf: ""})))
        if operator == "is_empty":
            return {}, ~Q(Exists(lines))
        return {}, Q(Exists(lines))
    if fact.sql is None:
        return None
    annotations: dict[str, Any] = {}
    if isinstance(fact.sql, str):
        lhs = fact.sql
    else:
        lhs = f"_f_{fact.name}"
        annotations[lhs] = fact.sql()

    def q(lookup: str, val: Any) -> Q:
        return Q(**{f"{lhs}__{lookup}": val})

    if operator == "is_true":
        return annotations, q("exact", True)
    if operator == "is_false":
        return annotations, q("exact", False)
    if operator == "is_empty":
        return annotations, (q("exact", "") if fact.type == FactType.STR else q("isnull", True))
    if operator == "not_empty":
        return annotations, (~q("exact", "") if fact.type == FactType.STR else q("isnull", False))
    if operator == "eq":
        return annotations, q("exact", value)
    if operator == "ne":
        return annotations, ~q("exact", value)
    if operator == "in":
        return annotations, q("in", list(value))
    if operator == "not_in":
        return annotations, ~q("in", list(value))
    if operator == "contains":
        return annotations, q("icontains", value)
    if operator == "not_contains":
        return annotations, ~q("icontains", value)
    if operator == "startswith":
        return annotations, q("istartswith", value)
    if operator in ("lt", "lte", "gt", "gte"):
        return annotations, q(operator, value)
    if operator == "between":
        return annotations, q("gte", value[0]) & q("lte", value[1])
    return None


def _regex_predicate(pattern) -> Callable[[Any], bool]:
    def matches(v: Any) -> bool:
        if v is None:
            return False
        try:
            return pattern.search(v, timeout=REGEX_RUN_TIMEOUT) is not None
        except TimeoutError:
            logger.warning(
                "rule regex %r timed out on a %d-character value; counted as no match", pattern.pattern, len(v)
            )
            return False

    return matches
