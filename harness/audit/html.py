"""The audit report as one self-contained HTML page: inline CSS, no script, no external asset, no network.

The page declares ``Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'``, so a
browser would refuse to run a script or fetch anything even if one got in; none can: every value
is escaped with :func:`html.escape` (``<``, ``>``, ``&``, both quotes), whatever its origin.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from .build import SECTIONS, AuditReport, LinkedItem, cases_text, chain_sentence, decision_text

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'"

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 2rem auto; max-width: 78rem; padding: 0 1.5rem; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font-size: 13.5px; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: #f6f8fa; white-space: nowrap; }
tr:nth-child(even) td { background: #fbfcfd; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f4f6;
       padding: 0 .2rem; border-radius: 3px; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; white-space: pre-wrap; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #cf222e; font-weight: 600; }
.warn { color: #9a6700; font-weight: 600; } .muted { color: #59636e; }
nav ol { columns: 2; } dl.summary { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; }
dl.summary dt { color: #59636e; } dl.summary dd { margin: 0; font-weight: 600; }
@media print { nav { display: none; } body { margin: 0; max-width: none; } }
"""

_GOOD = {"valid", "intact", "signed", "promote", "active", "no changes", "closed"}
_BAD = {"stale", "broken", "invalid", "unapproved key", "block", "rollback", "expired", "changes"}


def e(value: Any) -> str:
    """Any value as HTML text: every character that could start markup or end an attribute escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def _code(value: Any) -> str:
    return f"<code>{e(value)}</code>"


def _state(value: str) -> str:
    css = "ok" if value in _GOOD else "bad" if value in _BAD else "warn"
    return f'<span class="{css}">{e(value)}</span>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, css: str = "") -> str:
    """A table; ``header`` is plain text (escaped here), each cell HTML already escaped by the caller."""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>\n" for row in rows)
    return f'<table class="{e(css)}"><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>'


def _items(items: Sequence[LinkedItem]) -> str:
    return "<br>".join(f"{e(item.kind)} {_code(item.id)} {e(item.version)}" for item in items) or "—"


def _decisions(items: Sequence[LinkedItem]) -> str:
    lines = []
    for item in items:
        shown = "<br>".join(e(decision_text(d)) for d in item.decisions) or '<span class="muted">no gate decision' \
                                                                            ' yet</span>'
        more = f' <span class="muted">(latest {len(item.decisions)} of {item.decisions_total})</span>' \
            if item.decisions_total > len(item.decisions) else ""
        lines.append(f"{_code(item.id)}{more}<br>{shown}")
    return "<hr>".join(lines) or "—"


def _signoff(signoff: Any) -> str:
    if signoff.state == "none":
        return _state("none")
    return f"{_state(signoff.state)}<br>{e(signoff.role)}<br>{e(signoff.by)}<br>{e(signoff.at)}"


def _what(entry: Any) -> str:
    parts = [e(entry.what)]
    if entry.failed:
        parts.append("failed: " + ", ".join(_code(f) for f in entry.failed))
    parts += [f'<span class="finding">{e(r)}</span>' for r in entry.results]
    if entry.report_note:
        parts.append(f'<span class="muted">{e(entry.report_note)}</span>')
    return "<br>".join(parts)


def render_html(report: AuditReport) -> str:
    repo, summary = report.repository, report.summary
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
           '<meta name="referrer" content="no-referrer">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Audit report {e(report.generated_at)}</title>", f"<style>{_STYLE}</style>", "</head><body>",
           "<h1>Audit report</h1>",
           f'<p>Generated {e(report.generated_at)} from {_code(repo.policies)} (commit'
           f' {_code(repo.commit) if repo.commit else "not in git"}), {_code(repo.evals or "-")},'
           f' {_code(repo.incidents)} and the decision log {_code(repo.decision_log)}; waivers judged on'
           f' {e(repo.judged_on)}.</p>',
           '<dl class="summary" id="summary">'
           + "".join(f'<dt>{e(str(k).replace("_", " "))}</dt><dd data-key="{e(k)}">{e(v)}</dd>'
                     for k, v in summary.items()) + "</dl>",
           "<nav><ol>" + "".join(f'<li><a href="#{e(a)}">{e(t.partition(". ")[2])}</a></li>'
                                 for a, t in SECTIONS) + "</ol></nav>"]
    for anchor, title in SECTIONS:
        out.append(f'<section id="{e(anchor)}"><h2>{e(title)}</h2>')
        out.append(_SECTIONS[anchor](report))
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _catalogue(report: AuditReport) -> str:
    return _table(("policy", "version", "title", "severity", "on fail", "owner", "status", "rules", "examples",
                   "sign-off"),
                  ([_code(p.id), e(p.version), e(p.title), e(p.severity), e(p.on_fail), e(p.owner),
                    _state(p.status), e(p.rules), e(p.examples), _signoff(p.signoff)] for p in report.catalogue),
                  css="catalogue")


def _traceability(report: AuditReport) -> str:
    if not report.traceability:
        return "<p>No incidents.</p>"
    return _table(("incident", "severity", "state", "title", "policies and suites", "latest gate decisions"),
                  ([_code(r.incident.id), e(r.incident.severity), _state(r.incident.state), e(r.incident.title),
                    _items((*r.policies, *r.suites)) if r.captured else _state("no lesson captured"),
                    _decisions((*r.policies, *r.suites))] for r in report.traceability), css="traceability")


def _uncaptured(report: AuditReport) -> str:
    if not report.uncaptured:
        return "<p>Every incident's lesson is in a policy or an eval suite.</p>"
    return (f"<p>{len(report.uncaptured)} incident(s): no policy (<code>lessons_from</code>) or eval suite"
            " (<code>from_incident</code>) references them.</p>"
            + _table(("incident", "severity", "state", "detected", "title", "summary"),
                     ([_code(i.id), e(i.severity), _state(i.state), e(i.detected), e(i.title), e(i.summary)]
                      for i in report.uncaptured), css="uncaptured"))


def _coverage(report: AuditReport) -> str:
    coverage = report.coverage
    if not coverage.gaps:
        return (f"<p>All {coverage.policies} policies have examples that pass, and every per-output rule is"
                       " triggered by a <code>fail</code> example.</p>")
    rows = []
    for gap in coverage.gaps:
        problems = [] if gap.examples else [_state("no examples")]
        if gap.uncovered:
            problems.append("uncovered: " + ", ".join(_code(r) for r in gap.uncovered))
        problems += [f'<span class="bad">failing:</span> {e(f)}' for f in gap.failing]
        rows.append([_code(gap.policy), _code(gap.file), e(gap.examples), "<br>".join(problems),
                     ", ".join(_code(r) for r in gap.run_level) or "—"])
    return f"<p>{len(coverage.gaps)} of {coverage.policies} policies:</p>" + _table(
        ("policy", "file", "examples", "problem", "run-level rules (not coverable)"), rows, css="coverage")


def _waivers(report: AuditReport) -> str:
    if not report.waivers:
        return "<p>No waivers.</p>"
    return _table(("status", "policy", "rule", "cases", "ticket", "approved by", "approved", "expires", "reason"),
                  ([_state(w.status), _code(w.policy), _code(w.rule or "all rules"), e(cases_text(w)), e(w.ticket),
                    e(w.approver), e(w.approved), e(w.expires), e(w.reason)] for w in report.waivers),
                  css="waivers")


def _history(report: AuditReport) -> str:
    history = report.history
    chain = history.chain
    css = {"intact": "ok", "broken": "bad"}.get(chain.status, "warn")
    if chain.signature in _BAD:  # an intact chain whose signatures cannot be trusted is no good news
        css = "bad"
    out = [f'<p id="chain" class="{css}" data-status="{e(chain.status)}"'
           f' data-signature="{e(chain.signature)}">{e(chain_sentence(chain))}</p>']
    if history.counts:
        out.append("<p>Entries by kind: " + ", ".join(f"{e(k)} {e(v)}" for k, v in history.counts.items())
                   + ".</p>")
    if history.entries:
        out.append(_table(("seq", "time", "kind", "actor", "model", "version", "verdict", "what", "policy commit"),
                          ([e(x.seq), e(x.time), e(x.kind), e(x.actor), e(x.model), e(x.model_version),
                            _state(x.verdict) if x.verdict else "—", _what(x),
                            _code(x.policy_commit[:12]) if x.policy_commit else "—"] for x in history.entries),
                          css="history"))
    return "\n".join(out)


def _policy_diff(report: AuditReport) -> str:
    diff = report.policy_diff
    out = []
    if diff.since_seq is not None:
        commit = f", policy commit {_code(diff.commit)}" if diff.commit else ""
        out.append(f"<p>Last promotion: entry {e(diff.since_seq)}, {e(diff.since_time)}, {e(diff.since_model)}"
                   f" {e(diff.since_version)}{commit}.</p>")
    out.append(f'<p id="diff-status">{_state(diff.status)}: {e(diff.note)}</p>')
    if diff.text:
        out.append(f"<pre>{e(diff.text)}</pre>")
    return "\n".join(out)


_SECTIONS = {"catalogue": _catalogue, "traceability": _traceability, "uncaptured": _uncaptured,
             "coverage": _coverage, "waivers": _waivers, "history": _history, "policy-diff": _policy_diff}
