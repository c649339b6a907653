"""orderhub.db.on_commit_once: a callback waits once per transaction, however often it is registered,
and a registration undone with its savepoint does not stop the next one."""

from __future__ import annotations

import pytest
from django.db import transaction

from orderhub.db import on_commit_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_registered_three_times_in_a_transaction_it_runs_once_after_the_commit():
    ran: list[str] = []

    def wake() -> None:
        ran.append("wake")

    with transaction.atomic():
        for _ in range(3):
            on_commit_once(wake)
        assert ran == []
    assert ran == ["wake"]

    with transaction.atomic():  # the next transaction registers it afresh
        on_commit_once(wake)
    assert ran == ["wake", "wake"]


def test_a_registration_rolled_back_with_its_savepoint_does_not_swallow_the_next():
    ran: list[str] = []

    def wake() -> None:
        ran.append("wake")

    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint
                on_commit_once(wake)
                raise RuntimeError("this order failed")
        except RuntimeError:
            pass
        on_commit_once(wake)
    assert ran == ["wake"]


def test_nothing_runs_for_a_transaction_rolled_back():
    ran: list[str] = []
    with pytest.raises(RuntimeError), transaction.atomic():
        on_commit_once(lambda: ran.append("wake"))
        raise RuntimeError
    assert ran == []


def test_outside_a_transaction_it_runs_at_once():
    ran: list[str] = []
    on_commit_once(lambda: ran.append("wake"))
    assert ran == ["wake"]
