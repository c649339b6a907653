"""A web worker (orderhub.wsgi) freezes its start-up objects and collects young objects less often."""

from __future__ import annotations

from orderhub.runtime import WEB_GC_THRESHOLDS
from orderhub.tests.fresh_python import run_fresh_python


def test_loading_the_wsgi_application_freezes_start_up_and_raises_the_young_threshold():
    probe = (
        "import gc, orderhub.wsgi; "
        "print(*gc.get_threshold()); print(gc.get_freeze_count() > 10_000, len(gc.get_objects(0)) < 5_000)"
    )
    out = run_fresh_python(probe)
    assert tuple(int(n) for n in out[0].split()) == WEB_GC_THRESHOLDS
    assert out[1] == "True True"
