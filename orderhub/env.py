"""Parse OrderHub's configuration from the environment.

Kept apart from settings.py so every rule (and every clear error) is unit-tested.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

SQLITE_OPTIONS = {
    # Writers take the lock at BEGIN, so two ingestions never deadlock on upgrade.
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
}

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool, environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off.")


def env_list(name: str, default: list[str], environ: dict[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(
    url: str | None, base_dir: Path, conn_max_age: int = 0, *, conn_health_checks: bool = True
) -> dict:
    """Return a Django DATABASES entry; SQLite (embedded default) when url is empty.

    conn_max_age > 0 keeps connections between requests: right for a fixed pool of WSGI worker
    processes, wrong for a thread-per-request server (runserver), which would leak them.
    conn_health_checks: a kept connection is tried with `SELECT 1` before each request uses it, so
    one the server dropped (a restart, a failover) is replaced without failing that request. Off, a
    request meeting such a connection fails (the outage answer: 503 with Retry-After) and the
    connection is replaced after it; a flash sale's webhook tier saves a round trip per push."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(base_dir / "db.sqlite3"),
            "OPTIONS": dict(SQLITE_OPTIONS),
            "TEST": {"NAME": str(base_dir / "test-db.sqlite3")},
        }
    scheme = urlparse(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {scheme!r} is not supported: use postgres://user@host:5432/name "
            "or sqlite:////absolute/path.sqlite3 (or leave it unset for the embedded SQLite file)."
        )
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=conn_health_checks)
    except Exception as exc:  # dj_database_url raises several types for malformed URLs
        raise ImproperlyConfigured(f"DATABASE_URL could not be parsed ({exc}): {url!r}") from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        if not config.get("NAME") or config["NAME"] == ":memory:":
            raise ImproperlyConfigured("DATABASE_URL for SQLite must name a file: sqlite:////absolute/path.sqlite3")
        config["OPTIONS"] = dict(SQLITE_OPTIONS)
        config["CONN_MAX_AGE"] = 0
        config["TEST"] = {"NAME": str(Path(config["NAME"]).with_suffix(".test.sqlite3"))}
    else:
        if not config.get("NAME"):
            raise ImproperlyConfigured(
                f"DATABASE_URL names no database: {url!r} (expected postgres://user@host:5432/name)"
            )
        config["ENGINE"] = "django.db.backends.postgresql"
    return config


def parse_redis_url(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix:// (got {url!r}).")
    if parsed.scheme != "unix" and not parsed.hostname:
        raise ImproperlyConfigured(f"REDIS_URL names no host: {url!r}")
    return url


def secret_key(debug: bool, environ: dict[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    key = environ.get("SECRET_KEY", "")
    if key:
        return key
    if debug:
        return "orderhub-insecure-development-key-do-not-use-in-production"
    raise ImproperlyConfigured(
        "SECRET_KEY is required when DEBUG is off. Set SECRET_KEY to a long random string, "
        "e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'."
    )
