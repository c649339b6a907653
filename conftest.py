"""Project-wide test fixtures."""

from __future__ import annotations

import uuid

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


@pytest.fixture(autouse=True)
def _fresh_cache_namespace(settings):
    """Each test sees an empty cache (rate-limit counters, login lockouts) without flushing a Redis
    database that a parallel test worker shares: the cache key prefix is new for every test."""
    from axes.handlers.proxy import AxesProxyHandler

    for alias, config in settings.CACHES.items():
        settings.CACHES = {**settings.CACHES, alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    AxesProxyHandler.get_implementation(force=True)  # django-axes keeps the cache it first saw
