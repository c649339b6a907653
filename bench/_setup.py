"""Shared benchmark set-up: Django on DATABASE_URL, with a throwaway database of its own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class BenchDatabase:
    """Create a fresh, migrated `test_<name>` database for the run and drop it afterwards."""

    def __init__(self, *, require_postgres: bool = True):
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        if require_postgres and connection.vendor != "postgresql":
            sys.exit("this benchmark needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test")
        self.connection = connection
        self.original_name = settings.DATABASES["default"]["NAME"]

    def __enter__(self):
        self.name = self.connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        return self

    def __exit__(self, *exc):
        self.connection.close()
        self.connection.creation.destroy_test_db(self.original_name, verbosity=0)

    def url(self) -> str:
        """A DATABASE_URL for subprocesses (web server, workers) pointing at the bench database."""
        settings = self.connection.settings_dict
        user = settings.get("USER") or "postgres"
        auth = f"{user}:{settings['PASSWORD']}" if settings.get("PASSWORD") else user
        return f"postgres://{auth}@{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/{self.name}"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}× baseline" if baseline else "n/a"
