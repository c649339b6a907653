"""WSGI wrapper: a chunked request body (no Content-Length) is read instead of seen as empty.

Django builds its request stream from CONTENT_LENGTH and reads nothing when it is missing, so a
platform that streams its push with `Transfer-Encoding: chunked` got "bad signature" for an empty
body. gunicorn decodes the chunks in `wsgi.input` (`wsgi.input_terminated`); this wrapper buffers
the decoded body up to the largest body OrderHub accepts and sets CONTENT_LENGTH, so Django and DRF
read it as usual. A larger body is answered 413 without reading further.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable

from django.conf import settings
from django.utils.translation import gettext as _

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def _max_body_bytes() -> int:
    return max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0, settings.WEBHOOK_MAX_BODY_BYTES)


class ChunkedBodyMiddleware:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            limit = _max_body_bytes()
            body = self._read(environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                detail = _("Body larger than %(limit)d bytes.") % {"limit": limit}
                payload = json.dumps({"detail": detail}).encode()
                start_response(
                    "413 Request Entity Too Large",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
                )
                return [payload]
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    @staticmethod
    def _read(stream, most: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < most:
            part = stream.read(min(65536, most - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)
