"""Notifiers: a file outbox, a real loopback HTTP server and a real loopback SMTP server."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import re
import socket
import threading
from pathlib import Path
from typing import Any, Protocol

import pytest

from harness.errors import HarnessError, InputError
from harness.release.notify import (
    Notice,
    NotifyError,
    OutboxNotifier,
    SmtpNotifier,
    WebhookNotifier,
    notifier_from_config,
)

NOTICE = Notice(
    audience="Risk",
    recipients=("risk@example.com", "cro@example.com"),
    subject="[rollback] support-bot 7 → 6",
    body="support-bot was rolled back from 7 to 6.\nIncident: INC-2024-0001\n",
    data={"model": "support-bot", "from": "7", "to": "6", "incident": "INC-2024-0001"},
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- outbox ------------------------------------------------------------------------------


def test_outbox_writes_one_file_per_notice(tmp_path: Path) -> None:
    notifier = notifier_from_config({}, base=tmp_path)
    assert isinstance(notifier, OutboxNotifier)
    assert notifier.path == tmp_path / "audit" / "outbox"
    first = Path(notifier.send(NOTICE))
    second = Path(notifier.send(Notice("Product", ("pm@example.com",), "s", "b", {})))
    assert first.parent == second.parent == tmp_path / "audit" / "outbox"
    assert re.fullmatch(r"\d{8}T\d{6}\d{6}Z-Risk-[0-9a-f]{8}\.json", first.name)
    assert re.fullmatch(r"\d{8}T\d{6}\d{6}Z-Product-[0-9a-f]{8}\.json", second.name)
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, second.name])  # no temp files
    document = json.loads(first.read_text(encoding="utf-8"))
    assert document["audience"] == "Risk"
    assert document["recipients"] == list(NOTICE.recipients)
    assert document["subject"] == NOTICE.subject
    assert document["body"] == NOTICE.body
    assert document["data"] == dict(NOTICE.data)
    assert document["created_at"].endswith("Z") and first.name.endswith(f"-{document['id']}.json")


def test_outbox_absolute_path_and_odd_audience(tmp_path: Path) -> None:
    notifier = notifier_from_config({"kind": "outbox", "path": str(tmp_path / "box")}, base=Path("/nonexistent"))
    written = Path(notifier.send(Notice("Risk & Compliance/EU", (), "s", "b", {})))
    assert written.parent == tmp_path / "box"
    assert "-Risk-Compliance-EU-" in written.name


def test_outbox_failure_is_notify_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(NotifyError):
        OutboxNotifier(blocker / "outbox").send(NOTICE)
    with pytest.raises(NotifyError, match="JSON"):
        OutboxNotifier(tmp_path / "ok").send(Notice("Risk", (), "s", "b", {"x": object()}))
    assert issubclass(NotifyError, HarnessError)


# -- webhook -----------------------------------------------------------------------------


class HttpServer(Protocol):
    """What these tests use of the ``http_server`` fixture (a loopback server, see conftest)."""

    url: str
    received: list[dict[str, Any]]


@pytest.mark.parametrize(
    ("path", "status"), [pytest.param("/hook", 200, id="200"), pytest.param("/empty", 204, id="204")]
)
def test_webhook_delivers_json(http_server: HttpServer, path: str, status: int, tmp_path: Path) -> None:
    config = {
        "kind": "webhook",
        "url": http_server.url + path,
        "timeout_s": 5,
        "headers": {"Authorization": "Bearer t"},
    }
    notifier = notifier_from_config(config, base=tmp_path)
    assert isinstance(notifier, WebhookNotifier)
    assert notifier.send(NOTICE) == f"HTTP {status}"
    (request,) = http_server.received
    assert request["path"] == path
    assert request["headers"]["Authorization"] == "Bearer t"
    assert request["json"] == {
        "audience": "Risk",
        "recipients": ["risk@example.com", "cro@example.com"],
        "subject": NOTICE.subject,
        "body": NOTICE.body,
        "data": dict(NOTICE.data),
    }


def test_webhook_server_error(http_server: HttpServer) -> None:
    with pytest.raises(NotifyError, match="HTTP 500"):
        WebhookNotifier(http_server.url + "/fail", timeout_s=5).send(NOTICE)


def test_webhook_timeout(http_server: HttpServer) -> None:
    # /slow never answers while the test runs: only the notifier's own timeout can end the call
    with pytest.raises(NotifyError, match="timed out"):
        WebhookNotifier(http_server.url + "/slow", timeout_s=0.3).send(NOTICE)
    assert [r["path"] for r in http_server.received] == ["/slow"]  # one attempt, no retry


def test_webhook_unreachable() -> None:
    with pytest.raises(NotifyError, match="cannot reach"):
        WebhookNotifier(f"http://127.0.0.1:{_free_port()}/hook", timeout_s=2).send(NOTICE)


# -- smtp --------------------------------------------------------------------------------


def test_smtp_delivers_email(smtp_server: tuple[Any, int], tmp_path: Path) -> None:
    handler, port = smtp_server
    config = {"kind": "smtp", "host": "127.0.0.1", "port": port, "from": "harness@example.com", "timeout_s": 5}
    notifier = notifier_from_config(config, base=tmp_path)
    assert isinstance(notifier, SmtpNotifier)
    message_id = notifier.send(NOTICE)
    assert re.fullmatch(r"<.+@example\.com>", message_id)
    (envelope,) = handler.envelopes
    assert envelope.mail_from == "harness@example.com"
    assert envelope.rcpt_tos == ["risk@example.com", "cro@example.com"]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["From"] == "harness@example.com"
    assert message["To"] == "risk@example.com, cro@example.com"
    assert message["Subject"] == NOTICE.subject
    assert message["Message-ID"] == message_id
    assert message["X-Harness-Audience"] == "Risk"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == NOTICE.body  # CRLF on the wire


def test_smtp_unreachable_port() -> None:
    notifier = SmtpNotifier("127.0.0.1", _free_port(), "harness@example.com", timeout_s=2)
    with pytest.raises(NotifyError, match=r"SMTP delivery via 127\.0\.0\.1"):
        notifier.send(NOTICE)


@pytest.mark.parametrize("phase", ["greeting", "data"])
def test_an_smtp_server_that_trickles_its_replies_is_cut_off_at_the_deadline(phase: str) -> None:
    """Each byte came well within smtplib's per-read timeout, so a server that answered one byte every
    0.1 s held a rollback's notification step for as long as it liked; timeout_s bounds the session."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                replies = {"greeting": b"", "data": b"220 ok\r\n"}[phase]
                conn.sendall(replies)
                if phase == "data":  # EHLO answered at once, then the MAIL FROM reply trickles
                    conn.recv(4096)
                    conn.sendall(b"250 ok\r\n")
                    conn.recv(4096)
                for byte in b"250 " + b"x" * 200 + b"\r\n":
                    if stop.wait(0.1):
                        return
                    conn.sendall(bytes([byte]))

    threading.Thread(target=serve, daemon=True).start()
    try:
        notifier = SmtpNotifier("127.0.0.1", listener.getsockname()[1], "harness@example.com", timeout_s=0.5)
        with pytest.raises(NotifyError, match=r"^SMTP delivery via 127\.0\.0\.1:\d+ timed out after 0\.5 s$"):
            notifier.send(NOTICE)
    finally:
        stop.set()
        listener.close()


def test_smtp_needs_recipients(smtp_server: tuple[Any, int]) -> None:
    _, port = smtp_server
    with pytest.raises(NotifyError, match="no recipients"):
        SmtpNotifier("127.0.0.1", port, "harness@example.com").send(Notice("Risk", (), "s", "b", {}))


# -- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({"kind": "pigeon"}, "unknown notifier kind", id="kind"),
        pytest.param({"kind": "webhook"}, "'url'", id="webhook-no-url"),
        pytest.param({"kind": "webhook", "url": "ftp://x"}, "http", id="webhook-scheme"),
        pytest.param({"kind": "webhook", "url": "http://x", "timeout_s": 0}, "timeout_s", id="timeout"),
        pytest.param({"kind": "webhook", "url": "http://x", "headers": {"a": 1}}, "headers", id="headers"),
        pytest.param({"kind": "smtp", "from": "a@b"}, "'host'", id="smtp-no-host"),
        pytest.param({"kind": "smtp", "host": "h", "from": "a@b", "port": "25"}, "port", id="smtp-port"),
        pytest.param({"kind": "smtp", "host": "h", "from": "a@b", "starttls": "yes"}, "starttls", id="starttls"),
        pytest.param({"kind": "outbox", "dir": "x"}, "unknown key", id="typo"),
    ],
)
def test_bad_config(config: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=message):
        notifier_from_config(config, base=tmp_path)
