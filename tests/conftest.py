from __future__ import annotations

import json
import shutil
import textwrap
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import settings

# Property tests are judged by what they find, never by how long an example took: a deadline is a
# timed assertion on a shared, noisy machine. pytest-timeout guards against real hangs.
settings.register_profile("harness", deadline=None)
settings.load_profile("harness")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_ci_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as they would on a laptop, even inside a CI job: nothing is appended to the job's real
    step summary (subprocesses inherit this environment too), and colour is decided by the terminal alone.
    A test that needs one of these sets it itself."""
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


class Repo:
    """A small policy repository in a temporary folder, written from YAML snippets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.policies = root / "policies"
        self.evals = root / "evals"
        self.policies.mkdir()
        self.evals.mkdir()

    def policy(self, name: str, text: str) -> Path:
        path = self.policies / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
        return path

    def suite(self, name: str, text: str) -> Path:
        path = self.evals / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
        return path

    def outputs(self, name: str, records: Sequence[Mapping[str, Any]]) -> Path:
        path = self.root / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped repository (policies, evals, incidents, examples) as the working directory.

    ``audit/`` starts empty, ``$GITHUB_STEP_SUMMARY`` is unset and the actor is ``ci-bot``.
    """
    for name in ("policies", "evals", "incidents", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    return tmp_path


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


@pytest.fixture
def policies_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped policies, an empty evals folder, and the working directory there."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    (tmp_path / "evals").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def policy_text() -> Callable[..., str]:
    """A valid policy document with the given rules (YAML list items as text)."""

    def make(rules: str, *, id: str = "test.policy", on_fail: str = "block", extra: str = "") -> str:
        return dedent(f"""
            id: {id}
            version: 1.0.0
            title: Test policy
            severity: sev2
            on_fail: {on_fail}
            owner: owner@example.com
            {extra}
            rules:
            """) + textwrap.indent(dedent(rules), "  ")

    return make


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 whose answer is chosen by the request path.

    200 by default, 500 on /fail, 503 on /down and 204 on /empty. A request to /slow gets
    no answer until ``release`` is set (``close`` sets it), so a client's timeout is the
    only way such a request can end first. Every request is recorded (method, path,
    headers, body and the body as JSON) before it is answered.
    """

    STATUS: ClassVar[dict[str, int]] = {"/fail": 500, "/down": 503, "/empty": 204}

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        #: set to let requests to /slow be answered
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _respond(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                owner.received.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body, "json": parsed})
                if self.path.startswith("/slow"):
                    owner.release.wait()
                status = owner.STATUS.get(self.path, 200)
                text = b"" if status == 204 else f"status {status} for {self.path}\n".encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:
                    pass  # the client gave up (timeout tests)

            do_GET = _respond
            do_POST = _respond

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """A loopback HTTP server for webhook and health-check tests (never a proxy in between)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    server = LoopbackServer()
    yield server
    server.close()


class SmtpCollector:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpCollector, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1: its collector of envelopes, and its port."""
    from aiosmtpd.controller import Controller

    handler = SmtpCollector()
    controller = Controller(handler, hostname="127.0.0.1", port=_unused_port(), ready_timeout=10)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()
