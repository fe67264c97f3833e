"""The communication protocol: recipients, templates, rendering, delivery over real SMTP and HTTP, due notices."""

from __future__ import annotations

import copy
import datetime as dt
import email
import email.policy
import hashlib
import os
import socket
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest

from harness.clock import FixedClock, format_timestamp, parse_timestamp
from harness.errors import InputError
from harness.incidents.model import Incident, Record, event_from_json, fold
from harness.incidents.notices import (
    TEMPLATE_LIMIT,
    VARIABLES,
    DueNotice,
    RenderedNotice,
    applicable_notices,
    audience_recipients,
    deliver,
    escalation,
    notice_fields,
    render_notice,
    unsent,
    variables,
)
from harness.incidents.store import IncidentStore
from harness.io.schema import validator
from harness.model.playbook import Playbook
from harness.release.notify import Notice, NotifyError, OutboxNotifier, SmtpNotifier, WebhookNotifier

POLICIES = Path(__file__).resolve().parents[1] / "policies"
SHIPPED = POLICIES / "templates" / "notices"
DETECTED = parse_timestamp("2026-03-09T15:42:00Z")
AWARE = parse_timestamp("2026-03-09T16:10:00Z")

PLAYBOOK: dict[str, Any] = {
    "version": "1.0.0",
    "owner": "governance-lead@example.com",
    "severities": {
        "sev1": {"meaning": "critical", "sla": {"contain": "1h"}},
        "sev2": {"meaning": "major", "sla": {"rca": "24h"}},
        "sev3": {"meaning": "minor", "sla": {"fix": "72h"}},
    },
    "roles": {"governance_lead": "governance-lead@example.com", "security_officer": "security-officer@example.com",
              "incident_commander": "ai-oncall@example.com"},
    "stakeholders": {"product": "support-bot-product@example.com", "risk": "risk-office@example.com"},
    "regulatory_clocks": [
        {"id": "gdpr-art33", "regime": "GDPR Art. 33 (personal data breach)", "when": "personal_data",
         "due_after": "72h", "from": "became_aware"},
        {"id": "ai-act-art73-serious-incident", "regime": "EU AI Act Art. 73(2) (serious incident)",
         "when": "serious_incident", "due_after": "15d", "from": "became_aware"},
        {"id": "ai-act-art73-death", "regime": "EU AI Act Art. 73(4) (death)", "when": "death",
         "due_after": "10d", "from": "detected"},
    ],
    "notices": {
        "templates": "templates/notices",
        "escalate_on_open": ["sev1"],
        "escalate_to": ["governance_lead", "security_officer"],
        "internal": {"due_after": "1h", "severities": ["sev1", "sev2"], "audiences": ["internal", "legal", "pr"]},
        "after_containment": ["customers", "partners"],
        "recipients": {
            "internal": ["ai-governance@example.com", "ticket+ai@example.com"],
            "legal": ["legal@example.com"],
            "pr": ["press-office@example.com"],
            "regulators": ["breach-notifications@dpa.example.eu"],
            "customers": ["affected-customers@lists.example.com"],
            "partners": ["partners@lists.example.com"],
        },
    },
}

BREACH: dict[str, Any] = {
    "nature": "The support assistant disclosed other customers' e-mail addresses and phone numbers"
              " in answers about orders (confidentiality breach).",
    "data_subjects": {"categories": ["customers"], "approximate_number": 14},
    "records": {"categories": ["e-mail addresses", "phone numbers", "partial card numbers"],
                "approximate_number": 31},
    "contact": "Data Protection Officer, dpo@example.com, +49 30 1234 5678",
    "consequences": "Unsolicited contact and phishing aimed at the customers concerned.",
    "measures": "Endpoint disabled; model rolled back to 0.9.1; affected customers told on 2026-03-10.",
}

RECORD: dict[str, Any] = {
    "id": "INC-2026-0001",
    "title": "Support assistant read other customers' contact details out of order records",
    "summary": "The assistant answered 'who ordered this?' with another customer's e-mail and phone number.\n",
    "severity": "sev1",
    "category": "privacy",
    "detected": "2026-03-09T15:42:00Z",
    "became_aware": "2026-03-09T16:10:00Z",
    "model": "acme-support-assistant",
    "model_version": "0.9.2",
    "endpoint": "https://api.example.com/v1/support",
    "flags": {"personal_data": True},
    "breach": BREACH,
}

CONTAINED = {"seq": 1, "type": "contained", "at": "2026-03-09T16:20:00Z", "recorded_at": "2026-03-09T16:21:00Z",
             "by": "oncall@example.com", "action": "disable-endpoint", "outcome": "done", "contains": True}


def playbook(*, without: tuple[str, ...] = (), **notices: Any) -> Playbook:
    """The test playbook with ``notices`` settings changed and the ``without`` ones left out."""
    data = copy.deepcopy(PLAYBOOK)
    data["notices"].update(notices)
    for key in without:
        del data["notices"][key]
    errors = list(validator("playbook").iter_errors(data))
    assert not errors, errors[0].message
    return Playbook.from_data(data)


def incident(events: tuple[Mapping[str, Any], ...] = (CONTAINED,), **changes: Any) -> Incident:
    data = {**copy.deepcopy(RECORD), **changes}
    data = {k: v for k, v in data.items() if v is not None}
    errors = list(validator("incident").iter_errors(data))
    assert not errors, errors[0].message
    return fold(Record.from_data(data, Path("incidents/INC-2026-0001.yaml")),
                [event_from_json(e, n) for n, e in enumerate(events, 1)])


def templates(tmp_path: Path, **files: str) -> Path:
    """A policies folder whose notice templates are ``files`` (name without .md -> text)."""
    folder = tmp_path / "policies" / "templates" / "notices"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / f"{name}.md").write_text(text, encoding="utf-8")
    return tmp_path / "policies"


# -- recipients ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("audience", "expected"), [
    pytest.param("legal", ("legal@example.com",), id="notices-recipients"),
    pytest.param("risk", ("risk-office@example.com",), id="stakeholder"),
    pytest.param("security_officer", ("security-officer@example.com",), id="role"),
    pytest.param("escalation", ("governance-lead@example.com", "security-officer@example.com"), id="escalation"),
])
def test_audience_recipients(audience: str, expected: tuple[str, ...]) -> None:
    assert audience_recipients(playbook(), audience) == expected


def test_unknown_audience_names_it_and_the_known_ones() -> None:
    with pytest.raises(InputError) as caught:
        audience_recipients(playbook(), "auditors")
    message = str(caught.value)
    assert "no recipients for audience 'auditors'" in message
    assert "notices.recipients.auditors" in message
    assert "known audiences: customers, escalation, governance_lead, incident_commander, internal, legal" in message


def test_an_audience_is_a_name_not_a_path() -> None:
    with pytest.raises(InputError, match=r"audience '\.\./\.\./etc/passwd': expected lower-case"):
        render_notice(incident(), playbook(), POLICIES, "../../etc/passwd")


# -- the shipped templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("audience", "clock", "template", "subject", "says"), [
    pytest.param("internal", None, "internal.md",
                 "[sev1] INC-2026-0001: Support assistant read other customers' contact details out of order records",
                 ["acme-support-assistant 0.9.2 (endpoint: https://api.example.com/v1/support)",
                  "Contained:    2026-03-09T16:20:00.000Z",
                  "Actions done: disable-endpoint (2026-03-09T16:20:00.000Z)",
                  "another customer's e-mail", "incident contact: ai-oncall@example.com"], id="internal"),
    pytest.param("legal", None, "legal.md", "[sev1] Legal review requested: INC-2026-0001 Support assistant read"
                 " other customers' contact details out of order records",
                 ["Aware since:  2026-03-09T16:10:00.000Z (regulatory clocks run from here)"], id="legal"),
    pytest.param("pr", None, "pr.md", "[sev1] Communications hold: INC-2026-0001 Support assistant read other"
                 " customers' contact details out of order records", ["holding line"], id="pr"),
    pytest.param("regulators", "gdpr-art33", "regulators-gdpr-art33.md",
                 "Personal data breach notification (GDPR Art. 33): INC-2026-0001",
                 ["Controller became aware:       2026-03-09T16:10:00.000Z",
                  "(a) Nature of the personal data breach\n" + BREACH["nature"],
                  "Categories of data subjects:            customers",
                  "Approximate number of data subjects:    14",
                  "Categories of personal data records:    e-mail addresses, phone numbers, partial card numbers",
                  "Approximate number of records:          31",
                  "(b) Data protection officer or other contact point\n" + BREACH["contact"],
                  "(c) Likely consequences of the breach\n" + BREACH["consequences"],
                  "its possible adverse effects\n" + BREACH["measures"]], id="gdpr"),
    pytest.param("regulators", "ai-act-art73-serious-incident", "regulators.md",
                 "Serious incident report (EU AI Act Art. 73): INC-2026-0001",
                 ["(EU AI Act Art. 73(2) (serious incident))", "System:            acme-support-assistant",
                  "Version:           0.9.2", "Report due by:                         2026-03-24T16:10:00.000Z",
                  "Corrective actions taken so far: disable-endpoint"], id="ai-act"),
    pytest.param("customers", None, "customers.md",
                 "An update about a problem with our automated assistant (INC-2026-0001)",
                 ["On 2026-03-09T15:42:00.000Z we found a problem", "quote reference INC-2026-0001"], id="customers"),
    pytest.param("partners", None, "partners.md", "Incident statement for partners: INC-2026-0001",
                 ["When:          detected 2026-03-09T15:42:00.000Z, stopped 2026-03-09T16:20:00.000Z."],
                 id="partners"),
    pytest.param("escalation", None, "escalation.md", "[ESCALATION sev1] INC-2026-0001: Support assistant read"
                 " other customers' contact details out of order records",
                 ["harness incident show INC-2026-0001"], id="escalation"),
])
def test_each_shipped_template_renders(audience: str, clock: str | None, template: str, subject: str,
                                       says: list[str]) -> None:
    flags = {"personal_data": True, "serious_incident": True}
    rendered = render_notice(incident(flags=flags), playbook(), POLICIES, audience, clock_id=clock)
    assert rendered.template == str(SHIPPED / template)
    assert rendered.template_sha256 == hashlib.sha256((SHIPPED / template).read_bytes()).hexdigest()
    assert rendered.subject == subject
    for text in says:
        assert text in rendered.body
    assert "$" not in rendered.body and "not recorded" not in rendered.body
    assert rendered.clock == clock or (rendered.clock == "internal" and audience in ("internal", "legal", "pr"))
    expected = PLAYBOOK["notices"]["recipients"].get(audience, ["governance-lead@example.com",
                                                                "security-officer@example.com"])
    assert rendered.recipients == tuple(expected)


def test_every_documented_variable_has_a_value() -> None:
    values = variables(incident(), playbook(), "GDPR Art. 33", AWARE)
    assert tuple(values) == VARIABLES
    assert [name for name, value in values.items() if value is None] == []
    assert values["breach_data_subjects_categories"] == "customers" and values["breach_records_number"] == "31"
    assert values["contact"] == "ai-oncall@example.com" and values["due_at"] == "2026-03-09T16:10:00.000Z"


def test_a_record_without_summary_or_endpoint_says_not_recorded() -> None:
    rendered = render_notice(incident(summary=None, endpoint=None), playbook(), POLICIES, "internal")
    assert "(endpoint: not recorded)" in rendered.body
    assert "What happened:\nnot recorded\n" in rendered.body


# -- what a template may not do -----------------------------------------------------------------------------


def test_gdpr_notice_without_the_art33_content_names_each_missing_point() -> None:
    breach = {k: v for k, v in BREACH.items() if k not in ("contact", "measures", "records")}
    with pytest.raises(InputError) as caught:
        render_notice(incident(breach=breach), playbook(), POLICIES, "regulators")
    error = caught.value
    assert error.location.file == str(SHIPPED / "regulators-gdpr-art33.md")
    assert error.location.line == 18  # the first missing one: the records' categories
    message = error.message
    assert "breach_records_categories (breach.records.categories in the record; GDPR Art. 33(3)(a) the categories" \
        " of personal data records concerned)" in message
    assert "breach_records_number (breach.records.approximate_number in the record; GDPR Art. 33(3)(a)" in message
    assert "breach_contact (breach.contact in the record; GDPR Art. 33(3)(b) the name and contact details of the" \
        " DPO or other contact point)" in message
    assert "breach_measures (breach.measures in the record; GDPR Art. 33(3)(d) the measures taken or proposed" \
        in message
    assert "breach_nature" not in message and "consequences" not in message
    assert "add them to incidents/INC-2026-0001.yaml or pass --field NAME=VALUE" in message


def test_a_field_supplies_what_the_record_lacks_but_never_overrides_it() -> None:
    breach = {k: v for k, v in BREACH.items() if k != "measures"}
    rendered = render_notice(incident(breach=breach), playbook(), POLICIES, "regulators",
                             fields={"breach_measures": "Endpoint disabled at 16:20 UTC."})
    assert "its possible adverse effects\nEndpoint disabled at 16:20 UTC.\n" in rendered.body
    with pytest.raises(InputError, match="--field title: title comes from the incident record"):
        render_notice(incident(), playbook(), POLICIES, "internal", fields={"title": "Nothing to see"})
    with pytest.raises(InputError, match="--field 'Bad-Name': expected a name"):
        render_notice(incident(), playbook(), POLICIES, "internal", fields={"Bad-Name": "x"})


def test_unknown_variable_names_the_template_and_line(tmp_path: Path) -> None:
    policies = templates(tmp_path, legal="Subject: $incident_id\n\nDear $recipient_name,\n\n${incident_title}\n")
    with pytest.raises(InputError) as caught:
        render_notice(incident(), playbook(), policies, "legal")
    assert caught.value.location.file == str(policies / "templates" / "notices" / "legal.md")
    assert caught.value.location.line == 3
    assert "unknown variable(s) $recipient_name (line 3), $incident_title (line 5); known: incident_id, title," \
        in caught.value.message
    assert "pass others with --field NAME=VALUE" in caught.value.message
    rendered = render_notice(incident(), playbook(), policies, "legal",
                             fields={"recipient_name": "Ms Legal", "incident_title": "t"})
    assert rendered.body == "Dear Ms Legal,\n\nt\n"


def test_a_clock_variable_in_a_notice_without_a_clock_is_refused(tmp_path: Path) -> None:
    policies = templates(tmp_path, customers="Subject: s\n\nReport due by $due_at.\n")
    with pytest.raises(InputError, match=r"needs due_at \(only a notice under a clock has one\)"):
        render_notice(incident(), playbook(), policies, "customers")


@pytest.mark.parametrize(("text", "line", "message"), [
    pytest.param("Title: x\n\nbody\n", 1, "expected the first line to be 'Subject: ...'", id="no-subject"),
    pytest.param("Subject: x\nbody\n", 2, "expected a blank line", id="no-blank-line"),
    pytest.param("Subject:   \n\nbody\n", 1, "the Subject: line is empty", id="empty-subject"),
    pytest.param("Subject: x\n\n\n", 3, "no body", id="no-body"),
    pytest.param("Subject: x\n\nIt costs $5.\n", 3, "write $$ for a literal dollar sign", id="bare-dollar"),
])
def test_malformed_templates(tmp_path: Path, text: str, line: int, message: str) -> None:
    policies = templates(tmp_path, pr=text)
    with pytest.raises(InputError) as caught:
        render_notice(incident(), playbook(), policies, "pr")
    assert message in caught.value.message
    assert caught.value.location.line == line


def test_a_missing_template_names_the_paths_tried(tmp_path: Path) -> None:
    policies = templates(tmp_path)
    folder = policies / "templates" / "notices"
    with pytest.raises(InputError) as caught:
        render_notice(incident(), playbook(), policies, "regulators")
    assert caught.value.message == ("no notice template for audience 'regulators': expected"
                                    f" {folder}/regulators-gdpr-art33.md or {folder}/regulators.md")


def test_template_files_are_bounded_utf8_regular_files(tmp_path: Path) -> None:
    policies = templates(tmp_path)
    folder = policies / "templates" / "notices"
    (folder / "legal.md").write_bytes(b"Subject: x\n\n" + b"a" * TEMPLATE_LIMIT)
    with pytest.raises(InputError, match=f"larger than {TEMPLATE_LIMIT} bytes"):
        render_notice(incident(), playbook(), policies, "legal")
    (folder / "pr.md").write_bytes(b"Subject: x\n\ncaf\xe9\n")
    with pytest.raises(InputError, match="not valid UTF-8 at byte 15"):
        render_notice(incident(), playbook(), policies, "pr")
    os.mkfifo(folder / "internal.md")  # opening it for reading would block without O_NONBLOCK
    with pytest.raises(InputError, match="not a regular file"):
        render_notice(incident(), playbook(), policies, "internal")


def test_dollar_signs_in_values_are_not_expanded_twice(tmp_path: Path) -> None:
    policies = templates(tmp_path, legal="Subject: $title\n\n$summary\n$note\nPrice: $$5\n")
    record = incident(title="Leak of $incident_id", summary="It printed ${model} and $breach_nature.")
    rendered = render_notice(record, playbook(), policies, "legal", fields={"note": "$title ${incident_id} $"})
    assert rendered.subject == "Leak of $incident_id"
    assert rendered.body == "It printed ${model} and $breach_nature.\n$title ${incident_id} $\nPrice: $5\n"


def test_a_value_cannot_add_header_lines_to_the_subject(tmp_path: Path) -> None:
    policies = templates(tmp_path, legal="Subject: [$severity] $title\n\nbody $title\n")
    record = incident(title="Leak\r\nBcc: attacker@example.com\x00\u2028X-Evil: 1")
    rendered = render_notice(record, playbook(), policies, "legal")
    assert rendered.subject == "[sev1] Leak Bcc: attacker@example.com X-Evil: 1"
    assert rendered.body == "body Leak\nBcc: attacker@example.com\u2028X-Evil: 1\n"


# -- regulatory clocks --------------------------------------------------------------------------------------


def test_regulators_need_a_clock_that_applies() -> None:
    both = incident(flags={"personal_data": True, "serious_incident": True})
    with pytest.raises(InputError) as caught:
        render_notice(both, playbook(), POLICIES, "regulators")
    assert caught.value.message == ("a notice to regulators names its regulatory clock (--clock), and several"
                                    " apply; applicable to INC-2026-0001: gdpr-art33, ai-act-art73-serious-incident")
    with pytest.raises(InputError, match=r"regulatory clock 'ai-act-art73-death' does not apply to INC-2026-0001"
                                         r" \(applicable: gdpr-art33, ai-act-art73-serious-incident;"):
        render_notice(both, playbook(), POLICIES, "regulators", clock_id="ai-act-art73-death")
    with pytest.raises(InputError, match=r"none applies .* applicable to INC-2026-0001: none"):
        render_notice(incident(flags={"personal_data": False}), playbook(), POLICIES, "regulators")
    with pytest.raises(InputError, match="clock 'gdpr-art33' is for notices to regulators"):
        render_notice(both, playbook(), POLICIES, "customers", clock_id="gdpr-art33")
    only = render_notice(incident(), playbook(), POLICIES, "regulators")
    assert only.clock == "gdpr-art33" and only.template.endswith("regulators-gdpr-art33.md")


def test_applicable_notices_follow_the_flags_and_the_severity() -> None:
    book = playbook()
    classified = {"seq": 2, "type": "classified", "at": "2026-03-09T17:00:00Z", "recorded_at": "2026-03-09T17:00:00Z",
                  "by": "oncall@example.com", "severity": "sev1", "reason": "a death was reported",
                  "flags": {"death": True}}
    due = applicable_notices(incident((CONTAINED, classified)), book)
    hour = dt.timedelta(hours=1)
    assert due == [
        DueNotice("internal", "internal", "internal notice within 1h of detection (playbook notices.internal)",
                  DETECTED, DETECTED + hour),
        DueNotice("legal", "internal", due[1].regime, DETECTED, DETECTED + hour),
        DueNotice("pr", "internal", due[2].regime, DETECTED, DETECTED + hour),
        DueNotice("regulators", "gdpr-art33", "GDPR Art. 33 (personal data breach)", AWARE, AWARE + 72 * hour),
        DueNotice("regulators", "ai-act-art73-death", "EU AI Act Art. 73(4) (death)", DETECTED,
                  DETECTED + dt.timedelta(days=10)),
    ]
    assert applicable_notices(incident(severity="sev3", flags={}), book) == []
    assert applicable_notices(incident(flags={}), playbook(without=("internal",))) == []
    legal = render_notice(incident(), playbook(without=("internal",)), POLICIES, "legal")
    assert legal.clock is None  # no internal clock in the playbook: the notice answers none


def test_escalation_on_open() -> None:
    book = playbook()
    assert escalation(incident(), book) == [("governance_lead", "governance-lead@example.com"),
                                            ("security_officer", "security-officer@example.com")]
    own = incident(roles={"security_officer": "deputy-so@example.com"})
    assert escalation(own, book)[1] == ("security_officer", "deputy-so@example.com")
    assert escalation(incident(severity="sev3"), book) == []
    with pytest.raises(InputError, match=r"notices\.escalate_to names role\(s\) dpo that roles: does not define"):
        escalation(incident(), playbook(escalate_to=["governance_lead", "dpo"]))


# -- delivery and the notice event --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HttpServer(Protocol):
    url: str
    received: list[dict[str, Any]]


def test_gdpr_notice_sent_over_smtp(smtp_server: tuple[Any, int]) -> None:
    handler, port = smtp_server
    smtp = SmtpNotifier("127.0.0.1", port, "incidents@example.com", timeout_s=5)
    rendered = render_notice(incident(), playbook(), POLICIES, "regulators")
    outcome, answer = deliver(rendered, smtp)
    assert outcome == "sent"
    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == ["breach-notifications@dpa.example.eu"]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["Message-ID"] == answer
    assert message["Subject"] == "Personal data breach notification (GDPR Art. 33): INC-2026-0001"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == rendered.body


def test_a_title_cannot_add_a_recipient_to_an_email(smtp_server: tuple[Any, int]) -> None:
    handler, port = smtp_server
    rendered = render_notice(incident(title="Leak\r\nBcc: attacker@example.com"), playbook(), POLICIES, "internal")
    outcome, _ = deliver(rendered, SmtpNotifier("127.0.0.1", port, "incidents@example.com", timeout_s=5))
    assert outcome == "sent"
    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == ["ai-governance@example.com", "ticket+ai@example.com"]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["Subject"] == "[sev1] INC-2026-0001: Leak Bcc: attacker@example.com"
    assert message["Bcc"] is None


def test_smtp_server_unreachable_is_a_failed_outcome() -> None:
    rendered = render_notice(incident(), playbook(), POLICIES, "legal")
    outcome, answer = deliver(rendered, SmtpNotifier("127.0.0.1", _free_port(), "incidents@example.com",
                                                     timeout_s=2))
    assert outcome == "failed"
    assert answer.startswith("SMTP delivery via 127.0.0.1:")


def test_webhook_delivery_and_a_failing_server(http_server: HttpServer) -> None:
    rendered = render_notice(incident(), playbook(), POLICIES, "internal")
    assert deliver(rendered, WebhookNotifier(http_server.url + "/hook", timeout_s=5)) == ("sent", "HTTP 200")
    posted = http_server.received[0]["json"]
    assert posted["audience"] == "internal" and posted["subject"] == rendered.subject
    assert posted["body"] == rendered.body
    assert posted["data"] == {"incident": "INC-2026-0001", "clock": "internal", "template": rendered.template,
                              "template_sha256": rendered.template_sha256}
    outcome, answer = deliver(rendered, WebhookNotifier(http_server.url + "/fail", timeout_s=5))
    assert outcome == "failed"
    assert "HTTP 500" in answer and answer.startswith("webhook delivery failed")


def test_any_notifier_error_is_recorded_not_raised(tmp_path: Path) -> None:
    class Broken:
        def send(self, notice: Notice) -> str:
            raise NotifyError("relay said no")

    rendered = render_notice(incident(), playbook(), POLICIES, "pr")
    assert deliver(rendered, Broken()) == ("failed", "relay said no")
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    outcome, answer = deliver(rendered, OutboxNotifier(blocker / "outbox"))
    assert outcome == "failed" and "cannot write notice" in answer


def test_a_failed_notice_stays_due_until_one_is_sent(tmp_path: Path, http_server: HttpServer) -> None:
    """The whole path through the store: render, deliver, record the event, and see what is still due."""
    clock = FixedClock("2026-03-09T16:30:00Z", step=dt.timedelta(seconds=1))
    store = IncidentStore(tmp_path / "incidents", clock=clock)
    created = store.create({k: v for k, v in RECORD.items() if k != "id"})
    book = playbook()
    assert [(d.audience, d.clock) for d in unsent(created, book)] == [
        ("internal", "internal"), ("legal", "internal"), ("pr", "internal"), ("regulators", "gdpr-art33")]

    def notify(audience: str, url: str) -> Incident:
        rendered = render_notice(store.load(created.id), book, POLICIES, audience)
        outcome, answer = deliver(rendered, WebhookNotifier(url, timeout_s=5))
        with store.transaction(created.id) as tx:
            return tx.append(tx.event("notice", by="oncall@example.com",
                                      **notice_fields(rendered, outcome, answer, "webhook")))

    failed = notify("regulators", http_server.url + "/fail")
    event = failed.events[-1]
    assert (event.get("outcome"), event.get("clock"), event.get("channel")) == ("failed", "gdpr-art33", "webhook")
    assert "HTTP 500" in event.get("answer")
    assert event.get("template_sha256") == hashlib.sha256(
        (SHIPPED / "regulators-gdpr-art33.md").read_bytes()).hexdigest()
    assert ("regulators", "gdpr-art33") in [(d.audience, d.clock) for d in unsent(failed, book)]
    sent = notify("regulators", http_server.url + "/hook")
    assert sent.events[-1].get("answer") == "HTTP 200"
    remaining = unsent(notify("legal", http_server.url + "/hook"), book)
    assert [(d.audience, d.clock) for d in remaining] == [("internal", "internal"), ("pr", "internal")]
    assert format_timestamp(remaining[0].due_at) == "2026-03-09T16:42:00.000Z"


def test_notice_fields_are_a_valid_notice_event() -> None:
    rendered = RenderedNotice("customers", None, ("a@example.com",), "s", "b", "t.md", "0" * 64, "INC-2026-0001")
    fields = notice_fields(rendered, "sent", "HTTP 200", "webhook")
    assert fields == {"audience": "customers", "outcome": "sent", "channel": "webhook",
                      "recipients": ["a@example.com"], "subject": "s", "answer": "HTTP 200", "template": "t.md",
                      "template_sha256": "0" * 64}
    event = {"seq": 1, "type": "notice", "at": "2026-03-09T17:00:00Z", "recorded_at": "2026-03-09T17:00:00Z",
             "by": "x@example.com", **fields}
    assert not list(validator("incident-event").iter_errors(event))
    with pytest.raises(InputError, match="channel 'Web Hook'"):
        notice_fields(rendered, "sent", "", "Web Hook")


# -- bounds and links (hostile templates) -------------------------------------------------------------------


def test_a_template_that_repeats_a_long_value_is_refused_before_it_is_rendered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 x a 4 KB summary is 1.2 MB: refused by the estimate, before ``substitute`` builds anything."""
    policies = templates(tmp_path, legal="Subject: $incident_id\n\n" + "$summary\n" * 300)
    record = incident(summary="s" * 4096)
    real_substitute = string.Template.substitute

    def substitute(self: Any, *args: Any, **kwargs: Any) -> str:
        assert len(self.template) < 100, "a body over the limit was substituted"
        return real_substitute(self, *args, **kwargs)

    monkeypatch.setattr("string.Template.substitute", substitute)
    with pytest.raises(InputError) as caught:
        render_notice(record, playbook(), policies, "legal")
    assert caught.value.location.file == str(policies / "templates" / "notices" / "legal.md")
    assert caught.value.message.startswith("the rendered body would be about 1231")
    assert "a notice body is limited to 1048576 (largest: $summary (300 x 4096 characters))" in caught.value.message
    monkeypatch.undo()
    fine = templates(tmp_path / "ok", legal="Subject: $incident_id\n\n" + "$summary\n" * 200)
    assert len(render_notice(record, playbook(), fine, "legal").body) == 200 * 4097


def test_a_subject_is_bounded_too(tmp_path: Path) -> None:
    policies = templates(tmp_path, legal="Subject: [$tag] $title\n\nbody\n")
    with pytest.raises(InputError, match=r"the rendered subject would be about \d+ characters; a notice subject is"
                                         r" limited to 1000 \(largest: \$tag \(1 x 1000 characters\)") as caught:
        render_notice(incident(), playbook(), policies, "legal", fields={"tag": "t" * 1000})
    assert caught.value.location.line == 1
    rendered = render_notice(incident(), playbook(), policies, "legal", fields={"tag": "t" * 100})
    assert rendered.subject.startswith("[" + "t" * 100 + "] Support assistant")


SECRET = "root:x:0:0:secret-first-line:/root:/bin/bash\n"


def test_a_template_that_is_a_symbolic_link_is_refused_unread(tmp_path: Path) -> None:
    policies = templates(tmp_path)
    secret = tmp_path / "passwd"
    secret.write_text(SECRET, encoding="utf-8")
    link = policies / "templates" / "notices" / "legal.md"
    link.symlink_to(secret)
    with pytest.raises(InputError) as caught:
        render_notice(incident(), playbook(), policies, "legal")
    assert caught.value.location.file == str(link)
    assert caught.value.message.startswith("is a symbolic link; expected a notice template that is a file")
    assert "secret-first-line" not in str(caught.value)
    # a link inside the policies folder is no better, and a dangling one is no "missing template"
    (policies / "real.md").write_text("Subject: s\n\nbody\n", encoding="utf-8")
    link.unlink()
    link.symlink_to(policies / "real.md")
    with pytest.raises(InputError, match="is a symbolic link"):
        render_notice(incident(), playbook(), policies, "legal")
    link.unlink()
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError, match="is a symbolic link"):
        render_notice(incident(), playbook(), policies, "legal")


def test_a_template_folder_linked_outside_the_policies_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "legal.md").write_text(SECRET, encoding="utf-8")
    policies = tmp_path / "policies"
    (policies / "templates").mkdir(parents=True)
    (policies / "templates" / "notices").symlink_to(outside)
    with pytest.raises(InputError) as caught:
        render_notice(incident(), playbook(), policies, "legal")
    assert caught.value.message == (f"lies outside the policies folder {policies} (its folders are links);"
                                    " expected a notice template inside it")
    assert "secret-first-line" not in str(caught.value)


# -- regulatory clocks and flag history ---------------------------------------------------------------------


def _classify(seq: int, at: str, **flags: bool) -> dict[str, Any]:
    return {"seq": seq, "type": "classified", "at": at, "recorded_at": at, "by": "oncall@example.com",
            "severity": "sev1", "reason": "reclassified", "flags": flags}


def _regulatory(record: Incident) -> list[str]:
    return [d.clock for d in applicable_notices(record, playbook()) if d.audience == "regulators"]


def test_clearing_a_flag_after_its_clock_fell_due_keeps_the_obligation() -> None:
    """GDPR: aware 2026-03-09T16:10Z, due 72h later (2026-03-12T16:10Z); the flag is cleared on the 13th."""
    cleared = incident((CONTAINED, _classify(2, "2026-03-13T09:00:00Z", personal_data=False)))
    assert cleared.flags["personal_data"] is False
    assert _regulatory(cleared) == ["gdpr-art33"]
    assert [(d.audience, d.clock) for d in unsent(cleared, playbook())][-1] == ("regulators", "gdpr-art33")
    rendered = render_notice(cleared, playbook(), POLICIES, "regulators")  # the overdue notice can still be sent
    assert rendered.clock == "gdpr-art33"
    # cleared exactly at the deadline: it had not fallen due yet
    assert _regulatory(incident((CONTAINED, _classify(2, "2026-03-12T16:10:00Z", personal_data=False)))) == []


def test_a_flag_set_by_mistake_and_cleared_before_the_deadline_removes_the_clock() -> None:
    cleared = incident((CONTAINED, _classify(2, "2026-03-09T17:00:00Z", personal_data=False)))
    assert _regulatory(cleared) == []
    with pytest.raises(InputError, match="none applies"):
        render_notice(cleared, playbook(), POLICIES, "regulators")
    # set by classify (not in the record), then cleared: before the deadline gone, after it kept
    set_then = _classify(2, "2026-03-09T17:00:00Z", serious_incident=True)
    early = incident((CONTAINED, set_then, _classify(3, "2026-03-10T09:00:00Z", serious_incident=False)), flags={})
    late = incident((CONTAINED, set_then, _classify(3, "2026-03-25T09:00:00Z", serious_incident=False)), flags={})
    assert _regulatory(early) == []
    assert _regulatory(late) == ["ai-act-art73-serious-incident"]
    # set again after a mistaken clear: the clock is back while the flag is set
    again = incident((CONTAINED, _classify(2, "2026-03-09T17:00:00Z", personal_data=False),
                      _classify(3, "2026-03-20T09:00:00Z", personal_data=True)))
    assert _regulatory(again) == ["gdpr-art33"]
