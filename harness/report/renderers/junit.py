"""``--format junit``: JUnit XML, one testcase per case x policy, valid against the JUnit XSD.

CI systems (Jenkins, GitLab, GitHub Actions test reporters) show each policy as a test
suite and each case it checked as a test case; a run-level rule is a test case of its
own. The XML is written as text in one pass over the report (linear in its size: a
million outputs under a dozen policies is a dozen million test cases).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from ..model import Report, ResultReport

_FAILING = ("fail", "error")
_XML_BAD = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (model output can contain anything)."""
    text = text.translate(_XML_BAD)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        text = "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)
    return text


def _attr(text: str) -> str:
    return quoteattr(_clean(text), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _detail(result: ResultReport) -> str:
    lines = [f"[{result.rule}] {result.message}"]
    if result.line:
        lines.append(f"outputs line {result.line}")
    for finding in result.findings:
        span = f" at {finding.start}-{finding.end}" if finding.start is not None else ""
        masked = f": {finding.masked}" if finding.masked else ""
        lines.append(f"- {finding.kind}{span}{masked}")
    return "\n".join(lines)


def _testcase(out: list[str], policy: str, name: str, results: Sequence[ResultReport], counts: dict[str, int]) -> None:
    counts["tests"] += 1
    head = f'    <testcase name={_attr(name)} classname={_attr(policy)} time="0"'
    errors = [r for r in results if r.status == "error"]
    failures = [r for r in results if r.status == "fail"]
    waived = [r for r in results if r.status == "waived"]
    if errors or failures:
        which, tag = (errors, "error") if errors else (failures, "failure")
        counts["errors" if errors else "failures"] += 1
        kind = "error" if errors else failures[0].rule
        body = escape(_clean("\n\n".join(_detail(r) for r in which)))
        out.append(f"{head}>\n      <{tag} message={_attr(which[0].message[:200])} type={_attr(kind)}>{body}</{tag}>"
                   "\n    </testcase>")
    elif waived:
        counts["skipped"] += 1
        out.append(f"{head}>\n      <skipped message={_attr(f'waived ({waived[0].waiver})')} type=\"waived\" />"
                   "\n    </testcase>")
    else:
        out.append(f"{head} />")


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    by_pair: dict[tuple[str, str], list[ResultReport]] = defaultdict(list)
    for result in report.results:
        by_pair[(result.policy, result.case_id)].append(result)
    cases: dict[str, dict[str, None]] = defaultdict(dict)
    for scope in report.scopes:
        for policy_id in scope.policies:
            cases[policy_id].update(dict.fromkeys(scope.cases))
    for policy_id, case_id in by_pair:  # results outside any scope (a baseline flip of a case now absent)
        if case_id != "*":
            cases[policy_id].setdefault(case_id)
    aggregates: dict[str, list[ResultReport]] = defaultdict(list)
    for a in report.aggregates:
        aggregates[a.policy].append(ResultReport(f"[run] {a.rule}", a.policy, a.rule, a.status, a.message, None,
                                                 a.waiver))

    suites: list[str] = []
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for policy in report.policies:
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        body: list[str] = ["    <properties>"]
        for key in ("version", "severity", "on_fail", "status"):
            body.append(f"      <property name={_attr(key)} value={_attr(str(getattr(policy, key)))} />")
        body.append("    </properties>")
        for case_id in cases.get(policy.id, {}):
            _testcase(body, policy.id, case_id, by_pair.get((policy.id, case_id), ()), counts)
        for aggregate in aggregates.get(policy.id, ()):
            _testcase(body, policy.id, aggregate.case_id, () if aggregate.status == "pass" else (aggregate,), counts)
        attrs = " ".join(f'{key}="{value}"' for key, value in counts.items())
        suites.append(f"  <testsuite name={_attr(policy.id)} timestamp={_attr(report.run.started_at)} {attrs}>\n"
                      + "\n".join(body) + "\n  </testsuite>")
        for key in totals:
            totals[key] += counts[key]
    attrs = " ".join(f'{key}="{value}"' for key, value in totals.items())
    name = _attr(f"harness {report.run.kind}: {report.verdict.value}")
    return (f"<?xml version='1.0' encoding='utf-8'?>\n<testsuites name={name} {attrs}>\n"
            + "\n".join(suites) + "\n</testsuites>\n")
