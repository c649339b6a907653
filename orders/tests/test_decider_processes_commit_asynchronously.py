"""Inbox drainers commit decisions without waiting for the WAL flush (PostgreSQL), unless told not to."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from conftest import postgres_only
from orders.inbox import decide_with_async_commit

pytestmark = pytest.mark.django_db


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.fixture
def restore_commit_mode():
    yield
    connection_created.disconnect(dispatch_uid="orders.inbox.async_commit")
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")


@postgres_only
def test_a_decider_process_commits_asynchronously_on_this_and_later_connections(restore_commit_mode):
    assert _synchronous_commit() == "on"
    assert decide_with_async_commit() is True
    assert _synchronous_commit() == "off"
    # a connection the process opens later (after a database restart, a fork) is set up the same way
    connection_created.send(sender=connection.__class__, connection=connection)
    assert _synchronous_commit() == "off"


@postgres_only
def test_the_setting_keeps_every_decision_flushed(settings, restore_commit_mode):
    settings.INGEST_ASYNC_COMMIT = False
    assert decide_with_async_commit() is False
    assert _synchronous_commit() == "on"
