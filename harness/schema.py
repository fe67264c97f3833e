"""JSON Schema validation of YAML documents, with errors that point into the file."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from .errors import InputError
from .yamlio import YamlDocument

SCHEMAS = ("policy", "eval", "playbook", "waivers", "output", "report")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema shipped in ``harness/schemas`` by short name (``policy``, ``report``...)."""
    text = resources.files("harness").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def validator(name: str) -> Any:
    """A cached Draft 2020-12 validator for a shipped schema, with cross-schema refs resolved."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry: Registry[Any] = Registry().with_resources(
        (load_schema(n)["$id"], Resource.from_contents(load_schema(n))) for n in SCHEMAS
    )
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _describe(error: Any) -> list[tuple[tuple[str | int, ...], bool, str]]:
    """Turn one jsonschema error into (path, point-at-key, message) triples."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        expected = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return [((*path, key), True, f"unknown key {key!r}{expected}") for key in extra]
    if error.validator == "oneOf" and error.context:
        from jsonschema.exceptions import best_match

        best = best_match(error.context)
        return [((*path, *best.absolute_path), False, best.message)]
    return [(path, False, error.message)]


def schema_errors(document: YamlDocument, schema: str) -> list[InputError]:
    """Every schema violation of a document, each located at its file, line, column and JSON path."""
    found = []
    for error in validator(schema).iter_errors(document.data):
        for path, at_key, message in _describe(error):
            found.append(InputError(message, document.locate(path, key=at_key)))
    found.sort(key=lambda e: (e.location.line or 0, e.location.column or 0))
    # the same place can be reached through several branches of a schema; say it once
    unique: dict[str, InputError] = {}
    for error in found:
        unique.setdefault(str(error), error)
    return list(unique.values())
