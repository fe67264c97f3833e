"""``--format junit``: JUnit XML, one testcase per case x policy, valid against the JUnit XSD.

CI systems (Jenkins, GitLab, GitHub Actions test reporters) show each policy as a test
suite and each case it checked as a test case; a run-level rule is a test case of its
own. The XML is written as text in one pass over the report (linear in its size: a
million outputs under a dozen policies is a dozen million test cases).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from xml.sax.saxutils import escape, quoteattr

from ..model import Report, ResultReport

_FAILING = ("fail", "error")
_BAD = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff"
#: characters XML 1.0 cannot carry: C0 controls but tab/LF/CR, U+FFFE, U+FFFF and lone surrogates
_XML_BAD = re.compile(f"[{_BAD}]")
#: characters an attribute value cannot hold as they are (``_clean`` or ``quoteattr`` would change them)
_ATTR_SPECIAL = re.compile(f'[{_BAD}&<>"\n\r\t]')


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (model output can contain anything)."""
    return _XML_BAD.sub("", text) if _XML_BAD.search(text) else text


def _attr(text: str) -> str:
    if _ATTR_SPECIAL.search(text) is None:  # the common case, millions of times per report: a plain value
        return f'"{text}"'
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


class _Scopes:
    """The report's scopes seen from its policies, worked out once for all of them.

    A million outputs under a dozen policies make millions of test cases: each case id
    is quoted once (not once per policy), and case ids are de-duplicated per policy only
    when some case id is in more than one scope (normally each is in exactly one).
    """

    def __init__(self, report: Report, failing: set[str]) -> None:
        self.scopes = report.scopes
        self.of_policy: dict[str, list[int]] = defaultdict(list)
        for index, scope in enumerate(self.scopes):
            for policy_id in dict.fromkeys(scope.policies):
                self.of_policy[policy_id].append(index)
        seen: set[str] = set()
        for scope in self.scopes:
            seen.update(scope.cases)
        self.repeated: set[str] = set()
        if len(seen) != sum(len(scope.cases) for scope in self.scopes):
            seen.clear()
            for scope in self.scopes:
                for case_id in scope.cases:
                    (self.repeated if case_id in seen else seen).add(case_id)
        del seen
        #: the scopes of each case id that has results
        self.of_failing: dict[str, list[int]] = defaultdict(list)
        for index, scope in enumerate(self.scopes):
            for case_id in failing.intersection(scope.cases):
                self.of_failing[case_id].append(index)
        self._names: dict[int, list[str]] = {}

    def cases(self, policy_id: str) -> Iterator[tuple[str, str]]:
        """Each case id of the policy's scopes once, in scope order, with its quoted name."""
        written: set[str] = set()
        for index in self.of_policy.get(policy_id, ()):
            scope = self.scopes[index]
            if index not in self._names:
                self._names[index] = [_attr(case_id) for case_id in scope.cases]
            for case_id, name in zip(scope.cases, self._names[index], strict=True):
                if self.repeated and case_id in self.repeated:
                    if case_id in written:
                        continue
                    written.add(case_id)
                yield case_id, name

    def judged(self, policy_id: str, case_id: str) -> bool:
        """Whether one of the policy's scopes holds the case id (only asked of case ids with results)."""
        return any(policy_id in self.scopes[index].policies for index in self.of_failing.get(case_id, ()))


def _repeats(report: Report) -> list[str]:
    """Properties saying that case ids repeated (a scan of production logs): every suite carries them."""
    lines = []
    for what, file in (("outputs", report.run.outputs), ("baseline", report.run.baseline)):
        if file is not None and file.duplicate_records:
            lines += [f'      <property name="{what}.duplicate_case_ids" value="{file.duplicate_case_ids}" />',
                      f'      <property name="{what}.duplicate_records" value="{file.duplicate_records}" />']
    return lines


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    by_policy: dict[str, dict[str, list[ResultReport]]] = defaultdict(lambda: defaultdict(list))
    for result in report.results:
        by_policy[result.policy][result.case_id].append(result)
    scopes = _Scopes(report, {r.case_id for r in report.results})
    aggregates: dict[str, list[ResultReport]] = defaultdict(list)
    for a in report.aggregates:
        aggregates[a.policy].append(ResultReport(f"[run] {a.rule}", a.policy, a.rule, a.status, a.message, None,
                                                 a.waiver))

    # one string per suite, joined once at the end: a million outputs make a report of hundreds of MB
    chunks: list[str] = [""]  # [0]: the XML declaration and <testsuites>, once the totals are known
    totals = {"tests": 0, "failures": 0, "errors": 0}
    timestamp = _attr(report.run.started_at)
    repeats = _repeats(report)
    for policy in report.policies:
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        body: list[str] = ["", "    <properties>"]  # [0]: <testsuite>, once the counts are known
        for key in ("version", "severity", "on_fail", "status"):
            body.append(f"      <property name={_attr(key)} value={_attr(str(getattr(policy, key)))} />")
        body += repeats
        body.append("    </properties>")
        passed_tail = f' classname={_attr(policy.id)} time="0" />'
        passed, failing = 0, by_policy.get(policy.id, {})
        for case_id, name in scopes.cases(policy.id):
            results = failing.get(case_id)
            if results:
                _testcase(body, policy.id, case_id, results, counts)
            else:  # most cases pass: what _testcase writes for no results, without its bookkeeping
                body.append(f"    <testcase name={name}{passed_tail}")
                passed += 1
        counts["tests"] += passed
        for case_id, results in failing.items():  # results outside the scopes (a baseline flip of a case now absent)
            if case_id != "*" and not scopes.judged(policy.id, case_id):
                _testcase(body, policy.id, case_id, results, counts)
        for aggregate in aggregates.get(policy.id, ()):
            _testcase(body, policy.id, aggregate.case_id, () if aggregate.status == "pass" else (aggregate,), counts)
        attrs = " ".join(f'{key}="{value}"' for key, value in counts.items())
        body[0] = f"  <testsuite name={_attr(policy.id)} timestamp={timestamp} {attrs}>"
        body.append("  </testsuite>")
        chunks.append("\n".join(body))
        for key in totals:
            totals[key] += counts[key]
    attrs = " ".join(f'{key}="{value}"' for key, value in totals.items())
    name = _attr(f"harness {report.run.kind}: {report.verdict.value}")
    chunks[0] = f"<?xml version='1.0' encoding='utf-8'?>\n<testsuites name={name} {attrs}>"
    if len(chunks) == 1:
        chunks.append("")
    chunks.append("</testsuites>\n")
    return "\n".join(chunks)
