"""Configuration comes from the environment, and a bad value stops start-up with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from orderhub.env import env_bool, env_list, parse_database_url, parse_redis_url, secret_key

BASE = Path("/srv/orderhub")
ROOT = Path(__file__).resolve().parents[2]


def test_unset_database_url_means_embedded_sqlite_with_immediate_transactions():
    config = parse_database_url(None, BASE)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(BASE / "db.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] >= 5


def test_postgres_url_uses_psycopg_backend_with_every_part():
    config = parse_database_url("postgres://hub:pw@db.internal:6432/orderhub", BASE)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "hub",
        "pw",
        "db.internal",
        6432,
        "orderhub",
    )


def test_kept_postgres_connections_are_health_checked_unless_switched_off():
    assert parse_database_url("postgres://hub@db/orderhub", BASE, conn_max_age=60)["CONN_HEALTH_CHECKS"] is True
    off = parse_database_url("postgres://hub@db/orderhub", BASE, conn_max_age=60, conn_health_checks=False)
    assert off["CONN_HEALTH_CHECKS"] is False


def test_sqlite_url_keeps_immediate_mode():
    config = parse_database_url("sqlite:////tmp/hub.sqlite3", BASE)
    assert config["NAME"] == "/tmp/hub.sqlite3"
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://root@localhost/hub", "scheme 'mysql' is not supported"),
        ("postgres://user@localhost:5432/", "names no database"),
        ("not a url", "scheme '' is not supported"),
        ("sqlite://:memory:", "must name a file"),
    ],
)
def test_bad_database_url_is_refused_with_a_clear_error(url, words):
    with pytest.raises(ImproperlyConfigured) as info:
        parse_database_url(url, BASE)
    assert words in str(info.value)


def test_redis_url_must_be_a_redis_url():
    assert parse_redis_url(None) is None
    assert parse_redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL must start with"):
        parse_redis_url("http://127.0.0.1:6379")


def test_secret_key_is_required_when_debug_is_off():
    assert secret_key(debug=True, environ={})
    assert secret_key(debug=False, environ={"SECRET_KEY": "abc"}) == "abc"
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is required"):
        secret_key(debug=False, environ={})


def test_booleans_and_lists_are_parsed_strictly():
    assert env_bool("DEBUG", True, {"DEBUG": "off"}) is False
    assert env_bool("DEBUG", False, {"DEBUG": "Yes"}) is True
    with pytest.raises(ImproperlyConfigured, match="not a boolean"):
        env_bool("DEBUG", True, {"DEBUG": "maybe"})
    assert env_list("ALLOWED_HOSTS", [], {"ALLOWED_HOSTS": "a.com, b.com,"}) == ["a.com", "b.com"]


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_start_up_with_bad_database_url_fails_with_the_message():
    result = _check({"DATABASE_URL": "mysql://root@localhost/hub"})
    assert result.returncode != 0
    assert "DATABASE_URL scheme 'mysql' is not supported" in result.stderr


def test_start_up_without_secret_key_in_production_fails_with_the_message():
    result = _check({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_redis_url_switches_task_broker_and_cache(settings):
    from django.conf import settings as live

    if live.REDIS_URL:
        assert live.Q_CLUSTER["redis"] == live.REDIS_URL
        assert live.CACHES["default"]["BACKEND"].endswith("RedisCache")
    else:
        assert live.Q_CLUSTER["orm"] == "default"
        assert live.CACHES["default"]["BACKEND"].endswith("LocMemCache")
