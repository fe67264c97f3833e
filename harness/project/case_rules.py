"""The ``expect`` rules of eval cases, each distinct rule prepared once.

A suite converted from a dataset repeats the same few rules thousands of times (``refusal``
with ``must: refuse``, ``pii``, a ``json`` schema), and preparing one can take milliseconds
(a refusal rule compiles a word list, a json rule checks and compiles its schema). A rule
whose options are those of one already built (same check, same keys and values once its id,
message, description and mask are set aside) shares that rule's prepared object, which is safe for the built-in checks
listed in :data:`SHARED_CHECKS`, whose prepared objects are never changed once made (frozen
records of compiled patterns and validators, or the options themselves). ``field`` keeps a
memo of verdicts in its prepared object and plugins' checks are unknown: those are prepared
once per rule, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..io.yaml import PathKey, json_path
from ..model import Rule
from .rules import RULE_META, Problems, build_rule, build_rules

_dumps, _SORTED = orjson.dumps, orjson.OPT_SORT_KEYS
#: built-in per-output checks whose prepared object is immutable, so one can serve many rules
SHARED_CHECKS = frozenset({"regex", "contains", "not_contains", "blocklist", "refusal", "pii", "json", "length",
                           "latency", "equals", "similar"})


def _shareable(checks: Mapping[str, Any]) -> frozenset[str]:
    """The names in ``checks`` bound to the built-in check of that name, and in :data:`SHARED_CHECKS`."""
    from ..checks.builtin import BUILTIN_CHECKS

    builtin = {check.name: check for check in BUILTIN_CHECKS}
    return frozenset(name for name in SHARED_CHECKS if name in checks and checks[name] is builtin.get(name))


class SharedRules:
    """Builds the ``expect`` rules of many cases against one set of checks, preparing each distinct rule once."""

    def __init__(self, checks: Mapping[str, Any]) -> None:
        self.checks = checks
        self.shareable = _shareable(checks)
        #: the first rule built per (check, canonical JSON of its options)
        self.built: dict[tuple[str, bytes], Rule] = {}

    def _key(self, raw: dict[str, Any]) -> tuple[str, bytes] | None:
        """The check and the canonical JSON of a rule's options, when rules of those may share a prepared one."""
        check = raw.get("check")
        if check not in self.shareable or "of" in raw:
            return None
        try:
            options = _dumps({k: v for k, v in raw.items() if k not in RULE_META}, option=_SORTED)
        except (TypeError, ValueError):  # orjson.JSONEncodeError: a key that is no text, a number too large...
            return None
        return None if b"null" in options else (check, options)  # orjson writes NaN and infinities as null

    def build(self, items: Any, parts: PathKey, problems: Problems,
              accept: Callable[[Rule, PathKey], None] | None = None) -> tuple[Rule, ...]:
        """What ``build_rules(items, parts, checks, problems, accept)`` builds, sharing prepared rules.

        A list with anything unusual (a non-mapping item, a duplicate id, a schema error under it)
        is left to ``build_rules`` whole, so that its problems are reported exactly as ever.
        """
        if (not isinstance(items, list) or not items or problems.schema_error_under(parts)
                or not all(isinstance(raw, dict) for raw in items)):
            return build_rules(items, parts, self.checks, problems, accept)
        defaults: list[str] = []
        for i, raw in enumerate(items):  # the default ids of build_rules
            written = raw.get("id")
            default = written if isinstance(written, str) else str(raw.get("check", "rule"))
            if default in defaults and written is None:
                default = f"{default}#{i + 1}"
            if default in defaults:
                return build_rules(items, parts, self.checks, problems, accept)
            defaults.append(default)
        rules: list[Rule] = []
        path = json_path(parts)
        for i, (raw, default) in enumerate(zip(items, defaults, strict=True)):
            where = (*parts, i)
            key = self._key(raw)
            known = self.built.get(key) if key is not None else None
            if known is not None:  # what build_rule makes of these options: the same but for the rule's own keys
                rule: Rule | None = Rule(raw.get("id", default), known.check, known.options, known.impl,
                                         known.prepared, None, raw.get("message"), f"{path}[{i}]", raw.get("mask"))
            else:
                before = len(problems.errors)
                rule = build_rule(raw, where, default, self.checks, problems)
                if rule is not None and key is not None and len(problems.errors) == before:
                    self.built[key] = rule
            if rule is not None:
                if accept is not None:
                    accept(rule, where)
                rules.append(rule)
        return tuple(rules)
