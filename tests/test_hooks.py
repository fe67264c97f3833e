"""Rollback hooks: real subprocesses and a real HTTP server on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from harness.release import hooks
from harness.release.hooks import DETAIL_LIMIT, check_http, post_webhook, run_command
from harness.release.notify import Notice, NotifyError, WebhookNotifier

PAYLOAD = {"model": "support-bot", "from": "7", "to": "6", "reason": "toxicity spike", "incident": "INC-2024-0001"}


class Server(Protocol):
    """What these tests use of the ``http_server`` fixture (a loopback server, see conftest)."""

    url: str
    received: list[dict[str, Any]]


@pytest.fixture
def server(http_server: Any) -> Server:
    return http_server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


READER = textwrap.dedent(
    """
    import json, os, sys
    stdin = json.load(sys.stdin)
    env = json.loads(os.environ["HARNESS_PAYLOAD"])
    assert stdin == env, (stdin, env)
    assert os.environ["HARNESS_MODEL"] == stdin["model"] == "support-bot"
    assert os.environ["HARNESS_FROM"] == "7" and os.environ["HARNESS_TO"] == "6"
    assert os.environ["HARNESS_REASON"] == "toxicity spike"
    assert os.environ["HARNESS_INCIDENT"] == "INC-2024-0001"
    print("rolled back", stdin["model"], "to", stdin["to"], "in", os.getcwd())
    """
)


@pytest.mark.parametrize("form", ["list", "string"])
def test_command_reads_payload(form: str, tmp_path: Path) -> None:
    argv = [sys.executable, "-c", READER]
    command: str | list[str] = argv if form == "list" else shlex.join(argv)
    result = run_command(command, payload=PAYLOAD, timeout_s=20, cwd=tmp_path)
    assert result.ok, result.detail
    assert result.detail.startswith("exit 0")
    assert f"rolled back support-bot to 6 in {tmp_path}" in result.detail


def test_missing_payload_keys_are_empty() -> None:
    code = "import os, sys; sys.exit(0 if os.environ['HARNESS_INCIDENT'] == '' else 1)"
    assert run_command([sys.executable, "-c", code], payload={"model": "m"}, timeout_s=20).ok


def test_command_exit_code() -> None:
    code = "import sys; print('line one'); print('deploy failed', file=sys.stderr); sys.exit(3)"
    result = run_command([sys.executable, "-c", code], payload=PAYLOAD, timeout_s=20)
    assert not result.ok
    assert result.detail.startswith("exit 3")
    assert "line one" in result.detail and "deploy failed" in result.detail


def test_command_output_is_bounded() -> None:
    code = "for i in range(20000): print('line', i)"
    result = run_command([sys.executable, "-c", code], payload=PAYLOAD, timeout_s=20)
    assert result.ok
    assert len(result.detail) <= DETAIL_LIMIT
    assert result.detail.endswith("line 19999")
    assert all(line.startswith("line ") for line in result.detail.splitlines()[1:])  # whole lines only


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _wait_for_exit(pid: int) -> None:
    """Block until process ``pid`` (not our child) has exited; the test's timeout guards a hang."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already exited and reaped
    try:
        select.select([fd], [], [])  # a pidfd becomes readable when its process exits
    finally:
        os.close(fd)


def test_command_timeout_kills_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pidfile = tmp_path / "grandchild.pid"
    ready_r, ready_w = os.pipe()
    # the hook starts a grandchild, writes its pid, says it is ready, then hangs
    code = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open({str(pidfile)!r}, "w") as f:
            f.write(str(child.pid))
        os.write({ready_w}, b"ready")
        time.sleep(600)
        """
    )

    class ReadyPopen(subprocess.Popen):
        """Hands the hook the write end of a pipe; the harness's clock starts once it reports ready."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["pass_fds"] = (*kwargs.get("pass_fds", ()), ready_w)
            super().__init__(*args, **kwargs)
            os.close(ready_w)  # a hook that dies early closes the last write end: read() sees EOF

        def communicate(self, input: Any = None, timeout: float | None = None) -> Any:
            assert os.read(ready_r, 16) == b"ready", "the hook exited before starting its grandchild"
            return super().communicate(input, timeout)

    monkeypatch.setattr(hooks.subprocess, "Popen", ReadyPopen)
    try:
        result = run_command([sys.executable, "-c", code], payload=PAYLOAD, timeout_s=0.5)
    finally:
        os.close(ready_r)
    assert not result.ok
    assert "timed out after 0.5 s (process group killed)" in result.detail
    grandchild = int(pidfile.read_text())
    try:
        _wait_for_exit(grandchild)
    except BaseException:  # pytest-timeout: the grandchild survived; do not leave it behind
        os.kill(grandchild, signal.SIGKILL)
        raise
    assert not _alive(grandchild)


@pytest.mark.parametrize(
    "command",
    [pytest.param("no-such-harness-hook --flag", id="string"), pytest.param(["./nope.sh"], id="relative")],
)
def test_missing_executable(command: str | list[str], tmp_path: Path) -> None:
    result = run_command(command, payload=PAYLOAD, timeout_s=5, cwd=tmp_path)
    assert not result.ok
    assert "command not found" in result.detail


def test_empty_and_unparsable_commands() -> None:
    assert not run_command("", payload=PAYLOAD, timeout_s=1).ok
    assert "cannot parse" in run_command("echo 'unclosed", payload=PAYLOAD, timeout_s=1).detail


def test_webhook_ok(server: Server) -> None:
    result = post_webhook(server.url + "/hook", PAYLOAD, timeout_s=5, headers={"X-Token": "t0k"})
    assert result.ok and result.status == 200
    assert result.detail.startswith("HTTP 200")
    (request,) = server.received
    assert request["method"] == "POST"
    assert json.loads(request["body"]) == PAYLOAD
    assert request["headers"]["X-Token"] == "t0k"
    assert request["headers"]["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("path", "status"), [pytest.param("/down", 503, id="503"), pytest.param("/fail", 500, id="500")]
)
def test_webhook_error_status(server: Server, path: str, status: int) -> None:
    result = post_webhook(server.url + path, PAYLOAD, timeout_s=5)
    assert not result.ok and result.status == status
    assert result.detail.startswith(f"HTTP {status}")
    assert f"status {status}" in result.detail


def test_webhook_timeout(server: Server) -> None:
    # /slow never answers while the test runs: only the client's own timeout can end the call
    result = post_webhook(server.url + "/slow", PAYLOAD, timeout_s=0.3)
    assert not result.ok and result.status is None
    assert result.detail.startswith("timed out after 0.3 s: POST ")
    assert [r["path"] for r in server.received] == ["/slow"]  # one attempt, no retry


@pytest.mark.parametrize(
    ("path", "ok", "expect"),
    [
        pytest.param("/healthz", True, "HTTP 200", id="200"),
        pytest.param("/down", False, "HTTP 503", id="503"),
        pytest.param("/slow", False, "timed out", id="timeout"),
    ],
)
def test_check_http(server: Server, path: str, ok: bool, expect: str) -> None:
    result = check_http(server.url + path, timeout_s=0.3)
    assert result.ok is ok
    assert expect in result.detail
    assert server.received[0]["method"] == "GET"


def test_check_http_unreachable_and_bad_url() -> None:
    result = check_http(f"http://127.0.0.1:{_free_port()}/", timeout_s=2)
    assert not result.ok and "cannot reach" in result.detail
    assert not check_http("file:///etc/passwd", timeout_s=1).ok
    assert os.environ.get("HARNESS_PAYLOAD") is None


# -- a server that trickles its answer: the deadline is for the whole request ------------------


class TrickleServer:
    """A real loopback HTTP server that sends its answer one byte every 0.1 s.

    ``phase`` says where the trickle starts: ``"headers"`` (the status line itself trickles)
    or ``"body"`` (the headers arrive at once, then a 100-byte body trickles). Every byte comes
    well within any per-read timeout, and the whole answer takes 6 to 10 seconds: only a
    deadline on the whole request ends the call first. ``stop`` ends the trickle early.
    """

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.listener.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                body = b"x" * 100
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
                at_once, trickled = (b"", head + body[:50]) if self.phase == "headers" else (head, body)
                conn.sendall(at_once)
                for byte in trickled:
                    if self.stop.wait(0.1):
                        return
                    conn.sendall(bytes([byte]))

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture(params=["headers", "body"])
def trickle(request: pytest.FixtureRequest) -> Iterator[TrickleServer]:
    server = TrickleServer(request.param)
    yield server
    server.close()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda url: post_webhook(url, PAYLOAD, timeout_s=0.5), id="webhook"),
        pytest.param(lambda url: check_http(url, timeout_s=0.5), id="health-check"),
    ],
)
def test_a_server_that_trickles_its_answer_is_cut_off_at_the_deadline(trickle: TrickleServer,
                                                                      call: Callable[[str], Any]) -> None:
    result = call(trickle.url)
    assert not result.ok and result.status is None
    assert result.detail.startswith("timed out after 0.5 s: ")


def test_a_webhook_notifier_on_a_trickling_server_fails_delivery(trickle: TrickleServer) -> None:
    notifier = WebhookNotifier(trickle.url, timeout_s=0.5)
    with pytest.raises(NotifyError, match=r"timed out after 0\.5 s"):
        notifier.send(Notice("Risk", ("risk@example.com",), "subject", "body"))
