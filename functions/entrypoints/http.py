"""Request parsing and response helpers shared by every HTTP entry point.

Every body and query value is checked here before any service sees it, and anything malformed is a 4xx
problem, never a 500: a body that is not strict UTF-8 JSON (a byte-order mark, invalid UTF-8, `NaN` or
`Infinity`, an integer too long to convert, nesting deeper than `MAX_DEPTH`, a lone surrogate in a string)
is `MalformedBody` (400); an integer query value must be ASCII digits in range.
"""

from __future__ import annotations

import json
import re
from typing import Any

import azure.functions as func

from functions.domain.errors import (
    FieldError,
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

MAX_BODY_BYTES = 64 * 1024
# Our bodies are a few levels deep; a limit far below the interpreter's recursion limit keeps hostile nesting
# from reaching code that recurses over the parsed value.
MAX_DEPTH = 32
_ASCII_INTEGER = re.compile(r"[0-9]{1,9}")


def is_json_content_type(content_type: str | None) -> bool:
    """`application/json` or any `+json` type (e.g. `application/cloudevents+json`), parameters ignored."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def raw_body(req: func.HttpRequest, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 when over `limit` (64 KiB; checked before anything parses it)."""
    body = req.get_body() or b""
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {limit}")
    return body


def json_object(req: func.HttpRequest, body: bytes | None = None) -> dict[str, Any]:
    """The body as a JSON object: 413 over 64 KiB, 415 for another content type, 400 if not an object."""
    data = raw_body(req) if body is None else body
    if not is_json_content_type(req.headers.get("content-type")):
        raise UnsupportedMediaType("send the body as application/json")
    parsed = parse_json(data)
    if not isinstance(parsed, dict):
        raise MalformedBody("the body must be a JSON object")
    return parsed


def parse_json(data: bytes) -> Any:
    """Strict JSON (RFC 8259 as interoperable senders write it), or `MalformedBody` saying what is wrong."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise MalformedBody("the body starts with a byte-order mark; send UTF-8 without one")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("the body is not valid UTF-8") from None
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedBody(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise MalformedBody(f"the body is not valid JSON: {error.msg} at position {error.pos}") from None
    except ValueError as error:  # e.g. an integer literal longer than the interpreter converts
        raise MalformedBody(f"the body is not usable JSON: {error}") from None
    _check_shape(parsed)
    return parsed


def query_integer(req: func.HttpRequest, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter: ASCII digits only (not `²` or other Unicode digits), within bounds."""
    raw = req.params.get(name)
    if raw is None:
        return default
    if not _ASCII_INTEGER.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise ValidationFailed(
            f"{name} is out of range", [FieldError(name, f"must be an integer from {minimum} to {maximum}")]
        )
    return int(raw)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    # An answer is about people as they were when it was made: a copy kept by a browser or a proxy would go on
    # showing someone after they opted out.
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")), status_code=status, mimetype="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )  # fmt: skip


def _refuse_constant(name: str) -> Any:
    raise MalformedBody(f"the body contains {name}, which is not JSON")


def _check_shape(value: Any) -> None:
    """Nesting within `MAX_DEPTH` and no lone surrogate in any string (they cannot be stored or logged);
    iterative, so the check itself cannot overflow."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, str):
                _check_text(item)
            continue
        if depth > MAX_DEPTH:
            raise MalformedBody(f"the body nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedBody("the body contains a lone surrogate escape (\\ud800-\\udfff)") from None
