"""The communication protocol: who is told of an incident, when, and in what words.

Notices are rendered from templates in the policy repository, one per audience
(``<policies>/<notices.templates>/<audience>.md``, or ``<audience>-<clock>.md`` for one
regulatory clock): a ``Subject:`` line, a blank line, then the body, with ``$name``
placeholders filled by :class:`string.Template` from the incident record (never ``eval``,
never format-string attribute access). A template that names a variable nobody knows, or
a fact the record lacks (the GDPR notice without the Art. 33(3) content), is refused
before anything is sent. :func:`deliver` hands a rendered notice to a notifier and never
raises for a failed delivery: the failure is recorded and the notice stays due.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import stat
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import format_timestamp
from ..errors import EnvError, InputError, Location
from ..model.playbook import Playbook, RegulatoryClock, format_duration
from ..release.notify import Notice, Notifier
from .model import Incident

#: the largest template read
TEMPLATE_LIMIT = 1024 * 1024
#: the longest rendered body, in characters, estimated before anything is substituted
BODY_LIMIT = 1024 * 1024
#: the longest rendered subject, in characters, estimated the same way
SUBJECT_LIMIT = 1000
#: the most characters of a channel's answer kept in the notice event
ANSWER_LIMIT = 2048
REGULATORS = "regulators"
ESCALATION = "escalation"
INTERNAL_CLOCK = "internal"
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")

#: what a template may name besides the caller's ``fields``
VARIABLES = (
    "incident_id", "title", "summary", "severity", "category", "detected", "became_aware", "model",
    "model_version", "endpoint", "contained", "containment_actions", "regime", "due_at", "contact",
    "breach_nature", "breach_data_subjects_categories", "breach_data_subjects_number", "breach_records_categories",
    "breach_records_number", "breach_contact", "breach_consequences", "breach_measures",
)

#: each breach variable: where the record keeps it, and the point of GDPR Art. 33(3) that needs it
BREACH_FIELDS: Mapping[str, tuple[tuple[str, ...], str]] = {
    "breach_nature": (("nature",), "(a) the nature of the breach"),
    "breach_data_subjects_categories": (("data_subjects", "categories"),
                                        "(a) the categories of data subjects concerned"),
    "breach_data_subjects_number": (("data_subjects", "approximate_number"),
                                    "(a) the approximate number of data subjects concerned"),
    "breach_records_categories": (("records", "categories"),
                                  "(a) the categories of personal data records concerned"),
    "breach_records_number": (("records", "approximate_number"),
                              "(a) the approximate number of personal data records concerned"),
    "breach_contact": (("contact",), "(b) the name and contact details of the DPO or other contact point"),
    "breach_consequences": (("consequences",), "(c) the likely consequences of the breach"),
    "breach_measures": (("measures",), "(d) the measures taken or proposed to address the breach"),
}
#: what a template shows for these when neither the record nor a --field gives them
OPTIONAL: Mapping[str, str] = {"summary": "not recorded", "category": "not recorded", "endpoint": "not recorded"}


@dataclass(frozen=True)
class RenderedNotice:
    """A notice ready to send: to whom, what it says, and the exact template it came from."""

    audience: str
    clock: str | None
    recipients: tuple[str, ...]
    subject: str
    body: str
    #: the template's path
    template: str
    #: the sha256 of the template's bytes as read
    template_sha256: str
    incident_id: str = ""


@dataclass(frozen=True)
class DueNotice:
    """A notice an incident owes: to an audience, under a clock, from a moment, by a deadline."""

    audience: str
    clock: str
    regime: str
    start: dt.datetime
    due_at: dt.datetime


# -- recipients --------------------------------------------------------------------------------------------


def _check_name(text: str, what: str) -> str:
    if not isinstance(text, str) or not _NAME.match(text):
        raise InputError(f"{what} {text!r}: expected lower-case letters, digits, _ and -, like regulators")
    return text


def _known_audiences(playbook: Playbook) -> list[str]:
    names = [*playbook.notices.recipients, *playbook.stakeholders, *playbook.roles]
    return sorted(set(names) | ({ESCALATION} if playbook.notices.escalate_to else set()))


def _playbook_location(playbook: Playbook, json_path: str | None = None) -> Location | None:
    return Location(playbook.source.path, None, None, json_path) if playbook.source else None


def audience_recipients(playbook: Playbook, audience: str) -> tuple[str, ...]:
    """The addresses of ``audience``: ``notices.recipients``, else a stakeholder, else a role of the playbook.

    ``escalation`` is, unless ``notices.recipients`` names it, the holders of the ``notices.escalate_to`` roles.
    """
    _check_name(audience, "audience")
    if audience in playbook.notices.recipients:
        return tuple(playbook.notices.recipients[audience])
    if audience in playbook.stakeholders:
        return (playbook.stakeholders[audience],)
    if audience in playbook.roles:
        return (playbook.roles[audience],)
    if audience == ESCALATION and playbook.notices.escalate_to:
        return tuple(address for _, address in _role_addresses(playbook.notices.escalate_to, playbook, {}))
    known = ", ".join(_known_audiences(playbook)) or "none"
    raise InputError(f"no recipients for audience {audience!r}: add notices.recipients.{audience} to the playbook"
                     f" (known audiences: {known})", _playbook_location(playbook, "$.notices.recipients"))


def _role_addresses(roles: Iterable[str], playbook: Playbook, own: Mapping[str, str]) -> list[tuple[str, str]]:
    """Each role with its holder: the incident's own ``roles:`` over the playbook's."""
    found, missing = [], []
    for role in roles:
        address = own.get(role) or playbook.roles.get(role)
        if address:
            found.append((role, address))
        else:
            missing.append(role)
    if missing:
        raise InputError(f"notices.escalate_to names role(s) {', '.join(missing)} that roles: does not define"
                         f" (known roles: {', '.join(playbook.roles) or 'none'})",
                         _playbook_location(playbook, "$.notices.escalate_to"))
    return found


def escalation(incident: Incident, playbook: Playbook) -> list[tuple[str, str]]:
    """``(role, address)`` to tell at once when an incident of an ``escalate_on_open`` severity opens; else empty."""
    if incident.severity not in playbook.notices.escalate_on_open:
        return []
    return _role_addresses(playbook.notices.escalate_to, playbook, incident.record.get("roles") or {})


# -- clocks ------------------------------------------------------------------------------------------------


def _clock_start(incident: Incident, clock: RegulatoryClock) -> dt.datetime:
    return incident.detected if clock.start == "detected" else incident.became_aware


def flag_at(incident: Incident, flag: str, moment: dt.datetime) -> bool:
    """Whether ``flag`` was set at ``moment``: the record's ``flags`` hold from detection, and each
    ``classified`` event that names the flag changes it (a change at ``moment`` counts). Setting a flag counts
    from its ``at``; clearing it only from when it was recorded, if later: a clear back-dated to before a
    deadline that had already passed cannot take back the obligation."""
    value = incident.record.flags.get(flag) is True
    for event in incident.of_type("classified"):
        flags = event.get("flags") or {}
        if flag not in flags:
            continue
        sets = flags[flag] is True
        effective = event.at if sets else max(event.at, incident.recorded(event))
        if effective <= moment:
            value = sets
    return value


def _clock_applies(incident: Incident, clock: RegulatoryClock) -> bool:
    """A clock applies while its flag is set, and stays once it fell due with the flag set.

    Clearing the flag (``classify --flag no-NAME``) before the deadline removes the clock (it was set by
    mistake); clearing it after leaves the obligation, overdue or answered, where it was.
    """
    if incident.flags.get(clock.when) is True:
        return True
    return flag_at(incident, clock.when, _clock_start(incident, clock) + clock.due_after)


def _applicable_clocks(incident: Incident, playbook: Playbook) -> list[RegulatoryClock]:
    return [c for c in playbook.regulatory_clocks if _clock_applies(incident, c)]


def _internal_applies(incident: Incident, playbook: Playbook) -> bool:
    """The internal notice is owed for a severity of ``notices.internal.severities`` now, or held when it fell due
    (a downgrade after the deadline does not take it back)."""
    notices = playbook.notices
    if notices.internal_within is None:
        return False
    due = incident.detected + notices.internal_within
    return incident.severity in notices.internal_severities or \
        incident.severity_at(due, list(playbook.severities)) in notices.internal_severities


def applicable_notices(incident: Incident, playbook: Playbook) -> list[DueNotice]:
    """Every notice the incident owes, soonest first.

    One to ``regulators`` per regulatory clock whose ``when`` flag the incident carries, or carried when the
    clock fell due (:func:`flag_at`), due ``due_after`` from awareness (or detection, per the clock's
    ``from``); and, when the playbook sets ``notices.internal``
    and the incident's severity is listed there, one per internal audience due that long after detection.
    """
    due = [DueNotice(REGULATORS, c.id, c.regime, _clock_start(incident, c), _clock_start(incident, c) + c.due_after)
           for c in _applicable_clocks(incident, playbook)]
    within = playbook.notices.internal_within
    if within is not None and _internal_applies(incident, playbook):
        due.extend(DueNotice(audience, INTERNAL_CLOCK, _internal_regime(within), incident.detected,
                             incident.detected + within) for audience in playbook.notices.internal_audiences)
    return sorted(due, key=lambda d: (d.due_at, d.audience, d.clock))


def unsent(incident: Incident, playbook: Playbook) -> list[DueNotice]:
    """The notices the incident owes that no ``sent`` notice event delivered yet (a failed one stays due)."""
    return [d for d in applicable_notices(incident, playbook) if not incident.sent(d.audience, d.clock)]


def _internal_regime(within: dt.timedelta) -> str:
    return f"internal notice within {format_duration(within)} of detection (playbook notices.internal)"


def _resolve_clock(incident: Incident, playbook: Playbook, audience: str,
                   clock_id: str | None) -> tuple[str | None, str | None, dt.datetime | None]:
    """The clock a notice to ``audience`` answers: its id, regime and deadline."""
    applicable = _applicable_clocks(incident, playbook)
    listed = ", ".join(c.id for c in applicable) or "none"
    if audience == REGULATORS:
        if clock_id is None:
            if len(applicable) != 1:
                why = "several apply" if applicable else "none applies (no flag of the incident starts one)"
                raise InputError(f"a notice to regulators names its regulatory clock (--clock), and {why};"
                                 f" applicable to {incident.id}: {listed}")
            clock_id = applicable[0].id
        chosen = next((c for c in applicable if c.id == clock_id), None)
        if chosen is None:
            raise InputError(f"regulatory clock {clock_id!r} does not apply to {incident.id}"
                             f" (applicable: {listed}; a clock applies when the incident's flag it names is true,"
                             " or was when the clock fell due)")
        start = _clock_start(incident, chosen)
        return chosen.id, chosen.regime, start + chosen.due_after
    within = playbook.notices.internal_within
    if clock_id not in (None, INTERNAL_CLOCK):
        raise InputError(f"clock {clock_id!r} is for notices to regulators; a notice to {audience} takes none"
                         + (" or 'internal'" if audience in playbook.notices.internal_audiences else ""))
    if audience in playbook.notices.internal_audiences and within is not None:
        return INTERNAL_CLOCK, _internal_regime(within), incident.detected + within
    if clock_id == INTERNAL_CLOCK:
        raise InputError(f"the internal clock is for {', '.join(playbook.notices.internal_audiences)} and needs"
                         " notices.internal.due_after in the playbook")
    return None, None, None


# -- templates ---------------------------------------------------------------------------------------------


def template_path(policies_dir: Path | str, playbook: Playbook, audience: str, clock_id: str | None = None) -> Path:
    """The template of a notice: ``<audience>-<clock>.md`` when it exists for that clock, else ``<audience>.md``.

    ``InputError`` for a template that is a symbolic link or lies outside the policies folder (once its
    folders' links are resolved): a template is a file of the policy repository, and what it points at
    is never read nor quoted.
    """
    folder = Path(policies_dir) / playbook.notices.templates
    names = [f"{_check_name(audience, 'audience')}.md"]
    if clock_id:
        names.insert(0, f"{audience}-{_check_name(clock_id, 'clock')}.md")
    for name in names:
        if os.path.lexists(folder / name):
            return _inside(folder / name, Path(policies_dir))
    tried = " or ".join(str(folder / n) for n in names)
    raise InputError(f"no notice template for audience {audience!r}: expected {tried}")


def _inside(path: Path, policies_dir: Path) -> Path:
    """``path``, a template that is no symbolic link and lies inside ``policies_dir``; else ``InputError``."""
    where = Location(str(path))
    if path.is_symlink():
        raise InputError("is a symbolic link; expected a notice template that is a file of the policies folder"
                         " (links are not followed)", where)
    real, root = os.path.realpath(path), os.path.realpath(policies_dir)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise InputError(f"lies outside the policies folder {policies_dir} (its folders are links); expected"
                         " a notice template inside it", where)
    return path


def read_template(path: Path) -> tuple[str, bytes]:
    """A template's text and its bytes: a UTF-8 regular file of at most :data:`TEMPLATE_LIMIT` bytes.

    A symbolic link is refused, never followed.
    """
    where = Location(str(path))
    if os.path.islink(path):
        raise InputError("is a symbolic link; expected a notice template that is a file of the policies folder"
                         " (links are not followed)", where)
    try:  # O_NONBLOCK: opening a FIFO planted where a template should be must not hang; O_NOFOLLOW: nor a link
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise InputError(f"cannot read notice template: {exc.strerror or exc}", where) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise InputError("not a regular file; expected a notice template", where)
        raw = handle.read(TEMPLATE_LIMIT + 1)
    if len(raw) > TEMPLATE_LIMIT:
        raise InputError(f"larger than {TEMPLATE_LIMIT} bytes; expected a notice template", where)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 at byte {exc.start}; expected a UTF-8 notice template", where) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n"), raw


def _split(text: str, path: Path) -> tuple[str, str]:
    """The subject template and the body template of a template file."""
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject:"):
        raise InputError(f"expected the first line to be 'Subject: ...', got {first[:60]!r}", Location(str(path), 1))
    second, _, body = rest.partition("\n")
    if second.strip():
        raise InputError("expected a blank line between the Subject: line and the body", Location(str(path), 2))
    if not first.removeprefix("Subject:").strip():
        raise InputError("the Subject: line is empty", Location(str(path), 1))
    if not body.strip():
        raise InputError("the template has no body after the Subject: line", Location(str(path), 3))
    return first.removeprefix("Subject:").strip(), body


def _placeholders(text: str, path: Path, first_line: int) -> dict[str, int]:
    """Each ``$name`` of a part of a template that starts at ``first_line``, with the line it first appears on.

    ``InputError`` for a ``$`` that starts no name.
    """
    found: dict[str, int] = {}
    for match in string.Template.pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + first_line
        if match.group("invalid") is not None:
            raise InputError("a '$' not followed by a variable name; write $$ for a literal dollar sign",
                             Location(str(path), line))
        name = match.group("named") or match.group("braced")
        if name:
            found.setdefault(name, line)
    return found


# -- variables ---------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else None
    return str(value)


def _dig(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def _containment_actions(incident: Incident) -> list[str]:
    done = []
    for event in incident.of_type("contained", "rollback"):
        if event.get("outcome") != "done":
            continue
        what = event.get("action") if event.type == "contained" else \
            f"rollback of {event.get('model')} from {event.get('from')} to {event.get('to')}"
        done.append(f"{what} ({format_timestamp(event.at)})")
    return done


def _contact(incident: Incident, playbook: Playbook) -> str | None:
    own = incident.record.get("roles") or {}
    for role in ("incident_commander", "governance_lead"):
        if own.get(role) or playbook.roles.get(role):
            return str(own.get(role) or playbook.roles.get(role))
    return playbook.owner


def variables(incident: Incident, playbook: Playbook, regime: str | None = None,
              due_at: dt.datetime | None = None) -> dict[str, str | None]:
    """The values a template may name (``None``: the record does not say)."""
    record = incident.record
    breach = record.get("breach") or {}
    values: dict[str, str | None] = {
        "incident_id": incident.id,
        "title": record.title,
        "summary": (record.get("summary") or "").strip() or None,
        "severity": incident.severity,
        "category": record.get("category"),
        "detected": format_timestamp(incident.detected),
        "became_aware": format_timestamp(incident.became_aware),
        "model": record.model,
        "model_version": record.model_version,
        "endpoint": record.get("endpoint"),
        "contained": format_timestamp(incident.contained_at) if incident.contained_at else "not yet",
        "containment_actions": ", ".join(_containment_actions(incident)) or "none yet",
        "regime": regime,
        "due_at": format_timestamp(due_at) if due_at else None,
        "contact": _contact(incident, playbook),
    }
    for name, (keys, _) in BREACH_FIELDS.items():
        values[name] = _text(_dig(breach, keys))
    return values


def _missing_message(names: list[str], incident: Incident, gdpr: bool) -> str:
    parts = []
    for name in names:
        if name in BREACH_FIELDS:
            keys, point = BREACH_FIELDS[name]
            text = f"{name} (breach.{'.'.join(keys)} in the record"
            parts.append(text + (f"; GDPR Art. 33(3){point})" if gdpr else ")"))
        elif name in ("regime", "due_at"):
            parts.append(f"{name} (only a notice under a clock has one)")
        else:
            parts.append(name)
    where = incident.record.path or f"{incident.id}.yaml"
    return (f"needs {', '.join(parts)}, which {incident.id} does not record: add them to {where} or pass"
            f" --field NAME=VALUE")


def _check_fields(fields: Mapping[str, str], values: Mapping[str, str | None]) -> None:
    for key, value in fields.items():
        if not isinstance(key, str) or not _FIELD.match(key):
            raise InputError(f"--field {key!r}: expected a name of lower-case letters, digits and _")
        if not isinstance(value, str):
            raise InputError(f"--field {key}: expected a text value, got {type(value).__name__}")
        if values.get(key) is not None:
            raise InputError(f"--field {key}: {key} comes from the incident record; edit the record to change it")


def _one_line(text: str) -> str:
    """``text`` on one line: control characters and line separators become spaces (no header injection)."""
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    return " ".join(cleaned.split())


def _body_text(text: str) -> str:
    return "".join(c for c in text.replace("\r\n", "\n")
                   if c in "\n\t" or unicodedata.category(c) != "Cc")


def _check_size(template: str, values: Mapping[str, str], limit: int, part: str, where: Location) -> None:
    """``InputError`` when ``template`` filled with ``values`` could be longer than ``limit`` characters.

    Estimated before substituting (the template's length plus each placeholder's value length once per
    occurrence), so a template that repeats a long value is refused without building the text.
    """
    size = len(template)
    counts: dict[str, int] = {}
    for match in string.Template.pattern.finditer(template):
        name = match.group("named") or match.group("braced")
        if name:
            counts[name] = counts.get(name, 0) + 1
    size += sum(count * len(values.get(name, "")) for name, count in counts.items())
    if size > limit:
        biggest = sorted(counts, key=lambda n: -counts[n] * len(values.get(n, "")))[:3]
        shown = ", ".join(f"${n} ({counts[n]} x {len(values.get(n, ''))} characters)" for n in biggest)
        raise InputError(f"the rendered {part} would be about {size} characters; a notice {part} is limited to"
                         f" {limit} (largest: {shown}); shorten the template or the values", where)


def render_notice(incident: Incident, playbook: Playbook, policies_dir: Path | str, audience: str, *,
                  clock_id: str | None = None, fields: Mapping[str, str] | None = None) -> RenderedNotice:
    """The notice to ``audience`` rendered from its template; ``InputError`` before anything is sent.

    A notice to ``regulators`` answers one regulatory clock that applies to the incident (``clock_id``, needed
    when more than one applies); a notice to an internal audience answers the ``internal`` clock.
    """
    _check_name(audience, "audience")
    clock, regime, due_at = _resolve_clock(incident, playbook, audience, clock_id)
    if audience == ESCALATION and audience not in playbook.notices.recipients:
        recipients = tuple(a for _, a in _role_addresses(playbook.notices.escalate_to, playbook,
                                                         incident.record.get("roles") or {}))
    else:
        recipients = audience_recipients(playbook, audience)
    path = template_path(policies_dir, playbook, audience, clock if audience == REGULATORS else None)
    text, raw = read_template(path)
    subject_template, body_template = _split(text, path)
    values = variables(incident, playbook, regime, due_at)
    extra = dict(fields or {})
    _check_fields(extra, values)
    values.update(extra)
    values.update({k: v for k, v in OPTIONAL.items() if values.get(k) is None})
    used = {**_placeholders(body_template, path, 3), **_placeholders(subject_template, path, 1)}
    unknown = sorted((n for n in used if n not in values), key=lambda n: used[n])
    if unknown:
        shown = ", ".join(f"${n} (line {used[n]})" for n in unknown)
        raise InputError(f"unknown variable(s) {shown}; known: {', '.join(values)}; pass others with"
                         " --field NAME=VALUE", Location(str(path), used[unknown[0]]))
    missing = sorted((n for n in used if values[n] is None), key=lambda n: used[n])
    if missing:
        gdpr = "gdpr" in (clock or "") or "GDPR" in (regime or "")
        raise InputError(_missing_message(missing, incident, gdpr), Location(str(path), used[missing[0]]))
    filled = {k: v for k, v in values.items() if v is not None}
    _check_size(subject_template, filled, SUBJECT_LIMIT, "subject", Location(str(path), 1))
    _check_size(body_template, filled, BODY_LIMIT, "body", Location(str(path), 3))
    subject = _one_line(string.Template(subject_template).substitute(filled))
    if not subject:
        raise InputError("the rendered subject is empty", Location(str(path), 1))
    body = _body_text(string.Template(body_template).substitute(filled))
    return RenderedNotice(audience, clock, recipients, subject, body, str(path), hashlib.sha256(raw).hexdigest(),
                          incident.id)


# -- delivery ----------------------------------------------------------------------------------------------


def deliver(rendered: RenderedNotice, notifier: Notifier) -> tuple[str, str]:
    """``('sent', the channel's answer)`` or ``('failed', why)``; a failed delivery never raises."""
    data = {"incident": rendered.incident_id, "clock": rendered.clock, "template": rendered.template,
            "template_sha256": rendered.template_sha256}
    notice = Notice(rendered.audience, rendered.recipients, rendered.subject, rendered.body,
                    {k: v for k, v in data.items() if v})
    try:
        answer = notifier.send(notice)
    except (EnvError, OSError) as exc:  # NotifyError is an EnvError
        return "failed", _bounded(str(exc) or type(exc).__name__)
    return "sent", _bounded(str(answer))


def _bounded(text: str) -> str:
    return text if len(text) <= ANSWER_LIMIT else text[: ANSWER_LIMIT - 3] + "..."


def notice_fields(rendered: RenderedNotice, outcome: str, answer: str, channel: str) -> dict[str, Any]:
    """The fields of the ``notice`` event that records a delivery (``incident-event.schema.json``)."""
    if outcome not in ("sent", "failed"):
        raise ValueError(f"outcome {outcome!r}: expected sent or failed")
    fields: dict[str, Any] = {"audience": rendered.audience}
    if rendered.clock:
        fields["clock"] = rendered.clock
    fields.update({"outcome": outcome, "channel": _check_name(channel, "channel"),
                   "recipients": list(rendered.recipients), "subject": rendered.subject, "answer": answer,
                   "template": rendered.template, "template_sha256": rendered.template_sha256})
    return fields
