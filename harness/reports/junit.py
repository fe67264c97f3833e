"""``--format junit``: JUnit XML, one testcase per case x policy, valid against the JUnit XSD.

CI systems (Jenkins, GitLab, GitHub Actions test reporters) show each policy as a test
suite and each case it checked as a test case; a run-level rule is a test case of its own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

from ..engine import Evaluation
from . import reporter

_FAILING = ("fail", "error")


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (model output can contain anything)."""
    return "".join(ch for ch in text if ch in "\t\n\r" or (ord(ch) >= 0x20 and ord(ch) not in (0xFFFE, 0xFFFF)
                                                             and not 0xD800 <= ord(ch) <= 0xDFFF))


def _detail(result: dict[str, Any]) -> str:
    lines = [result["message"]]
    if result.get("line"):
        lines.append(f"outputs line {result['line']}")
    for finding in result["findings"]:
        span = f" at {finding['start']}-{finding['end']}" if finding["start"] is not None else ""
        masked = f": {finding['masked']}" if finding["masked"] else ""
        lines.append(f"- {finding['kind']}{span}{masked}")
    return _clean("\n".join(lines))


@reporter("junit")
def render(report: dict[str, Any], evaluation: Evaluation, *, color: bool = False) -> str:
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in report["results"]:
        by_pair[(result["policy"], result["case_id"])].append(result)
    root = ET.Element("testsuites", name=f"harness {report['run']['kind']}: {report['verdict']}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for policy in report["policies"]:
        suite = ET.SubElement(root, "testsuite", name=policy["id"], timestamp=report["run"]["started_at"])
        props = ET.SubElement(suite, "properties")
        for key in ("version", "severity", "on_fail", "status"):
            ET.SubElement(props, "property", name=key, value=str(policy[key]))
        cases = evaluation.cases_in_scope(policy["id"])
        cases += [c for (p, c) in by_pair if p == policy["id"] and c != "*" and c not in set(cases)]
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for case_id in cases:
            results = by_pair.get((policy["id"], case_id), [])
            _testcase(suite, policy["id"], case_id, results, counts)
        for aggregate in (a for a in report["aggregates"] if a["policy"] == policy["id"]):
            fake = {"message": aggregate["message"], "findings": [], "line": None,
                    "status": aggregate["status"], "rule": aggregate["rule"]}
            _testcase(suite, policy["id"], f"[run] {aggregate['rule']}", [fake], counts,
                      passed=aggregate["status"] == "pass")
        for key, value in counts.items():
            suite.set(key, str(value))
        for key in totals:
            totals[key] += counts[key]
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(suite: ET.Element, policy: str, name: str, results: list[dict[str, Any]],
              counts: dict[str, int], passed: bool = False) -> None:
    case = ET.SubElement(suite, "testcase", name=_clean(name), classname=policy, time="0")
    counts["tests"] += 1
    if passed:
        return
    errors = [r for r in results if r["status"] == "error"]
    failures = [r for r in results if r["status"] == "fail"]
    waived = [r for r in results if r["status"] == "waived"]
    if errors:
        counts["errors"] += 1
        node = ET.SubElement(case, "error", message=_clean(errors[0]["message"][:200]), type="error")
        node.text = "\n\n".join(f"[{r['rule']}] {_detail(r)}" for r in errors)
    elif failures:
        counts["failures"] += 1
        node = ET.SubElement(case, "failure", message=_clean(failures[0]["message"][:200]),
                             type=failures[0]["rule"])
        node.text = "\n\n".join(f"[{r['rule']}] {_detail(r)}" for r in failures)
    elif waived:
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=_clean(f"waived ({waived[0]['waiver']})"), type="waived")
