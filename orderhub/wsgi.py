import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
application = get_wsgi_application()

from orderhub.chunked import ChunkedBodyMiddleware  # noqa: E402  (needs the settings configured above)

application = ChunkedBodyMiddleware(application)
