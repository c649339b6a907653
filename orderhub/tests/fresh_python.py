"""Run Python code in a fresh interpreter with the project's settings, as a web worker would start."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings


def run_fresh_python(code: str) -> list[str]:
    """The lines `code` prints, run with `python -c` in the project directory (no inherited state)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "orderhub.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split("\n")
