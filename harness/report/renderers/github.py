"""``--format github``: GitHub Actions workflow commands, so that failures show on the pull request.

One ``::error`` (``::warning`` when the policy cannot change the verdict: ``on_fail: warn`` or a
draft) per failing policy rule, at the rule's line in the policy file, and per failing eval case,
at the case's line in the suite file; then the report's warnings and a ``::notice`` with the verdict.

Workflow commands are read line by line, so no untrusted text (a case id, a model's output in a
message) may break a line: it goes through ``one_line`` first (line breaks become the two characters
``\\n``), then is escaped as GitHub's runner unescapes it (``%`` first, so ``%0A`` written by a model
stays the text ``%0A``), with ``:`` and ``,`` escaped too in properties. Findings are the report's,
masked when it was built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...text.normalize import one_line
from ..model import PolicyReport, Report, ResultReport

#: how many case ids one annotation names
SHOWN_CASES = 5
#: how many failing rule messages one eval case annotation lists
SHOWN_EXPECTATIONS = 5
#: the longest message (characters, before escaping) an annotation carries: GitHub keeps only so much of one
MAX_MESSAGE = 4000


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def escape_data(text: object) -> str:
    """Text for a command's message: one line of at most ``MAX_MESSAGE`` characters (before escaping), ``%``,
    CR and LF escaped as the runner expects."""
    return bounded(one_line(text)).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: object) -> str:
    """Text for a command's property value (``file=``, ``title=``): also ``:`` and ``,`` escaped."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, *, file: str | None = None, line: int | None = None,
            title: str | None = None) -> str:
    """One workflow command line; every value escaped here."""
    props = [f"file={escape_property(file)}"] if file else []
    if file and line is not None and line >= 1:  # an unknown line is left out, never line=0
        props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    return f"::{name}{' ' + ','.join(props) if props else ''}::{escape_data(message)}"


def gating(policy: PolicyReport | None) -> bool:
    """Whether a failure of this policy can change the verdict (an error annotation) or not (a warning)."""
    return policy is None or (policy.policy_status == "active" and policy.on_fail != "warn")


def _cases(ids: Sequence[str]) -> str:
    unique = list(dict.fromkeys(ids))
    shown = ", ".join(unique[:SHOWN_CASES])
    return shown + (f" and {len(unique) - SHOWN_CASES} more" if len(unique) > SHOWN_CASES else "")


def _found(results: Iterable[ResultReport]) -> str:
    """The first masked excerpts of the results' findings ("found: email j***@…"), or ""."""
    excerpts = [f"{f.kind} {f.masked}" for r in results for f in r.findings if f.masked]
    return f"; found: {', '.join(excerpts[:3])}" if excerpts else ""


def workflow_commands(report: Report) -> list[str]:
    """The workflow commands for the report, one per line, without the final newline."""
    paths = {p.id: p.path for p in report.run.policies}
    policies = {p.id: p for p in report.policies}
    lines: list[str] = []
    pointed: set[str] = set()
    by_rule: dict[tuple[str, str], list[ResultReport]] = {}
    by_case: dict[tuple[str, str], list[ResultReport]] = {}
    run_level = {(a.policy, a.rule) for a in report.aggregates if a.status in ("fail", "error")}
    for r in report.results:
        if r.status == "waived" or (r.case_id == "*" and (r.policy, r.rule) in run_level):  # said once, below
            continue
        policy = policies.get(r.policy)
        group = by_case if policy is not None and policy.kind == "suite" else by_rule
        group.setdefault((r.policy, r.rule if group is by_rule else r.case_id), []).append(r)
    for (policy_id, rule), results in by_rule.items():
        messages = list(dict.fromkeys(r.message for r in results))
        failed = "crashed on" if all(r.status == "error" for r in results) else "failed"
        text = (f"{policy_id} {rule}: {len(results)} output(s) {failed}: {'; '.join(messages[:2])}"
                f" (cases: {_cases([r.case_id for r in results])}){_found(results)}")
        lines.append(command("error" if gating(policies.get(policy_id)) else "warning", text,
                             file=paths.get(policy_id), line=results[0].source_line, title=f"{policy_id}/{rule}"))
        pointed.add(policy_id)
    for (suite_id, case_id), results in by_case.items():
        expectations = "; ".join(f"{r.rule}: {r.message}" for r in results[:SHOWN_EXPECTATIONS])
        more = len(results) - SHOWN_EXPECTATIONS
        text = (f"{suite_id} case {case_id} failed: {expectations}"
                + (f" and {more} more" if more > 0 else "") + _found(results))
        lines.append(command("error" if gating(policies.get(suite_id)) else "warning", text,
                             file=results[0].source_file or paths.get(suite_id), line=results[0].source_line,
                             title=f"{suite_id} {case_id}"))
        pointed.add(suite_id)
    for a in report.aggregates:
        if a.status not in ("fail", "error"):
            continue
        lines.append(command("error" if gating(policies.get(a.policy)) else "warning",
                             f"{a.policy} {a.rule} ({a.check}): {a.message}", file=paths.get(a.policy),
                             line=a.source_line, title=f"{a.policy}/{a.rule}"))
        pointed.add(a.policy)
    for p in report.policies:  # a failure no line above explains (an eval case with no output...)
        if p.status in ("fail", "error") and p.id not in pointed:
            lines.append(command("error" if gating(p) else "warning",
                                 f"{p.id} {p.status}: {p.failed} failing output(s), {p.errors} error(s)",
                                 file=paths.get(p.id), title=p.id))
    lines += [command("warning", warning, title="harness") for warning in report.warnings]
    lines.append(command("notice", summary(report), title=f"harness {report.run.kind}"))
    return lines


def summary(report: Report) -> str:
    """The verdict and the counts in one sentence."""
    s, run = report.summary, report.run
    verdict = report.verdict.value.upper()
    head = f"as a gate: {verdict}" if run.kind == "scan" else f"verdict {verdict}"
    failing = sum(r.status != "waived" for r in report.results)
    text = (f"{head}: {s.policies} policies and suites, {s.passed} passed, {s.failed} failed, {s.errors} error(s),"
            f" {s.waived} waived; {failing} failing result(s)")
    if run.selection is not None:
        asked = " ".join([*(f"--select {p}" for p in run.selection.select),
                          *(f"--deselect {p}" for p in run.selection.deselect)])
        text += f"; partial run ({asked}): it cannot promote"
    if report.reasons:
        text += "; decided by: " + "; ".join(report.reasons)
    return text


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    return "\n".join(workflow_commands(report)) + "\n"
