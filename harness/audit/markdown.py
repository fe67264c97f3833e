"""The audit report as GitHub-flavoured Markdown: headings, one table per section.

Every value goes through :func:`escape` (a table cell: ``|`` cannot split the row, backticks,
``*``, ``_``, ``[`` cannot start markup, ``<`` and ``&`` cannot open HTML, ``@`` cannot mention)
or :func:`code` (a code span backticks cannot end), whatever its origin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..report.renderers.markdown import code, escape
from .build import (
    SECTIONS,
    AuditReport,
    CoverageGap,
    LinkedItem,
    cases_text,
    chain_sentence,
    decision_text,
)

_HEADINGS = dict(SECTIONS)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _section(anchor: str) -> list[str]:
    return ["", f"## {_HEADINGS[anchor]}", ""]


def _items(items: Sequence[LinkedItem]) -> str:
    return "<br>".join(f"{item.kind} {code(item.id)} {escape(item.version)}" for item in items) or "—"


def _decisions(items: Sequence[LinkedItem]) -> str:
    lines = []
    for item in items:
        shown = "; ".join(escape(decision_text(d)) for d in item.decisions) or "no gate decision yet"
        more = f" (of {item.decisions_total})" if item.decisions_total > len(item.decisions) else ""
        lines.append(f"{code(item.id)}: {shown}{more}")
    return "<br>".join(lines) or "—"


def _gap(gap: CoverageGap) -> list[str]:
    problems = []
    if not gap.examples:
        problems.append("no examples")
    if gap.uncovered:
        problems.append("uncovered: " + ", ".join(code(r) for r in gap.uncovered))
    problems += [f"failing: {escape(f)}" for f in gap.failing]
    run_level = ", ".join(code(r) for r in gap.run_level) or "—"
    return [code(gap.policy), code(gap.file), str(gap.examples), "<br>".join(problems), run_level]


def render_markdown(report: AuditReport) -> str:
    repo, summary = report.repository, report.summary
    commit = code(repo.commit) if repo.commit else "not in git"
    lines = ["# Audit report", "",
             f"Generated {escape(report.generated_at)} from {code(repo.policies)} (commit {commit}),"
             f" {code(repo.evals or '-')}, {code(repo.incidents)} and the decision log {code(repo.decision_log)};"
             f" waivers judged on {escape(repo.judged_on)}.", ""]
    lines += _table(("what", "count"), ((escape(k.replace("_", " ")), escape(v)) for k, v in summary.items()))

    lines += _section("catalogue")
    lines += _table(("policy", "version", "title", "severity", "on fail", "owner", "status", "rules", "examples",
                     "sign-off"),
                    ([code(p.id), escape(p.version), escape(p.title), escape(p.severity), escape(p.on_fail),
                      escape(p.owner), escape(p.status), str(p.rules), str(p.examples), _signoff(p.signoff)]
                     for p in report.catalogue))

    lines += _section("traceability")
    if report.traceability:
        lines += _table(("incident", "severity", "state", "title", "policies and suites", "latest gate decisions"),
                        ([code(r.incident.id), escape(r.incident.severity), escape(r.incident.state),
                          escape(r.incident.title), _items((*r.policies, *r.suites)),
                          _decisions((*r.policies, *r.suites))] for r in report.traceability))
    else:
        lines.append("No incidents.")

    lines += _section("uncaptured")
    if report.uncaptured:
        lines.append(f"{len(report.uncaptured)} incident(s): no policy (`lessons_from`) or eval suite"
                     " (`from_incident`) references them.")
        lines.append("")
        lines += _table(("incident", "severity", "state", "detected", "title", "summary"),
                        ([code(i.id), escape(i.severity), escape(i.state), escape(i.detected), escape(i.title),
                          escape(i.summary)] for i in report.uncaptured))
    else:
        lines.append("Every incident's lesson is in a policy or an eval suite.")

    lines += _section("coverage")
    coverage = report.coverage
    if coverage.gaps:
        lines.append(f"{len(coverage.gaps)} of {coverage.policies} policies:")
        lines.append("")
        lines += _table(("policy", "file", "examples", "problem", "run-level rules (not coverable)"),
                        (_gap(g) for g in coverage.gaps))
    else:
        lines.append(f"All {coverage.policies} policies have examples that pass, and every per-output rule is"
                     " triggered by a `fail` example.")

    lines += _section("waivers")
    if report.waivers:
        lines += _table(("status", "policy", "rule", "cases", "ticket", "approved by", "approved", "expires",
                         "reason"),
                        ([f"**{escape(w.status)}**", code(w.policy), code(w.rule or "all rules"),
                          escape(cases_text(w)), escape(w.ticket), escape(w.approver), escape(w.approved),
                          escape(w.expires), escape(w.reason)] for w in report.waivers))
    else:
        lines.append("No waivers.")

    history = report.history
    lines += _section("history")
    lines += [f"**{escape(chain_sentence(history.chain))}**", ""]
    if history.counts:
        lines += ["Entries by kind: " + ", ".join(f"{escape(k)} {v}" for k, v in history.counts.items()) + ".", ""]
    if history.entries:
        lines += _table(("seq", "time", "kind", "actor", "model", "version", "verdict", "what", "policy commit"),
                        ([str(e.seq), escape(e.time), escape(e.kind), escape(e.actor), escape(e.model),
                          escape(e.model_version), escape(e.verdict or "—"), _what(e),
                          code(e.policy_commit[:12]) if e.policy_commit else "—"] for e in history.entries))

    diff = report.policy_diff
    lines += _section("policy-diff")
    if diff.since_seq is not None:
        lines += [f"Last promotion: entry {diff.since_seq}, {escape(diff.since_time)}, {escape(diff.since_model)}"
                  f" {escape(diff.since_version)}" + (f", policy commit {code(diff.commit)}" if diff.commit else "")
                  + ".", ""]
    lines.append(f"**{escape(diff.status)}**: {escape(diff.note)}")
    if diff.text:
        lines += ["", "```text", *(line.replace("```", "'''") for line in diff.text.splitlines()), "```"]
    return "\n".join(lines) + "\n"


def _signoff(signoff: Any) -> str:
    if signoff.state == "none":
        return "none"
    return f"**{signoff.state}**: {escape(signoff.role)} {escape(signoff.by)} {escape(signoff.at)}"


def _what(entry: Any) -> str:
    parts = [escape(entry.what)]
    if entry.failed:
        parts.append("failed: " + ", ".join(escape(f) for f in entry.failed))
    parts += [escape(r) for r in entry.results]
    if entry.report_note:
        parts.append(escape(entry.report_note))
    return "<br>".join(parts)
