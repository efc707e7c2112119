"""Every resource in infra/ is a body Azure's own resource models accept, at the API version they speak.

The models are those of the azure-mgmt-* packages pinned in pyproject.toml (tests/infra/arm_models.py reads
them). The planted-error tests copy infra/ to a temporary directory, break one line there, and expect the
check to name that file and line: a typo, a wrong type, an unknown enum value or a read-only property fails.
"""

from __future__ import annotations

import shutil
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from tests.infra.arm_models import RESOURCE_MODELS, Finding, Tally, check_all, check_resource
from tests.infra.bicep import INFRA, ROOT, Resource, resources

pytestmark = pytest.mark.infra

DECLARED = resources(include_existing=True)


def _id(resource: Resource) -> str:
    return f"{resource.file.relative_to(INFRA).as_posix()}:{resource.symbol}"


# --- the templates as they are ------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", DECLARED, ids=_id)
def test_resource_is_accepted_by_its_azure_model(resource: Resource) -> None:
    assert [str(finding) for finding in check_resource(resource)] == []


@pytest.mark.parametrize("resource", DECLARED, ids=_id)
def test_template_api_version_is_the_one_its_package_speaks(resource: Resource) -> None:
    model = RESOURCE_MODELS[resource.type]
    assert resource.api_version == model.api_version, model.describe()


def test_every_mapped_resource_type_is_declared_in_infra() -> None:
    # An entry for a type the templates no longer use would pin a package for nothing.
    assert set(RESOURCE_MODELS) == {resource.type for resource in DECLARED}


def test_the_check_reaches_into_every_body() -> None:
    tally = Tally()
    check_all(tally=tally)
    bodies = [resource for resource in DECLARED if not resource.existing]
    # Each body sends at least its `properties` or `location`, and most values have a type known offline.
    assert tally.properties >= 2 * len(bodies)
    assert tally.deferred < tally.properties / 10


def test_model_packages_are_pinned_dev_dependencies_at_the_installed_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = dict(dep.split("==") for dep in project["optional-dependencies"]["dev"])
    for distribution in {model.distribution for model in RESOURCE_MODELS.values()}:
        assert pins.get(distribution) == metadata.version(distribution), distribution
        assert distribution not in {dep.split("==")[0] for dep in project["dependencies"]}, (
            f"{distribution} is a check, not something the app needs at run time"
        )


# --- planted errors: each must be reported with its file and line -------------------------------------------


@pytest.fixture
def infra_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    return copy


def plant(root: Path, file: str, old: str, new: str) -> int:
    """Replace the one occurrence of `old` in a copied template; return the line `new` starts on."""
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {file}: the planted error would plant nothing"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def findings(root: Path) -> list[Finding]:
    return [finding for _, found in check_all(root) for finding in found]


def the_one_finding(root: Path) -> Finding:
    found = findings(root)
    assert len(found) == 1, [str(f) for f in found]
    return found[0]


SITE = "modules/functionapp.bicep"
STORAGE = "modules/storage.bicep"
HTTPS_ONLY = "    httpsOnly: true"
QUEUE_KEY_TYPE = "        queue: {\n          enabled: true\n          keyType: 'Account'"
TLS_1_2 = "    minimumTlsVersion: 'TLS1_2'"
ACCESS_TIER_PARAMETER = """
@allowed([
  'Hot'
  'Lukewarm'
])
param accessTier string = 'Hot'
"""
A_VIRTUAL_NETWORK = """
resource extra 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet'
  location: location
}
"""


def test_a_misspelled_property_is_reported_at_its_line_with_the_likely_name(infra_copy: Path) -> None:
    line = plant(infra_copy, SITE, HTTPS_ONLY, "    httpsOnyl: true")
    finding = the_one_finding(infra_copy)
    assert (finding.file, finding.line) == (infra_copy / SITE, line)
    assert finding.path == "properties.httpsOnyl"
    assert finding.message.startswith("unknown property: SiteProperties declares no 'httpsOnyl'")
    assert "did you mean 'httpsOnly'" in finding.message
    assert f"functionapp.bicep:{line}: Microsoft.Web/sites app: properties.httpsOnyl:" in str(finding)


def test_a_property_in_the_wrong_case_is_reported(infra_copy: Path) -> None:
    line = plant(infra_copy, "modules/keyvault.bicep", "    enableSoftDelete:", "    EnableSoftDelete:")
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("keyvault.bicep", line)
    assert finding.message == "VaultProperties spells it 'enableSoftDelete'"


def test_a_nested_unknown_property_is_reported_with_its_full_path(infra_copy: Path) -> None:
    line = plant(infra_copy, STORAGE, QUEUE_KEY_TYPE, QUEUE_KEY_TYPE.replace("keyType", "keyTyp"))
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("storage.bicep", line + 2)
    assert finding.path == "properties.encryption.services.queue.keyTyp"


def test_a_value_of_the_wrong_type_is_reported(infra_copy: Path) -> None:
    line = plant(infra_copy, SITE, HTTPS_ONLY, "    httpsOnly: 'true'")
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("functionapp.bicep", line)
    assert finding.message == "'true' is a string, but the model expects a bool"


def test_a_parameter_of_the_wrong_type_is_reported_where_it_is_used(infra_copy: Path) -> None:
    file = "modules/monitoring.bicep"
    plant(infra_copy, file, "param retentionInDays int = 30", "param retentionInDays string = '30'")
    used = plant(
        infra_copy, file, "    retentionInDays: retentionInDays", "    retentionInDays: retentionInDays"
    )
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("monitoring.bicep", used)
    assert finding.path == "properties.retentionInDays"
    assert finding.message == "parameter retentionInDays is a string, but the model expects an int"


def test_a_value_outside_the_models_enum_is_reported(infra_copy: Path) -> None:
    line = plant(infra_copy, STORAGE, TLS_1_2, TLS_1_2.replace("TLS1_2", "TLS1_4"))
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("storage.bicep", line)
    assert finding.message.startswith("'TLS1_4' is not a value of MinimumTlsVersion (one of TLS1_0, TLS1_1")


def test_a_value_outside_a_multi_api_packages_enum_is_reported(infra_copy: Path) -> None:
    # The multi-API packages name a string property's enum only in `__init__` (`Union[str, PrincipalType]`).
    owner = "storageBlobDataOwner)\n    principalId: principalId\n    principalType: 'ServicePrincipal'"
    line = plant(infra_copy, "modules/rbac.bicep", owner, owner.replace("'ServicePrincipal'", "'Robot'"))
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line, finding.path) == (
        "rbac.bicep",
        line + 2,
        "properties.principalType",
    )
    assert finding.message.startswith(
        "'Robot' is not a value of PrincipalType (one of User, Group, ServicePrincipal"
    )


def test_enum_values_compare_without_case_as_arm_does(infra_copy: Path) -> None:
    plant(infra_copy, STORAGE, TLS_1_2, TLS_1_2.replace("TLS1_2", "tls1_2"))
    assert findings(infra_copy) == []


def test_an_allowed_parameter_value_outside_the_models_enum_is_reported(infra_copy: Path) -> None:
    plant(infra_copy, STORAGE, "param location string\n", f"param location string\n{ACCESS_TIER_PARAMETER}")
    line = plant(infra_copy, STORAGE, "    accessTier: 'Hot'", "    accessTier: accessTier")
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("storage.bicep", line)
    assert finding.message.startswith("'Lukewarm' is not a value of AccessTier")
    assert finding.message.endswith("(@allowed value of parameter accessTier)")


def test_a_read_only_property_is_reported(infra_copy: Path) -> None:
    line = plant(infra_copy, SITE, HTTPS_ONLY, f"    defaultHostName: 'app.example.net'\n{HTTPS_ONLY}")
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("functionapp.bicep", line)
    assert finding.path == "properties.defaultHostName"
    assert finding.message == "read-only in SiteProperties: ARM sets it, a template cannot"


def test_a_read_only_property_of_a_multi_api_package_is_reported(infra_copy: Path) -> None:
    # azure-mgmt-authorization says read-only in `_validation`, not with `rest_field(visibility=...)`.
    owner = "roleDefinitions', storageBlobDataOwner)\n"
    line = plant(infra_copy, "modules/rbac.bicep", owner, f"{owner}    createdBy: 'me'\n")
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("rbac.bicep", line + 1)
    assert finding.path == "properties.createdBy"
    assert finding.message == (
        "read-only in RoleAssignmentCreateParameters.properties: ARM sets it, a template cannot"
    )


def test_a_template_on_another_api_version_is_reported(infra_copy: Path) -> None:
    line = plant(infra_copy, SITE, "'Microsoft.Web/sites@2025-05-01'", "'Microsoft.Web/sites@2024-04-01'")
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("functionapp.bicep", line)
    assert finding.message.startswith("API version 2024-04-01, but azure-mgmt-web 11.0.1 models 2025-05-01")


def test_a_resource_type_without_a_model_is_reported(infra_copy: Path) -> None:
    plant(
        infra_copy, "modules/identity.bicep", "\noutput id string", f"{A_VIRTUAL_NETWORK}\noutput id string"
    )
    finding = the_one_finding(infra_copy)
    assert finding.resource == "Microsoft.Network/virtualNetworks extra"
    assert finding.message == "no azure-mgmt model is mapped to this resource type (RESOURCE_MODELS)"


def test_an_app_setting_that_is_not_a_string_is_reported(infra_copy: Path) -> None:
    # App settings are strings; an int parameter must go through string() first.
    minutes = "  GRAPH_SUBSCRIPTION_MINUTES: string(graphSubscriptionMinutes)"
    line = plant(infra_copy, SITE, minutes, "  GRAPH_SUBSCRIPTION_MINUTES: graphSubscriptionMinutes")
    finding = the_one_finding(infra_copy)
    assert (finding.file.name, finding.line) == ("functionapp.bicep", line)
    assert finding.resource == "Microsoft.Web/sites/config appSettingsConfig"
    assert finding.path == "properties.GRAPH_SUBSCRIPTION_MINUTES"
    assert finding.message == "parameter graphSubscriptionMinutes is an int, but the model expects a string"
