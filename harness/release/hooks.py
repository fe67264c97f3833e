"""Rollback pipeline hooks and health checks: commands, webhooks and HTTP probes.

Nothing here raises for a failed hook: every call returns a :class:`HookResult` whose
``detail`` says what happened (exit code or HTTP status, and the last lines of output,
bounded to 2 KB) so the rollback procedure can record it as a step outcome.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar, cast

#: the most output or response text a result carries
DETAIL_LIMIT = 2048
#: payload keys exported to commands as environment variables
PAYLOAD_ENV = {
    "model": "HARNESS_MODEL",
    "from": "HARNESS_FROM",
    "to": "HARNESS_TO",
    "reason": "HARNESS_REASON",
    "incident": "HARNESS_INCIDENT",
}
_READ_LIMIT = 64 * 1024
_T = TypeVar("_T")


@dataclass(frozen=True)
class HookResult:
    """The outcome of a hook: whether it succeeded, and a short human-readable detail."""

    ok: bool
    detail: str
    #: the HTTP status for webhooks and health checks, when a response came back
    status: int | None = None


def _bounded(header: str, output: str) -> str:
    """``header`` followed by the tail of ``output``, the whole at most DETAIL_LIMIT characters."""
    output = output.strip()
    if not output:
        return header[:DETAIL_LIMIT]
    room = DETAIL_LIMIT - len(header) - 1
    if room <= 0:
        return header[:DETAIL_LIMIT]
    if len(output) > room:
        output = output[-room:]
        newline = output.find("\n")
        if 0 <= newline < len(output) - 1:
            output = output[newline + 1 :]  # start at a whole line
    return f"{header}\n{output}"


def _read_tail(handle: IO[bytes]) -> str:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - DETAIL_LIMIT))
    return handle.read().decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(OSError):
            proc.kill()


def _json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(payload), ensure_ascii=False, default=str).encode("utf-8")


def run_command(
    command: str | Sequence[str],
    *,
    payload: Mapping[str, Any],
    timeout_s: float,
    cwd: Path | None = None,
) -> HookResult:
    """Run a hook command (no shell) with the JSON payload on stdin and in the environment.

    The environment gains ``HARNESS_PAYLOAD`` and ``HARNESS_MODEL/FROM/TO/REASON/INCIDENT``.
    A non-zero exit, a missing executable or a timeout (the whole process group is killed)
    gives ``ok=False``.
    """
    try:
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    except ValueError as exc:
        return HookResult(False, f"cannot parse command {command!r}: {exc}")
    if not argv:
        return HookResult(False, "empty command")
    body = _json_bytes(payload)
    env = dict(os.environ)
    env["HARNESS_PAYLOAD"] = body.decode("utf-8")
    for key, name in PAYLOAD_ENV.items():
        value = payload.get(key)
        env[name] = "" if value is None else str(value)
    shown = shlex.join(argv)
    with tempfile.TemporaryFile() as output:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            where = f" (in {cwd})" if cwd is not None and not Path(cwd).is_dir() else ""
            return HookResult(False, f"command not found: {argv[0]}{where}")
        except PermissionError:
            return HookResult(False, f"command not executable: {argv[0]}")
        except OSError as exc:
            return HookResult(False, f"cannot run {shown}: {exc.strerror or exc}")
        try:
            proc.communicate(input=body, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            return HookResult(
                False, _bounded(f"timed out after {timeout_s:g} s (process group killed): {shown}", _read_tail(output))
            )
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        code = proc.returncode
        text = _read_tail(output)
    if code == 0:
        return HookResult(True, _bounded("exit 0", text))
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return HookResult(False, _bounded(f"killed by signal {name}: {shown}", text))
    return HookResult(False, _bounded(f"exit {code}: {shown}", text))


class _Sockets:
    """The sockets a call run under a deadline opened, so the caller can cut them off."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.aborted = threading.Event()
        self._lock = threading.Lock()

    def opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.sockets.append(sock)
            late = self.aborted.is_set()
        if late:  # connected after the deadline: end it at once
            self._shut(sock)

    def abort(self) -> None:
        """Past the deadline: every socket of the call is shut down, so its reads end now."""
        with self._lock:
            self.aborted.set()
            sockets = list(self.sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def opener(self) -> urllib.request.OpenerDirector:
        """urllib's usual opener (proxies, redirects) whose connections report their sockets here."""
        tracker = self

        class TrackedHTTP(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                tracker.opened(self.sock)

        class TrackedHTTPS(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                tracker.opened(self.sock)

        class HTTPHandler(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(TrackedHTTP, req)

        class HTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(TrackedHTTPS, req, context=self._context)  # type: ignore[attr-defined]

        return urllib.request.build_opener(HTTPHandler, HTTPSHandler)


def within_deadline(work: Callable[[_Sockets], _T], timeout_s: float) -> _T:
    """What ``work(sockets)`` returns (or raises), run in a worker thread that may take ``timeout_s`` in all.

    ``work`` reports each socket it opens through ``sockets.opened`` (``sockets.opener()`` does it for
    urllib). Past the deadline every one of them is shut down and ``TimeoutError`` is raised: a peer
    that answers one byte at a time is cut off like one that does not answer at all.
    """
    sockets = _Sockets()
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, work(sockets)))
        except BaseException as exc:  # a worker thread must not die with a traceback on standard error
            outcome.append((False, exc))

    worker = threading.Thread(target=run, name="harness-deadline", daemon=True)
    worker.start()
    try:
        worker.join(timeout_s)
    finally:
        if worker.is_alive():  # past the deadline (or interrupted): cut the call off
            sockets.abort()
    if worker.is_alive() or sockets.aborted.is_set() or not outcome:
        raise TimeoutError(f"timed out after {timeout_s:g} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return cast(_T, value)


def http_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float,
) -> HookResult:
    """One HTTP request; ``ok`` for a 2xx status. Never raises for network or HTTP failures.

    ``timeout_s`` bounds the whole request: resolving, connecting, sending and reading the
    whole answer. A server that answers one byte at a time is cut off at the deadline like one
    that does not answer at all.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return HookResult(False, f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))

    def work(sockets: _Sockets) -> HookResult:
        try:
            return _exchange(sockets.opener(), request, method, url, timeout_s)
        except Exception as exc:
            return HookResult(False, f"{method} {url} failed: {type(exc).__name__}: {exc}")

    try:
        return within_deadline(work, timeout_s)
    except TimeoutError:
        return HookResult(False, f"timed out after {timeout_s:g} s: {method} {url}")


def _exchange(opener: urllib.request.OpenerDirector, request: urllib.request.Request, method: str, url: str,
              timeout_s: float) -> HookResult:
    try:
        with opener.open(request, timeout=timeout_s) as response:
            status = int(response.status)
            text = response.read(_READ_LIMIT).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            text = exc.read(_READ_LIMIT).decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException):
            text = ""
        finally:
            exc.close()
        return HookResult(False, _bounded(f"HTTP {status} from {method} {url}", text), status)
    except TimeoutError:
        return HookResult(False, f"timed out after {timeout_s:g} s: {method} {url}")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return HookResult(False, f"timed out after {timeout_s:g} s: {method} {url}")
        return HookResult(False, f"cannot reach {url}: {exc.reason}")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return HookResult(False, f"{method} {url} failed: {exc or type(exc).__name__}")
    ok = 200 <= status < 300
    return HookResult(ok, _bounded(f"HTTP {status} from {method} {url}", text), status)


def post_webhook(
    url: str, payload: Mapping[str, Any], *, timeout_s: float, headers: Mapping[str, str] | None = None
) -> HookResult:
    """POST the payload as JSON; ``ok`` for a 2xx response."""
    merged = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "ai-release-harness"}
    merged.update(headers or {})
    return http_request("POST", url, body=_json_bytes(payload), headers=merged, timeout_s=timeout_s)


def check_http(url: str, *, timeout_s: float) -> HookResult:
    """A health check: GET ``url`` expecting a 2xx response."""
    return http_request("GET", url, headers={"User-Agent": "ai-release-harness"}, timeout_s=timeout_s)
