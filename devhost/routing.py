"""Route templates the way the Functions host (ASP.NET Core routing) reads them, for the local host.

Supported: literal segments (case-insensitive), `{name}` parameters, constraints (`{id:guid}`,
`{n:int:min(1)}`, ...), optional trailing parameters (`{x?}`) and a trailing catch-all (`{*rest}`).
A segment that mixes literal text and a parameter (`{name}.json`) and regex constraints are not supported:
the host refuses to start rather than route differently from Azure.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar
from urllib.parse import unquote

from devhost.config import StartupError

Target = TypeVar("Target")
SegmentKind = Literal["literal", "param", "catchall"]

_PARAM = re.compile(r"^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)((?::[^:{}]+)*)(\?)?\}$")
_CONSTRAINT = re.compile(r"^([a-z]+)(?:\(([^()]*)\))?$")


def _is_int(value: str) -> bool:
    return re.fullmatch(r"-?\d+", value) is not None


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_SIMPLE_CONSTRAINTS: dict[str, Callable[[str], bool]] = {
    "int": _is_int,
    "long": _is_int,
    "guid": _is_guid,
    "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "bool": lambda v: v.lower() in ("true", "false"),
    "double": _is_float,
    "float": _is_float,
    "decimal": _is_float,
    "datetime": _is_datetime,
}


def _length_between(low: int, high: int) -> Callable[[str], bool]:
    return lambda v: low <= len(v) <= high


def _int_between(low: float, high: float) -> Callable[[str], bool]:
    return lambda v: _is_int(v) and low <= int(v) <= high


_INFINITY = float("inf")

# (name, number of arguments) -> the check; e.g. `{n:range(1,10)}`, `{code:length(2)}`.
_PARAMETRIC_CONSTRAINTS: dict[tuple[str, int], Callable[[tuple[int, ...]], Callable[[str], bool]]] = {
    ("minlength", 1): lambda n: _length_between(n[0], 2**31),
    ("maxlength", 1): lambda n: _length_between(0, n[0]),
    ("length", 1): lambda n: _length_between(n[0], n[0]),
    ("length", 2): lambda n: _length_between(n[0], n[1]),
    ("min", 1): lambda n: _int_between(n[0], _INFINITY),
    ("max", 1): lambda n: _int_between(-_INFINITY, n[0]),
    ("range", 2): lambda n: _int_between(n[0], n[1]),
}


def _constraint(text: str, template: str) -> Callable[[str], bool]:
    match = _CONSTRAINT.match(text)
    name, argument = (match.group(1), match.group(2)) if match else (text, None)
    if name in _SIMPLE_CONSTRAINTS and argument is None:
        return _SIMPLE_CONSTRAINTS[name]
    numbers = tuple(int(a) for a in (argument or "").split(",") if a.strip().lstrip("-").isdigit())
    factory = _PARAMETRIC_CONSTRAINTS.get((name, len(numbers)))
    if factory is not None:
        return factory(numbers)
    raise StartupError(f"route {template!r}: the local host does not support the constraint {text!r}")


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    text: str  # the literal (case-folded) or the parameter name
    optional: bool = False
    constraints: tuple[Callable[[str], bool], ...] = ()

    def accepts(self, value: str) -> bool:
        if self.kind == "literal":
            return value.casefold() == self.text
        return all(check(value) for check in self.constraints)

    @property
    def precedence(self) -> int:
        """Lower wins, as in ASP.NET Core: literal, constrained, plain, optional, catch-all."""
        if self.kind == "literal":
            return 0
        if self.kind == "catchall":
            return 4
        if self.optional:
            return 3
        return 1 if self.constraints else 2


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    template: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        parts = [p for p in template.strip("/").split("/") if p]
        segments: list[Segment] = []
        for index, part in enumerate(parts):
            segment = _segment(part, template)
            if segment.kind == "catchall" and index != len(parts) - 1:
                raise StartupError(f"route {template!r}: a catch-all parameter must be the last segment")
            if segments and segments[-1].optional and not (segment.optional or segment.kind == "catchall"):
                raise StartupError(f"route {template!r}: only trailing parameters can be optional")
            segments.append(segment)
        names = [s.text for s in segments if s.kind != "literal"]
        if len(names) != len({n.casefold() for n in names}):
            raise StartupError(f"route {template!r}: a parameter name appears twice")
        return cls(template, tuple(segments))

    def match(self, path: Sequence[str]) -> dict[str, str] | None:
        """The route parameters when `path` (decoded segments) matches, else None."""
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.kind == "catchall":
                rest = "/".join(path[index:])
                if rest and not segment.accepts(rest):
                    return None
                if rest:
                    params[segment.text] = rest
                return params
            if index >= len(path):
                return params if all(s.optional for s in self.segments[index:]) else None
            if not segment.accepts(path[index]):
                return None
            if segment.kind == "param":
                params[segment.text] = path[index]
        return params if len(path) == len(self.segments) else None

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(s.precedence for s in self.segments)


def _segment(part: str, template: str) -> Segment:
    if "{" not in part and "}" not in part:
        return Segment("literal", part.casefold())
    match = _PARAM.match(part)
    if match is None:
        raise StartupError(
            f"route {template!r}: the local host supports a parameter only as a whole segment: {part!r}"
        )
    star, name, constraint_text, optional = match.groups()
    constraints = tuple(_constraint(c, template) for c in constraint_text.split(":") if c)
    kind: SegmentKind = "catchall" if star else "param"
    return Segment(kind, name, optional=bool(optional), constraints=constraints)


@dataclass(frozen=True, slots=True)
class Route(Generic[Target]):
    template: RouteTemplate
    methods: frozenset[str] | None  # None: every method
    target: Target

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


@dataclass(frozen=True, slots=True)
class RouteMatch(Generic[Target]):
    target: Target
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NoRoute:
    pass


@dataclass
class Router(Generic[Target]):
    """Routes under the prefix to targets; the most specific template wins, as in ASP.NET Core."""

    prefix: str = "api"
    _routes: list[Route[Target]] = field(default_factory=list)

    def add(self, template: str, methods: Iterable[str] | None, target: Target) -> None:
        parsed = RouteTemplate.parse(template)
        method_set = None if methods is None else frozenset(m.upper() for m in methods)
        self._routes.append(Route(parsed, method_set, target))
        self._routes.sort(key=lambda r: r.template.precedence)

    def resolve(self, method: str, path: str) -> RouteMatch[Target] | MethodNotAllowed | NoRoute:
        """Match a request path (still URL-encoded, query excluded) and method."""
        segments = split_path(path)
        prefix = split_path(self.prefix)
        if [s.casefold() for s in segments[: len(prefix)]] != [p.casefold() for p in prefix]:
            return NoRoute()
        segments = segments[len(prefix) :]
        allowed: set[str] = set()
        for route in self._routes:
            params = route.template.match(segments)
            if params is None:
                continue
            if route.allows(method):
                return RouteMatch(route.target, params)
            allowed |= route.methods or set()
        return MethodNotAllowed(tuple(sorted(allowed))) if allowed else NoRoute()


def split_path(path: str) -> list[str]:
    """Path segments, each percent-decoded after splitting so an encoded `/` stays inside its segment."""
    return [unquote(p) for p in path.split("/") if p]
