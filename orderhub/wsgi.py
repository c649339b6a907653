import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
application = get_wsgi_application()

from orderhub.chunked import ChunkedBodyMiddleware  # noqa: E402  (needs the settings configured above)

application = ChunkedBodyMiddleware(application)

from orderhub.runtime import WEB_GC_THRESHOLDS, tune_gc, warm_up  # noqa: E402

warm_up()
tune_gc(WEB_GC_THRESHOLDS)  # after everything start-up loads (orderhub/runtime.py says why)
