"""Request parsing and response helpers shared by every HTTP entry point."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from functions.domain.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType

MAX_BODY_BYTES = 64 * 1024


def is_json_content_type(content_type: str | None) -> bool:
    """`application/json` or any `+json` type (e.g. `application/cloudevents+json`), parameters ignored."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def raw_body(req: func.HttpRequest) -> bytes:
    """The body, refused with 413 when over 64 KiB (checked before anything parses it)."""
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    return body


def json_object(req: func.HttpRequest, body: bytes | None = None) -> dict[str, Any]:
    """The body as a JSON object: 413 over 64 KiB, 415 for another content type, 400 if not an object."""
    data = raw_body(req) if body is None else body
    if not is_json_content_type(req.headers.get("content-type")):
        raise UnsupportedMediaType("send the body as application/json")
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedBody(f"the body is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise MalformedBody("the body must be a JSON object")
    return parsed


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")), status_code=status, mimetype="application/json",
        headers=headers or {},
    )  # fmt: skip
