"""Database helpers below the ORM, for the few statements a flash sale runs thousands of times, and
for what runs after a commit."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper


def prepared_cursor(db: BaseDatabaseWrapper | None = None):
    """A cursor on Django's PostgreSQL connection (queries counted and logged as usual) that sends the
    parameters apart from the SQL (the extended protocol) and prepares each statement it runs, once
    per connection, instead of Django's client-side binding.

    Why, for the hot statements only: quoting a 2 kB push body, or a batch's rows as one JSON text,
    into the SQL text was a third of the store statement's web CPU and ~8 % of a drainer's, and a
    prepared statement is neither parsed nor planned again (measured on the webhook's store: 280 →
    120 µs of Python per push). The SQL must not vary with the data (one prepared statement per text).
    A transaction-pooling PgBouncer needs `max_prepared_statements` (1.21+) for that.

    `db`: the default database's wrapper, when the caller holds it (`connections[DEFAULT_DB_ALIAS]`);
    the `connection` proxy looks itself up again on every attribute."""
    db = db or connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        cursor = _prepared_cursor_class()(db.connection)
    return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)


@functools.cache
def _prepared_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparedCursor


#: the callbacks `on_commit_once` collected in the innermost `on_commit_coalesced` block (None: none open)
_coalesced: ContextVar[dict[Callable[[], None], None] | None] = ContextVar("orderhub_on_commit_coalesced", default=None)


def on_commit_once(func: Callable[[], None]) -> None:
    """`transaction.on_commit(func)`, but inside an `on_commit_coalesced()` block only once per block,
    however many times it is called there."""
    pending = _coalesced.get()
    if pending is None:
        transaction.on_commit(func)
    else:
        pending[func] = None


@contextmanager
def on_commit_coalesced() -> Iterator[None]:
    """Within the block (open it inside the transaction), `on_commit_once(func)` registers each `func`
    once, when the block ends without an error.

    Why: a callback that only wakes a worker (fill the print queue, drain the stock pushes) needs to
    run once per commit, and a batch of a hundred orders registered it per order: each run a cache
    round trip, with Redis 10,000 per flash sale. An order of the batch rolled back in its own
    savepoint still counts: its wake-up finds the others' work, or nothing."""
    pending: dict[Callable[[], None], None] = {}
    token = _coalesced.set(pending)
    try:
        yield
    finally:
        _coalesced.reset(token)
    for func in pending:
        on_commit_once(func)  # an enclosing block coalesces it again
