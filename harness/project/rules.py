"""Building rules from schema-checked YAML, reporting every problem of every rule.

Each rule is prepared on its own: a rule with a schema error is skipped (its error is
already reported) while the others are still resolved against the project's checks and
prepared, so an unknown check, a bad pattern and a duplicate id in the same file all
show in one run of ``harness validate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..errors import InputError
from ..io.yaml import PathKey, YamlDocument, json_path
from ..model import Rule

#: the keys every rule may have that are not its check's options
RULE_META = ("id", "check", "message", "description", "mask")


class Problems:
    """The errors found in one document so far, and where the schema already complained."""

    def __init__(self, document: YamlDocument, schema_errors: Sequence[InputError] = ()) -> None:
        self.document = document
        self.errors: list[InputError] = list(document.problems) + list(schema_errors)
        self._schema_paths = [tuple(e.subpath) for e in schema_errors]

    def add(self, message: str, parts: PathKey, *, key: bool = False) -> None:
        self.errors.append(InputError(message, self.document.locate(parts, key=key)))

    def over(self, document: YamlDocument) -> Problems:
        """These problems, carried over to another view of the same document (a suite with its cases file)."""
        moved = Problems(document)
        moved.errors, moved._schema_paths = list(self.errors), list(self._schema_paths)
        return moved

    def add_schema_error(self, error: InputError) -> None:
        """A schema violation found apart from the document's own check (``error.subpath``: where it is)."""
        self.errors.append(error)
        self._schema_paths.append(tuple(error.subpath))

    def schema_error_under(self, parts: PathKey) -> bool:
        """Whether the schema reported a problem at ``parts`` or inside it."""
        n = len(parts)
        return any(path[:n] == parts for path in self._schema_paths)


def build_rule(raw: Any, parts: PathKey, default_id: str, checks: Mapping[str, Any],
               problems: Problems) -> Rule | None:
    """The rule at ``parts``, prepared; ``None`` (with its problems recorded) when it cannot be built."""
    if not isinstance(raw, dict) or not isinstance(raw.get("check"), str):
        return None  # the schema said so already
    check = checks.get(raw["check"])
    if check is None:
        if not problems.schema_error_under((*parts, "check")):
            from ..checks import CHECKS

            broken = CHECKS.broken().get(raw["check"])
            problems.add(f"check {raw['check']!r} is installed but broken: {broken.message}" if broken else
                         f"unknown check {raw['check']!r}; expected one of: {', '.join(sorted(checks))}",
                         (*parts, "check"))
        return None
    inner = None
    if "of" in raw:
        inner = build_rule(raw["of"], (*parts, "of"), f"{raw.get('id', default_id)}.of", checks, problems)
        if inner is None:
            return None
    if problems.schema_error_under(parts):
        return None
    options = MappingProxyType({k: v for k, v in raw.items() if k not in RULE_META})
    try:
        prepared = check.prepare(options)
    except InputError as exc:
        problems.add(exc.message, (*parts, *exc.subpath))
        return None
    return Rule(id=raw.get("id", default_id), check=check.name, options=options, prepared=prepared, impl=check,
                inner=inner, message=raw.get("message"), json_path=json_path(parts), mask=raw.get("mask"))


def build_rules(items: Any, parts: PathKey, checks: Mapping[str, Any], problems: Problems,
                accept: Callable[[Rule, PathKey], None] | None = None) -> tuple[Rule, ...]:
    """Every rule of a list; duplicate ids are reported even when the rules have other problems."""
    if not isinstance(items, list):
        return ()
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            continue
        written = raw.get("id")
        default = written if isinstance(written, str) else str(raw.get("check", "rule"))
        if default in seen and written is None:
            default = f"{default}#{i + 1}"
        if default in seen:
            problems.add(f"duplicate rule id {default!r} (first at {json_path((*parts, seen[default]))})",
                         (*parts, i, "id"))
        else:
            seen[default] = i
        rule = build_rule(raw, (*parts, i), default, checks, problems)
        if rule is not None:
            if accept is not None:
                accept(rule, (*parts, i))
            rules.append(rule)
    return tuple(rules)
