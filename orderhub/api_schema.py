"""OpenAPI post-processing: every operation documents the error answers the whole API gives.

drf-spectacular documents what each view declares; the answers that come from the project's
middleware and DRF's machinery (400 field errors, 401 missing credentials, 403, 404, 429 with
Retry-After, 503 with Retry-After during an outage) are the same everywhere, so they are added here
once, for endpoints added later too. An operation's own description of a status code wins."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "additionalProperties": True,
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Field name -> list of messages, or `detail` for an error about the whole request.",
    "additionalProperties": True,
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "required": True, "schema": {"type": "integer"}}
}

COMMON = {
    "400": ("Malformed or invalid input; each offending field named.", "FieldErrors", False),
    "404": ("No such object, page or path.", "Error", False),
    "429": ("Too many failed attempts or requests from this client.", "Error", True),
    "503": ("The database or Redis is unreachable; retry later.", "Error", True),
}
NEEDS_CREDENTIALS = {
    "401": ("Missing or invalid credentials (see `WWW-Authenticate`).", "Error", False),
    "403": ("Authenticated, but not allowed to do this.", "Error", False),
}


def add_error_responses(result: dict[str, Any], generator, request, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("FieldErrors", FIELD_ERRORS)
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "put", "patch", "post", "delete"}:
                continue
            answers = dict(COMMON)
            if {} not in operation.get("security", []):
                answers.update(NEEDS_CREDENTIALS)
            responses = operation.setdefault("responses", {})
            for status, (description, schema, retry_after) in answers.items():
                if status in responses:
                    continue
                response: dict[str, Any] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
                }
                if retry_after:
                    response["headers"] = RETRY_AFTER
                responses[status] = response
    return result
