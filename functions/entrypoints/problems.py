"""The one place where the app's errors become RFC 9457 problem documents.

Every HTTP handler is wrapped by `http_handler`; a handler raises a domain error and this module decides the
status, title and body. Authentication failures carry no detail (nothing to help an attacker); failures of
storage or Graph carry a fixed detail (their SDK messages name hosts and request IDs: those go to the log);
unexpected exceptions are not caught here, so the host logs them and answers 500 without a trace.

The log line of a refused request names the function, the status and the error class: never the URL (its
query may hold a contact's address) or the body.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from functions.domain import errors

PROBLEM_CONTENT_TYPE = "application/problem+json"
_TYPE_BASE = "https://m365-consent-insights.example/problems/"

logger = logging.getLogger(__name__)

# Order matters: the first matching class wins, so subclasses come before their bases.
_MAPPING: tuple[tuple[type[errors.AppError], int, str, str], ...] = (
    (errors.ValidationFailed, 400, "validation", "The request is not valid"),
    (errors.MalformedBody, 400, "malformed-body", "The request body is not valid JSON"),
    (errors.PayloadTooLarge, 413, "payload-too-large", "The request body is too large"),
    (errors.UnsupportedMediaType, 415, "unsupported-media-type", "The request body must be JSON"),
    (errors.Unauthenticated, 401, "unauthenticated", "Authentication required"),
    (errors.Forbidden, 403, "forbidden", "Not allowed"),
    (errors.FeatureNotEnabled, 404, "feature-not-enabled", "The feature is not enabled for this tenant"),
    (errors.NotFound, 404, "not-found", "Not found"),
    (errors.Conflict, 409, "conflict", "Conflict"),
    (errors.MembershipPending, 503, "membership-pending", "Group opt-outs are being applied"),
    (errors.StorageUnavailable, 503, "storage-unavailable", "Storage is unavailable"),
    (errors.ConcurrencyConflict, 503, "busy", "Too many concurrent changes; retry"),
    (errors.GraphError, 502, "graph-error", "Microsoft Graph failed"),
)
# Errors of the outside world: the caller gets a fixed sentence, the log gets the rest.
_OPAQUE: tuple[type[errors.AppError], ...] = (errors.StorageError, errors.GraphError)
_OPAQUE_DETAIL = "a service this API depends on failed; retry later"
RETRY_AFTER_SECONDS = "5"


def problem_response(
    status: int,
    title: str,
    *,
    detail: str | None = None,
    problem_type: str = "about:blank",
    errors_list: list[errors.FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    body: dict[str, Any] = {"type": problem_type, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors_list:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors_list]
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype=PROBLEM_CONTENT_TYPE, headers=headers or {}
    )


def problem_for(error: errors.AppError) -> func.HttpResponse:
    match = next((row for row in _MAPPING if isinstance(error, row[0])), None)
    if match is None:
        raise error  # not a caller's fault: let the host log it and answer 500
    _, status, slug, title = match
    if isinstance(error, errors.Unauthenticated):
        # No detail for authentication failures (SPEC: "401, no detail").
        return problem_response(
            status, title, problem_type=_TYPE_BASE + slug, headers={"WWW-Authenticate": "Bearer"}
        )
    field_errors = error.errors if isinstance(error, errors.ValidationFailed) else None
    detail = _OPAQUE_DETAIL if isinstance(error, _OPAQUE) else str(error) or None
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return problem_response(
        status,
        title,
        detail=detail,
        problem_type=_TYPE_BASE + slug,
        errors_list=field_errors,
        headers=headers,
    )


HttpHandler = Callable[[func.HttpRequest], func.HttpResponse]


def http_handler(handler: HttpHandler) -> HttpHandler:
    """Map the domain errors a handler raises to problem documents, in one place."""

    name = handler.__name__

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except errors.AppError as error:
            response = problem_for(error)
            if isinstance(error, _OPAQUE):
                logger.warning("%s -> %d (%s: %s)", name, response.status_code, type(error).__name__, error)
            else:
                logger.info("%s -> %d (%s)", name, response.status_code, type(error).__name__)
            return response

    return wrapper
