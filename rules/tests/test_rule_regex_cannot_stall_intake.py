"""A rule's regular expression runs inside ingestion: one that backtracks catastrophically is
refused when saved, and a search that still takes too long counts as no match instead of stalling."""

from __future__ import annotations

import time

import pytest
import regex

from rules.conditions import ConditionError, _regex_predicate, validate_condition


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)+$", r"^(\w+\s?)*$", r"(x+x+)+y"])
def test_catastrophic_pattern_is_refused_at_save(pattern):
    with pytest.raises(ConditionError) as info:
        validate_condition("buyer_message", "regex", pattern)
    assert info.value.field == "value"
    assert "too slow" in str(info.value.message)


@pytest.mark.parametrize("pattern", [r"加急|催发", r"^\d{6}$", r"(?i)test", r"[一-龥]{2,4}路\d+号"])
def test_ordinary_patterns_are_accepted(pattern):
    validate_condition("buyer_message", "regex", pattern)


def test_a_search_that_times_out_counts_as_no_match_quickly(caplog):
    matches = _regex_predicate(regex.compile(r"(a|aa)+$"))
    started = time.monotonic()
    assert matches("a" * 5000 + "!") is False
    assert time.monotonic() - started < 2
    assert "timed out" in caplog.text
    assert matches("aaaa") is True and matches(None) is False
