"""The OpenAPI document and the registered HTTP routes agree, and the document is well-formed OpenAPI 3.1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from functions.app import create_app
from functions.entrypoints.openapi import document

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_CONSTRAINT = re.compile(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")


def registered_routes() -> dict[str, set[str]]:
    """`/path` -> lower-case methods of every HTTP function; a fresh app, as get_functions() works once."""
    routes: dict[str, set[str]] = {}
    for function in create_app(check_settings=False).get_functions():
        trigger = function.get_trigger()
        if trigger.get_binding_name() != "httpTrigger":
            continue
        route = trigger.route or function.get_function_name()
        path = "/" + _CONSTRAINT.sub(r"{\1}", route.strip("/"))
        methods = {str(getattr(m, "value", m)).lower() for m in trigger.methods or ()}
        assert methods, f"{function.get_function_name()} must declare its methods to be documented"
        routes.setdefault(path, set()).update(methods)
    return routes


def documented_routes() -> dict[str, set[str]]:
    return {path: set(item) & HTTP_METHODS for path, item in document()["paths"].items()}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def schemas(node: object) -> Iterator[dict[str, Any]]:
    """Every JSON Schema in the document: components, parameter, request and response schemas."""
    if isinstance(node, dict):
        if isinstance(node.get("schema"), dict):
            yield node["schema"]
        for value in node.values():
            yield from schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from schemas(value)


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_every_registered_route_is_documented_with_the_same_methods() -> None:
    documented = documented_routes()
    for path, methods in registered_routes().items():
        assert documented.get(path) == methods, f"{path}: registered {sorted(methods)}"


def test_every_documented_route_is_registered_with_the_same_methods() -> None:
    registered = registered_routes()
    for path, methods in documented_routes().items():
        assert registered.get(path) == methods, f"{path}: documented {sorted(methods)}"


def test_the_document_declares_openapi_3_1_with_info_and_the_api_server() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    assert doc["servers"] == [{"url": "/api"}]


def test_component_schemas_are_valid_json_schema_2020_12() -> None:
    for name, schema in document()["components"]["schemas"].items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            pytest.fail(f"components.schemas.{name}: {error.message}")


def test_every_inline_schema_is_valid_json_schema_2020_12() -> None:
    found = list(schemas(document()["paths"]))
    assert found
    for schema in found:
        Draft202012Validator.check_schema(schema)


def test_every_reference_points_at_something_in_the_document() -> None:
    doc = document()
    for ref in set(refs(doc)):
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict), ref
            assert part in node, f"{ref} does not resolve"
            node = node[part]


def test_every_operation_has_a_unique_operation_id_and_responses() -> None:
    ids = [operation.get("operationId") for _, _, operation in operations()]
    assert all(ids), "every operation needs an operationId"
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for path, method, operation in operations():
        assert operation.get("responses"), f"{method.upper()} {path} has no responses"
        assert all(re.fullmatch(r"[1-5](\d\d|XX)|default", code) for code in operation["responses"]), path


def test_every_path_parameter_is_declared_as_a_required_path_parameter() -> None:
    paths = document()["paths"]
    for path, method, operation in operations():
        declared = {
            p["name"]
            for p in [*paths[path].get("parameters", []), *operation.get("parameters", [])]
            if p.get("in") == "path" and p.get("required") is True
        }
        assert set(re.findall(r"\{([^}]+)\}", path)) <= declared, f"{method.upper()} {path}"


def test_the_security_schemes_used_are_defined() -> None:
    doc = document()
    defined = set(doc["components"]["securitySchemes"])
    for _, _, operation in operations():
        for requirement in operation.get("security", doc.get("security", [])):
            assert set(requirement) <= defined
