"""A web worker (orderhub.wsgi) freezes its start-up objects and collects young objects less often."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings

from orderhub.runtime import WEB_GC_THRESHOLDS


def test_loading_the_wsgi_application_freezes_start_up_and_raises_the_young_threshold():
    probe = (
        "import gc, orderhub.wsgi; "
        "print(*gc.get_threshold()); print(gc.get_freeze_count() > 10_000, len(gc.get_objects(0)) < 5_000)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=settings.BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "orderhub.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split("\n")
    assert tuple(int(n) for n in out[0].split()) == WEB_GC_THRESHOLDS
    assert out[1] == "True True"
