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

Each distinct rule is a :class:`Template`. A suite's cases get their rules from :meth:`SharedRules.cases`:
the cases are built at once, their ``Rule`` objects the first time a case's ``expect`` is read (a gate
over a few outputs of a 100,000-case suite builds the rules of those cases only), and a template whose
``prepare`` cannot fail (:func:`certainly_prepares`) is prepared the first time one of its rules is built.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import orjson
from re2 import _re2

from ..errors import InputError
from ..io.yaml import PathKey, json_path
from ..model import EvalCase, Rule
from ..outputs.jsonl import encodes
from ..text.regex import _COMPILE_OPTIONS
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


#: the longest ``contains``/``not_contains`` text whose prepared pattern is compiled on first use
#: (``Regex.literal`` compiles an escaped text of up to ``LAZY_LITERAL_CHARS`` = 1024 characters lazily; RE2's
#: escaping makes a character at most four, after a ``(?i)`` of four)
_LAZY_LITERAL = 255
_UNPREPARED: Any = object()
_PREPARING = threading.Lock()
_RE2 = _re2.RE2
#: patterns RE2 compiles, with or without ``(?i)``, at any length up to 1,000 characters: ASCII letters, digits,
#: spaces, punctuation and ``. ^ $ |``, and the escapes ``\b \B \d \D \s \S \w \W`` and of an operator
#: (``\.``, ``\(``...); told by one ``re`` match, a tenth of what compiling them costs
_PLAIN_PATTERN = re.compile(r"(?:[A-Za-z0-9 _\-.,:;'\"/@#%&=~!<>^$|]|\\[bBdDsSwW.\-+*?()\[\]{}|^$\\/])*").fullmatch


def certainly_prepares(check: str, options: Mapping[str, Any]) -> bool:
    """Whether the built-in check ``check`` certainly prepares these schema-valid options without an error, so
    that preparing them can wait until a rule of theirs is judged: the texts of ``contains`` and
    ``not_contains`` (their patterns are compiled on first use), a ``regex`` pattern RE2 compiles (checked here
    with RE2's own compiler and the options ``compile_pattern`` uses, without the binding's costly Python layer).
    Anything else is prepared at once, so that its problems are reported when the suite is loaded."""
    if check in ("contains", "not_contains"):
        value = options.get("value")
        if type(value) is str:
            return len(value) <= _LAZY_LITERAL and (value.isascii() or encodes(value))
        if type(value) is not list:
            return False
        for each in value:
            if type(each) is not str or len(each) > _LAZY_LITERAL or not (each.isascii() or encodes(each)):
                return False
        return True
    if check == "regex":
        pattern, ignore_case = options.get("pattern"), options.get("ignore_case", False)
        if not isinstance(pattern, str) or not isinstance(ignore_case, bool) or len(pattern) > 1000:
            return False
        if _PLAIN_PATTERN(pattern) is not None:
            return True
        try:
            return bool(_RE2((f"(?i){pattern}" if ignore_case else pattern).encode(), _COMPILE_OPTIONS).ok())
        except Exception:  # a lone surrogate cannot be encoded: compile_pattern says what is wrong
            return False
    return False


class Template:
    """One distinct rule: its check and options (a rule's id, message and mask set aside), prepared once."""

    __slots__ = ("_prepared", "check", "impl", "needs_value", "options")

    def __init__(self, impl: Any, options: Mapping[str, Any], prepared: Any = _UNPREPARED) -> None:
        self.impl, self.check, self.options, self._prepared = impl, impl.name, options, prepared
        #: a rule of a check that reads the case, without a ``value``: its case needs a ``reference``
        self.needs_value = bool(impl.uses_case) and "value" not in options

    def prepared(self) -> Any:
        value = self._prepared
        if value is _UNPREPARED:
            with _PREPARING:
                value = self._prepared
                if value is _UNPREPARED:
                    value = self._prepared = self.impl.prepare(self.options)
        return value

    def rule(self, rule_id: str, message: str | None, path: str, mask: str | None) -> Rule:
        return Rule(rule_id, self.check, self.options, self.impl, self.prepared(), None, message, path, mask)


#: one rule of a case as the loader keeps it until the case's rules are built: a template or a rule built at once
#: (a plugin's check, a rule with ``of``), the rule's id, message and mask
_Entry = tuple["Template | Rule", str, "str | None", "str | None"]


class _Expect:
    """Builds the ``expect`` rules of the cases with one list of rules (:meth:`EvalCase.lazy`), given a case's
    index (the rules' JSON paths name it)."""

    __slots__ = ("entries",)

    def __init__(self, entries: tuple[_Entry, ...]) -> None:
        self.entries = entries

    def __call__(self, index: int) -> tuple[Rule, ...]:
        path = json_path(("cases", index, "expect"))
        return tuple(made.rule(rule_id, message, f"{path}[{j}]", mask) if isinstance(made, Template) else made
                     for j, (made, rule_id, message, mask) in enumerate(self.entries))


class SuiteCases:
    """The cases of one suite (:meth:`SharedRules.cases`), the ids and checks of their rules."""

    def __init__(self, cases: tuple[EvalCase, ...], rule_ids: frozenset[str], checks: frozenset[str]) -> None:
        self.cases, self.rule_ids, self.checks = cases, rule_ids, checks


class SharedRules:
    """Builds the ``expect`` rules of many cases against one set of checks, preparing each distinct rule once."""

    def __init__(self, checks: Mapping[str, Any]) -> None:
        self.checks = checks
        self.shareable = _shareable(checks)
        #: the template per (check, canonical JSON of its options)
        self.templates: dict[tuple[str, bytes], Template] = {}

    def _template(self, key: tuple[str, bytes], written: dict[str, Any]) -> Template | None:
        """The template of a shareable rule's options; ``None`` when preparing them fails (the slow path reports
        it)."""
        known = self.templates.get(key)
        if known is not None:
            return known
        check = self.checks[key[0]]
        options = MappingProxyType(written)
        if certainly_prepares(key[0], written):
            template = Template(check, options)
        else:
            try:
                template = Template(check, options, check.prepare(options))
            except InputError:
                return None
        self.templates[key] = template
        return template

    def cases(self, raw_cases: list[Any], suite: str, tags: frozenset[str], problems: Problems) -> SuiteCases | None:
        """The cases of a schema-valid suite with no problem so far, each building its rules when first read;
        ``None`` (``problems`` as it was) when any case has a problem, for :meth:`build` to report it as ever.

        Identical rules and identical ``expect`` lists of a cases file are one object each (``cases_file``): what a
        rule needs is worked out once per rule, and once per list."""
        before = len(problems.errors)
        made_of: dict[int, Any] = {}  # id of a rule's mapping -> its template (a shareable rule)
        lists: dict[int, tuple[_Expect, bool]] = {}  # id of an expect list -> its rules, whether they need a reference
        tags_of: dict[int, frozenset[str]] = {id(None): tags}  # id of a case's own tags -> all its tags
        slice_of: dict[int, Mapping[str, Any]] = {id(None): MappingProxyType({})}
        rule_ids: set[str] = set()
        used: set[str] = set()
        built: list[EvalCase] = []
        append = built.append
        lazy = EvalCase.lazy
        for i, raw in enumerate(raw_cases):
            items = raw.get("expect", ())
            known = lists.get(id(items))
            if known is None:
                found = self._expect(items, i, made_of, problems, rule_ids, used)
                if found is None:
                    del problems.errors[before:]
                    return None
                known = found[0]
                if found[1]:  # no rule built at once (it has its case's path): another case may use them
                    lists[id(items)] = known
            expect, needs_reference = known
            if needs_reference and "reference" not in raw:
                del problems.errors[before:]
                return None
            own = raw.get("tags")
            case_tags = tags_of.get(id(own))
            if case_tags is None:
                case_tags = tags_of[id(own)] = tags | frozenset(own)
            written = raw.get("slice")
            case_slice = slice_of.get(id(written))
            if case_slice is None:
                case_slice = slice_of[id(written)] = MappingProxyType(dict(written))
            append(lazy(raw["id"], suite, raw["input"], raw.get("reference"), case_tags, case_slice, expect, i))
        return SuiteCases(tuple(built), frozenset(rule_ids), frozenset(used))

    def _expect(self, items: list[dict[str, Any]], i: int, made_of: dict[int, Any], problems: Problems,
                rule_ids: set[str], used: set[str]) -> tuple[tuple[_Expect, bool], bool] | None:
        """The rules of one case's ``expect``, whether the case needs a ``reference`` and whether they may serve
        another case with the same list (none of them built at once); ``None`` on a problem (a duplicate id, a
        rule that cannot be built)."""
        entries: list[_Entry] = []
        defaults: list[str] = []
        needs_reference, shareable = False, True
        for j, item in enumerate(items):  # the default ids of build_rules
            known = made_of.get(id(item))
            if known is None:
                known = self._made(item, i, j, defaults, problems)
                if known is None:
                    return None
                used.add(known[0].check)
                if isinstance(known[0], Template):
                    made_of[id(item)] = known
                else:
                    shareable = False
            made, written, base, message, mask, needs = known
            default = base if written is not None or base not in defaults else f"{base}#{j + 1}"
            if default in defaults:
                return None
            defaults.append(default)
            needs_reference = needs_reference or needs
            entries.append((made, default, message, mask))
        rule_ids.update(defaults)
        return (_Expect(tuple(entries)), needs_reference), shareable

    def _made(self, item: dict[str, Any], i: int, j: int, defaults: list[str], problems: Problems,
              ) -> tuple[Any, Any, str, Any, Any, bool] | None:
        """What a case keeps of the rule ``item`` until its rules are built: a template (shared) or the rule built
        at once (a plugin's check, a rule with ``of``), with the rule's written id, default id, message and mask,
        and whether it needs the case's ``reference``; ``None`` when it has a problem."""
        written = item.get("id")
        base = written if isinstance(written, str) else str(item.get("check", "rule"))
        found = self._key_and_options(item)
        if found is not None:
            made: Any = self._template(*found)
            if made is None:
                return None
            needs = made.needs_value
        else:
            default = base if written is not None or base not in defaults else f"{base}#{j + 1}"
            before = len(problems.errors)
            made = build_rule(item, ("cases", i, "expect", j), default, self.checks, problems)
            if made is None or len(problems.errors) != before:
                return None
            needs = bool(made.impl.uses_case) and "value" not in made.options
        return made, written, base, item.get("message"), item.get("mask"), needs

    def _key(self, raw: dict[str, Any]) -> tuple[str, bytes] | None:
        """The check and the canonical JSON of a rule's options, when rules of those may share a prepared one."""
        found = self._key_and_options(raw)
        return None if found is None else found[0]

    def _key_and_options(self, raw: dict[str, Any]) -> tuple[tuple[str, bytes], dict[str, Any]] | None:
        """:meth:`_key`, and the rule's options."""
        check = raw.get("check")
        if check not in self.shareable or "of" in raw:
            return None
        options = {k: v for k, v in raw.items() if k not in RULE_META}
        try:
            text = _dumps(options, option=_SORTED)
        except (TypeError, ValueError):  # orjson.JSONEncodeError: a key that is no text, a number too large...
            return None
        if b"null" in text:  # orjson writes NaN and infinities as null
            return None
        # a copy kept: orjson's own text holds a block of 4 KiB while it lives
        return (check, memoryview(text).tobytes()), options

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
            known = self.templates.get(key) if key is not None else None
            if known is not None:  # what build_rule makes of these options: the same but for the rule's own keys
                rule: Rule | None = known.rule(raw.get("id", default), raw.get("message"), f"{path}[{i}]",
                                               raw.get("mask"))
            else:
                before = len(problems.errors)
                rule = build_rule(raw, where, default, self.checks, problems)
                if rule is not None and key is not None and len(problems.errors) == before:
                    self.templates[key] = Template(rule.impl, rule.options, rule.prepared)
            if rule is not None:
                if accept is not None:
                    accept(rule, where)
                rules.append(rule)
        return tuple(rules)
