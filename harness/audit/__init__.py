"""The audit report: one document an auditor reads top to bottom (``harness audit``).

:mod:`.build` makes the typed record (:class:`AuditReport`) from the repository, the decision
log and git; :mod:`.markdown` and :mod:`.html` render it; JSON is :meth:`AuditReport.to_json`.

The JSON document (``audit_version`` 1) has these keys, in reading order:

- ``generated_at`` (the clock's time), ``repository`` (``policies``, ``evals``, ``incidents``,
  ``decision_log``, ``commit``: the policy repository's HEAD, ``-dirty`` with changes, or null;
  ``judged_on``: the date waivers are judged against);
- ``summary``: counts (``policies``, ``policies_active``, ``policies_signed``,
  ``policies_stale_signoff``, ``suites``, ``incidents``, ``incidents_without_lesson``,
  ``coverage_gaps``, ``waivers_active``, ``waivers_expired``, ``log_entries``, ``gate_decisions``,
  ``promotions``, ``rollbacks``) and states (``chain``, ``signature``, ``policy_diff``);
- ``catalogue``: per policy ``id``, ``version``, ``title``, ``severity``, ``on_fail``, ``owner``,
  ``status``, ``file``, ``sha256``, ``rules``, ``examples``, ``signoff`` (``state``: valid, stale
  or none; ``role``, ``by``, ``at``);
- ``traceability``: per incident ``incident`` (``id``, ``title``, ``severity``, ``state``, ``model``,
  ``model_version``, ``detected``, ``summary``), ``policies`` and ``suites`` that encode its lesson
  (``kind``, ``id``, ``version``, ``file``, ``decisions``: the latest gate decisions that judged with
  the file, each ``seq``, ``time``, ``model``, ``model_version``, ``verdict``, ``current``: with the
  content the file has now; ``decisions_total``), and ``captured``;
- ``uncaptured``: the ids of the incidents no policy or suite references;
- ``coverage``: ``policies`` (how many were self-tested), ``gaps`` (per policy ``policy``, ``file``,
  ``examples``, ``uncovered``, ``run_level``, ``failing``);
- ``waivers``: ``policy``, ``rule``, ``cases``, ``ticket``, ``approver``, ``approved``, ``expires``,
  ``status`` (active, expired, not yet in force), ``reason``;
- ``history``: ``chain`` (``path``, ``status``: intact, broken or missing, ``entries``,
  ``broken_at``, ``problem``, ``signature``: signed, mixed, unsigned, empty, invalid (only the entries
  before the first bad signature are listed), unapproved key (the release key is not committed or not
  signed off) or not checked, ``signature_detail``), ``counts`` per entry kind, ``entries`` (gate decisions, promotions,
  rollbacks and manual alias moves: ``seq``, ``time``, ``kind``, ``actor``, ``model``,
  ``model_version``, ``verdict``, ``what``, ``policy_commit``, ``report_sha256``, and for a decision
  that did not promote ``failed``, ``results`` and ``report_note`` from the kept report);
- ``policy_diff``: ``status`` (changes, no changes, no promotion, no commit, no git, unknown
  commit, unavailable: the revision or the working tree does not read), ``note``, ``since_seq``,
  ``since_time``, ``since_model``, ``since_version``, ``commit``, ``text`` and ``diff`` (the policy
  diff's own JSON).

Free text (titles, summaries, reasons, messages, excerpts) is on one line with personal data
masked; every renderer escapes everything it prints.
"""

from __future__ import annotations

import json

from ..errors import InputError
from .build import AUDIT_VERSION, AuditReport

FORMATS = ("markdown", "html", "json")


def render(report: AuditReport, fmt: str = "markdown") -> str:
    """The report as ``markdown``, ``html`` or ``json`` text."""
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2, ensure_ascii=True) + "\n"
    if fmt == "markdown":
        from .markdown import render_markdown

        return render_markdown(report)
    if fmt == "html":
        from .html import render_html

        return render_html(report)
    raise InputError(f"unknown audit format {fmt!r}; expected one of: {', '.join(FORMATS)}")


__all__ = ["AUDIT_VERSION", "FORMATS", "AuditReport", "render"]
