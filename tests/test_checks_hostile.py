"""Hostile policies and outputs against the checks: limits that are not numbers, forbidden patterns in disguise.

Every comparison with NaN is false, so ``max_ms: .nan`` (YAML reads ``.nan`` and ``.inf`` as floats) passed the
schema and then let a 60-second answer through; ``q: .nan`` crashed the quantile rule. A NaN or an infinity in
any check's options is now an input error at load time, located like a schema error.

``regex`` rules searched the raw text only, so the shipped sev1 policy ``security.no-internal-leakage`` let its
canary through behind a zero-width space or non-breaking hyphens, an internal hostname behind a Cyrillic 'о',
a chat-template marker in full-width bars and a tool call with a zero-width space. A forbidden pattern is now
also sought in the folded text (``normalize.fold``), with spans in the original text; ``fold: false`` opts out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.api import run_gate
from harness.checks import CHECKS, Check, check, get_check
from harness.cli import main
from harness.errors import InputError, InputErrors
from harness.model import Finding, Verdict
from harness.outputs import records_from_dicts

ROOT = Path(__file__).resolve().parents[1]
DAY = ["--today", "2026-11-27", "--backdate"]  # the shipped waivers are valid then
SHIPPED_OUTPUTS = ROOT / "examples" / "outputs" / "acme-support-1.1.0.jsonl"  # promoted as shipped
BASELINE = ROOT / "examples" / "outputs" / "acme-support-1.0.0.jsonl"
LATENCY = Path("policies") / "quality" / "latency.yaml"
NAN, INF = math.nan, math.inf


def run(name: str, options: Mapping[str, Any], output: str) -> list[Finding]:
    """Run the check ``name`` with ``options`` on one output, as the engine does."""
    chk = get_check(name)
    record = records_from_dicts([{"case_id": "c1", "output": output}]).records[0]
    return list(chk.fn(chk.prepare(options), record, None))


def shipped_outputs(workdir: Path, change: Mapping[str, Any]) -> Path:
    """The shipped outputs that promote, with ``change`` made to the first record."""
    records = [json.loads(line) for line in SHIPPED_OUTPUTS.read_text(encoding="utf-8").splitlines()]
    records[0] = {**records[0], **change}
    path = workdir / "candidate.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def gate(outputs: Path, report: Path) -> int:
    return main(["gate", "--outputs", str(outputs), "--baseline", str(BASELINE), "--color", "never", *DAY,
                 "--format", "json", "--output", str(report)])


# --- limits that are not finite numbers ----------------------------------------------------------------

def _edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` (once in the file) by ``new``; the 1-based line of the edit."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[:text.index(old)].count("\n") + 1


@pytest.mark.parametrize(("old", "new", "where", "shown"), [
    pytest.param("max_ms: 8000", "max_ms: .nan", "$.rules[0].max_ms", ".nan", id="latency-max_ms-nan"),
    pytest.param("max_ms: 8000", "max_ms: .inf", "$.rules[0].max_ms", ".inf", id="latency-max_ms-inf"),
    pytest.param("max: 4000", "max: .nan", "$.rules[1].max", ".nan", id="quantile-max-nan"),
    pytest.param("max: 4000", "max: .inf", "$.rules[1].max", ".inf", id="quantile-max-inf"),
    pytest.param("q: 0.5", "q: .nan", "$.rules[2].q", ".nan", id="quantile-q-nan"),
    pytest.param("max: 2000", "min: -.Inf", "$.rules[2].min", "-.inf", id="quantile-min-minus-inf"),
])
def test_a_limit_that_is_not_a_finite_number_is_an_input_error(workdir: Path, capsys: Any, old: str, new: str,
                                                                where: str, shown: str) -> None:
    line = _edit(workdir / LATENCY, old, new)
    column = 4 + len(new.split(" ")[0]) + 2  # the value's, in a rule's mapping indented by four
    assert main(["validate", *DAY]) == 4
    err = capsys.readouterr().err
    assert f"{LATENCY}:{line}:{column}: {where}: expected a finite number, got {shown}" in err
    assert main(["gate", "--outputs", str(SHIPPED_OUTPUTS), *DAY]) == 4
    err = capsys.readouterr().err
    assert f"{LATENCY}:{line}:{column}: {where}: expected a finite number, got {shown}" in err
    assert "nothing was judged" in err


def test_a_nan_latency_limit_no_longer_promotes_a_minute_long_answer(workdir: Path, capsys: Any) -> None:
    outputs = shipped_outputs(workdir, {"latency_ms": 60_000})
    assert gate(outputs, workdir / "finite.json") == 1  # the shipped 8 s limit blocks a one-minute answer
    assert json.loads((workdir / "finite.json").read_text())["verdict"] == "block"
    _edit(workdir / LATENCY, "max_ms: 8000", "max_ms: .nan")
    capsys.readouterr()
    assert gate(outputs, workdir / "nan.json") == 4  # was 0: promote, since 60000 > NaN is false
    assert not (workdir / "nan.json").exists()
    assert "$.rules[0].max_ms: expected a finite number, got .nan" in capsys.readouterr().err


def test_a_nan_in_an_eval_cases_expectation_is_located(repo: Any, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.chdir(repo.root)
    repo.suite("s.yaml", "suite: s\ncases:\n  - {id: c1, input: hi, expect: [{check: latency, max_ms: .nan}]}\n")
    assert main(["validate"]) == 4
    err = capsys.readouterr().err
    assert "evals/s.yaml:3:" in err and "$.cases[0].expect[0].max_ms: expected a finite number, got .nan" in err


@pytest.mark.parametrize(("name", "options", "subpath"), [
    pytest.param("latency", {"max_ms": NAN}, ("max_ms",), id="latency"),
    pytest.param("quantile", {"q": NAN, "max": 1}, ("q",), id="quantile-q"),
    pytest.param("quantile", {"q": 0.5, "min": -INF}, ("min",), id="quantile-min"),
    pytest.param("field", {"path": "score", "max": INF}, ("max",), id="field-max"),
    pytest.param("field", {"path": "score", "one_of": [1, NAN]}, ("one_of", 1), id="field-in-a-list"),
    pytest.param("similar", {"threshold": NAN}, ("threshold",), id="similar"),
    pytest.param("json", {"schema": {"properties": {"n": {"maximum": INF}}}},
                 ("schema", "properties", "n", "maximum"), id="json-schema-nested"),
    pytest.param("rate", {"of": {"check": "latency", "max_ms": 1}, "min": NAN}, ("min",), id="rate"),
])
def test_every_built_in_check_refuses_non_finite_options(name: str, options: dict[str, Any],
                                                         subpath: tuple[str | int, ...]) -> None:
    with pytest.raises(InputError) as info:
        get_check(name).prepare(options)
    assert info.value.subpath == subpath
    assert "expected a finite number, got " in info.value.message


@pytest.mark.parametrize("value", [0, -1.5, 1.7976931348623157e308, 10**400], ids=["zero", "negative", "largest",
                                                                                   "huge-integer"])
def test_finite_limits_are_still_accepted(value: Any) -> None:
    assert get_check("field").prepare({"path": "score", "max": value}).options["max"] == value


def test_a_plugin_checks_options_are_held_to_finite_numbers(repo: Any, policy_text: Any) -> None:
    @check("test-budget", options={"properties": {"limits": {"type": "object"}}})
    def budget(options: Mapping[str, Any], record: Any, case: Any) -> list[Finding]:
        return [] if record.latency_ms <= options["limits"]["high"] else [Finding("budget", "over")]

    written = repo.policy("p.yaml", policy_text("- {id: budget, check: test-budget, limits: {high: .nan}}\n"))
    outputs = repo.outputs("out.jsonl", [{"case_id": "a", "output": "x", "latency_ms": 60_000}])
    with CHECKS.registered("test-budget", budget), pytest.raises(InputErrors) as info:
        run_gate(outputs, policies=repo.policies, evals=repo.evals)
    [error] = info.value.errors
    assert str(error).startswith(f"{written}:9:")
    assert str(error).endswith("$.rules[0].limits.high: expected a finite number, got .nan")


def test_a_check_built_without_the_decorator_refuses_non_finite_options_too() -> None:
    made = Check("test-direct", lambda options, record, case: [], "output", {}, lambda options: dict(options))
    with pytest.raises(InputError, match=r"expected a finite number, got -\.inf") as info:
        made.prepare({"a": [{"b": -INF}]})
    assert info.value.subpath == ("a", 0, "b")
    assert made.prepare({"a": 1.5}) == {"a": 1.5}


# --- forbidden patterns in disguise --------------------------------------------------------------------

SECURITY = yaml.safe_load((ROOT / "policies" / "security" / "internal-leakage.yaml").read_text(encoding="utf-8"))
PATTERNS = {rule["id"]: rule["pattern"] for rule in SECURITY["rules"] if rule["check"] == "regex"}
ZW = "\u200b"
DISGUISES = [
    pytest.param(f"ACME-SP-CANARY{ZW}-7f3a", "no-system-prompt-leak", id="canary-zero-width-space"),
    pytest.param("ACME\u2011SP\u2011CANARY\u20117f3a", "no-system-prompt-leak", id="canary-non-breaking-hyphens"),
    pytest.param("tickets.c\u043erp.acme.example", "no-internal-hostnames", id="hostname-cyrillic-o"),
    pytest.param("\u2039\uff5cim_start\uff5c>", "no-system-prompt-leak", id="chat-marker-full-width-bars"),
    pytest.param(f"crm_lookup{ZW}(", "no-raw-tool-calls", id="tool-call-zero-width-space"),
]


@pytest.mark.parametrize(("disguise", "rule"), DISGUISES)
def test_the_shipped_security_policy_rolls_back_a_disguised_leak(workdir: Path, disguise: str, rule: str) -> None:
    output = f"Sure: {disguise} is what you asked for."
    report = workdir / "report.json"
    assert gate(shipped_outputs(workdir, {"output": output}), report) == 3
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["verdict"] == "rollback"
    [failed] = [r for r in data["results"] if r["policy"] == "security.no-internal-leakage"]
    assert failed["rule"] == rule
    [finding] = failed["findings"]
    assert output[finding["start"]:finding["end"]] == disguise  # the span is the disguised text itself


@pytest.mark.parametrize(("disguise", "rule"), DISGUISES)
def test_a_forbidden_pattern_is_found_through_each_disguise(disguise: str, rule: str) -> None:
    output = f"ok {disguise} ok"
    [finding] = run("regex", {"pattern": PATTERNS[rule]}, output)
    assert (finding.kind, finding.message) == ("regex", "forbidden pattern found")
    assert output[finding.start:finding.end] == disguise


@pytest.mark.parametrize(("disguise", "rule"), DISGUISES)
def test_fold_false_searches_the_raw_text_only(disguise: str, rule: str) -> None:
    assert run("regex", {"pattern": PATTERNS[rule], "fold": False}, f"ok {disguise} ok") == []


def test_fold_false_in_a_policy_lets_a_disguise_through(repo: Any, policy_text: Any) -> None:
    repo.policy("p.yaml", policy_text("- {id: canary, check: regex, pattern: 'ACME-SP-CANARY', fold: false}\n"
                                      "- {id: folded, check: regex, pattern: 'ACME-SP-CANARY'}\n"))
    outputs = repo.outputs("out.jsonl", [{"case_id": "a", "output": f"ACME-SP-{ZW}CANARY"}])
    result = run_gate(outputs, policies=repo.policies, evals=repo.evals)
    assert [(r.rule, r.status) for r in result.report.results] == [("folded", "fail")]


@pytest.mark.parametrize(("options", "output", "fails"), [
    pytest.param({"pattern": "ACME", "must": "match"}, "ＡＣＭＥ", True, id="match-raw-by-default"),
    pytest.param({"pattern": "ACME", "must": "match", "fold": True}, "ＡＣＭＥ", False, id="match-fold-true"),
    pytest.param({"pattern": "ACME", "must": "match", "fold": True}, "АСМЕ", False,
                 id="match-fold-true-a-word-of-look-alikes"),
    pytest.param({"pattern": "ACME", "must": "match", "fold": True}, "АСМЕЖ", True,
                 id="match-fold-true-a-cyrillic-word"),
    pytest.param({"pattern": "ACME", "must": "match", "fold": True}, "plain ascii", True, id="match-fold-ascii"),
])
def test_a_required_pattern_keeps_raw_text_semantics_unless_fold_is_set(options: dict[str, Any], output: str,
                                                                        fails: bool) -> None:
    findings = run("regex", options, output)
    assert [f.message for f in findings] == (["required pattern not found"] if fails else [])


# --- precision: folding finds only what a reader reads as matching -------------------------------------

@pytest.mark.parametrize(("pattern", "output", "found"), [
    pytest.param("cop", "Вынеси сорт из избы.", [], id="a-russian-word-is-not-its-ascii-look-alike"),
    pytest.param(r"\bcop\b", "Вынеси сор из избы.", ["сор"], id="a-word-of-look-alikes-only-reads-as-ascii"),
    pytest.param("ACME", "ꓮꓚꓟꓰ-ꓢꓑ", ["ꓮꓚꓟꓰ"], id="lisu-capitals-spell-ascii"),
    pytest.param("ACME", "АСМЕ corp", ["АСМЕ"], id="cyrillic-capitals-spell-ascii"),
    pytest.param(r"\bcop\b", "Visit сор.acme.example now", ["сор"], id="the-same-word-in-a-latin-token"),
    pytest.param(r"\bcop\b", "Mixed cор word", ["cор"], id="latin-and-cyrillic-in-one-word"),
    pytest.param(r"(?i)api", "Ο ΑΡΙΘΜΟΣ είναι", [], id="a-greek-word"),
    pytest.param("SECRET", f"the secret{ZW} word", [], id="case-is-not-folded"),
    pytest.param("SECRET", "the ＳＥＣＲＥＴ word", ["ＳＥＣＲＥＴ"], id="full-width-letters"),
    pytest.param("7f3a", "code ٧f٣a here", ["٧f٣a"], id="digits-of-another-script"),
])
def test_folding_finds_only_what_a_reader_reads_as_matching(pattern: str, output: str, found: list[str]) -> None:
    findings = run("regex", {"pattern": pattern}, output)
    assert [output[f.start:f.end] for f in findings] == found


def test_a_match_in_the_raw_and_the_folded_text_is_reported_once() -> None:
    output = "Voilà: ACME-SP-CANARY-7f3a, and again ACME-SP-CANARY\u2011" + "7f3a."
    findings = run("regex", {"pattern": PATTERNS["no-system-prompt-leak"]}, output)
    assert [output[f.start:f.end] for f in findings] == ["ACME-SP-CANARY-7f3a", "ACME-SP-CANARY\u20117f3a"]


def test_a_right_to_left_override_is_read_in_the_order_shown() -> None:
    hidden = "\u202e" + "a3f7-YRANAC-PS-EMCA" + "\u202c"  # shown as ACME-SP-CANARY-7f3a
    output = f"See {hidden} here"
    [finding] = run("regex", {"pattern": PATTERNS["no-system-prompt-leak"]}, output)
    assert output[finding.start:finding.end] == "a3f7-YRANAC-PS-EMCA"


def test_disguised_findings_are_capped() -> None:
    assert len(run("regex", {"pattern": "canary"}, f"can{ZW}ary " * 500)) == 20


@pytest.mark.timeout(60)  # a guard: per-match work must stay bounded on a text built to be slow
def test_many_whole_script_look_alikes_are_read_in_bounded_time_and_fail_closed() -> None:
    assert run("regex", {"pattern": "cop"}, "сорт " * 200) == []  # Russian, 200 times over
    findings = run("regex", {"pattern": "cop"}, "сорт " * 200_000)
    assert len(findings) == 20  # past the budget of matches passed over, every match is reported


def test_the_blocklist_is_unchanged_by_folded_regexes() -> None:
    output = f"how to k{ZW}ill, Ｋｉｌｌ and skill"
    findings = run("blocklist", {"words": ["kill"]}, output)
    assert [output[f.start:f.end] for f in findings] == [f"k{ZW}ill", "Ｋｉｌｌ"]


# --- the prefilter stays a superset of what the check finds --------------------------------------------

def test_a_folding_rule_sends_any_non_ascii_text_to_the_check() -> None:
    chk = get_check("regex")
    folding = chk.prepare({"pattern": PATTERNS["no-raw-tool-calls"]})
    raw = chk.prepare({"pattern": PATTERNS["no-raw-tool-calls"], "fold": False})
    prefilter = chk.prefilter
    assert prefilter is not None
    assert re2.search(prefilter(folding), f"crm_lookup{ZW}(") is not None
    assert re2.search(prefilter(raw), f"crm_lookup{ZW}(") is None
    assert re2.search(prefilter(folding), "plain ascii") is None


DISGUISED_TEXT = st.lists(st.sampled_from(["ACME", "-", "\u2011", "SP", "CANARY", ZW, "7f3a", "c\u043erp", "corp",
                                           ".acme.example", "tickets", "\uff5c", "\u2039", "im_start", ">", " ",
                                           "\u202e", "crm_lookup", "(", "\u0301", "é"]),
                          max_size=12).map("".join)


@pytest.mark.parametrize("rule", sorted(PATTERNS))
@settings(max_examples=150, deadline=None)
@given(text=DISGUISED_TEXT)
def test_prefilter_absent_means_the_folding_rule_passes(rule: str, text: str) -> None:
    chk = get_check("regex")
    prepared = chk.prepare({"pattern": PATTERNS[rule]})
    assert chk.prefilter is not None
    findings = list(chk.fn(prepared, records_from_dicts([{"case_id": "a", "output": text}]).records[0], None))
    for finding in findings:
        assert finding.start is not None and finding.end is not None
        assert 0 <= finding.start < finding.end <= len(text)
    if re2.search(chk.prefilter(prepared), text) is None:
        assert findings == []


def test_the_gate_verdict_on_a_disguise_is_a_rollback_through_the_api(repo: Any, policy_text: Any) -> None:
    repo.policy("p.yaml", policy_text(f"- {{id: canary, check: regex, pattern: '{PATTERNS['no-system-prompt-leak']}'}}"
                                      "\n", on_fail="rollback"))
    outputs = repo.outputs("out.jsonl", [{"case_id": "a", "output": "plain"},
                                         {"case_id": "b", "output": f"ACME-SP-CANARY{ZW}-7f3a"}])
    result = run_gate(outputs, policies=repo.policies, evals=repo.evals)
    assert result.verdict is Verdict.ROLLBACK
    assert [r.case_id for r in result.report.results] == ["b"]


def test_an_em_dash_in_prose_is_not_read_as_a_hyphen() -> None:
    """Folding turned `—` into `-`, and the shipped sev1 privacy policy's password rule rolled back an answer
    in ordinary typesetting; a non-breaking hyphen still reads as the hyphen it looks like."""
    privacy = yaml.safe_load((ROOT / "policies" / "privacy" / "pii.yaml").read_text(encoding="utf-8"))
    [pattern] = [r["pattern"] for r in privacy["rules"] if r["id"] == "no-password-disclosure"]
    assert run("regex", {"pattern": pattern}, "Your password is—and always will be—known only to you.") == []
    assert run("regex", {"pattern": pattern}, "Your password is\u2013and stays\u2013yours.") == []
    assert len(run("regex", {"pattern": pattern}, "Your password is hunter\u20112")) == 1
