"""Every Bicep file parses, main.bicep wires every module, and azd's files agree with main.bicep."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, MAIN, ROOT, bicep_files, decorator, module_body, parse, resolve

pytestmark = pytest.mark.infra

RESOURCE_GROUP = "Microsoft.Resources/resourceGroups"


def test_infra_holds_main_and_its_modules() -> None:
    names = {path.relative_to(INFRA).as_posix() for path in bicep_files()}
    assert "main.bicep" in names
    assert any(name.startswith("modules/") for name in names)


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.relative_to(INFRA).as_posix())
def test_bicep_file_parses(path: Path) -> None:
    template = parse(path)
    assert template.get("resources") or template.get("modules"), f"{path.name} declares nothing"


def test_main_uses_every_module_file_and_each_one_exists() -> None:
    used = {module["detail"]["path"] for module in parse(MAIN)["modules"].values()}
    on_disk = {path.relative_to(INFRA).as_posix() for path in bicep_files() if path != MAIN}
    assert used == on_disk


def test_main_deploys_at_subscription_scope_so_azd_creates_the_resource_group() -> None:
    assert parse(MAIN)["globals"]["scope"]["value"] == "subscription"
    groups = [symbol for symbol, r in parse(MAIN)["resources"].items() if r["type"] == RESOURCE_GROUP]
    assert len(groups) == 1
    for symbol, module in parse(MAIN)["modules"].items():
        assert module_body(module)["scope"] == groups[0], symbol


def test_parameters_file_sets_only_parameters_main_declares() -> None:
    declared = set(parse(MAIN)["parameters"])
    assert set(_parameters_file()) <= declared


def test_parameters_file_sets_every_parameter_without_a_default() -> None:
    required = {name for name, p in parse(MAIN)["parameters"].items() if p["default"] is None}
    assert required <= set(_parameters_file())


def test_parameters_file_defaults_are_main_bicep_defaults() -> None:
    # `${NAME=default}` is what azd passes when the variable is unset: it must be the Bicep default, so that
    # e.g. Graph change notifications stay off in an environment that never mentions them.
    defaulted = {}
    for name, entry in _parameters_file().items():
        match = re.fullmatch(r"\$\{[A-Z_]+=(.*)\}", entry["value"])
        if match:
            defaulted[name] = match.group(1)
    assert defaulted["graphNotifications"] == "off"
    for name, value in defaulted.items():
        assert value == str(resolve(MAIN, name)), name


def test_parameters_file_reads_secrets_from_the_azd_environment_never_inline() -> None:
    secure = {
        name
        for name, p in parse(MAIN)["parameters"].items()
        if any(d["type"] == "secure" for d in p["decorators"])
    }
    assert secure, "main.bicep has no @secure() parameter"
    for name in secure:
        assert re.fullmatch(r"\$\{[A-Z_]+\}", _parameters_file()[name]["value"]), name


def test_location_is_limited_to_flex_consumption_regions_and_azd_asks_for_one() -> None:
    regions = decorator(MAIN, "location", "allowed")
    assert {"eastus", "westeurope", "swedencentral", "australiaeast"} <= set(regions)
    assert all(re.fullmatch(r"[a-z]+[0-9]?", region) for region in regions)
    assert len(set(regions)) == len(regions)
    # Canary and preview regions are not for customers.
    assert not [region for region in regions if region.endswith("euap")]
    assert decorator(MAIN, "location", "metadata") == {"azd": {"type": "location"}}


def test_main_bicep_names_every_module_parameter_its_module_requires() -> None:
    for symbol, module in parse(MAIN)["modules"].items():
        declared = parse(INFRA / module["detail"]["path"])["parameters"]
        required = {name for name, p in declared.items() if p["default"] is None}
        passed = set(module_body(module)["params"])
        assert required <= passed, symbol
        assert passed <= set(declared), symbol


def test_azure_yaml_deploys_the_function_app_that_the_bicep_tags() -> None:
    lines = (ROOT / "azure.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    azure_yaml = "".join(line for line in lines if not line.lstrip().startswith("#"))
    service = re.search(r"^services:\n  (\w+):\n((?:    .*\n)+)", azure_yaml, re.MULTILINE)
    assert service, "azure.yaml declares no service"
    assert "host: function" in service.group(2)
    assert "language: python" in service.group(2)
    assert re.search(r"^  provider: bicep$", azure_yaml, re.MULTILINE)
    assert re.search(r"^  path: infra$", azure_yaml, re.MULTILINE)
    functionapp = (INFRA / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    assert f"'azd-service-name': '{service.group(1)}'" in functionapp


def _parameters_file() -> dict[str, dict[str, str]]:
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    parameters: dict[str, dict[str, str]] = document["parameters"]
    return parameters
