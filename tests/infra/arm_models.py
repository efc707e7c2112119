"""Every resource body in infra/, checked against Azure's own resource models: the offline stand-in for ARM.

There is no Bicep CLI and no Azure here, so nothing compiles or deploys the templates. Azure's management SDKs
carry the next best thing: each `azure-mgmt-*` package declares, for every model, each property's wire name,
its type and whether a client may send it. Current packages do it with `rest_field(name="displayText",
visibility=["read"])` and a type annotation; older, multi-API packages with `_attribute_map`
(`{"key": "properties.displayText", "type": "str"}`) and `_validation` (`{"readonly": True}`). `model_shape`
reads either into one `Shape`, and `check_resource` walks a resource body from pycep against it:

- a property the model does not declare, or spelled in another case, is an error (with the nearest names);
- a value of the wrong type is an error, for literals and for what a parameter (its declared type, its
  `@allowed` values and its default) or a variable holds;
- a string outside an enum (compared without case, as ARM does) is an error;
- a property the model marks read-only is an error;
- an expression whose type cannot be known offline (a module output, a loop variable) is accepted.

Each package carries one API version per resource type, so the templates must use exactly that version:
`api_version_findings` says where one does not. `RESOURCE_MODELS` maps each resource type to its package,
client and the model of its PUT body; the packages are pinned in pyproject.toml.

`python -m tests.infra.arm_models` prints the check for every resource (`make deploy-check` runs it).
"""

from __future__ import annotations

import difflib
import enum
import importlib
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from pycep.models import BicepElement

from tests.infra.bicep import INFRA, ROOT, Resource, line_of, parse, resources

# --- shapes: what a model says a property holds -------------------------------------------------------------


@dataclass(frozen=True)
class Scalar:
    kind: str  # "string", "int", "number", "bool" or "any"

    def describe(self) -> str:
        return "any value" if self.kind == "any" else _article(self.kind)


@dataclass(frozen=True)
class Choice:
    name: str
    values: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.name} (one of {', '.join(self.values)})"

    def allows(self, value: str) -> bool:
        return value.casefold() in {v.casefold() for v in self.values}


@dataclass(frozen=True)
class ListOf:
    item: Shape

    def describe(self) -> str:
        return f"an array of {self.item.describe()}"


@dataclass(frozen=True)
class MapOf:
    value: Shape

    def describe(self) -> str:
        return f"an object of {self.value.describe()}"


@dataclass(frozen=True)
class Field:
    wire_name: str
    shape: Shape
    read_only: bool


class ModelShape:
    """A model's properties by wire name, read when first needed (models refer to themselves)."""

    def __init__(self, name: str, build: Callable[[], dict[str, Field]]) -> None:
        self.name = name
        self._build = build

    @cached_property
    def fields(self) -> dict[str, Field]:
        return self._build()

    def describe(self) -> str:
        return f"a {self.name} object"


Shape = Scalar | Choice | ListOf | MapOf | ModelShape
ANY = Scalar("any")
_SCALARS: dict[object, Scalar] = {
    str: Scalar("string"),
    bytes: Scalar("string"),
    bytearray: Scalar("string"),
    datetime: Scalar("string"),
    date: Scalar("string"),
    time: Scalar("string"),
    timedelta: Scalar("string"),
    int: Scalar("int"),
    float: Scalar("number"),
    Decimal: Scalar("number"),
    bool: Scalar("bool"),
    Any: ANY,
    object: ANY,
}
# The `type` strings of `_attribute_map` in multi-API packages.
_TYPE_NAMES: dict[str, Scalar] = {
    "str": Scalar("string"),
    "iso-8601": Scalar("string"),
    "rfc-1123": Scalar("string"),
    "duration": Scalar("string"),
    "date": Scalar("string"),
    "time": Scalar("string"),
    "base64": Scalar("string"),
    "bytearray": Scalar("string"),
    "int": Scalar("int"),
    "long": Scalar("int"),
    "unix-time": Scalar("int"),
    "float": Scalar("number"),
    "decimal": Scalar("number"),
    "bool": Scalar("bool"),
    "object": ANY,
}


@cache
def model_shape(model: type) -> ModelShape:
    if hasattr(model, "_attribute_map"):
        return ModelShape(model.__name__, lambda: _attribute_map_fields(model))
    return ModelShape(model.__name__, lambda: _rest_fields(model))


def _is_model(candidate: object) -> bool:
    # Current packages' models derive from their `_utils.model_base.Model`, which says `_is_model = True`.
    return isinstance(candidate, type) and (
        hasattr(candidate, "_attribute_map") or getattr(candidate, "_is_model", False) is True
    )


def _is_rest_field(declared: object) -> bool:
    # `rest_field(name=..., visibility=...)` keeps both on the field it returns. They are private, so the
    # packages are pinned exactly; if they moved, every property would be unknown and tests/infra would fail.
    return hasattr(declared, "_rest_name_input") and hasattr(declared, "_visibility")


def _models_module(model: type) -> types.ModuleType:
    # `azure.mgmt.web.models._models` → `azure.mgmt.web.models`, which the annotations call `_models`.
    return sys.modules[model.__module__.rsplit(".", 1)[0]]


def _rest_fields(model: type) -> dict[str, Field]:
    """Fields of a current package's model: `rest_field(name=..., visibility=[...])` plus its annotation."""
    hints = typing.get_type_hints(model, localns={"_models": _models_module(model)})
    fields: dict[str, Field] = {}
    for klass in reversed(model.__mro__):
        for attr, declared in vars(klass).items():
            if attr.startswith("_") or not _is_rest_field(declared):
                continue
            wire_name = declared._rest_name_input or attr
            visibility = declared._visibility
            read_only = visibility is not None and not {"create", "update"} & set(visibility)
            fields[wire_name] = Field(wire_name, _shape_of(hints[attr]), read_only)
    return fields


def _attribute_map_fields(model: type) -> dict[str, Field]:
    """Fields of a multi-API package's model, whose flattened keys (`properties.principalId`) are unfolded."""
    models = _models_module(model)
    # Only `__init__` names the enum of a string property (`Union[str, "_models.PrincipalType"]`).
    hints = typing.get_type_hints(model.__init__, localns={"_models": models})
    validation: Mapping[str, Mapping[str, Any]] = getattr(model, "_validation", {})
    tree: dict[str, Any] = {}
    for attr, spec in model._attribute_map.items():  # type: ignore[attr-defined]
        *parents, wire_name = _key_path(spec["key"])
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        shape = _shape_of(hints[attr]) if attr in hints else _shape_of_type_name(spec["type"], models)
        node[wire_name] = Field(wire_name, shape, bool(validation.get(attr, {}).get("readonly")))
    return _unfold(model.__name__, tree)


def _key_path(key: str) -> list[str]:
    # A literal dot in a wire name is escaped (`odata\\.type`); the others separate flattened levels.
    return [part.replace("\0", ".") for part in key.replace("\\.", "\0").split(".")]


def _unfold(name: str, tree: dict[str, Any]) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for wire_name, node in tree.items():
        if isinstance(node, Field):
            fields[wire_name] = node
        else:
            nested = f"{name}.{wire_name}"
            shape = ModelShape(nested, lambda nested=nested, node=node: _unfold(nested, node))
            fields[wire_name] = Field(wire_name, shape, read_only=False)
    return fields


def _shape_of_type_name(type_name: str, models: types.ModuleType) -> Shape:
    if type_name.startswith("[") and type_name.endswith("]"):
        return ListOf(_shape_of_type_name(type_name[1:-1], models))
    if type_name.startswith("{") and type_name.endswith("}"):
        return MapOf(_shape_of_type_name(type_name[1:-1], models))
    if type_name in _TYPE_NAMES:
        return _TYPE_NAMES[type_name]
    return model_shape(getattr(models, type_name))


def _shape_of(annotation: Any) -> Shape:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _shape_of_union([a for a in args if a is not type(None)])
    if origin is typing.Literal:
        return Choice("literal", tuple(str(a) for a in args))
    if origin is not None:
        return _shape_of_collection(origin, args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _choice(annotation)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if _is_model(annotation):
        return model_shape(annotation)
    raise TypeError(f"no shape for the annotation {annotation!r}")


def _shape_of_collection(origin: type, args: tuple[Any, ...]) -> Shape:
    if issubclass(origin, Mapping):
        return MapOf(_shape_of(args[1]) if args else ANY)
    if issubclass(origin, Sequence):
        return ListOf(_shape_of(args[0]) if args else ANY)
    raise TypeError(f"no shape for the collection {origin!r}")


def _shape_of_union(members: list[Any]) -> Shape:
    choices = [a for a in members if isinstance(a, type) and issubclass(a, enum.Enum)]
    if choices:  # `Union[str, SomeEnum]`: an extensible enum, but ARM still refuses values it does not know
        return _choice(choices[0])
    return _shape_of(members[0]) if len(members) == 1 else ANY


def _choice(enum_type: type[enum.Enum]) -> Choice:
    return Choice(enum_type.__name__, tuple(str(member.value) for member in enum_type))


# --- which package models which resource type ---------------------------------------------------------------


class _NoCredential:
    """Clients are built only to read their API version; nothing is ever sent."""

    def get_token(self, *_scopes: str, **_options: Any) -> Any:
        raise RuntimeError("the model check never calls Azure")


@dataclass(frozen=True)
class ResourceModel:
    resource_type: str
    distribution: str  # the package on PyPI, pinned in pyproject.toml
    client: str  # "module:ClientClass"
    model: str  # the model of the PUT body (a create-parameters model where the package has one)
    operation_group: str | None = None  # multi-API packages: the profile entry naming the API version

    @cached_property
    def client_class(self) -> type:
        module, name = self.client.split(":")
        client_class: type = getattr(importlib.import_module(module), name)
        return client_class

    @cached_property
    def api_version(self) -> str:
        """The one API version the pinned package speaks for this resource type."""
        profile = getattr(self.client_class, "LATEST_PROFILE", None)
        if profile is not None:
            (versions,) = profile.get_profile_dict().values()
            version: str = versions.get(self.operation_group, self.client_class.DEFAULT_API_VERSION)  # type: ignore[attr-defined]
            return version
        # Single-API packages keep it in the client's configuration, filled in when the client is built.
        with self.client_class(credential=_NoCredential(), subscription_id="0") as client:
            configured: str = client._config.api_version
            return configured

    @cached_property
    def models(self) -> types.ModuleType:
        if hasattr(self.client_class, "models"):
            multi_api: types.ModuleType = self.client_class.models(api_version=self.api_version)  # type: ignore[attr-defined]
            return multi_api
        return importlib.import_module(f"{self.client.split(':')[0]}.models")

    @cached_property
    def model_class(self) -> type:
        model: type = getattr(self.models, self.model)
        return model

    @property
    def package_version(self) -> str:
        return metadata.version(self.distribution)

    def describe(self) -> str:
        return f"{self.model} ({self.distribution} {self.package_version}, API {self.api_version})"


_WEB = ("azure-mgmt-web", "azure.mgmt.web:WebSiteManagementClient")
_STORAGE = ("azure-mgmt-storage", "azure.mgmt.storage:StorageManagementClient")
_KEY_VAULT = ("azure-mgmt-keyvault", "azure.mgmt.keyvault:KeyVaultManagementClient")
_ACCOUNT = "Microsoft.Storage/storageAccounts"

RESOURCE_MODELS: dict[str, ResourceModel] = {
    model.resource_type: model
    for model in [
        ResourceModel(
            "Microsoft.Resources/resourceGroups",
            "azure-mgmt-resource",
            "azure.mgmt.resource.resources:ResourceManagementClient",
            "ResourceGroup",
        ),
        ResourceModel(
            "Microsoft.ManagedIdentity/userAssignedIdentities",
            "azure-mgmt-msi",
            "azure.mgmt.msi:ManagedServiceIdentityClient",
            "Identity",
            "user_assigned_identities",
        ),
        ResourceModel(_ACCOUNT, *_STORAGE, "StorageAccountCreateParameters"),
        ResourceModel(f"{_ACCOUNT}/blobServices", *_STORAGE, "BlobServiceProperties"),
        ResourceModel(f"{_ACCOUNT}/blobServices/containers", *_STORAGE, "BlobContainer"),
        ResourceModel(f"{_ACCOUNT}/queueServices", *_STORAGE, "QueueServiceProperties"),
        ResourceModel(f"{_ACCOUNT}/queueServices/queues", *_STORAGE, "StorageQueue"),
        ResourceModel(f"{_ACCOUNT}/tableServices", *_STORAGE, "TableServiceProperties"),
        ResourceModel(f"{_ACCOUNT}/tableServices/tables", *_STORAGE, "Table"),
        ResourceModel(f"{_ACCOUNT}/managementPolicies", *_STORAGE, "ManagementPolicy"),
        ResourceModel(
            "Microsoft.OperationalInsights/workspaces",
            "azure-mgmt-loganalytics",
            "azure.mgmt.loganalytics:LogAnalyticsManagementClient",
            "Workspace",
        ),
        ResourceModel(
            "Microsoft.Insights/components",
            "azure-mgmt-applicationinsights",
            "azure.mgmt.applicationinsights:ApplicationInsightsManagementClient",
            "ApplicationInsightsComponent",
            "components",
        ),
        ResourceModel("Microsoft.KeyVault/vaults", *_KEY_VAULT, "VaultCreateOrUpdateParameters"),
        ResourceModel("Microsoft.KeyVault/vaults/secrets", *_KEY_VAULT, "SecretCreateOrUpdateParameters"),
        ResourceModel(
            "Microsoft.Authorization/roleAssignments",
            "azure-mgmt-authorization",
            "azure.mgmt.authorization:AuthorizationManagementClient",
            "RoleAssignmentCreateParameters",
            "role_assignments",
        ),
        ResourceModel("Microsoft.Web/serverfarms", *_WEB, "AppServicePlan"),
        ResourceModel("Microsoft.Web/sites", *_WEB, "Site"),
        # `config` is one type for several bodies, chosen by name; `appsettings` takes a string dictionary.
        ResourceModel("Microsoft.Web/sites/config", *_WEB, "StringDictionary"),
        ResourceModel(
            "Microsoft.Web/sites/basicPublishingCredentialsPolicies",
            *_WEB,
            "CsmPublishingCredentialsPoliciesEntity",
        ),
    ]
}


# --- findings -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    file: Path
    line: int
    resource: str  # "Microsoft.Web/sites app"
    path: str  # "properties.siteConfig.minTlsVersion"
    message: str

    def __str__(self) -> str:
        where = f"{_shown(self.file)}:{self.line}"
        return f"{where}: {self.resource}: {self.path or '(body)'}: {self.message}"


def _shown(path: Path) -> str:
    for base in (ROOT, INFRA.parent):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return path.as_posix()


# Keys of a Bicep resource body that Bicep itself consumes; the rest is the request body.
BICEP_KEYWORDS = frozenset({"name", "parent", "scope", "dependsOn"})
# Functions and operators whose result type is known, by pycep's names for them.
_FUNCTION_KINDS = {
    "string": frozenset(
        [
            "guid",
            "unique_string",
            "to_lower",
            "to_upper",
            "concat",
            "format",
            "replace",
            "substring",
            "take",
            "skip",
            "trim",
            "string",
            "base64",
            "uri",
            "resource_id",
            "subscription_resource_id",
            "utc_now",
            "tenant_resource_id",
            "extension_resource_id",
            "new_guid",
        ]
    ),
    "bool": frozenset(["empty", "contains", "starts_with", "ends_with", "bool"]),
    "int": frozenset(["length", "int", "index_of", "last_index_of"]),
    "object": frozenset(["union", "json", "intersection"]),
    "array": frozenset(["items", "array", "range", "split", "flatten"]),
}
_OPERATOR_KINDS = {
    "bool": frozenset(
        [
            "equals",
            "not_equals",
            "equals_case_insensitive",
            "not_equals_case_insensitive",
            "and",
            "or",
            "not",
            "greater_than",
            "greater_than_or_equals",
            "less_than",
            "less_than_or_equals",
        ]
    ),
    "int": frozenset(["add", "substract", "multiply", "divide", "modulo", "minus"]),
}
_KIND_OF_SCALAR = {"string": "string", "int": "int", "number": "int", "bool": "bool"}


@dataclass
class Tally:
    """How much the check could judge: properties found in a model, and values typed only at deployment."""

    properties: int = 0
    deferred: int = 0


@dataclass(frozen=True)
class _Where:
    template: Path
    resource: str
    path: str
    line: int
    tally: Tally

    def at(self, key: str, line: int | None = None) -> _Where:
        path = f"{self.path}.{key}" if self.path else key
        return _Where(self.template, self.resource, path, self.line if line is None else line, self.tally)

    def finding(self, message: str) -> Finding:
        return Finding(self.template, self.line, self.resource, self.path, message)


def check_resource(resource: Resource, tally: Tally | None = None) -> list[Finding]:
    """What ARM would refuse in this resource's body, judged by its package's model (empty: all is well)."""
    where = _Where(resource.file, f"{resource.type} {resource.symbol}", "", resource.line, tally or Tally())
    model = RESOURCE_MODELS.get(resource.type)
    if model is None:
        return [where.finding("no azure-mgmt model is mapped to this resource type (RESOURCE_MODELS)")]
    found = api_version_findings(resource)
    if resource.existing:
        return found
    body = {key: value for key, value in resource.body.items() if key not in BICEP_KEYWORDS}
    found.extend(_check_object(body, model_shape(model.model_class), where))
    return found


def api_version_findings(resource: Resource) -> list[Finding]:
    model = RESOURCE_MODELS[resource.type]
    if resource.api_version == model.api_version:
        return []
    where = _Where(resource.file, f"{resource.type} {resource.symbol}", "", resource.line, Tally())
    message = (
        f"API version {resource.api_version}, but {model.distribution} {model.package_version} models "
        f"{model.api_version}: move the template or pin the package version that speaks it"
    )
    return [where.finding(message)]


def _check(value: Any, shape: Shape, where: _Where) -> Iterator[Finding]:
    """Findings for one Bicep value (as pycep returns it) where the model expects `shape`."""
    if value is None or shape == ANY:
        return
    if isinstance(value, BicepElement):
        yield from _check_symbol(str(value), shape, where)
    elif isinstance(value, bool):
        yield from _check_kind("bool", shape, where, str(value).lower())
    elif isinstance(value, int):
        yield from _check_kind("int", shape, where, str(value))
    elif isinstance(value, str):
        yield from _check_string(value, shape, where)
    elif isinstance(value, list):
        yield from _check_array(value, shape, where)
    elif "loop_type" in value:
        yield from _check_array([value["config"]], shape, where, shown="a `for` expression (an array)")
    elif set(value) == {"operator"}:
        yield from _check_operator(value["operator"], shape, where)
    elif set(value) == {"function"}:
        yield from _check_function(value["function"]["type"], shape, where)
    else:
        yield from _check_object_value(value, shape, where)


def _check_array(items: list[Any], shape: Shape, where: _Where, shown: str = "an array") -> Iterator[Finding]:
    if not isinstance(shape, ListOf):
        yield where.finding(f"{shown}, but the model expects {shape.describe()}")
        return
    for index, item in enumerate(items):
        yield from _check(item, shape.item, where.at(f"[{index}]"))


def _check_function(name: str, shape: Shape, where: _Where) -> Iterator[Finding]:
    kind = next((k for k, names in _FUNCTION_KINDS.items() if name in names), None)
    if kind is None:
        where.tally.deferred += 1
    else:
        yield from _check_kind(kind, shape, where, f"{name}(...)")


def _check_object_value(value: Mapping[str, Any], shape: Shape, where: _Where) -> Iterator[Finding]:
    if isinstance(shape, ModelShape):
        yield from _check_object(value, shape, where)
    elif isinstance(shape, MapOf):
        for key, item in value.items():
            yield from _check(item, shape.value, where.at(_unquoted(key), line_of(key, where.line)))
    else:
        yield where.finding(f"an object, but the model expects {shape.describe()}")


def _check_object(body: Mapping[str, Any], shape: ModelShape, where: _Where) -> Iterator[Finding]:
    for key, value in body.items():
        name = _unquoted(key)
        inner = where.at(name, line_of(key, where.line))
        if "${" in name:
            continue  # a computed key: nothing offline says which property it becomes
        field = shape.fields.get(name)
        if field is None:
            yield inner.finding(_unknown_property(name, shape))
        elif field.read_only:
            yield inner.finding(f"read-only in {shape.name}: ARM sets it, a template cannot")
        else:
            where.tally.properties += 1
            yield from _check(value, field.shape, inner)


def _unknown_property(name: str, shape: ModelShape) -> str:
    by_case = {wire.casefold(): wire for wire in shape.fields}
    if name.casefold() in by_case:
        return f"{shape.name} spells it {by_case[name.casefold()]!r}"
    close = difflib.get_close_matches(name, list(shape.fields), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown property: {shape.name} declares no {name!r}{hint}"


def _check_string(value: str, shape: Shape, where: _Where) -> Iterator[Finding]:
    if "${" in value:  # an interpolation: a string whose value is known only at deployment
        yield from _check_kind("string", shape, where, f"'{value}'")
    elif isinstance(shape, Choice):
        if not shape.allows(value):
            yield where.finding(f"{value!r} is not a value of {shape.describe()}")
    else:
        yield from _check_kind("string", shape, where, repr(value))


def _check_kind(kind: str, shape: Shape, where: _Where, shown: str) -> Iterator[Finding]:
    if _accepts(shape, kind):
        return
    yield where.finding(f"{shown} is {_article(kind)}, but the model expects {shape.describe()}")


def _accepts(shape: Shape, kind: str) -> bool:
    if isinstance(shape, Scalar):
        return shape.kind == "any" or _KIND_OF_SCALAR[shape.kind] == kind
    if isinstance(shape, Choice):
        return kind == "string"
    if isinstance(shape, ListOf):
        return kind == "array"
    return kind == "object"


def _article(kind: str) -> str:
    return {"int": "an int", "array": "an array", "object": "an object"}.get(kind, f"a {kind}")


def _check_symbol(symbol: str, shape: Shape, where: _Where) -> Iterator[Finding]:
    template = parse(where.template)
    parameters = template.get("parameters") or {}
    variables = template.get("variables") or {}
    if symbol in parameters:
        parameter = parameters[symbol]
        declared = parameter["type"]
        if declared in ("string", "int", "bool", "object", "array") and not _accepts(shape, declared):
            yield from _check_kind(declared, shape, where, f"parameter {symbol}")
            return
        for decorator in parameter["decorators"]:
            if decorator["type"] == "allowed":
                for allowed in decorator["argument"]:
                    for finding in _check(allowed, shape, where):
                        yield _noted(finding, f"@allowed value of parameter {symbol}")
        if parameter["default"] is not None:
            for finding in _check(parameter["default"], shape, where):
                yield _noted(finding, f"default of parameter {symbol}")
    elif symbol in variables:
        yield from _check(variables[symbol]["value"], shape, where)
    else:  # a resource or module symbol or a loop variable: its type is not known offline
        where.tally.deferred += 1


def _noted(finding: Finding, note: str) -> Finding:
    return Finding(finding.file, finding.line, finding.resource, finding.path, f"{finding.message} ({note})")


def _check_operator(operator: Mapping[str, Any], shape: Shape, where: _Where) -> Iterator[Finding]:
    kind = operator["type"]
    operands = operator["operands"]
    if kind == "conditional":
        yield from _check(operands["true_value"], shape, where)
        yield from _check(operands["false_value"], shape, where)
    elif kind == "property_accessor" and operands["operand_2"] in ("id", "name"):
        yield from _check_kind("string", shape, where, f"{operands['operand_1']}.{operands['operand_2']}")
    else:
        result = next((k for k, names in _OPERATOR_KINDS.items() if kind in names), None)
        if result is None:
            where.tally.deferred += 1
        else:
            yield from _check_kind(result, shape, where, f"a {kind} expression")


def _unquoted(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else str(key)


# --- the whole of infra/ ------------------------------------------------------------------------------------


def check_all(root: Path = INFRA, tally: Tally | None = None) -> list[tuple[Resource, list[Finding]]]:
    """Every resource under `root` (existing ones for their API version only) with what is wrong with it."""
    found = resources(include_existing=True, root=root)
    return [(resource, check_resource(resource, tally)) for resource in found]


def main() -> int:
    tally = Tally()
    results = check_all(tally=tally)
    failed = 0
    for resource, found in results:
        model = RESOURCE_MODELS.get(resource.type)
        target = model.describe() if model else "no model"
        status = "ok" if not found else f"{len(found)} finding(s)"
        kind = "existing, API version only" if resource.existing else "body"
        print(f"{_shown(resource.file)}:{resource.line}: {resource.symbol} → {target} [{kind}]: {status}")
        for finding in found:
            print(f"    {finding}")
        failed += bool(found)
    bodies = sum(not r.existing for r, _ in results)
    packages = len({RESOURCE_MODELS[r.type].distribution for r, _ in results if r.type in RESOURCE_MODELS})
    print(
        f"{len(results)} resources ({bodies} bodies, {len(results) - bodies} existing) checked against "
        f"{packages} azure-mgmt packages: {tally.properties} properties matched to their models, "
        f"{tally.deferred} values typed only at deployment (module outputs, loop variables); "
        f"{failed} resources with findings"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
