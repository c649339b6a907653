"""Project-wide test fixtures."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite ignores select_for_update and serializes writers (CI runs both)",
)


@pytest.fixture
def browser() -> Iterator:
    """Debian's headless Chromium at 1440 px through its matching chromedriver, for the browser tests
    (print page, console, workbench, workflow); quit after each test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(argument)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


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
def _webhook_decides_in_the_request(request, settings):
    """Tests that read the decision from the webhook's answer get the in-request mode
    (WEBHOOK_INBOX off); tests marked `webhook_inbox` run the product's default, the inbox."""
    settings.WEBHOOK_INBOX = request.node.get_closest_marker("webhook_inbox") is not None


@pytest.fixture(autouse=True)
def _fresh_cache_namespace(settings):
    """Each test sees an empty cache (rate-limit counters, login lockouts) without flushing a Redis
    database that a parallel test worker shares: the cache key prefix is new for every test."""
    from axes.handlers.proxy import AxesProxyHandler

    from orderhub.throttling import FailureBudget

    for alias, config in settings.CACHES.items():
        settings.CACHES = {**settings.CACHES, alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    AxesProxyHandler.get_implementation(force=True)  # django-axes keeps the cache it first saw
    FailureBudget._seen_unspent.clear()  # what this process remembers of the old namespace's budgets


def _flushes_without_restoring(item: pytest.Item) -> bool:
    """A transactional test without serialized rollback (live_server, transactional_db): its flush
    re-runs post_migrate (roles come back under new ids) and drops the seeded rows."""
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    transactional = "live_server" in fixtures or "transactional_db" in fixtures
    transactional = transactional or bool(marker and marker.kwargs.get("transaction"))
    serialized = bool(marker and marker.kwargs.get("serialized_rollback"))
    return transactional and not serialized and "django_db_serialized_rollback" not in fixtures


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run those last (a stable sort after pytest-django's own ordering): a serialized-rollback test
    that came after one found roles it then restored a second time ("auth_group_name_key"), which
    failed depending on how xdist shared the tests out."""
    items.sort(key=_flushes_without_restoring)
