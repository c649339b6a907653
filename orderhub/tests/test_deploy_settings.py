"""Deployment settings from the environment (issue 14, finding 6): `check --deploy` is clean with the
README's production settings, and each HTTPS setting can be turned on or off by a deployment."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_production_environment() -> dict[str, str]:
    """The `export NAME=value` lines of the README's production section, `...` filled in."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Running in production", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    env: dict[str, str] = {}
    for line in block.splitlines():
        if line.startswith("export "):
            for name, value in re.findall(r"([A-Z_]+)=(\S+)", line.split("#", 1)[0]):
                env[name] = value
    env["SECRET_KEY"] = secrets.token_urlsafe(50)  # the README writes `...`
    return env


def manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "DEBUG", "DATABASE_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_production_block_sets_debug_off_and_a_proxy():
    env = readme_production_environment()
    assert env["DEBUG"] == "0"
    assert env["SECURE_PROXY_SSL_HEADER"] == "1"
    assert env["DATABASE_URL"].startswith("postgres://")


def test_check_deploy_is_clean_with_the_readme_production_settings():
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], readme_production_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


SHOW = (
    "from django.conf import settings as s; "
    "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
    "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, getattr(s, 'SECURE_PROXY_SSL_HEADER', None), "
    "s.USE_X_FORWARDED_HOST)"
)


def shown(env: dict[str, str]) -> str:
    result = manage(["shell", "-c", SHOW], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEBUG": "1"}, "False 0 False False False False None False"),
        ({"DEBUG": "0"}, "True 31536000 True True True True None False"),
        (
            {"DEBUG": "0", "SECURE_PROXY_SSL_HEADER": "1", "USE_X_FORWARDED_HOST": "1", "SECURE_HSTS_SECONDS": "600"},
            "True 600 True True True True ('HTTP_X_FORWARDED_PROTO', 'https') True",
        ),
        (
            {
                "DEBUG": "0",
                "SECURE_SSL_REDIRECT": "0",
                "SECURE_HSTS_SECONDS": "0",
                "SECURE_HSTS_INCLUDE_SUBDOMAINS": "0",
                "SECURE_HSTS_PRELOAD": "0",
                "SESSION_COOKIE_SECURE": "0",
                "CSRF_COOKIE_SECURE": "0",
            },
            "False 0 False False False False None False",
        ),
        (
            {"DEBUG": "1", "SECURE_SSL_REDIRECT": "1", "SESSION_COOKIE_SECURE": "yes"},
            "True 0 False False True False None False",
        ),
    ],
    ids=["development", "production-defaults", "behind-a-tls-proxy", "all-turned-off", "opted-in-while-debugging"],
)
def test_each_https_setting_comes_from_the_environment(env, expected):
    assert shown({"SECRET_KEY": secrets.token_urlsafe(50), **env}) == expected


@pytest.mark.django_db
def test_production_redirects_to_https_but_not_the_health_check(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    assert client.get("/api/v1/orders/").status_code == 301
    assert client.get("/healthz").status_code == 200
    secure = client.get("/api/v1/orders/", secure=True)
    assert secure.status_code == 401
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
