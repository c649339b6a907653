"""The SQL of the drain's locking path on PostgreSQL: only the notice row is locked (never its order,
parcel or template), skipping a row another worker holds, and no lock is held during the gateway call
(the claim and the record are separate transactions)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import postgres_only
from shipping.notices.services import notice_process
from shipping.tests.notice_factories import shipped_notice

pytestmark = [postgres_only, pytest.mark.django_db]


def test_the_drain_locks_only_the_notice_row_and_skips_a_held_one(use_backend):
    use_backend("generic")
    notice = shipped_notice()
    with CaptureQueriesContext(connection) as queries:
        assert notice_process(notice_id=notice.pk) == "sent"
    statements = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]
    assert len(statements) == 2  # the claim, then the record of the answer
    assert statements[0].endswith('FOR UPDATE OF "shipping_buyernotice" SKIP LOCKED')
    assert statements[1].endswith('FOR UPDATE OF "shipping_buyernotice"')
    sql = [q["sql"] for q in queries]
    claim, record = (sql.index(s) for s in statements)
    # the HTTP call sits between two transactions: a COMMIT/RELEASE closes the claim before the record
    assert any(s.startswith(("RELEASE SAVEPOINT", "COMMIT")) for s in sql[claim:record])
