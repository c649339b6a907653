"""The fast path of the phone check (plain 11-digit 13x–19x numbers straight to the metadata's type
patterns) answers exactly what phonenumbers' parse + is_valid_number + number_type answers."""

from __future__ import annotations

import random

import phonenumbers

from rules.facts import phone_valid_raw


def by_phonenumbers(raw: str) -> bool:
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def test_phone_fast_path_agrees_with_phonenumbers_on_every_prefix():
    rng = random.Random(15)
    numbers = [f"1{p:03d}{rng.randrange(10**7):07d}" for p in range(300, 1000) for _ in range(20)]  # 13x–19x
    numbers += [f"179{rng.randrange(10**8):08d}" for _ in range(500)]  # parsed with a carrier prefix
    numbers += [f"{rng.randrange(10**10, 2 * 10**10)}" for _ in range(2000)]  # 10x–19x at random
    verdicts = [phone_valid_raw(n) == by_phonenumbers(n) for n in numbers]
    assert all(verdicts), [n for n, same in zip(numbers, verdicts, strict=True) if not same][:10]
    assert 0 < sum(map(phone_valid_raw, numbers)) < len(numbers)  # both valid and invalid numbers tried
