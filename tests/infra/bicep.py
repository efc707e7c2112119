"""Reading the Bicep under infra/ with pycep-parser (there is no Bicep CLI here).

pycep returns plain dicts. Two of its habits shape these helpers: a conditional or looped resource keeps its
body one level down (`config.config`), and an identifier and a string literal both come back as a `str`, so
`resolve` looks a name up among the file's parameters and variables before taking it literally.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    return cast("dict[str, Any]", BicepParser().parse(file_path=path))


@dataclass(frozen=True)
class Resource:
    file: Path
    symbol: str
    type: str
    existing: bool
    body: dict[str, Any]  # name, parent, scope, properties... with any `if` / `for` wrapper removed
    condition: Any  # the `if (...)` expression, None when unconditional
    loop: Any  # pycep's loop description, None when not a loop

    @property
    def properties(self) -> dict[str, Any]:
        value: dict[str, Any] = self.body.get("properties") or {}
        return value


def resources(type_: str | None = None, *, include_existing: bool = False) -> list[Resource]:
    """Every resource declared in infra/, optionally of one type (`Microsoft.Storage/storageAccounts`)."""
    found = []
    for path in bicep_files():
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
                    existing=declaration["existing"],
                    body=config["config"] if wrapped else config,
                    condition=config.get("condition") if wrapped else None,
                    loop=config.get("loop_type") if wrapped else None,
                )
            )
    return found


def one(type_: str) -> Resource:
    matches = resources(type_)
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
