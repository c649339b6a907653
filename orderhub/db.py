"""Database helpers below the ORM, for the few statements a flash sale runs thousands of times, and
for what runs after a commit."""

from __future__ import annotations

import functools
from collections.abc import Callable

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


def on_commit_once(func: Callable[[], None]) -> None:
    """`transaction.on_commit(func)`, unless `func` already waits for the current transaction's commit
    (outside a transaction it runs at once, as on_commit does).

    Why: a callback that only wakes a worker (e.g. "fill the print queue") needs to run once per
    commit, and a batch of a hundred orders registered it a hundred times: each run a cache round
    trip, with Redis 10,000 per flash sale. Looked up in the pending callbacks themselves, so a
    savepoint rolled back with its registration leaves nothing behind that would skip the next."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.in_atomic_block and any(pending is func for _savepoints, pending, _robust in reversed(db.run_on_commit)):
        return
    transaction.on_commit(func)
