"""Loading the WSGI application (gunicorn --preload: once, in the master) does what each worker's
first request used to: the URL resolver's tables built for every language, every marketplace adapter
and cache backend imported (orderhub.runtime.warm_up)."""

from __future__ import annotations

from orderhub.tests.fresh_python import run_fresh_python

PROBE = """
import sys
import orderhub.wsgi
from django.conf import settings
from django.urls import reverse
from django.urls import resolvers
from django.utils import translation
from orders.channels import ADAPTER_MODULES

compiled = []
original = resolvers.normalize
resolvers.normalize = lambda pattern: compiled.append(pattern) or original(pattern)
paths = set()
for language, _name in settings.LANGUAGES:
    with translation.override(language):
        paths.add(reverse("channel-webhook", kwargs={"channel_id": 7}))
        paths.add(reverse("admin:orders_order_changelist"))
print(len(compiled), sorted(paths))
print(all(module in sys.modules for module in ADAPTER_MODULES.values()))
print(all(cache["BACKEND"].rsplit(".", 1)[0] in sys.modules for cache in settings.CACHES.values()))
"""


def test_routes_reverse_in_every_language_without_compiling_a_pattern_and_adapters_are_imported():
    out = run_fresh_python(PROBE)
    assert out[0] == "0 ['/admin/orders/order/', '/api/v1/channels/7/webhook']"
    assert out[1:3] == ["True", "True"]


def test_without_the_warm_up_the_first_reverse_compiles_every_pattern():
    """The probe above proves something: a process that only sets Django up compiles on first use."""
    probe = PROBE.replace("import orderhub.wsgi", "import django; django.setup()")
    out = run_fresh_python(probe)
    assert int(out[0].split()[0]) > 100
