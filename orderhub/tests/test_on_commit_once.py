"""orderhub.db.on_commit_once: inside an `on_commit_coalesced()` block a callback waits once for the
commit however often it is registered; outside one it is `transaction.on_commit`."""

from __future__ import annotations

import pytest
from django.db import transaction

from orderhub.db import on_commit_coalesced, on_commit_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_registered_three_times_in_a_block_it_runs_once_after_the_commit():
    ran: list[str] = []

    def wake() -> None:
        ran.append("wake")

    with transaction.atomic(), on_commit_coalesced():
        for _ in range(3):
            on_commit_once(wake)
        assert ran == []
    assert ran == ["wake"]

    with transaction.atomic(), on_commit_coalesced():  # the next batch registers it afresh
        on_commit_once(wake)
    assert ran == ["wake", "wake"]


def test_each_function_runs_once_and_an_enclosing_block_coalesces_the_inner_ones():
    ran: list[str] = []

    def wake_printing() -> None:
        ran.append("printing")

    def wake_pushes() -> None:
        ran.append("pushes")

    with transaction.atomic(), on_commit_coalesced():
        for _ in range(2):
            with on_commit_coalesced():
                on_commit_once(wake_printing)
                on_commit_once(wake_pushes)
        on_commit_once(wake_printing)
    assert sorted(ran) == ["printing", "pushes"]


def test_a_block_that_fails_registers_nothing():
    ran: list[str] = []
    with transaction.atomic(), pytest.raises(RuntimeError), on_commit_coalesced():
        on_commit_once(lambda: ran.append("wake"))
        raise RuntimeError("this batch failed")
    assert ran == []


def test_outside_a_block_it_is_on_commit():
    ran: list[str] = []
    with transaction.atomic():
        on_commit_once(lambda: ran.append("first"))
        on_commit_once(lambda: ran.append("second"))
    assert ran == ["first", "second"]
    on_commit_once(lambda: ran.append("now"))  # no transaction: at once, as on_commit
    assert ran == ["first", "second", "now"]
