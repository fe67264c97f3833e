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
import functools
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
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
#: schemas made of the shipped ones, for validating parts of a file on their own: the cases of a ``cases_file``
DERIVED: Mapping[str, Mapping[str, Any]] = {
    "eval-cases": {"$schema": "https://json-schema.org/draft/2020-12/schema",
                   "$id": "https://harness.example/schemas/eval-cases.schema.json", "type": "array",
                   "items": {"$ref": "eval.schema.json#/$defs/case"}},
}


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

    documents: dict[str, Any] = {name: load_schema(name) for name in SCHEMAS} | dict(DERIVED)
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


# --- the quick yes: fastjsonschema, where it means what jsonschema means ---------------------------------------

#: keywords whose value is a subschema, a list of them, or a mapping of names to them
_ONE_SCHEMA = frozenset({"not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs"})
#: assertions fastjsonschema (its 2019-09 generator) judges as Draft 2020-12 does
_ASSERTIONS = frozenset({"type", "enum", "const", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
                         "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "uniqueItems", "required",
                         "minProperties", "maxProperties"})
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated", "readOnly",
                          "writeOnly"})
_JSON_TYPES = frozenset({"string", "integer", "number", "object", "array", "boolean", "null"})


class _NoFast(Exception):
    """The schema uses something fastjsonschema would judge otherwise than jsonschema: no quick yes for it."""


def _plain_schema(schema: Any, formats: set[str], *, root: bool = False) -> Any:
    """A copy of a Draft 2020-12 schema that fastjsonschema judges the same way, or ``_NoFast``.

    Only the keywords listed above pass; a ``$ref`` (local: the documents are bundled first) with
    other assertions beside it becomes an ``allOf`` (2020-12 applies both, fastjsonschema only the
    reference); annotations and ``x-`` keys are dropped.
    """
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise _NoFast
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS or key.startswith("x-") or (root and key in ("$schema", "$id")):
            continue
        if key == "$ref":
            if not isinstance(value, str) or not value.startswith("#"):
                raise _NoFast
            out[key] = value
        elif key in _ONE_SCHEMA:
            out[key] = _plain_schema(value, formats)
        elif key in _SCHEMA_LISTS:
            if not isinstance(value, list) or not value:
                raise _NoFast
            out[key] = [_plain_schema(each, formats) for each in value]
        elif key in _SCHEMA_MAPS:
            if not isinstance(value, dict):
                raise _NoFast
            out[key] = {name: _plain_schema(each, formats) for name, each in value.items()}
        elif key in _ASSERTIONS:
            if key == "type" and not set([value] if isinstance(value, str) else value) <= _JSON_TYPES:
                raise _NoFast
            if key == "format":
                if not isinstance(value, str):
                    raise _NoFast
                formats.add(value)
            if key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                raise _NoFast
            out[key] = value
        else:
            raise _NoFast  # prefixItems, unevaluated*, dependent*, $dynamicRef, a nested $id, multipleOf...
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}, out]}
    if len(out) == 1 and ("oneOf" in out or "anyOf" in out):
        out = _merged_by_type(next(iter(out.values()))) or out
    return out


#: the assertions that judge instances of one type only (any other passes them), per type
_TYPE_ASSERTIONS: Mapping[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "pattern"}),
    "array": frozenset({"items", "minItems", "maxItems", "uniqueItems"}),
    "object": frozenset({"properties", "required", "additionalProperties", "minProperties", "maxProperties"}),
    "boolean": frozenset(), "null": frozenset()}


def _merged_by_type(branches: list[Any]) -> dict[str, Any] | None:
    """The branches of a ``oneOf``/``anyOf`` as one schema, when each is of its own type (one of
    :data:`_TYPE_ASSERTIONS`) with assertions of that type only: an instance can satisfy the branch of its type
    alone, and only that branch's assertions judge it. fastjsonschema tries every branch of a ``oneOf``, each that
    fails by raising an exception (one for each ``contains`` rule, whose ``value`` is a text or a list of them)."""
    merged: dict[str, Any] = {"type": []}
    for branch in branches:
        kind = branch.get("type") if isinstance(branch, dict) else None
        if not isinstance(kind, str) or kind not in _TYPE_ASSERTIONS or kind in merged["type"] or \
                not set(branch) - {"type"} <= _TYPE_ASSERTIONS[kind]:
            return None
        merged["type"].append(kind)
        merged.update((key, value) for key, value in branch.items() if key != "type")
    return merged


def _bundle(name: str, documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Schema ``name`` with the definitions of the documents it refers to (``policy.schema.json#/$defs/x``)
    copied into its ``$defs``, each such reference made local; ``_NoFast`` when names clash."""
    by_file = {str(doc["$id"]).rsplit("/", 1)[-1]: doc for doc in documents.values() if "$id" in doc}
    bundle = copy.deepcopy(dict(documents[name]))
    defs: dict[str, Any] = dict(bundle.get("$defs", {}))
    pending: list[Any] = [bundle]
    merged: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            target, _, pointer = ref.partition("#")
            other = by_file.get(target)
            if other is None or not pointer.startswith("/$defs/") or pointer.count("/") != 2:
                raise _NoFast
            node["$ref"] = "#" + pointer
            if target not in merged:
                merged.add(target)
                for key, value in copy.deepcopy(other.get("$defs", {})).items():
                    if key in defs and defs[key] != value:
                        raise _NoFast
                    defs[key] = value
                    pending.append(value)
        pending.extend(node.values())
    bundle["$defs"] = defs
    return bundle


def _expect_rules(data: Any) -> Iterator[Any]:
    """The ``expect`` rules of an eval suite's data, already found to be mappings by the suite's fast validator."""
    for case in data["cases"]:
        yield from case.get("expect", ())


def _listed_expect_rules(data: Any) -> Iterator[Any]:
    """The ``expect`` rules of a list of cases, already found to be mappings by the list's fast validator."""
    for case in data:
        yield from case.get("expect", ())


#: per schema: the definition whose ``allOf`` dispatches on a rule's ``check`` (fastjsonschema tries every
#: branch's ``if`` by raising an exception: 13 of them per rule cost more than the rest of the file), and
#: where that definition's instances are in a document the rest of the schema accepts
_DISPATCHED: Mapping[str, tuple[str, Callable[[Any], Iterator[Any]]]] = {
    "eval": ("expect_rule", _expect_rules), "eval-cases": ("expect_rule", _listed_expect_rules)}


class FastValidator:
    """A fastjsonschema validator of one schema: ``valid(data)`` is True only where jsonschema finds no error.

    For an eval suite, each ``expect`` rule is judged by the validator of its own check, picked
    by its ``check`` (what the schema's ``if``/``then`` branches say, without trying them all).
    """

    def __init__(self, document: Any, per_check: Mapping[str, Any] | None = None,
                 rules: Callable[[Any], Iterator[Any]] | None = None) -> None:
        self.document = document
        self.per_check = per_check or {}
        self.rules = rules

    def valid(self, data: Any) -> bool:
        try:
            self.document(data)
            if self.rules is not None:
                per_check = self.per_check
                for rule in self.rules(data):
                    per_check[rule["check"]](rule)
        except Exception:  # JsonSchemaValueException, or anything it trips on: jsonschema explains
            return False
        return True


class FastCases:
    """The quick yes for a list of eval cases (a ``cases_file``), judged in parts: each case against the case
    definition with its ``tags``, ``slice`` and ``expect`` rules set aside, then each of those against its own
    definition, once per distinct object (identical ones of a cases file are one object, and so are identical
    ``expect`` lists: see ``harness.project.cases_file``). Only built when the case definition holds nothing but
    ``type``, ``required``, ``additionalProperties`` and ``properties``, so that the parts mean what the whole does."""

    def __init__(self, shell: Any, parts: Mapping[str, Any], rule: Any, per_check: Mapping[str, Any]) -> None:
        #: ``shell(case)`` raises where the case definition, its parts set aside, might not hold
        self.shell = shell
        self.parts, self.rule, self.per_check = parts, rule, per_check

    def valid_parts(self, parts: Mapping[str, Iterable[Any]], rules: Iterable[Any]) -> bool:
        """Whether each value of ``parts`` (by the case key it is the value of: ``tags``, ``slice``) holds to its
        definition and each of ``rules`` to an ``expect`` rule's: with :attr:`shell` of every case, the quick yes
        for cases whose parts and rules are these (a caller that met each distinct one first)."""
        try:
            for name, values in parts.items():
                part = self.parts.get(name)
                if part is not None:
                    for value in values:
                        part(value)
            rule, per_check = self.rule, self.per_check
            for item in rules:
                if rule is not None:
                    rule(item)
                per_check[item["check"]](item)  # a KeyError for a check not in the rule's enum
        except Exception:  # JsonSchemaValueException, or anything it trips on: jsonschema explains
            return False
        return True

    def valid(self, data: Any) -> bool:
        if type(data) is not list:
            return False
        shell, parts, rule, per_check = self.shell, tuple(self.parts.items()), self.rule, self.per_check
        judged: dict[str, set[int]] = {name: set() for name, _ in parts}
        rules: set[int] = set()
        lists: set[int] = set()  # the expect lists whose every rule is judged
        try:
            for case in data:
                shell(case)
                for name, part in parts:
                    if name in case:
                        value = case[name]
                        seen = judged[name]
                        if id(value) not in seen:
                            part(value)
                            seen.add(id(value))
                items = case.get("expect", _NO_RULES)
                if id(items) in lists:
                    continue
                if type(items) is not list:
                    return False
                for item in items:
                    if id(item) not in rules:
                        if rule is not None:
                            rule(item)
                        per_check[item["check"]](item)  # a KeyError for a check not in the rule's enum
                        rules.add(id(item))
                lists.add(id(items))
        except Exception:  # JsonSchemaValueException, or anything it trips on: jsonschema explains
            return False
        return True


_NO_RULES: list[Any] = []  # a case without `expect` (never changed)
_ABSENT = object()
#: the keywords of a case definition that :class:`FastCases` may judge in parts
_SHELL_KEYWORDS = frozenset({"type", "required", "additionalProperties", "properties"})


class _NotACase(Exception):
    """What :func:`_plain_shell`'s check raises: ask jsonschema."""


def _plain_shell(shell: Mapping[str, Any]) -> Callable[[Any], None] | None:
    """A check of a case's shell (:class:`FastCases`) in plain Python, when each of its properties is a string,
    a string with a ``pattern`` (searched with ``re``, as jsonschema does) or anything: raises ``_NotACase``
    where jsonschema might complain; ``None`` for any other shell (fastjsonschema checks it then)."""
    import re

    properties, required = shell.get("properties", {}), shell.get("required", [])
    texts: list[tuple[str, Any]] = []
    for name, schema in properties.items():
        if schema is True:
            continue
        if not isinstance(schema, dict) or schema.get("type") != "string" or not set(schema) <= {"type", "pattern"}:
            return None
        pattern = schema.get("pattern")
        if pattern is not None and not isinstance(pattern, str):
            return None
        texts.append((name, None if pattern is None else re.compile(pattern).search))
    if not isinstance(required, list) or not set(required) <= set(properties):
        return None
    allowed, needed = frozenset(properties), frozenset(required)
    plain = tuple(name for name, search in texts if search is None)
    patterned = tuple((name, search) for name, search in texts if search is not None)

    def check(case: Any) -> None:
        if type(case) is not dict:
            raise _NotACase
        keys = case.keys()
        if not needed <= keys <= allowed:
            raise _NotACase
        for name in plain:
            if type(case.get(name, "")) is not str:  # absent: nothing to judge
                raise _NotACase
        for name, search in patterned:
            value = case.get(name, _ABSENT)
            if value is not _ABSENT and (type(value) is not str or search(value) is None):
                raise _NotACase

    return check


def _fast_cases(plain: dict[str, Any], per_check: Mapping[str, Any], formats: set[str]) -> FastCases | None:
    """:class:`FastCases` for the bundled, plain ``eval-cases`` schema (its rule dispatch already taken out)."""
    defs = plain["$defs"]
    case = defs.get("case")
    if (plain.get("items") != {"$ref": "#/$defs/case"} or not isinstance(case, dict)
            or not set(case) <= _SHELL_KEYWORDS or case.get("type") != "object"
            or case.get("additionalProperties") is not False):
        return None
    properties = dict(case.get("properties", {}))
    if properties.get("expect") != {"type": "array", "items": {"$ref": "#/$defs/expect_rule"}}:
        return None
    parts = {name: _compile({**properties[name], "$defs": defs}, formats) for name in ("tags", "slice")
             if name in properties}
    shell = {**case, "properties": {**properties, **{name: True for name in (*parts, "expect")}}}
    # what is left of a rule's definition once its dispatch is out: a mapping whose check is one of
    # ``per_check``'s, which looking its validator up (``per_check[rule["check"]]``) asks already
    plain_shell = _plain_shell(shell)
    rest = defs.get("expect_rule")
    implied = rest == {"type": "object", "required": ["check"], "properties": {"check": {"enum": sorted(per_check)}}}
    return FastCases(plain_shell or _compile({**shell, "$defs": defs}, formats), parts,
                     None if implied else _compile({"$ref": "#/$defs/expect_rule", "$defs": defs}, formats), per_check)


def _compile(schema: Any, formats: set[str]) -> Any:
    import fastjsonschema
    from jsonschema import Draft202012Validator

    checker = Draft202012Validator.FORMAT_CHECKER
    return fastjsonschema.compile(schema, formats={f: functools.partial(checker.conforms, format=f) for f in formats},
                                  use_formats=True, use_default=False)


def _build_fast(name: str, checks: Mapping[str, Any] | None) -> FastValidator | FastCases | None:
    documents: dict[str, Any] = {each: load_schema(each) for each in SCHEMAS} | dict(DERIVED)
    if checks is not None:
        documents.update(compose(checks))
    formats: set[str] = set()
    try:
        plain = _plain_schema(_bundle(name, documents), formats, root=True)
        if name not in _DISPATCHED:
            return FastValidator(_compile(plain, formats))
        definition, rules = _DISPATCHED[name]
        dispatch = plain["$defs"][definition]
        branches = dispatch.pop("allOf")
        checked = dispatch["properties"]["check"]["enum"]
        per_check = {}
        for branch in branches:
            check = branch["if"]["properties"]["check"]["const"]
            assert branch == {"if": {"properties": {"check": {"const": check}}, "required": ["check"]},
                              "then": {"$ref": f"#/$defs/check_{check}"}} and check in checked
            per_check[check] = _compile({"$ref": f"#/$defs/check_{check}", "$defs": plain["$defs"]}, formats)
        if set(per_check) != set(checked) or dispatch.get("required") != ["check"]:
            return None
        if name == "eval-cases":
            cases = _fast_cases(plain, per_check, formats)
            if cases is not None:
                return cases
        return FastValidator(_compile(plain, formats), per_check, rules)
    except (_NoFast, RecursionError, KeyError, AssertionError):
        return None
    except Exception:  # fastjsonschema cannot compile it (a pattern Python's re refuses...): jsonschema alone
        return None


#: fast validators per (set of checks, schema name); each entry keeps its checks alive, as for ``_VALIDATORS``
_FAST: OrderedDict[tuple[tuple[tuple[str, int], ...], str],
                   tuple[tuple[Any, ...], FastValidator | FastCases | None]] = OrderedDict()


def fast_validator(name: str, checks: Mapping[str, Any] | None = None) -> FastValidator | FastCases | None:
    """A fastjsonschema validator of schema ``name`` that accepts only what jsonschema accepts (it may refuse
    more: its ``$`` is the end of the text), or ``None`` when the schema uses a keyword it judges otherwise."""
    key = (tuple(sorted((each, id(c)) for each, c in (checks or {}).items())), name)
    with _VALIDATORS_LOCK:
        cached = _FAST.get(key)
        if cached is not None:
            _FAST.move_to_end(key)
            return cached[1]
    built = _build_fast(name, checks)
    with _VALIDATORS_LOCK:
        _FAST[key] = (tuple((checks or {}).values()), built)
        while len(_FAST) > _VALIDATORS_MAX:
            _FAST.popitem(last=False)
    return built


# --- the quick yes of a project's documents: jsonschema_rs (the optional ``fast`` extra) ----------------------------

#: jsonschema's own ``pattern`` and ``format`` as keywords of jsonschema_rs (:func:`_python_judged`)
_PYTHON_KEYWORDS = {"pattern": "x-harness-pattern", "format": "x-harness-format"}
#: the deepest a document may be for jsonschema_rs to judge it, and the deepest its schema may be
_RUST_MAX_DEPTH = 64
_INT64 = 2 ** 63


class _Searched:
    """``pattern`` as jsonschema judges it (``re.search``), as a keyword of jsonschema_rs."""

    def __init__(self, parent_schema: Any, value: str, schema_path: Any) -> None:
        self.search = re.compile(value).search

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and self.search(instance) is None:
            raise ValueError("does not match")


class _Formatted:
    """``format`` as jsonschema judges it (its format checker), as a keyword of jsonschema_rs."""

    def __init__(self, parent_schema: Any, value: str, schema_path: Any) -> None:
        from jsonschema import Draft202012Validator

        self.conforms = functools.partial(Draft202012Validator.FORMAT_CHECKER.conforms, format=value)

    def validate(self, instance: Any) -> None:
        if not self.conforms(instance):
            raise ValueError("not of its format")


def _python_judged(schema: Any) -> Any:
    """A plain schema (:func:`_plain_schema`) whose ``pattern`` and ``format`` keywords are renamed to the
    jsonschema_rs keywords that judge them with jsonschema's own ``re`` and format checker; ``_NoFast`` for a
    ``patternProperties`` (Rust's regex crate would pick the properties it governs)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "patternProperties":
            raise _NoFast
        if key in _ONE_SCHEMA:
            out[key] = _python_judged(value)
        elif key in _SCHEMA_LISTS:
            out[key] = [_python_judged(each) for each in value]
        elif key in _SCHEMA_MAPS:
            out[key] = {name: _python_judged(each) for name, each in value.items()}
        else:
            keyword: str = key
            out[_PYTHON_KEYWORDS.get(keyword, keyword)] = value
    return out


def _json_document(data: Any) -> bool:
    """Whether a document holds only what JSON does, at most :data:`_RUST_MAX_DEPTH` levels deep: text keys,
    finite floats, 64-bit integers. jsonschema_rs reads a tuple as an array and takes an infinity for a number
    below any maximum; jsonschema compares deep values recursively."""
    pending = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is int:
            if not -_INT64 <= value < _INT64:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif depth >= _RUST_MAX_DEPTH:
            return False
        elif kind is dict:
            for key, each in value.items():
                if type(key) is not str:
                    return False
                pending.append((each, depth + 1))
        elif kind is list:
            pending.extend((each, depth + 1) for each in value)
        else:
            return False
    return True


def _build_rust(name: str, checks: Mapping[str, Any] | None) -> Callable[[Any], bool] | None:
    from .rust_schema import _RUST_REFUSED, jsonschema_rs_module, rust_reads_alike

    rs = jsonschema_rs_module()
    if rs is None:
        return None
    documents: dict[str, Any] = {each: load_schema(each) for each in SCHEMAS} | dict(DERIVED)
    if checks is not None:
        documents.update(compose(checks))
    try:
        schema = _python_judged(_plain_schema(_bundle(name, documents), set(), root=True))
    except (_NoFast, RecursionError):
        return None
    # a document is at most _RUST_MAX_DEPTH deep: jsonschema compares `uniqueItems` ones without running out of stack
    if not rust_reads_alike(schema, _RUST_REFUSED - {"uniqueItems"}, _RUST_MAX_DEPTH):
        return None
    try:
        judge = rs.Draft202012Validator(schema, validate_formats=False, keywords={
            "x-harness-pattern": _Searched, "x-harness-format": _Formatted})
    except Exception:
        return None
    is_valid = judge.is_valid

    def valid(data: Any) -> bool:
        if not _json_document(data):
            return False
        try:
            return bool(is_valid(data))
        except Exception:  # a text jsonschema_rs cannot take (a lone surrogate): jsonschema explains
            return False

    return valid


#: jsonschema_rs validators per (set of checks, schema name); each entry keeps its checks alive, as for ``_VALIDATORS``
_RUST: OrderedDict[tuple[tuple[tuple[str, int], ...], str],
                   tuple[tuple[Any, ...], Callable[[Any], bool] | None]] = OrderedDict()


def rust_validator(name: str, checks: Mapping[str, Any] | None = None) -> Callable[[Any], bool] | None:
    """A jsonschema_rs judge of schema ``name`` that says yes only where jsonschema finds no error (it may say no
    to more), or ``None`` without jsonschema_rs or when the schema has a keyword it would judge otherwise.

    Built in a few milliseconds, where fastjsonschema takes a tenth of a second for the policy
    schema: the quick yes of the small documents a project is made of. Patterns and formats are
    judged by jsonschema's own ``re`` and format checker; a document qualifies only if it holds what
    JSON does (:func:`_json_document`).
    """
    key = (tuple(sorted((each, id(c)) for each, c in (checks or {}).items())), name)
    with _VALIDATORS_LOCK:
        cached = _RUST.get(key)
        if cached is not None:
            _RUST.move_to_end(key)
            return cached[1]
    built = _build_rust(name, checks)
    with _VALIDATORS_LOCK:
        _RUST[key] = (tuple((checks or {}).values()), built)
        while len(_RUST) > _VALIDATORS_MAX:
            _RUST.popitem(last=False)
    return built


def _quick_yes(document: YamlDocument, schema: str, checks: Mapping[str, Any] | None) -> bool:
    """Whether a document certainly satisfies the schema (a no only means: ask jsonschema): jsonschema_rs's yes,
    or for a large document fastjsonschema's (a small one is checked by jsonschema at once rather than compile
    a fastjsonschema validator for it)."""
    rust = rust_validator(schema, checks)
    if rust is not None and rust(document.data):
        return True
    if not document.large:
        return False
    fast = fast_validator(schema, checks)
    return fast is not None and fast.valid(document.data)


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
    alternatives = error.validator_value if error.validator == "anyOf" else None
    if isinstance(alternatives, list) and all(isinstance(a, dict) and list(a) == ["required"] and
                                              len(a["required"]) == 1 for a in alternatives):
        listed = " or ".join(f"`{a['required'][0]}`" for a in alternatives)  # keys of which one is needed
        return [(path, False, f"expected {listed}, got neither")]
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _choose(error)
    exclusive = error.validator_value.get("required") if error.validator == "not" and \
        isinstance(error.validator_value, dict) and len(error.validator_value) == 1 else None
    if isinstance(exclusive, list) and isinstance(error.instance, dict):  # keys that exclude each other
        listed = ", ".join(f"`{key}`" for key in exclusive)
        return [((*path, exclusive[-1]), True, f"{listed} exclude each other; expected only one of them")]
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        return [((*path, error.instance), True, f"key {_message(error)}")]  # a key of the mapping is wrong
    return [(path, False, _message(error))]


def fast_cases(checks: Mapping[str, Any] | None = None) -> FastCases | None:
    """The quick yes for eval cases read on their own (:class:`FastCases`), when the case definition allows one."""
    fast = fast_validator("eval-cases", checks)
    return fast if isinstance(fast, FastCases) else None


def case_errors(cases: list[Any], checks: Mapping[str, Any] | None = None, limit: int | None = None,
                ) -> dict[int, list[tuple[tuple[str | int, ...], bool, str]]]:
    """The schema violations of eval cases read on their own (a suite's ``cases_file``), by the case's index:
    (path within the case, point-at-key, message), as :func:`schema_errors` words them; those of the first
    ``limit`` broken cases only, when given (an outputs file named by mistake is not explained line by line).

    One fast look at the whole list; only when it says no, each case is looked at again, and jsonschema
    explains the cases the fast validator refuses.
    """
    fast = fast_validator("eval-cases", checks)
    if fast is not None and fast.valid(cases):
        return {}
    found: dict[int, list[tuple[tuple[str | int, ...], bool, str]]] = {}
    check = validator("eval-cases", checks)
    for i, case in enumerate(cases):
        if fast is not None and fast.valid([case]):
            continue
        described = [described for error in check.iter_errors([case]) for described in _describe(error)]
        if described:
            found[i] = [(tuple(path[1:]), at_key, message) for path, at_key, message in described]
            if limit is not None and len(found) >= limit:
                break
    return found


def schema_errors(document: YamlDocument, schema: str, checks: Mapping[str, Any] | None = None) -> list[InputError]:
    """Every schema violation of a document, each located at its file, line, column and JSON path.

    A large document is first judged by a fast validator (:func:`fast_validator`); jsonschema
    runs only when that says no, to explain it.
    """
    if _quick_yes(document, schema, checks):
        return []
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
