"""Project-wide test fixtures."""

from __future__ import annotations

import pytest
from django.db import connection

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite ignores select_for_update and serializes writers (CI runs both)",
)


@pytest.fixture
def channel(db):
    from orders.models import Channel

    return Channel.objects.create(
        platform="taobao", name="Test Taobao shop", webhook_secret="s3cret", app_key="k", app_secret="test"
    )


@pytest.fixture(autouse=True)
def _english_by_default(settings):
    """Tests read English messages; the Chinese translation has its own tests."""
    settings.LANGUAGE_CODE = "en"
