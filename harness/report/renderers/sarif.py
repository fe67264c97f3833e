"""``--format sarif``: SARIF 2.1.0 for code scanning (GitHub's ``upload-sarif``, any SARIF viewer).

The rules are the policy rules run (``policy/rule``) and the eval suites' expectations that failed
(``eval:suite/check``); each result is one failing output of a rule (a waived one carries its waiver
as an external suppression) or a failing run-level rule, located at the rule's line in the policy
file or the case's line in the suite file. Paths are written as the report has them, relative to the
working directory the gate ran in (the repository root in CI), under ``%SRCROOT%``.
``partialFingerprints`` hash the policy, rule and case id, never a line number, so a result is the
same result from one run to the next. Text is the report's: masked when it was built.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from ...text.normalize import printable
from ..model import PolicyReport, Report, ResultReport
from .github import gating

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
#: the exit code of each verdict of a gate (a scan's depends on --fail-on-findings: not written)
EXIT_CODES = {"promote": 0, "block": 1, "rollback": 3}
LEVELS = {True: "error", False: "warning"}
FINGERPRINT = "harnessResult/v1"
#: the most results one run holds: GitHub's code scanning rejects a SARIF run with more than 25,000
MAX_RESULTS = 25_000


def _text(value: object) -> str:
    return printable(str(value))


@functools.lru_cache(maxsize=1024)
def _uri(path: str) -> tuple[str, bool]:
    posix = path.replace("\\", "/")
    # a file name that is not UTF-8 (read as surrogates) is written as its own bytes, percent-encoded
    if PurePosixPath(posix).is_absolute() or PureWindowsPath(path).is_absolute():
        return "file://" + quote(posix if posix.startswith("/") else "/" + posix, errors="surrogateescape"), True
    return quote(posix, errors="surrogateescape"), False


def uri(path: str) -> dict[str, str]:
    """An ``artifactLocation``: a relative path under ``%SRCROOT%``, an absolute one as a ``file:`` URI; both
    percent-encoded (spaces, ``#``, ``%``, ``:``, non-ASCII letters), so they are valid URI references."""
    text, absolute = _uri(path)
    return {"uri": text} if absolute else {"uri": text, "uriBaseId": "%SRCROOT%"}


def _location(path: str | None, line: int | None) -> list[dict[str, Any]]:
    if not path:
        return []
    physical: dict[str, Any] = {"artifactLocation": uri(path)}
    if line is not None and line >= 1:
        physical["region"] = {"startLine": line}
    return [{"physicalLocation": physical}]


def fingerprint(*parts: str) -> str:
    """A digest of what a result is (policy, rule, case), stable across runs and line moves."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:32]


class _Rules:
    """The ``tool.driver.rules`` array, built as results refer to rules, with each rule's index."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.index: dict[str, int] = {}

    def add(self, rule_id: str, description: str, policy: PolicyReport | None, **more: Any) -> int:
        rule_id = _text(rule_id)  # two ids that print alike are one rule: SARIF's rules are unique
        if rule_id not in self.index:
            properties: dict[str, Any] = {}
            if policy is not None:
                properties = {"severity": policy.severity, "on_fail": policy.on_fail,
                              "policy_version": policy.version, "policy_status": policy.policy_status,
                              "kind": policy.kind, "tags": [policy.severity, policy.kind]}
            properties |= more
            self.index[rule_id] = len(self.rules)
            self.rules.append({
                "id": rule_id, "shortDescription": {"text": _text(description) or _text(rule_id)},
                "defaultConfiguration": {"level": LEVELS[gating(policy)]}, "properties": properties})
        return self.index[rule_id]


def _result_message(r: ResultReport) -> str:
    found = [f"{f.kind} {f.masked}" for f in r.findings if f.masked]
    text = f"{r.case_id}: {r.message}"
    return text + (f" (found: {', '.join(found[:3])})" if found else "")


def _kept(results: list[ResultReport], policies: dict[str, PolicyReport],
          room: int) -> tuple[list[ResultReport], int]:
    """The results that fit in ``room``, in report order, and how many are left out.

    Failures that can change the verdict are kept first, then those that cannot, then waived ones.
    """
    if len(results) <= room:
        return results, 0
    room = max(room, 0)

    def rank(i: int) -> tuple[int, int]:
        r = results[i]
        return (2 if r.status == "waived" else 0 if gating(policies.get(r.policy)) else 1), i

    kept = sorted(sorted(range(len(results)), key=rank)[:room])
    return [results[i] for i in kept], len(results) - room


def sarif(report: Report) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (plain JSON data)."""
    paths = {p.id: p.path for p in report.run.policies}
    policies = {p.id: p for p in report.policies}
    rules = _Rules()
    for p in report.policies:
        for rule in p.rules:
            rules.add(f"{p.id}/{rule.id}", rule.message or f"{p.title}: {rule.check}", p, check=rule.check)
    results: list[dict[str, Any]] = []
    run_level = {(a.policy, a.rule) for a in report.aggregates if a.status != "pass"}
    shown, omitted = _kept([r for r in report.results if not (r.case_id == "*" and (r.policy, r.rule) in run_level)],
                           policies, MAX_RESULTS - len(run_level))  # a run-level rule's result: below
    for r in shown:
        policy = policies.get(r.policy)
        rule_id = f"{r.policy}/{r.rule}"
        index = rules.add(rule_id, f"{policy.title if policy else r.policy}: {r.rule}", policy)
        result: dict[str, Any] = {
            "ruleId": _text(rule_id), "ruleIndex": index, "level": LEVELS[gating(policy)],
            "kind": "fail", "message": {"text": _text(_result_message(r))},
            "locations": _location(r.source_file or paths.get(r.policy), r.source_line),
            "partialFingerprints": {FINGERPRINT: fingerprint(r.policy, r.rule, r.case_id)},
            "properties": {"case_id": _text(r.case_id), "status": r.status,
                           **({"outputs_line": r.line} if r.line is not None else {})},
        }
        if r.status == "waived":
            result["suppressions"] = [{"kind": "external", "status": "accepted",
                                       "justification": _text(f"waiver {r.waiver or ''}".strip())}]
        results.append(result)
    for a in report.aggregates:
        if a.status == "pass":
            continue
        policy = policies.get(a.policy)
        rule_id = f"{a.policy}/{a.rule}"
        index = rules.add(rule_id, f"{policy.title if policy else a.policy}: {a.rule}", policy, check=a.check)
        result = {
            "ruleId": _text(rule_id), "ruleIndex": index, "level": LEVELS[gating(policy)], "kind": "fail",
            "message": {"text": _text(f"run-level {a.check}: {a.message}")},
            "locations": _location(paths.get(a.policy), a.source_line),
            "partialFingerprints": {FINGERPRINT: fingerprint(a.policy, a.rule, "*run*")},
            "properties": {"status": a.status},
        }
        if a.status == "waived":
            result["suppressions"] = [{"kind": "external", "status": "accepted",
                                       "justification": _text(f"waiver {a.waiver or ''}".strip())}]
        results.append(result)
    run = report.run
    invocation: dict[str, Any] = {"executionSuccessful": True, "startTimeUtc": run.started_at,
                                  "endTimeUtc": run.finished_at,
                                  "properties": {"kind": run.kind, "verdict": report.verdict.value,
                                                 "reasons": [_text(r) for r in report.reasons]}}
    if run.kind == "gate":
        invocation["exitCode"] = EXIT_CODES[report.verdict.value]
    notes = [_text(w) for w in report.warnings]
    if omitted:
        notes.append(f"{omitted} of {omitted + len(shown)} failing results are left out: GitHub's code scanning"
                     f" rejects a run with more than {MAX_RESULTS:,} results (gating failures are kept first;"
                     " the JSON report, --format json, has them all)")
    if notes:
        invocation["toolExecutionNotifications"] = [{"level": "warning", "message": {"text": n}} for n in notes]
    properties: dict[str, Any] = {"report_version": report.report_version, "run_id": run.id,
                                  "verdict": report.verdict.value, "judged_on": run.judged_on,
                                  "omitted_results": omitted}
    if run.selection is not None:
        properties["selection"] = {"select": list(run.selection.select), "deselect": list(run.selection.deselect),
                                   "policies": list(run.selection.policies), "suites": list(run.selection.suites)}
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "harness", "version": report.harness_version, "rules": rules.rules}},
            "automationDetails": {"id": f"harness/{run.kind}/{run.id}"},
            "invocations": [invocation],
            "results": results,
            "properties": properties,
        }],
    }


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    return json.dumps(sarif(report), indent=2, ensure_ascii=False) + "\n"
