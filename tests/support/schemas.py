"""Checking a response against the OpenAPI document the app serves (what clients generate code from)."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from functions.entrypoints.openapi import document


def conforms(body: object, schema: str) -> None:
    """`body` is valid against the document's `components.schemas[schema]`; every violation is listed."""
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": document()["components"]}
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors
