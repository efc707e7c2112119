"""The app's own error hierarchy.

Rules and services raise these; adapters translate SDK exceptions into the `StorageError` / `GraphError`
families; `functions/entrypoints/problems.py` is the one place that turns them into HTTP problem documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args


class AppError(Exception):
    """Base of every error the app raises on purpose."""


class ConfigurationError(AppError):
    """A setting is missing or malformed; start-up stops with this message."""


# --- errors a caller caused (mapped to 4xx) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ValidationFailed(AppError):
    """Input that does not satisfy the contract; `errors` names each offending field."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class MalformedBody(AppError):
    """The body is not parseable JSON (or not the JSON object expected)."""


class PayloadTooLarge(AppError):
    pass


class UnsupportedMediaType(AppError):
    pass


class Unauthenticated(AppError):
    """Missing or invalid credentials (token or webhook signature). Never carries detail to the caller."""


class Forbidden(AppError):
    """Authenticated, but not allowed: another tenant, or a missing role."""


class NotFound(AppError):
    pass


class FeatureNotEnabled(NotFound):
    """An insight was asked for while its feature is not enabled for the tenant."""


class Conflict(AppError):
    pass


class MembershipPending(AppError):
    """The tenant's opted-out groups changed and their members are being resolved: nobody can be said to be
    included until they are (fail closed). A queue message raising it is retried by the host; over HTTP it is
    503 with `Retry-After`."""


# --- errors of the outside world (adapters translate SDK exceptions into these) --------------------------


class StorageError(AppError):
    """Azure Storage failed in a way the caller cannot fix."""


class StorageUnavailable(StorageError):
    """Storage did not answer (connection refused, timeout)."""


class ConcurrencyConflict(StorageError):
    """An ETag-guarded write lost a race; the caller re-reads and retries."""


# What may stand in a summary as Graph's error code or as the name of a field: an identifier, which an address
# (with its `@`), a name (with its space) or a sentence never is.
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,79}")

# What is wrong with a field of a Graph record (functions/adapters/graph_parse.py picks one).
ParseProblem = Literal[
    "is missing",
    "has the wrong JSON type",
    "is not an ISO 8601 date-time",
    "is not a known time zone",
    "is not valid",
]
PARSE_PROBLEMS: tuple[ParseProblem, ...] = get_args(ParseProblem)


class GraphError(AppError):
    """Microsoft Graph failed for a reason other than those below.

    The message is for the host's log and may quote what Graph said. `status` (the HTTP status) and `code`
    (the error code of Graph's error body, kept only when it is an identifier) are what `failure_summary`
    lets into storage.
    """

    def __init__(self, detail: str = "", *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code if code and _IDENTIFIER.fullmatch(code) else None


class GraphThrottled(GraphError):
    """Graph kept answering 429/503 after the retry middleware gave up."""


class GraphNotFound(GraphError):
    """The user or mailbox does not exist (any more)."""


class GraphMalformedResponse(GraphError):
    """Graph answered with JSON we cannot read; the window fails loudly and is retried.

    `field` says where in the record (`message.receivedDateTime`, `event.start.timeZone`) and `problem` what
    is wrong there; neither quotes the value, which may be anything a mailbox holds, an address included.
    """

    def __init__(
        self, detail: str = "", *, field: str | None = None, problem: ParseProblem | None = None
    ) -> None:
        super().__init__(detail)
        self.field = field if field and _IDENTIFIER.fullmatch(field) else None
        self.problem = problem if problem in PARSE_PROBLEMS else None


def failure_summary(error: BaseException) -> str:
    """What a failure may leave in storage (a cursor's error, an audit entry's detail): the error's class and,
    for Graph, its status and code and the field it could not read, e.g.
    `GraphThrottled (Graph 429 TooManyRequests)` or
    `GraphMalformedResponse (message.receivedDateTime is not an ISO 8601 date-time)`.

    Never the message: an exception's text can carry what a response or a record held (an address in a date
    field, a sentence from Graph), and stored text outlives a log line. The host's log has the message.
    """
    name = type(error).__name__
    if not isinstance(error, GraphError):
        return name
    parts = []
    if error.status is not None:
        parts.append(" ".join(str(p) for p in ("Graph", error.status, error.code) if p))
    if isinstance(error, GraphMalformedResponse) and error.field:
        parts.append(" ".join(p for p in (error.field, error.problem) if p))
    return f"{name} ({'; '.join(parts)})" if parts else name
