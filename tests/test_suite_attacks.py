"""Hostile suites: a cases_file named or written to mislead, schema and YAML fast paths that must mean what the
slow ones mean, prepared rules shared across cases, and literal texts RE2 cannot or must not read as patterns."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from harness.checks import all_checks
from harness.cli import main
from harness.io import yaml as harness_yaml
from harness.io.schema import case_errors, fast_validator, validator
from harness.model import OutputRecord
from harness.project import load_project
from harness.project.loader import inspect_project

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(policies_only: Path) -> Path:
    """A copy of the shipped policies, an empty evals folder, and the working directory there (conftest)."""
    return policies_only


def suite(repo: Path, cases: bytes | str, name: str = "s", cases_file: str | None = None) -> Path:
    """Suite ``name`` naming ``cases_file`` (default ``<name>.jsonl``), which gets ``cases``; the cases file's path."""
    written = cases_file or f"{name}.jsonl"
    (repo / "evals" / f"{name}.yaml").write_text(f"suite: {name}\ncases_file: {json.dumps(written)}\n", "utf-8")
    path = repo / "evals" / f"{name}.jsonl"
    path.write_bytes(cases if isinstance(cases, bytes) else cases.encode("utf-8"))
    return path


def errors() -> list[str]:
    _, found = inspect_project("policies", "evals")
    return [str(e) for e in found]


def validate(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", "--policies", "policies", "--evals", "evals"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# --- the cases file: lines, paths ----------------------------------------------------------------------------

def test_lines_each_broken_that_join_into_valid_json_are_refused_line_by_line(repo):
    """Two halves of an object on two lines, and two objects on a third: as one text ``[l1,l2,l3]`` they read as
    three cases; as JSON Lines every line is broken."""
    suite(repo, '{"id": "a", "input": "x"\n"tags": []}\n{"id": "c", "input": "z"},{"id": "d", "input": "w"}\n')

    assert errors() == [
        "evals/s.jsonl:1: invalid JSON: unexpected end of data: line 1 column 25 (char 24)",
        "evals/s.jsonl:2: invalid JSON: unexpected content after document: line 1 column 7 (char 6)",
        "evals/s.jsonl:3: invalid JSON: unexpected content after document: line 1 column 26 (char 25)",
    ]


def test_an_outputs_file_named_as_the_cases_file_is_explained_for_its_first_20_broken_lines_only(repo):
    record = {"case_id": "x", "output": "hello", "model": "m", "latency_ms": 3}
    suite(repo, "".join(json.dumps({**record, "case_id": f"c{i}"}) + "\n" for i in range(3000)))

    found = errors()

    assert found[-1] == "evals/s.jsonl: stopped after 20 broken lines"
    assert {e.split(":")[1] for e in found[:-1]} == {str(n) for n in range(1, 21)}
    assert "evals/s.jsonl:1: $.case_id: unknown key 'case_id'; expected one of: expect, id, input, reference," \
           " slice, tags" in found
    # the explaining stops there: jsonschema is not run over the 2,980 lines past it
    cases = [dict(record) for _ in range(3000)]
    assert sorted(case_errors(cases, all_checks(), limit=20)) == list(range(20))
    assert len(case_errors(cases[:30], all_checks())) == 30


def test_a_control_character_in_the_cases_file_name_is_an_input_error(repo, capsys):
    (repo / "evals" / "s.yaml").write_text('suite: s\ncases_file: "s\\0.jsonl"\n', "utf-8")

    code, out = validate(capsys)

    assert code == 4
    assert "evals/s.yaml:2:13: $.cases_file: 's\\x00.jsonl' holds a control character; expected a file name like" \
           " cases.jsonl" in out
    assert "internal error" not in out


@pytest.mark.parametrize("kind", ["fifo", "directory", "device", "loop", "dangling"])
def test_a_cases_file_that_is_no_regular_file_is_named_and_never_read(repo, capsys, kind):
    path = repo / "evals" / "s.jsonl"
    suite(repo, "")
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)  # read, it would block forever
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        path.symlink_to("/dev/zero")  # read, it would never end
    elif kind == "loop":
        path.symlink_to("s.jsonl")
    else:
        path.symlink_to("gone.jsonl")
    expected = {
        "fifo": "the cases file is not a regular file (a FIFO, a device or a directory); expected a .jsonl file",
        "directory": "the cases file is not a regular file (a FIFO, a device or a directory); expected a .jsonl file",
        "device": "the cases file is not a regular file (a FIFO, a device or a directory); expected a .jsonl file",
        "loop": "cannot read the cases file evals/s.jsonl: Too many levels of symbolic links",
        "dangling": "cases file not found: evals/s.jsonl",
    }[kind]

    code, out = validate(capsys)

    assert code == 4
    assert f"evals/s.yaml:2:13: $.cases_file: {expected}\n" in out


def test_hostile_bytes_in_a_cases_file_are_refused_at_their_line(repo):
    suite(repo, b'\xef\xbb\xbf{"id": "a", "input": "x"}\n'  # a BOM
                b'{"id": "b", "input": "x\x00y"}\n'  # a raw NUL in a string
                b'{"id": "c", "input": "x", "input": "y"}\n'  # a key twice: orjson would keep the last
                b'{"id": "d", "input": "x", "expect": [{"check": "length", "max": NaN}]}\n'
                b'\n\r\n   \n'  # blank lines (one ended by CRLF): skipped, the numbering goes on
                b'{"id": "e", "input": "x"}\r\n')  # CRLF: JSON whitespace, a case

    assert errors() == [
        "evals/s.jsonl:1: invalid JSON: UTF-8 byte order mark (BOM) is not supported: line 1 column 1 (char 0)",
        "evals/s.jsonl:2: invalid JSON: unexpected control character in string: line 1 column 24 (char 23)",
        "evals/s.jsonl:3: duplicate key 'input' in a JSON object; expected each key once",
        "evals/s.jsonl:4: NaN is not a JSON number; expected a finite number",
    ]


def test_a_million_blank_lines_around_one_case_are_skipped(repo):
    suite(repo, "\n" * 500_000 + '{"id": "only", "input": "x"}\n' + "\r\n" * 500_000)

    project = load_project("policies", "evals")

    assert list(project.cases) == ["only"]


def test_a_cases_file_named_by_two_suites_says_so(repo):
    suite(repo, '{"id": "a", "input": "x"}\n')
    (repo / "evals" / "t.yaml").write_text("suite: t\ncases_file: s.jsonl\n", "utf-8")

    found = errors()

    assert found == ["evals/t.yaml:2:13: $.cases_file: evals/s.jsonl is the cases file of suite 's' (evals/s.yaml)"
                     " too; expected one suite per cases file"]


# --- literal texts (contains, not_contains) --------------------------------------------------------------------

def test_a_literal_too_long_for_re2_is_refused_when_loaded_not_when_judged(repo, capsys):
    case = {"id": "a", "input": "x", "expect": [{"check": "contains", "value": "ab" * 500_000}]}
    suite(repo, json.dumps(case) + "\n")

    code, out = validate(capsys)

    assert code == 4
    assert ("evals/s.jsonl:1: $.expect[0]: the text 'abababababababababababababababababababab...' (1000000"
            " characters) is too long to search for: pattern too large - compile failed; expected a shorter text"
            ) in out


@pytest.mark.parametrize("value", ["a.b", "(?i)", "\\E[", "\\Qx", "a\x00b", "$^", "1+1=2", "é\u0301", "x" * 3000])
@pytest.mark.parametrize("check", ["contains", "not_contains"])
def test_literal_texts_are_found_as_written(repo, value, check):
    """RE2 metacharacters, ``\\E``, NUL, combining marks and a text long enough to be compiled at once."""
    case = {"id": "a", "input": "x", "expect": [{"check": check, "value": value}]}
    suite(repo, json.dumps(case) + "\n")
    project = load_project("policies", "evals")
    rule = project.cases["a"].expect[0]

    for output, present in [(f"<{value}>", True), (value.upper(), value.upper() == value), ("a-b (i) E[", False),
                            (value[:-1], False)]:
        findings = list(rule.impl.fn(rule.prepared, OutputRecord("a", output, 1, {}), project.cases["a"]))
        assert (not findings) == (present if check == "contains" else not present), (output, findings)


# --- the fast paths mean what the slow ones mean --------------------------------------------------------------

_POOL = [0, 1, -1, 1.0, 0.5, True, False, None, "", "a", "a\n", "refuse", "answer", "match", "all", "email", "full",
         "words", "^a$", "(?<=x)", [], ["a"], ["a", "a"], [1], [True, 1], {}, {"a": 1}, 2**63, 1e300, "en-US", "US",
         "abc.def", "-x", "x y", "١٢"]
_KEYS = ["id", "input", "reference", "tags", "slice", "expect", "check", "value", "pattern", "must", "kinds", "allow",
         "ignore_case", "match", "min", "max", "unit", "threshold", "schema", "mask", "message", "allow_fences",
         "field", "of", "locale", "extra"]


def test_the_fast_case_validator_accepts_nothing_jsonschema_refuses():
    checks = all_checks()
    fast, slow = fast_validator("eval-cases", checks), validator("eval-cases", checks)
    assert fast is not None
    names = sorted(name for name, check in checks.items() if check.level == "output")
    rng = random.Random(10)
    accepted = refused = 0
    for _ in range(3000):
        case: dict = {"id": "c1", "input": "hi"}
        for _ in range(rng.randint(0, 2)):
            case[rng.choice(_KEYS)] = rng.choice(_POOL)
        if rng.random() < 0.9:
            case["expect"] = [{"check": rng.choice(names), **{rng.choice(_KEYS): rng.choice(_POOL)
                                                               for _ in range(rng.randint(0, 3))}}
                              for _ in range(rng.randint(1, 2))]
        ok = slow.is_valid([case])
        assert ok or not fast.valid([case]), case
        accepted += ok
        refused += not ok
    assert accepted > 50 and refused > 1000  # both answers were exercised


@pytest.mark.parametrize("snippet", [
    "a: &x 1\nb: *x\n", "a: {<<: {b: 1}}\n", "? [a]\n: 1\n", "a: !!python/object:os.system x\n",
    "a:\n  b:\n    c: 1\n    c: 2\n", "1: a\n'1': b\n", "null: 1\n~: 2\n", "a: -.inf\n", "a: 1e999\n",
    'a: "\\ud800"\n', "a: 0o17\n", "a: 017\n", "a: 1_000\n", "a: no\n", "a: 0x\n", "a: " + "9" * 5000 + "\n",
    "--- \na: 1\n--- \nb: 2\n", "a: [\n", "a: \"\\x00\"\n", "'<<': 1\n", "a: 1\r\nb: 2\r\n",
])
def test_a_large_yaml_file_reads_as_the_positions_keeping_reader_reads_it(monkeypatch, snippet):
    text = snippet + "#" + "x" * harness_yaml.LAZY_POSITIONS_FROM + "\n"

    def read() -> object:
        try:
            document = harness_yaml.parse_yaml(text, "f.yaml")
        except Exception as exc:  # the outcome compared, whatever it is
            return type(exc).__name__, str(exc)
        return repr(document.data), [str(p) for p in document.problems]

    fast = read()
    monkeypatch.setattr(harness_yaml, "LAZY_POSITIONS_FROM", 1 << 60)
    assert fast == read()


def test_cases_with_the_same_rule_share_its_preparation_but_keep_their_own_id_message_and_mask(repo):
    lines = [{"id": f"c{i}", "input": "x", "expect": [
        {"id": f"r{i}", "check": "regex", "pattern": "secret", "message": f"m{i}", "mask": ["full", "none"][i % 2]},
        {"check": "field", "path": "model", "equals": "m1"}]} for i in range(4)]
    suite(repo, "".join(json.dumps(line) + "\n" for line in lines))

    project = load_project("policies", "evals")

    regexes = [project.cases[f"c{i}"].expect[0] for i in range(4)]
    assert len({id(r.prepared) for r in regexes}) == 1
    assert [(r.id, r.message, r.mask) for r in regexes] == [(f"r{i}", f"m{i}", ["full", "none"][i % 2])
                                                            for i in range(4)]
    fields = [project.cases[f"c{i}"].expect[1] for i in range(4)]
    assert len({id(r.prepared) for r in fields}) == 4  # `field` keeps a memo of verdicts: never shared


def test_an_annotation_of_a_cases_file_case_points_at_its_line(repo, capsys):
    case = {"id": "a", "input": "x", "expect": [{"check": "contains", "value": "zzz"}]}
    suite(repo, json.dumps({"id": "other", "input": "y"}) + "\n" + json.dumps(case) + "\n")
    (repo / "outputs.jsonl").write_text('{"case_id": "a", "output": "hello"}\n', "utf-8")

    main(["gate", "--outputs", "outputs.jsonl", "--policies", "policies", "--evals", "evals", "--no-progress",
          "--format", "github"])

    # it was "::error file=evals/s.yaml,title=eval%3As a::...": the suite's YAML file, and no line
    assert "::error file=evals/s.jsonl,line=2,title=eval%3As a::eval:s case a failed: contains: missing expected" \
           " text: 'zzz'\n" in capsys.readouterr().out

    main(["gate", "--outputs", "outputs.jsonl", "--policies", "policies", "--evals", "evals", "--no-progress",
          "--format", "sarif"])
    sarif = json.loads(capsys.readouterr().out)
    [location] = [r["locations"] for r in sarif["runs"][0]["results"]
                  if r["ruleId"].startswith("eval:s/") and r["properties"]["case_id"] == "a"]
    assert location[0]["physicalLocation"]["artifactLocation"]["uri"] == "evals/s.jsonl"
    assert location[0]["physicalLocation"]["region"]["startLine"] == 2

    main(["gate", "--outputs", "outputs.jsonl", "--policies", "policies", "--evals", "evals", "--no-progress",
          "--format", "json"])
    [result] = [r for r in json.loads(capsys.readouterr().out)["results"]
                if r["policy"] == "eval:s" and r["case_id"] == "a"]
    assert (result["source_file"], result["source_line"]) == ("evals/s.jsonl", 2)
