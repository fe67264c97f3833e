"""JSON Schemas: the shipped ones, the policy and eval schemas composed from the checks, located errors.

Each check declares the schema of its options (``harness.checks.check(options=...)``).
The policy schema's rule definitions are composed from the checks a project knows, so a
custom check is accepted as a top-level rule, inside a run-level rule's ``of:`` and in an
eval case's ``expect:``, with its options validated like any built-in's. The files in
``harness/schemas`` are the composition for the built-in checks (a test keeps them in
step); ``harness schema policy`` prints the composition including a repository's plugins,
for editors.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from ..errors import InputError
from .yaml import YamlDocument

SCHEMAS = ("policy", "eval", "playbook", "waivers", "output", "report", "incident", "incident-event")

#: properties every rule has, whatever its check
COMMON_RULE_PROPERTIES: Mapping[str, Any] = {
    "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
           "x-pattern-hint": "letters, digits and _ . : - (a letter or digit first), like no-pii",
           "description": "Stable id of the rule, unique within its policy or case."},
    "check": {"type": "string", "description": "The check this rule runs."},
    "message": {"type": "string", "description": "Message shown when the rule fails."},
    "mask": {"enum": ["full", "partial", "none"],
             "description": "How findings show what they matched: full (every character starred), partial (the"
                            " last four kept) or none. Default: full in a privacy policy (id privacy.*, or a pii"
                            " rule), else none. Personal data the detector finds is masked whatever this says."},
    "description": {"type": "string"},
}
_RULE_DEFS = ("rule", "inner_rule", "expect_rule")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema shipped in ``harness/schemas`` by short name (``policy``, ``report``...)."""
    text = resources.files("harness").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def _branches(names: list[str]) -> list[dict[str, Any]]:
    return [{"if": {"properties": {"check": {"const": n}}, "required": ["check"]},
             "then": {"$ref": f"#/$defs/check_{n}"}} for n in names]


def _check_def(check: Any) -> dict[str, Any]:
    options = dict(check.options)
    definition: dict[str, Any] = {
        "type": "object",
        "properties": {**copy.deepcopy(dict(COMMON_RULE_PROPERTIES)), **copy.deepcopy(options.pop("properties", {}))},
        "required": ["check", *options.pop("required", [])],
        "additionalProperties": False,
    }
    definition.update(copy.deepcopy(options))
    if check.description:
        definition["description"] = check.description
    return definition


def compose(checks: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The policy and eval schemas for a set of checks (name to :class:`harness.checks.Check`)."""
    policy = copy.deepcopy(load_schema("policy"))
    defs = {k: v for k, v in policy["$defs"].items() if not k.startswith("check_") and k not in _RULE_DEFS}
    names = sorted(checks)
    per_output = [n for n in names if checks[n].level == "output"]
    for name in names:
        defs[f"check_{name}"] = _check_def(checks[name])
    defs["rule"] = {"type": "object", "required": ["id", "check"], "properties": {"check": {"type": "string"}},
                    "allOf": _branches(names)}
    defs["inner_rule"] = {
        "type": "object", "required": ["check"], "properties": {"check": {"enum": per_output}},
        "allOf": _branches(per_output),
        "description": "A per-output rule evaluated on every record in scope; its pass rate feeds a run-level check."}
    defs["expect_rule"] = {"type": "object", "required": ["check"], "properties": {"check": {"enum": per_output}},
                           "allOf": _branches(per_output)}
    policy["$defs"] = defs
    return {"policy": policy, "eval": copy.deepcopy(load_schema("eval"))}


def render(schema: Mapping[str, Any]) -> str:
    """A schema as the text of its file in ``harness/schemas``."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


#: validators per set of checks, newest last; each entry keeps its checks alive so that their ids stay unique
_VALIDATORS: OrderedDict[tuple[tuple[str, int], ...], tuple[tuple[Any, ...], dict[str, Any]]] = OrderedDict()
_VALIDATORS_MAX = 32
_VALIDATORS_LOCK = threading.Lock()


def _build_validators(checks: Mapping[str, Any] | None) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    documents = {name: load_schema(name) for name in SCHEMAS}
    if checks is not None:
        # each check's options schema was checked when the check was registered (checks.base.options_problem),
        # and the shipped files are tested to be valid: no check_schema of the whole here, it costs a second
        documents.update(compose(checks))
    registry: Registry[Any] = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in documents.values())
    return {name: Draft202012Validator(doc, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)
            for name, doc in documents.items()}


def validators(checks: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """Draft 2020-12 validators of every schema, the policy and eval ones composed from ``checks``.

    Without ``checks``, the shipped files are used as they are. Validators are cached per
    set of checks (the last 32 sets): loading a repository twice does not build them twice.
    """
    key = tuple(sorted((name, id(c)) for name, c in (checks or {}).items()))
    with _VALIDATORS_LOCK:
        cached = _VALIDATORS.get(key)
        if cached is not None:
            _VALIDATORS.move_to_end(key)
            return cached[1]
    built = _build_validators(checks)
    with _VALIDATORS_LOCK:
        _VALIDATORS[key] = (tuple((checks or {}).values()), built)
        while len(_VALIDATORS) > _VALIDATORS_MAX:
            _VALIDATORS.popitem(last=False)
    return built


def validator(name: str, checks: Mapping[str, Any] | None = None) -> Any:
    """The validator of one schema (``report``, ``policy``...)."""
    return validators(checks)[name]


#: descriptions of patterns whose schema gives none (``x-pattern-hint``): those of the built-in checks
PATTERN_HINTS: Mapping[str, str] = {
    "^[A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*$": "a field path like model_version or slice.locale",
    "^[A-Z]{2}$": "a two-letter region code in capitals, like US or DE",
}
_TYPE_NAMES = {"string": "a string", "integer": "a whole number", "number": "a number", "object": "a mapping",
               "array": "a list", "boolean": "true or false", "null": "null"}
_SHOWN_CHARS = 40


def yaml_value(value: Any) -> str:
    """A value as it reads in YAML: ``null``, ``true``, ``'text'``, ``3``; mappings and lists by their kind."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return text[:_SHOWN_CHARS - 4] + ("...'" if isinstance(value, str) else "...")


def yaml_kind(value: Any) -> str:
    """What a value is, in YAML terms: ``null``, ``a mapping``, ``a list``, ``a string ('x')``, ``a number (5)``."""
    if value is None or isinstance(value, dict | list):
        return yaml_value(value)
    if isinstance(value, bool):
        return f"a boolean ({yaml_value(value)})"
    kind = "a string" if isinstance(value, str) else "a number"
    return f"{kind} ({yaml_value(value)})"


def _expected_types(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    if "number" in names and "integer" in names:
        names.remove("integer")
    shown = [_TYPE_NAMES.get(name, name) for name in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _pattern_message(error: Any) -> str:
    hint = error.schema.get("x-pattern-hint") or PATTERN_HINTS.get(error.validator_value)
    if hint is None:
        return f"{yaml_value(error.instance)} does not match the pattern {error.validator_value!r}"
    return f"{yaml_value(error.instance)} has the wrong form; use {hint}"


def _message(error: Any) -> str:
    """One error's message in the words of a YAML file (what is wrong; what is expected)."""
    if error.validator == "type":
        return f"expected {_expected_types(error.validator_value)}, got {yaml_kind(error.instance)}"
    if error.validator == "pattern":
        return _pattern_message(error)
    if error.validator == "format" and error.validator_value == "date":
        return f"expected a date YYYY-MM-DD, got {yaml_kind(error.instance)}"
    if error.validator in ("enum", "const") and not isinstance(error.instance, str):
        allowed = error.validator_value if error.validator == "enum" else [error.validator_value]
        return f"{yaml_value(error.instance)} is not one of {allowed}"
    return str(error.message)


def _fitting_branches(error: Any) -> tuple[list[Any], list[Any]]:
    """The errors of the ``oneOf``/``anyOf`` branches whose type fits the value, and the type errors of the others."""
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting: list[Any] = []
    misfits: list[Any] = []
    for errors in branches.values():
        wrong_type = [e for e in errors if e.validator == "type" and not e.relative_path]
        (misfits if wrong_type else fitting).extend(wrong_type or errors)
    return fitting, misfits


def _choose(error: Any) -> list[tuple[tuple[str | int, ...], bool, str]]:
    """A failed ``oneOf``/``anyOf``: the best error of a branch the value's type fits, or every type it could have."""
    from jsonschema.exceptions import best_match

    fitting, misfits = _fitting_branches(error)
    if fitting:
        return _describe(best_match(fitting))  # its absolute path already starts with the parent's
    types = [t for e in misfits for t in ([e.validator_value] if isinstance(e.validator_value, str)
                                          else e.validator_value)]
    expected = _expected_types(list(dict.fromkeys(types)))
    return [(tuple(error.absolute_path), False, f"expected {expected}, got {yaml_kind(error.instance)}")]


def _describe(error: Any) -> list[tuple[tuple[str | int, ...], bool, str]]:
    """Turn one jsonschema error into (path, point-at-key, message) triples."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        expected = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return [((*path, key), True, f"unknown key {key!r}{expected}") for key in extra]
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _choose(error)
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        return [((*path, error.instance), True, f"key {_message(error)}")]  # a key of the mapping is wrong
    return [(path, False, _message(error))]


def schema_errors(document: YamlDocument, schema: str, checks: Mapping[str, Any] | None = None) -> list[InputError]:
    """Every schema violation of a document, each located at its file, line, column and JSON path."""
    found = []
    for error in validator(schema, checks).iter_errors(document.data):
        for path, at_key, message in _describe(error):
            found.append(InputError(message, document.locate(path, key=at_key), subpath=path))
    found.sort(key=lambda e: (e.location.line or 0, e.location.column or 0))
    # the same place can be reached through several branches of a schema; say it once
    unique: dict[str, InputError] = {}
    for error in found:
        unique.setdefault(str(error), error)
    return list(unique.values())
