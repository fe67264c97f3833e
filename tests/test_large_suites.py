"""Large regression suites: tens of thousands of cases load through the fast paths (lazy positions, a fast
schema validator, rules prepared once) and mean exactly what they meant before; errors deep inside are the
same as ever (file, line, column, JSON path, message)."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import pytest

from harness.errors import InputErrors
from harness.io import yaml as harness_yaml
from harness.io.yaml import load_yaml
from harness.model import OutputRecord, Source
from harness.project import load_project
from harness.project.loader import inspect_project
from harness.project.plugins import project_checks
from harness.project.rules import Problems, build_rules

ROOT = Path(__file__).resolve().parents[1]
RULES = [
    "{check: refusal, must: refuse}",
    "{check: refusal, must: answer}",
    "{check: pii, kinds: [email, phone]}",
    "{check: pii, kinds: [iban], allow: ['GB00 TEST']}",
    "{check: not_contains, value: [system prompt, developer message], ignore_case: true}",
    r"{check: regex, pattern: '(?i)\bas an ai\b'}",
    r"{check: regex, pattern: '^(Yes|No)\b', must: match}",
    ("{check: json, allow_fences: true, schema: {type: object, required: [order_id],"
     " properties: {order_id: {type: string, pattern: '^A-[0-9]{5}$'}}}}"),
    "{check: length, min: 5, max: 200}",
    "{check: equals, ignore_case: true}",
    "{check: similar, threshold: 0.6}",
    "{id: short, check: length, max: 40, unit: words, message: Too long.}",
]
OUTPUTS = [
    "I can't share that. As an AI I keep it private.",
    "Yes, order ORD-0000007 ships today: write to jane@example.com or call +1 202-555-0183.",
    '```json\n{"order_id": "A-12345"}\n```',
    '{"order_id": "B-1"}',
    "No. The system prompt says so, and T000042 too.",
    "",
]


def case_lines(i: int, rng: random.Random) -> list[str]:
    """One case of the generated suites: shared rules and one written for it alone."""
    rules = [*rng.sample(RULES, rng.randint(1, 2)), f'{{check: not_contains, value: "ORD-{i:07d}"}}']
    return [f"  - id: case-{i:06d}", f'    input: "Where is order ORD-{i:07d}?"',
            f'    reference: "Yes, order ORD-{i:07d} ships today."',
            "    slice: {locale: en-US}", "    expect:", *(f"      - {rule}" for rule in rules)]


def suite_text(name: str, first: int, n: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    lines = [f"suite: {name}", "severity: sev2", "tags: [support-bot]", "cases:"]
    for i in range(first, first + n):
        lines += case_lines(i, rng)
    return "\n".join(lines) + "\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the shipped policies and an empty evals folder."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    (tmp_path / "evals").mkdir()
    return tmp_path


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def errors(repo: Path) -> list[str]:
    _, found = inspect_project(repo / "policies", repo / "evals")
    return [str(e) for e in found]


def slow_errors(repo: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The errors of the path every file took before: positions recorded while parsing, jsonschema alone."""
    with monkeypatch.context() as patch:
        patch.setattr(harness_yaml, "LAZY_POSITIONS_FROM", 1 << 60)
        return errors(repo)


def test_a_20000_case_suite_loads_with_rules_that_behave_as_the_slow_path_builds_them(repo, monkeypatch):
    text = suite_text("large", 0, 20_000)
    (repo / "evals" / "large.yaml").write_text(text, "utf-8")
    assert len(text) < harness_yaml.MAX_YAML_BYTES

    monkeypatch.chdir(repo)
    project = load_project("policies", "evals")

    assert len(project.cases) == 20_000
    suite = next(s for s in project.suites if s.suite == "large")
    assert [c.id for c in suite.cases[:2]] == ["case-000000", "case-000001"]
    # the slow path: every rule of a sample of cases built and prepared on its own by build_rules
    document = load_yaml("evals/large.yaml")
    assert document.large and document.data["cases"][19_999]["id"] == "case-019999"
    checks = project_checks((), Path("policies"), lambda message, i: None)
    shared_prepared = 0
    for i in [*random.Random(3).sample(range(20_000), 60), 0, 19_999]:
        case = project.cases[f"case-{i:06d}"]
        problems = Problems(document)
        slow = build_rules(document.data["cases"][i]["expect"], ("cases", i, "expect"), checks, problems)
        assert problems.errors == []
        assert case.expect == slow  # ids, checks, options, messages, masks and json paths
        assert [r.json_path for r in case.expect] == [f"$.cases[{i}].expect[{j}]" for j in range(len(slow))]
        for fast_rule, slow_rule in zip(case.expect, slow, strict=True):
            assert fast_rule.impl is slow_rule.impl  # the registered check itself, not a copy
            for n, output in enumerate(OUTPUTS):
                record = OutputRecord(case.id, output, n + 1, {})
                assert (list(fast_rule.impl.fn(fast_rule.prepared, record, case))
                        == list(slow_rule.impl.fn(slow_rule.prepared, record, case))), (i, fast_rule.id, output)
        shared_prepared += sum(1 for r in case.expect if r.check == "refusal")
    assert shared_prepared  # the sample holds rules that are shared across cases
    refusals = [r for c in suite.cases for r in c.expect if r.check == "refusal" and r.options["must"] == "refuse"]
    assert len(refusals) > 1000 and len({id(r.prepared) for r in refusals}) == 1  # prepared once
    per_case = [r for c in suite.cases for r in c.expect if r.check == "not_contains"
                and str(r.options["value"]).startswith("ORD-")]
    assert len({id(r.prepared) for r in per_case}) == len(per_case) == 20_000  # each its own


def test_errors_deep_in_a_large_suite_are_those_of_the_slow_path(repo, monkeypatch):
    text = suite_text("large", 0, 600)
    assert len(text) > harness_yaml.LAZY_POSITIONS_FROM
    broken = (text
              .replace("  - id: case-000400\n", "  - id: case-000400\n    colour: blue\n")
              .replace('    input: "Where is order ORD-0000420?"', "    input: [not, text]")
              .replace('{check: not_contains, value: "ORD-0000440"}', "{check: regex, pattern: '(?<=x)y'}")
              .replace('{check: not_contains, value: "ORD-0000460"}', "{check: length, most: 3}")
              .replace('{check: not_contains, value: "ORD-0000480"}', "{check: shout}")
              .replace("  - id: case-000500\n", "  - id: case-000010\n")
              .replace('{check: not_contains, value: "ORD-0000520"}', "{check: equals}")
              .replace('    reference: "Yes, order ORD-0000520 ships today."\n', ""))
    path = repo / "evals" / "large.yaml"
    path.write_text(broken, "utf-8")
    monkeypatch.chdir(repo)

    found = errors(repo)

    assert found == slow_errors(repo, monkeypatch)
    shown = "evals/large.yaml"
    colour = line_of(broken, "    colour: blue")
    text_input = line_of(broken, "input: [not, text]")
    lookbehind = line_of(broken, "pattern: '(?<=x)y'")
    most = line_of(broken, "{check: length, most: 3}")
    shout = line_of(broken, "{check: shout}")
    duplicate = broken.count("\n", 0, broken.rindex("  - id: case-000010")) + 1
    first = line_of(broken, "  - id: case-000010")
    equals = line_of(broken, "{check: equals}")
    assert f"{shown}:{colour}:5: $.cases[400].colour: unknown key 'colour'; expected one of: expect, id, input," \
           " reference, slice, tags" in found
    assert f"{shown}:{text_input}:12: $.cases[420].input: expected a string, got a list" in found
    assert any(e.startswith(f"{shown}:{lookbehind}:") and "$.cases[440].expect[" in e and "invalid RE2 pattern"
               in e for e in found)
    assert any(e.startswith(f"{shown}:{most}:") and "unknown key 'most'" in e for e in found)
    assert any(e.startswith(f"{shown}:{shout}:") and "'shout' is not one of" in e for e in found), found
    assert f"{shown}:{duplicate}:9: $.cases[500].id: duplicate case id 'case-000010' (also defined at" \
           f" {shown}:{first})" in found
    assert any(e.startswith(f"{shown}:{equals}:") and "`equals` needs a `value` or the case's `reference`" in e
               for e in found)
    with pytest.raises(InputErrors) as raised:
        load_project("policies", "evals")
    assert [str(e) for e in raised.value.errors] == found


def test_duplicate_case_ids_across_large_suites_name_the_first_place(repo, monkeypatch):
    first = suite_text("part-a", 0, 400)
    second = suite_text("part-b", 399, 400, seed=8)  # case-000399 is in both
    assert len(first) > harness_yaml.LAZY_POSITIONS_FROM
    (repo / "evals" / "a.yaml").write_text(first, "utf-8")
    (repo / "evals" / "b.yaml").write_text(second.replace("suite: part-b", "suite: part-a"), "utf-8")
    monkeypatch.chdir(repo)

    found = errors(repo)

    assert found == slow_errors(repo, monkeypatch)
    assert found == [
        "evals/b.yaml:1:8: $.suite: duplicate suite 'part-a' (also defined in evals/a.yaml:1)",
        f"evals/b.yaml:5:9: $.cases[0].id: duplicate case id 'case-000399' (also defined at"
        f" evals/a.yaml:{line_of(first, 'id: case-000399')})",
    ]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("slice: {", "slice: &anchor {", "YAML anchor &anchor is not accepted (anchors and aliases can expand a small"
                                     " file into gigabytes); write the value out"),
    ("reference: ", "reference: !!str ", "YAML tag !!str is not accepted; expected a plain value (quote it to make"
                                         " it text)"),
    ("slice: {", "input: again\n    slice: {", "$.cases[300].input: duplicate key 'input' (first defined at line"
                                              " {first})"),
    ("slice: {", "<<: {input: merged}\n    slice: {", "$.cases[300]: YAML merge keys (<<) are not supported; write"
                                                    " the keys out"),
    ("slice: {", "slice: {weight: .nan, ", "$.cases[300].slice.weight: expected a finite number, got .nan"),
], ids=["anchor", "tag", "duplicate-key", "merge-key", "nan"])
def test_yaml_refusals_deep_in_a_large_file_are_located_as_before(repo, monkeypatch, old, new, expected):
    text = suite_text("large", 0, 400)
    assert len(text) > harness_yaml.LAZY_POSITIONS_FROM
    start = text.index("  - id: case-000300\n")
    end = text.index("  - id: case-000301\n")
    broken = text[:start] + text[start:end].replace(old, new, 1) + text[end:]
    (repo / "evals" / "large.yaml").write_text(broken, "utf-8")
    monkeypatch.chdir(repo)

    found = errors(repo)

    assert found == slow_errors(repo, monkeypatch)
    line = broken.count("\n", 0, broken.index(new.split("\n")[0], start)) + 1  # the line of the offending text
    message = expected.format(first=line_of(broken, '    input: "Where is order ORD-0000300?"'))
    assert any(e.startswith(f"evals/large.yaml:{line}:") and e.endswith(message) for e in found), (line, found)


def test_a_large_suite_that_the_fast_validator_refuses_is_explained_by_jsonschema(repo, monkeypatch):
    """A value jsonschema accepts and the quick check does not (``$`` before a final newline) still loads."""
    text = suite_text("large", 0, 400).replace("suite: large", 'suite: "large\\n"')
    (repo / "evals" / "large.yaml").write_text(text, "utf-8")
    monkeypatch.chdir(repo)

    project = load_project("policies", "evals")

    assert [s.suite for s in project.suites if s.suite.startswith("large")] == ["large\n"]
    assert len(project.cases) == 400


# --- a suite whose cases are in a JSON Lines file (cases_file) ---------------------------------------------------

def jsonl_of(yaml_text: str) -> str:
    """The cases of a generated YAML suite as JSON Lines, one case object per line."""
    cases = harness_yaml.parse_yaml(yaml_text, "generated").data["cases"]
    return "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases)


def write_jsonl_suite(repo: Path, name: str, cases: str, header: str = "severity: sev2\ntags: [support-bot]\n"
                      ) -> tuple[Path, Path]:
    suite = repo / "evals" / f"{name}.yaml"
    suite.write_text(f"suite: {name}\n{header}cases_file: {name}.jsonl\n", "utf-8")
    (repo / "evals" / f"{name}.jsonl").write_bytes(cases.encode("utf-8"))
    return suite, repo / "evals" / f"{name}.jsonl"


def test_a_20000_case_jsonl_suite_holds_the_same_cases_as_the_yaml_one(repo, monkeypatch):
    text = suite_text("large", 0, 20_000)
    monkeypatch.chdir(repo)
    (repo / "evals" / "large.yaml").write_text(text, "utf-8")
    from_yaml = load_project("policies", "evals")
    (repo / "evals" / "large.yaml").unlink()
    suite_file, cases_file = write_jsonl_suite(repo, "large", jsonl_of(text))

    project = load_project("policies", "evals")

    suite = next(s for s in project.suites if s.suite == "large")
    assert len(suite.cases) == 20_000
    assert suite.cases == next(s for s in from_yaml.suites if s.suite == "large").cases  # rules, ids, paths too
    assert suite.tags == frozenset({"support-bot"}) and suite.severity == "sev2"
    yaml_sha = hashlib.sha256(suite_file.read_bytes()).hexdigest()
    cases_sha = hashlib.sha256(cases_file.read_bytes()).hexdigest()
    combined = hashlib.sha256(f"{yaml_sha}\nlarge.jsonl\n{cases_sha}\n".encode()).hexdigest()
    assert suite.source == Source("evals/large.yaml", combined)  # reports and the decision log cover both files
    assert ("eval:large", "0", Source("evals/large.yaml", combined)) in project.sources
    refusals = [r for c in suite.cases for r in c.expect if r.check == "refusal" and r.options["must"] == "refuse"]
    assert len(refusals) > 1000 and len({id(r.prepared) for r in refusals}) == 1  # prepared once
    for n, output in enumerate(OUTPUTS):  # and they judge as the YAML-built ones do
        for case in suite.cases[::997]:
            twin = from_yaml.cases[case.id]
            record = OutputRecord(case.id, output, n + 1, {})
            assert [list(r.impl.fn(r.prepared, record, case)) for r in case.expect] == \
                   [list(r.impl.fn(r.prepared, record, twin)) for r in twin.expect]

    cases_file.write_bytes(cases_file.read_bytes().replace(b"ORD-0019999", b"ORD-0019998"))
    assert load_project("policies", "evals").suites[0].source.sha256 != combined  # an edit of the cases shows


def test_errors_in_a_jsonl_cases_file_name_its_line_and_the_path_within_the_case(repo, monkeypatch):
    lines = jsonl_of(suite_text("big", 0, 3_000)).splitlines()
    first_of_10 = 11  # the line of case-000010

    def at(n: int, new: str) -> None:
        lines[n - 1] = new

    at(1001, lines[1000].replace('"input"', '"colour": "blue", "input"'))
    at(1002, lines[1001].replace('"id": "case-001001"', '"id": "case-001001", "id": "again"'))
    at(1003, '{"id": "case-001002", "input": NaN}')
    at(1004, '{"id": "case-001003", "input": "hi", "expect": [{"check": "length", "max": 1e999}]}')
    at(1005, '{"id": "case-001004", "input": "hi"')
    at(1006, '{"id": "case-001005", "input": ["not", "text"]}')
    at(1007, '{"id": "case-001006", "input": "hi", "expect": [{"check": "regex", "pattern": "(?<=x)y"}]}')
    at(1008, '{"id": "case-001007", "input": "hi", "expect": [{"check": "shout"}]}')
    at(1009, '{"id": "case-001008", "input": "hi", "expect": [{"check": "equals"}]}')
    at(1010, '{"id": "case-000010", "input": "hi"}')
    at(1011, '[1, 2]')
    lines.insert(1500, "   ")  # a blank line is no case, and no error: the lines after it keep their numbers
    write_jsonl_suite(repo, "big", "\n".join(lines) + "\n")
    (repo / "evals" / "other.yaml").write_text("suite: other\ncases:\n  - id: case-002998\n    input: hi\n", "utf-8")
    monkeypatch.chdir(repo)

    found = errors(repo)

    shown = "evals/big.jsonl"
    assert found == [
        f"{shown}:1001: $.colour: unknown key 'colour'; expected one of: expect, id, input, reference, slice, tags",
        f"{shown}:1002: duplicate key 'id' in a JSON object; expected each key once",
        f"{shown}:1003: NaN is not a JSON number; expected a finite number",
        f"{shown}:1004: '1e999' is too large for a number; expected a finite number",
        f"{shown}:1005: invalid JSON: unexpected end of data: line 1 column 36 (char 35)",
        f"{shown}:1006: $.input: expected a string, got a list",
        f"{shown}:1008: $.expect[0].check: 'shout' is not one of {sorted_per_output()}",
        f"{shown}:1011: $: expected a mapping, got a list",
        f"{shown}:1010: $.id: duplicate case id 'case-000010' (also defined at {shown}:{first_of_10})",
        f"{shown}:1007: $.expect[0].pattern: invalid RE2 pattern '(?<=x)y': invalid perl operator: (?<= (look-behinds"
        " are not supported in RE2 syntax)",
        f"{shown}:1009: $.expect[0]: `equals` needs a `value` or the case's `reference`",
        f"evals/other.yaml:3:9: $.cases[0].id: duplicate case id 'case-002998' (also defined at {shown}:3000)",
    ]
    with pytest.raises(InputErrors) as raised:
        load_project("policies", "evals")
    assert [str(e) for e in raised.value.errors] == found


def test_a_cases_file_with_more_broken_cases_than_are_explained_is_refused_with_the_first_20(repo, monkeypatch):
    broken = {"check": "field", "field": "model", "equals": "m1"}  # `path` misspelt: its check cannot prepare it
    lines = [json.dumps({"id": f"c{i}", "input": "hi", "expect": [broken]}) for i in range(30)]
    write_jsonl_suite(repo, "big", "\n".join(lines) + "\n")
    monkeypatch.chdir(repo)

    found = errors(repo)

    assert len(found) == 41
    assert found[:2] == ["evals/big.jsonl:1: $.expect[0]: 'path' is a required property",
                         "evals/big.jsonl:1: $.expect[0].field: unknown key 'field'; expected one of: check,"
                         " description, equals, exists, id, mask, max, message, min, not_equals, one_of, path,"
                         " pattern"]
    assert found[38].startswith("evals/big.jsonl:20: ")
    assert found[40] == "evals/big.jsonl: stopped after 20 broken lines"
    with pytest.raises(InputErrors) as raised:  # not a KeyError from the check of a case no one validated
        load_project("policies", "evals")
    assert [str(e) for e in raised.value.errors] == found


def sorted_per_output() -> list[str]:
    from harness.checks import all_checks

    return sorted(name for name, check in all_checks().items() if check.level == "output")


def test_reading_a_cases_file_stops_after_20_broken_lines(repo, monkeypatch):
    lines = jsonl_of(suite_text("big", 0, 100)).splitlines()
    for n in range(10, 60, 2):
        lines[n] = "{broken"
    write_jsonl_suite(repo, "big", "\n".join(lines))
    monkeypatch.chdir(repo)

    found = errors(repo)

    assert len(found) == 21
    assert found[0] == ("evals/big.jsonl:11: invalid JSON: unexpected character, expected a string key: line 1"
                        " column 2 (char 1)")
    assert found[19].startswith("evals/big.jsonl:49: ")
    assert found[20] == "evals/big.jsonl: stopped after 20 broken lines"


@pytest.mark.parametrize(("suite", "cases", "expected"), [
    ("cases_file: big.jsonl\ncases: [{id: x, input: y}]\n", None,
     "evals/big.yaml:2:1: $.cases_file: `cases`, `cases_file` exclude each other; expected only one of them"),
    ("owner: a@example.com\n", None, "evals/big.yaml:1:1: $: expected `cases` or `cases_file`, got neither"),
    ("cases_file: ../big.jsonl\n", None, "evals/big.yaml:2:13: $.cases_file: '../big.jsonl' has the wrong form;"
                                         " use a path relative to this file, ending in .jsonl, without .. (like"
                                         " cases.jsonl)"),
    ("cases_file: /etc/big.jsonl\n", None, "evals/big.yaml:2:13: $.cases_file: '/etc/big.jsonl' has the wrong"
                                           " form; use a path relative to this file, ending in .jsonl, without .."
                                           " (like cases.jsonl)"),
    ("cases_file: gone.jsonl\n", None, "evals/big.yaml:2:13: $.cases_file: cases file not found: evals/gone.jsonl"),
    ("cases_file: big.jsonl\n", "\n\n", "evals/big.jsonl:1: the cases file holds no case; expected one JSON object"
                                        " per line"),
    ("cases_file: big.jsonl\n", '{"id": "a", "input": "\\ud800"}\n',
     "evals/big.jsonl:1: invalid JSON: no low surrogate in string: line 1 column 23 (char 22)"),
    ("cases_file: big.jsonl\n", b'{"id": "a", "input": "\xff"}\n',
     "evals/big.jsonl:1: invalid JSON: str is not valid UTF-8: surrogates not allowed: line 1 column 1 (char 0)"),
], ids=["both", "neither", "dot-dot", "absolute", "missing", "empty", "surrogate", "not-utf8"])
def test_a_cases_file_that_cannot_be_used_is_named(repo, monkeypatch, suite, cases, expected):
    (repo / "evals" / "big.yaml").write_text(f"suite: big\n{suite}", "utf-8")
    if cases is not None:
        (repo / "evals" / "big.jsonl").write_bytes(cases if isinstance(cases, bytes) else cases.encode("utf-8"))
    monkeypatch.chdir(repo)

    assert errors(repo) == [expected]


def test_validate_and_the_eval_schema_know_cases_files(repo, monkeypatch, capsys):
    from harness.cli import main

    write_jsonl_suite(repo, "big", jsonl_of(suite_text("big", 0, 50)))
    monkeypatch.chdir(repo)

    assert main(["validate", "--policies", "policies", "--evals", "evals"]) == 0
    assert "1 eval suites (50 cases)" in capsys.readouterr().out
    assert main(["schema", "eval", "--policies", "policies"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "JSON Lines" in schema["properties"]["cases_file"]["description"]
    assert schema["$defs"]["case"]["required"] == ["id", "input"]


# --- the cases of a suite build their rules when first judged -------------------------------------------------

def built(suite) -> list[str]:
    """The ids of the cases whose rules have been built (the loader leaves them to the first reading)."""
    return [case.id for case in suite.cases if "expect" in vars(case)]


def test_judging_a_few_outputs_of_a_large_suite_builds_the_rules_of_those_cases_only(repo, monkeypatch):
    from harness import evaluate
    from harness.model import Outputs

    write_jsonl_suite(repo, "big", jsonl_of(suite_text("big", 0, 3_000)))
    monkeypatch.chdir(repo)
    project = load_project("policies", "evals")
    suite = next(s for s in project.suites if s.suite == "big")
    assert len(suite.cases) == 3_000 and built(suite) == []
    picked = ["case-000007", "case-001500", "case-002999"]
    records = [OutputRecord(case_id, output, n + 1, {}) for n, (case_id, output) in
               enumerate(zip(picked * 2, OUTPUTS, strict=True))]
    outputs = Outputs("out.jsonl", "0" * 64, records)

    lazy = evaluate(project, outputs, today="2026-06-01", require_all_cases=False)

    assert built(suite) == picked
    eager_project = load_project("policies", "evals")
    for case in next(s for s in eager_project.suites if s.suite == "big").cases:
        assert case.expect  # every case's rules built before judging: the results are the same
    eager = evaluate(eager_project, outputs, today="2026-06-01", require_all_cases=False)
    assert lazy.results == eager.results and lazy.results
    assert [(o.policy.id, o.status, o.checked, o.failed) for o in lazy.outcomes] == \
           [(o.policy.id, o.status, o.checked, o.failed) for o in eager.outcomes]


MIXED = [  # rules of one cases file: the same rule written twice (keys in another order, other ids and messages),
    # texts and patterns of one case alone, rules prepared at once (a text too long to wait, a field check)
    {"check": "contains", "value": "case", "ignore_case": True},
    {"ignore_case": True, "value": "case", "check": "contains"},
    {"id": "mine", "check": "contains", "value": "case", "ignore_case": True, "message": "Say case.", "mask": "full"},
    {"check": "not_contains", "value": ["x" * 255, "\x00\u00e9*" * 60], "ignore_case": True},
    {"check": "not_contains", "value": "\x00" * 300},
    {"check": "regex", "pattern": r"(?i)\bas an ai\b"},
    {"check": "regex", "pattern": r"\bT{i}\b", "ignore_case": True, "description": "its own"},
    {"check": "regex", "pattern": "^(Yes|No)", "must": "match", "fold": True},
    {"check": "field", "path": "model", "equals": "m1"},
    {"check": "equals", "ignore_case": True},
    {"check": "pii", "kinds": ["email"]},
]


def mixed_cases(n: int) -> list[dict]:
    rng = random.Random(11)
    cases = []
    for i in range(n):
        rules = [json.loads(json.dumps(rule).replace("{i}", str(i))) for rule in rng.sample(MIXED, rng.randint(1, 3))]
        case = {"id": f"m-{i}", "input": f"Question {i}?", "expect": rules}
        if i % 3:
            case["reference"] = f"Answer T{i}."
        else:
            case["expect"] = [r for r in rules if r["check"] != "equals"]
        if i % 4 == 1:
            case["tags"] = ["privacy", "billing"] if i % 8 == 1 else ["billing"]
        if i % 5 == 2:
            case["slice"] = {"locale": "en-US", "group": f"g{i % 2}"}
        cases.append(case)
    return cases


def test_the_rules_of_a_cases_file_are_those_built_one_by_one(repo, monkeypatch):
    cases = mixed_cases(600)
    write_jsonl_suite(repo, "mixed", "".join(json.dumps(c) + "\n" for c in cases))
    monkeypatch.chdir(repo)

    project = load_project("policies", "evals")

    suite = next(s for s in project.suites if s.suite == "mixed")
    checks = project_checks((), Path("policies"), lambda message, i: None)
    document = load_yaml("evals/mixed.yaml")
    from types import MappingProxyType

    from harness.model import EvalCase

    assert suite.rule_ids() == {r.id for c in suite.cases for r in c.expect}  # known before they were built
    assert suite.checks() == {"contains", "not_contains", "regex", "field", "equals", "pii"}
    for i, (case, raw) in enumerate(zip(suite.cases, cases, strict=True)):
        problems = Problems(document)
        slow = build_rules(raw["expect"], ("cases", i, "expect"), checks, problems)
        assert problems.errors == []
        assert case == EvalCase(raw["id"], "mixed", raw["input"], raw.get("reference"),
                                frozenset({"support-bot", *raw.get("tags", ())}),
                                MappingProxyType(raw.get("slice", {})), slow)
        for fast_rule, slow_rule in zip(case.expect, slow, strict=True):
            assert fast_rule.impl is slow_rule.impl and fast_rule.mask == slow_rule.mask
            for n, output in enumerate([*OUTPUTS, f"Yes: case T{i}", "x" * 255 + " CASE"]):
                record = OutputRecord(case.id, output, n + 1, {"model": "m1" if n % 2 else "m2"})
                assert (list(fast_rule.impl.fn(fast_rule.prepared, record, case))
                        == list(slow_rule.impl.fn(slow_rule.prepared, record, case))), (i, fast_rule.id, output)
    contains = [r for c in suite.cases for r in c.expect if r.check == "contains"]
    assert len(contains) > 100 and len({id(r.prepared) for r in contains}) == 1  # written three ways, prepared once
    assert {r.id for r in contains} == {"contains", "contains#2", "contains#3", "mine"}  # as build_rules names them


@pytest.mark.parametrize("pattern", [r"\pL{1000}", r"[\p{L}\p{N}]{1000}"])
def test_a_pattern_too_large_for_re2_in_a_cases_file_is_reported_when_it_loads(repo, monkeypatch, pattern):
    cases = [{"id": f"c{i}", "input": "hi", "expect": [{"check": "regex", "pattern": f"\\bT{i}\\b"}]}
             for i in range(300)]
    cases[200]["expect"].append({"check": "regex", "pattern": pattern})
    write_jsonl_suite(repo, "big", "".join(json.dumps(c) + "\n" for c in cases))
    monkeypatch.chdir(repo)

    assert errors(repo) == [f"evals/big.jsonl:201: $.expect[1].pattern: invalid RE2 pattern {pattern!r}: pattern"
                            " too large - compile failed"]


@pytest.mark.parametrize("case", [
    {"id": "a", "input": "b"},
    {"id": "a\n", "input": "b"},  # jsonschema's `$` (re.search) accepts a final newline
    {"id": "-a", "input": "b"},
    {"id": "a", "input": 1},
    {"id": "a", "input": "b", "colour": "blue"},
    {"input": "b"},
    {"id": "a", "input": "b", "reference": None},
    {"id": "a", "input": "b", "tags": ["x", "x"]},
    {"id": "a", "input": "b", "tags": [""]},
    {"id": "a", "input": "b", "slice": {"k": [1]}},
    {"id": "a", "input": "b", "slice": {"k": 1.5, "j": True}},
    {"id": "a", "input": "b", "expect": [{"check": "contains"}]},
    {"id": "a", "input": "b", "expect": [{"check": "rate", "of": {"check": "pii"}}]},
    {"id": "a", "input": "b", "expect": [{"check": "contains", "value": ["x", ""]}]},
    {"id": "a", "input": "b", "expect": [{"check": "contains", "value": "x"}, ["contains"]]},
    {"id": "a", "input": "b", "expect": {"check": "contains", "value": "x"}},
], ids=lambda case: json.dumps(case)[:60])
def test_the_quick_yes_for_the_cases_of_a_cases_file_is_never_a_no_of_jsonschema(case):
    from harness.checks import all_checks
    from harness.io.schema import fast_validator, validator

    checks = dict(all_checks())
    quick = fast_validator("eval-cases", checks)
    assert quick is not None
    explained = list(validator("eval-cases", checks).iter_errors([case]))
    assert quick.valid([case]) is not bool(explained)  # here, every one the same answer
