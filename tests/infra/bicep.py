"""Reading the Bicep under infra/ with pycep-parser (there is no Bicep CLI here).

pycep returns plain dicts. Three of its habits shape these helpers: a conditional or looped resource keeps its
body one level down (`config.config`); an identifier and a string literal both compare equal to a `str`, so
`resolve` looks a name up among the file's parameters and variables before taking it literally (an identifier
is a `pycep.models.BicepElement` when the difference matters); and it keeps no line numbers below a resource,
so `parse` records each object key's line on the key itself (`Key.line`) for messages that name a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from lark import Token, v_args
from lark.tree import Meta
from pycep import BicepParser
from pycep.transformer import BicepToJson

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"


class Key(str):
    """An object key as pycep returns it, plus the line it is on."""

    __slots__ = ("line",)
    line: int


class _KeyLines(BicepToJson):
    @v_args(meta=True)
    def pair(self, meta: Meta, args: tuple[str, bool | int | Token]) -> tuple[str, Any]:
        key, value = super().pair(args)
        located = Key(key)
        located.line = meta.line
        return located, value


def bicep_files(root: Path = INFRA) -> list[Path]:
    return sorted(root.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    parser = BicepParser()
    tree = parser.lark_parser.parse(path.read_text(encoding="utf-8"))
    return cast("dict[str, Any]", _KeyLines(add_line_numbers=False).transform(tree))


def line_of(key: Any, default: int) -> int:
    return key.line if isinstance(key, Key) else default


@dataclass(frozen=True)
class Resource:
    file: Path
    symbol: str
    type: str
    api_version: str
    line: int  # of the `resource` declaration
    existing: bool
    body: dict[str, Any]  # name, parent, scope, properties... with any `if` / `for` wrapper removed
    condition: Any  # the `if (...)` expression, None when unconditional
    loop: Any  # pycep's loop description, None when not a loop

    @property
    def properties(self) -> dict[str, Any]:
        value: dict[str, Any] = self.body.get("properties") or {}
        return value


def resources(
    type_: str | None = None, *, include_existing: bool = False, root: Path = INFRA
) -> list[Resource]:
    """Every resource declared in infra/ (or `root`), optionally of one type (`Microsoft.Web/sites`)."""
    found = []
    for path in bicep_files(root):
        text = path.read_text(encoding="utf-8")
        for symbol, declaration in (parse(path).get("resources") or {}).items():
            if type_ is not None and declaration["type"] != type_:
                continue
            if declaration["existing"] and not include_existing:
                continue
            config = declaration["config"]
            wrapped = "loop_type" in config or "condition" in config
            found.append(
                Resource(
                    file=path,
                    symbol=symbol,
                    type=declaration["type"],
                    api_version=declaration["api_version"],
                    line=_declaration_line(text, symbol),
                    existing=declaration["existing"],
                    body=config["config"] if wrapped else config,
                    condition=config.get("condition") if wrapped else None,
                    loop=config.get("loop_type") if wrapped else None,
                )
            )
    return found


def one(type_: str, file: Path | None = None) -> Resource:
    """The one resource of `type_` in infra/, or in `file` alone."""
    matches = [r for r in resources(type_) if file is None or r.file == file]
    assert len(matches) == 1, f"expected one {type_}, found {[r.symbol for r in matches]}"
    return matches[0]


def resolve(path: Path, value: Any) -> Any:
    """A parameter's default or a variable's value when `value` names one in `path`; else `value` itself."""
    if not isinstance(value, str):
        return value
    template = parse(path)
    if value in (template.get("parameters") or {}):
        return template["parameters"][value]["default"]
    if value in (template.get("variables") or {}):
        return resolve(path, template["variables"][value]["value"])
    return value


def decorator(path: Path, parameter: str, kind: str) -> Any:
    """The argument of one decorator (`min_value`, `max_value`, `allowed`, `secure`...) of a parameter."""
    for item in parse(path)["parameters"][parameter]["decorators"]:
        if item["type"] == kind:
            return item.get("argument")
    raise AssertionError(f"{path.name}: parameter {parameter} has no @{kind} decorator")


def variable(path: Path, name: str) -> Any:
    return parse(path)["variables"][name]["value"]


def module_body(module: dict[str, Any]) -> dict[str, Any]:
    """A module declaration's body (scope, params...), without the wrapper of a looped or conditional one."""
    config: dict[str, Any] = module["config"]
    return config["config"] if "loop_type" in config or "condition" in config else config


def _declaration_line(text: str, symbol: str) -> int:
    match = re.search(rf"^resource\s+{re.escape(symbol)}\s", text, re.MULTILINE)
    assert match, f"no `resource {symbol}` declaration"
    return text.count("\n", 0, match.start()) + 1
