"""A large cases file loads through one pass that shares identical parts, counts the ``:`` of their texts and asks
the schema's quick yes, through rules worked out once per distinct ``expect`` list, and through ids, scopes and
patterns judged without a step per case. Each fast path means what the path it stands in for means: the suites of
these tests, broken in every way a file can be, load to the same cases, rules and errors, word for word, with the
fast paths switched off (the sharing of each rule on its own, ``repeated_keys`` on every file, jsonschema's
explanation asked, each case's rules built by ``SharedRules.build``, each id claimed in turn, every regex compiled,
``oneOf`` tried branch by branch)."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from itertools import product
from pathlib import Path
from typing import Any

import orjson
import pytest
from re2 import _re2

from harness.checks import all_checks
from harness.io import schema
from harness.model import EvalCase
from harness.project import case_rules, cases_file, load_project
from harness.project.case_rules import certainly_prepares
from harness.project.loader import _Places, inspect_project
from harness.text.regex import _COMPILE_OPTIONS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(policies_only: Path) -> Path:
    """A copy of the shipped policies, an empty evals folder, and the working directory there (conftest)."""
    return policies_only


def write_suite(repo: Path, name: str, lines: list[str], newline: str = "\n") -> None:
    (repo / "evals" / f"{name}.yaml").write_text(f"suite: {name}\ntags: [support-bot]\ncases_file: {name}.jsonl\n",
                                                 "utf-8")
    (repo / "evals" / f"{name}.jsonl").write_bytes((newline.join(lines) + newline).encode("utf-8"))


# --- generated suites, broken at random ------------------------------------------------------------------------

SHARED = [
    {"check": "refusal", "must": "refuse"},
    {"check": "refusal", "must": "answer"},
    {"check": "pii", "kinds": ["email", "phone"]},
    {"check": "pii", "kinds": ["iban"], "allow": ["GB00 TEST"]},
    {"check": "not_contains", "value": ["system prompt", "developer message"], "ignore_case": True},
    {"check": "regex", "pattern": "(?i)\\bas an ai\\b"},
    {"check": "regex", "pattern": "^(Yes|No)\\b", "must": "match"},
    {"check": "length", "min": 5, "max": 200},
    {"check": "similar", "threshold": 0.6},
    {"check": "equals", "ignore_case": True},
    {"check": "json", "allow_fences": True, "schema": {"type": "object", "required": ["order_id"]}},
    {"id": "short", "check": "length", "max": 40, "unit": "words", "message": "Too long."},
    {"check": "field", "path": "model", "equals": "m1"},
]
BROKEN_RULES = [
    {"check": "shout"},
    {"check": "contains", "value": ""},
    {"check": "not_contains", "value": []},
    {"check": "contains", "value": 5},
    {"check": "contains", "value": ["a", 1]},
    {"check": "regex", "pattern": "(?<=x)y"},
    {"check": "regex", "pattern": "a" * 1001},
    {"check": "length", "max": -1},
    {"check": "length", "max": 1.5},
    {"check": "equals"},  # with no reference: the case needs one
    {"check": "field", "field": "model", "equals": "m1"},
    {"check": "pii", "kinds": ["email", "email"]},
    {"check": "regex", "pattern": "x", "colour": "blue", "size": 3},
    {"size": 3, "check": "regex", "colour": "blue", "pattern": "x"},  # the same unknown keys, in another order
    {"id": "bad id!", "check": "refusal", "must": "refuse"},
    "refusal",
]


def reordered(rule: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    keys = list(rule)
    rng.shuffle(keys)
    return {key: rule[key] for key in keys}


def valid_case(i: int, rng: random.Random) -> dict[str, Any]:
    case: dict[str, Any] = {"id": f"case-{i:05d}", "input": f"Where is order ORD-{i:05d}?"}
    if rng.random() < 0.8:
        case["reference"] = f"Order ORD-{i:05d} ships today: tracking {i}."
    if rng.random() < 0.5:
        case["tags"] = rng.sample(["billing", "privacy", "shipping", "safety"], rng.randint(1, 2))
    if rng.random() < 0.5:
        case["slice"] = {"locale": rng.choice(["en-US", "de-DE"]), "group": f"g{rng.randrange(3)}"}
    rules: list[Any] = []
    for k, shared in enumerate(rng.sample(SHARED, rng.randint(0, 2))):
        rule = dict(shared)
        if rule["check"] in ("equals", "similar") and "reference" not in case:
            rule["value"] = "expected"
        if rng.random() < 0.2:
            rule = reordered(rule, rng)  # identical options, keys in another order
        if rng.random() < 0.1:
            rule = {"id": f"own-{k}", **rule, "message": f"m{i}", "mask": rng.choice(["full", "none"])}
        rules.append(rule)
    kind = rng.randrange(4)  # a rule written for this case alone
    if kind == 0:
        rules.append({"check": "contains", "value": f"case {i}"})
    elif kind == 1:
        rules.append({"check": "regex", "pattern": f"\\bT{i:05d}\\b", "ignore_case": True})
    elif kind == 2:
        rules.append({"check": "not_contains", "value": [f"ORD-{i:05d}", f"{i * 7919 % 10**6:06d}"]})
    case["expect"] = rules
    if rng.random() < 0.1:
        del case["expect"]
    return case


BREAKS = 22


def broken_line(i: int, rng: random.Random, kind: int | None = None) -> str:
    """One line broken in one of the :data:`BREAKS` ways a cases file can be (``kind``, else one at random)."""
    case = valid_case(i, rng)
    text = json.dumps(case, ensure_ascii=False)
    kind = rng.randrange(BREAKS) if kind is None else kind
    if kind == 0:
        return text[:-1]  # cut short
    if kind == 1:
        return text.replace('"input"', '"input": "again", "input"', 1)  # a key twice
    if kind == 2:
        return text.replace('"check"', '"check": "regex", "check"', 1) if '"check"' in text else text[:-2]
    if kind == 3:
        return json.dumps({**case, "expect": [{"check": "length", "max": 5}]}).replace("5", "NaN", 1)
    if kind == 4:
        return json.dumps({**case, "expect": [{"check": "length", "max": 10 ** 40}]})
    if kind == 5:
        return json.dumps({**case, "expect": [{"check": "length", "max": 2 ** 64}]})
    if kind == 6:
        return json.dumps({**case, "slice": {"deep": [[[[[[1]]]]]]}}).replace("[1]", "[" * 300 + "1" + "]" * 300)
    if kind == 7:
        return json.dumps({**case, "expect": [rng.choice(BROKEN_RULES)]})
    if kind == 8:
        return json.dumps({**case, "colour": "blue", "size": 2})
    if kind == 9:
        return json.dumps({**case, "id": "no spaces allowed"})
    if kind == 10:
        return json.dumps({**case, "input": ["not", "text"]})
    if kind == 11:
        return json.dumps({**case, "tags": None})
    if kind == 12:
        return json.dumps({**case, "slice": ["en-US"]})
    if kind == 13:
        return json.dumps({**case, "expect": {"check": "refusal", "must": "refuse"}})
    if kind == 14:
        return json.dumps({**case, "id": "case-00003"})  # the id of another case
    if kind == 15:
        return "[1, 2]"
    if kind == 16:
        return text.replace(":", "\\u003a", 1).replace('"input"', '"input": "x", "input"', 1)  # escaped, and twice
    if kind == 17:
        return json.dumps({**case, "slice": {"locale": "en-US", "locale ": "x"}}).replace('"locale "', '"locale"')
    if kind == 18:
        return json.dumps({**case, "reference": None})
    if kind == 19:
        return text.replace("{", '{"description": "a note", ', 1)
    if kind == 20:
        return '{"id": "case-x", "input": Infinity}'
    return "{broken"


def suite_lines(seed: int, n: int, broken: float) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        roll = rng.random()
        if roll < broken:
            lines.append(broken_line(i, rng))
        elif roll < broken + 0.02:
            lines.append(rng.choice(["", "   ", "\t"]))  # blank: skipped, the numbering goes on
        else:
            case = valid_case(i, rng)
            text = json.dumps(case, ensure_ascii=rng.random() < 0.5)
            if rng.random() < 0.05:
                text = text.replace("ORD-", "ORD\\u003a", 1)  # an escaped colon in a text: no key dropped
            lines.append(text)
    return lines


def outcome() -> tuple[list[str], list[Any], list[Any]]:
    """The errors of a load, and its cases as plain data (the rules' option keys in order), and which rules share
    a prepared object."""
    project, found = inspect_project("policies", "evals")
    cases, prepared, where = [], [], {}
    for suite in project.suites:
        for case in suite.cases:
            rules = case.expect
            cases.append((case.id, case.suite, case.input, case.reference, sorted(case.tags), list(case.slice.items()),
                          [(r.id, r.check, list(r.options.items()), r.message, r.json_path, r.mask, r.inner)
                           for r in rules]))
            for j, rule in enumerate(rules):
                where.setdefault(id(rule.prepared), []).append((case.id, j))
    prepared = sorted(map(tuple, where.values()))
    return [str(e) for e in found], cases, prepared


def slow_outcome(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[Any], list[Any]]:
    """:func:`outcome` with every fast path of a load switched off."""
    with monkeypatch.context() as patch:
        def unshared(objs: list[Any], judge: Any) -> Any:
            raise orjson.JSONEncodeError("the reference path")

        patch.setattr(cases_file, "_share", unshared)  # each rule shared alone, no quick yes, repeated_keys asked
        patch.setattr(case_rules.SharedRules, "cases", lambda *args: None)  # each case's rules by build()
        patch.setattr(case_rules, "_PLAIN_PATTERN", lambda pattern: None)  # every regex compiled by RE2
        patch.setattr(_Places, "claim_cases", _Places.claim_each)
        patch.setattr(schema, "_merged_by_type", lambda branches: None)
        patch.setattr(schema, "_FAST", OrderedDict())  # fast validators made again, without the merge
        return outcome()


@pytest.mark.parametrize(("seed", "n", "broken"), [(1, 400, 0.0), (2, 400, 0.005), (3, 300, 0.02), (4, 300, 0.05),
                                                   (5, 200, 0.3), (6, 60, 0.9), (7, 400, 0.01), (8, 250, 0.1)])
def test_a_generated_suite_loads_as_the_reference_paths_load_it(repo, monkeypatch, seed, n, broken):
    lines = ['{"id": "first", "input": "x"}', *suite_lines(seed, n, broken)]
    write_suite(repo, "big", lines, newline="\r\n" if seed % 2 else "\n")
    (repo / "evals" / "other.yaml").write_text("suite: other\ncases:\n  - id: first\n    input: hi\n", "utf-8")

    fast = outcome()

    assert fast == slow_outcome(monkeypatch)
    found, cases, _ = fast
    duplicate = "evals/other.yaml:3:9: $.cases[0].id: duplicate case id 'first' (also defined at evals/big.jsonl:1)"
    if broken == 0.0:  # the clean suite loads
        assert found == [duplicate] and len(cases) == sum(1 for line in lines if line.strip())
    else:  # the others say why not, and so do the reference paths
        assert len(found) > 1 and [case for case in cases if case[1] == "big"] == []


def test_a_clean_generated_suite_loads_the_same_cases_with_and_without_the_fast_paths(repo, monkeypatch):
    lines = suite_lines(11, 1500, 0.0)
    write_suite(repo, "big", lines)

    fast = outcome()

    assert fast[0] == [] and len(fast[1]) == sum(1 for line in lines if line.strip()) > 1400
    assert fast == slow_outcome(monkeypatch)
    assert any(len(group) > 50 for group in fast[2])  # a rule repeated in many cases is prepared once


@pytest.mark.parametrize("kind", range(BREAKS))
def test_each_way_of_breaking_a_line_is_reported_as_the_reference_paths_report_it(repo, monkeypatch, kind):
    rng = random.Random(kind)
    lines = [json.dumps(valid_case(i, rng)) for i in range(40)]
    lines[20] = broken_line(20, rng, kind)
    write_suite(repo, "big", lines)

    fast = outcome()

    assert fast == slow_outcome(monkeypatch)


def test_escaped_colons_hide_no_key_held_twice(repo, monkeypatch):
    """The ``:`` counted in the file stand for the keys read only with the ``\\u003a`` of its texts counted too."""
    clean = {"id": "a", "input": "x:y", "reference": "r"}
    lines = [json.dumps(clean).replace("x:y", "x\\u003ay"),  # one ':' more in the objects than in the text
             '{"id": "b", "input": "one", "input": "two"}']  # one key fewer: the counts would balance
    write_suite(repo, "big", lines)

    found = outcome()[0]

    assert found == ["evals/big.jsonl:2: duplicate key 'input' in a JSON object; expected each key once"]
    assert outcome() == slow_outcome(monkeypatch)


def test_a_file_without_a_key_twice_is_judged_without_a_look_at_each_line(repo, monkeypatch):
    write_suite(repo, "big", suite_lines(12, 200, 0.0))
    asked: list[int] = []
    monkeypatch.setattr(cases_file, "repeated_keys", lambda objs, lines, text: asked.append(len(objs)) or {})

    assert outcome()[0] == []
    assert asked == []  # the counts of the one pass were proof enough


def test_a_case_whose_shell_the_quick_yes_cannot_vouch_for_is_explained_by_the_schema(repo, monkeypatch):
    lines = [json.dumps(valid_case(i, random.Random(i))) for i in range(30)]
    lines[7] = json.dumps({"id": "case-00007", "input": "hi", "extra": 1})
    write_suite(repo, "big", lines)
    explained: list[int] = []
    original = cases_file.case_errors

    def counted(objs: list[Any], *args: Any, **kwargs: Any) -> Any:
        explained.append(len(objs))
        return original(objs, *args, **kwargs)

    monkeypatch.setattr(cases_file, "case_errors", counted)

    assert outcome()[0] == ["evals/big.jsonl:8: $.extra: unknown key 'extra'; expected one of: expect, id, input,"
                            " reference, slice, tags"]
    assert explained == [30]


def test_identical_expect_lists_are_one_object_and_their_rules_are_worked_out_once(repo):
    rules = [{"check": "refusal", "must": "refuse"}, {"check": "contains", "value": "ok"}]
    lines = [json.dumps({"id": f"c{i}", "input": "x", "expect": rules}) for i in range(50)]
    write_suite(repo, "big", lines)

    project = load_project("policies", "evals")

    cases = [project.cases[f"c{i}"] for i in range(50)]
    assert len({id(case.__dict__["_build_expect"][0]) for case in cases}) == 1
    assert [rule.json_path for rule in cases[49].expect] == ["$.cases[49].expect[0]", "$.cases[49].expect[1]"]
    assert cases[0].expect[1].prepared is cases[49].expect[1].prepared


# --- the pieces -------------------------------------------------------------------------------------------------

def test_the_state_of_a_lazily_built_case_holds_its_rules_and_not_their_builder(repo):
    write_suite(repo, "big", [json.dumps({"id": f"c{i}", "input": "x", "expect": [{"check": "length", "max": 9}]})
                              for i in range(2)])
    case = load_project("policies", "evals").cases["c1"]

    state = case.__getstate__()

    assert "_build_expect" not in state and state["expect"][0].json_path == "$.cases[1].expect[0]"
    twin = EvalCase.__new__(EvalCase)
    twin.__setstate__(state)
    assert twin == case and "_build_expect" not in vars(case)


_TOKENS = [*"AZaz09 _-.,:;'\"/@#%&=~!<>^$|", *(f"\\{c}" for c in "bBdDsSwW.-+*?()[]{}|^$\\/")]


def _re2_compiles(pattern: str) -> bool:
    return bool(_re2.RE2(pattern.encode(), _COMPILE_OPTIONS).ok())


def test_every_pattern_taken_for_plain_compiles_in_re2_with_and_without_ignore_case():
    rng = random.Random(5)
    patterns = ["".join(pair) for pair in product(_TOKENS, repeat=2)]
    patterns += ["".join(rng.choice(_TOKENS) for _ in range(rng.randint(1, 400)))[:1000] for _ in range(1500)]
    patterns += [(token * 1000)[:1000] for token in _TOKENS]
    for pattern in patterns:
        assert case_rules._PLAIN_PATTERN(pattern) is not None or pattern.endswith("\\"), pattern
        if case_rules._PLAIN_PATTERN(pattern) is not None:
            assert _re2_compiles(pattern) and _re2_compiles(f"(?i){pattern}"), pattern


@pytest.mark.parametrize("pattern", ["\\bT00001\\b", "a(b", "(?<=x)y", "[z-a]", "a{1001}", "x**", "\\", "a\\",
                                     "\\p{Greek}", "é", "\\ud800", "(?P<n>x)", "a" * 1000, "a" * 1001, "\\Qx\\E"])
@pytest.mark.parametrize("ignore_case", [False, True])
def test_certainly_prepares_says_of_a_regex_what_re2_says(monkeypatch, pattern, ignore_case):
    options = {"pattern": pattern, "ignore_case": ignore_case}
    quick = certainly_prepares("regex", options)
    monkeypatch.setattr(case_rules, "_PLAIN_PATTERN", lambda text: None)

    assert quick == certainly_prepares("regex", options)


_VALUES = ["", "a", [], [""], ["a"], ["a", "b"], ["a", 1], [["a"]], 5, 0.5, True, None, {}, {"a": "b"}]


@pytest.mark.parametrize("check", ["contains", "not_contains"])
def test_a_one_of_merged_by_type_judges_as_jsonschema_judges(check):
    checks = all_checks()
    fast, slow = schema.fast_validator("eval-cases", checks), schema.validator("eval-cases", checks)
    assert isinstance(fast, schema.FastCases)
    for value in _VALUES:
        cases = [{"id": "c", "input": "x", "expect": [{"check": check, "value": value}]}]
        assert fast.valid(cases) == slow.is_valid(cases), value


def test_a_one_of_is_merged_only_where_each_branch_is_of_its_own_type():
    merged = schema._plain_schema({"oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1}]},
                                  set())
    assert merged == {"type": ["string", "array"], "minLength": 1, "minItems": 1}
    for branches in ([{"type": "integer"}, {"type": "number"}],  # 1 is both
                     [{"type": "string"}, {"type": "string", "minLength": 2}],
                     [{"type": "string", "minItems": 1}, {"type": "array"}],  # an assertion of another type
                     [{"type": "string"}, {"enum": [1]}],
                     [{"type": ["string", "null"]}, {"type": "array"}]):
        assert "oneOf" in schema._plain_schema({"oneOf": branches}, set()), branches


def test_a_fast_claim_names_where_an_id_was_first_defined(repo):
    write_suite(repo, "big", [json.dumps({"id": f"c{i}", "input": "x"}) for i in range(5)])
    (repo / "evals" / "zz.yaml").write_text("suite: zz\ncases:\n  - id: c3\n    input: hi\n  - id: c9\n    input: hi\n",
                                           "utf-8")

    assert outcome()[0] == ["evals/zz.yaml:3:9: $.cases[0].id: duplicate case id 'c3' (also defined at"
                            " evals/big.jsonl:4)"]
