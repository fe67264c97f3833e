"""Notifiers: how the rollback procedure tells Product, Risk and Compliance.

Three kinds ship, chosen by a config mapping's ``kind``: ``outbox`` (the default; one JSON
file per notice), ``webhook`` (POST JSON) and ``smtp`` (an e-mail). Others arrive through
the ``harness.notifiers`` entry point group: a factory ``(config, *, base, clock) ->
Notifier`` registered under its kind. Every notifier returns a delivery reference and
raises :class:`NotifyError` when delivery fails.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

from ..clock import SYSTEM_CLOCK, Clock, format_timestamp
from ..errors import EnvError, InputError
from ..io.files import write_atomic
from ..plugins import PluginRegistry
from .hooks import post_webhook, within_deadline

DEFAULT_OUTBOX = "audit/outbox"
DEFAULT_TIMEOUT_S = 10.0


class NotifyError(EnvError):
    """A notice could not be delivered."""


@dataclass(frozen=True)
class Notice:
    """One message to one audience (Product, Risk, Compliance...)."""

    audience: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The notice as a JSON-ready dict."""
        return {
            "audience": self.audience,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "body": self.body,
            "data": dict(self.data),
        }


class Notifier(Protocol):
    """Anything that delivers a notice and returns a delivery reference."""

    def send(self, notice: Notice) -> str:
        """Deliver ``notice``; a reference (file path, HTTP status, message-id). NotifyError on failure."""
        ...


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:40] or "notice"


@dataclass(frozen=True)
class OutboxNotifier:
    """Writes each notice atomically as ``<utc-timestamp>-<audience>-<shortid>.json`` in a folder."""

    path: Path
    clock: Clock = SYSTEM_CLOCK

    def send(self, notice: Notice) -> str:
        """Write the notice file; its path."""
        short = uuid.uuid4().hex[:8]
        now = self.clock.now()
        document = {
            "id": short,
            "created_at": format_timestamp(now),
            **notice.to_json(),
        }
        try:
            text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise NotifyError(f"notice data is not JSON-serialisable: {exc}") from None
        target = self.path / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{_slug(notice.audience)}-{short}.json"
        try:
            write_atomic(target, text)
        except OSError as exc:
            raise NotifyError(f"{self.path}: cannot write notice: {exc.strerror or exc}") from None
        return str(target)


@dataclass(frozen=True)
class WebhookNotifier:
    """POSTs each notice as JSON; a non-2xx response or a timeout is a NotifyError."""

    url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    headers: Mapping[str, str] = field(default_factory=dict)

    def send(self, notice: Notice) -> str:
        """POST the notice; ``HTTP <status>``."""
        result = post_webhook(self.url, notice.to_json(), timeout_s=self.timeout_s, headers=self.headers)
        if not result.ok:
            raise NotifyError(f"webhook delivery failed: {result.detail}")
        return f"HTTP {result.status}"


@dataclass(frozen=True)
class SmtpNotifier:
    """Sends each notice as a plain-text e-mail; any SMTP or network failure is a NotifyError."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    username: str | None = None
    #: the name of the environment variable holding the password (never the password itself)
    password_env: str | None = None

    def message(self, notice: Notice) -> EmailMessage:
        """The e-mail for ``notice``."""
        domain = self.sender.rpartition("@")[2] or "localhost"
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(notice.recipients)
        msg["Subject"] = notice.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=domain)
        msg["X-Harness-Audience"] = notice.audience
        msg.set_content(notice.body)
        return msg

    def send(self, notice: Notice) -> str:
        """Send the e-mail; its Message-ID."""
        if not notice.recipients:
            raise NotifyError(f"notice for {notice.audience!r} has no recipients")
        try:
            msg = self.message(notice)
        except (ValueError, TypeError) as exc:
            raise NotifyError(f"cannot build e-mail for {notice.audience!r}: {exc}") from None
        password = os.environ.get(self.password_env, "") if self.password_env else ""
        if self.password_env and not password:
            raise NotifyError(f"SMTP password variable ${self.password_env} is not set")
        where = f"{self.host}:{self.port}"

        def deliver(sockets: Any) -> dict[str, Any]:
            with _TrackedSMTP(sockets.opened, self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    sockets.opened(smtp.sock)  # the TLS socket took over the plain one
                if self.username:
                    smtp.login(self.username, password)
                return smtp.send_message(msg)

        try:  # timeout_s bounds the whole session: a server that answers a byte a second is cut off
            refused = within_deadline(deliver, self.timeout_s)
        except TimeoutError:
            raise NotifyError(f"SMTP delivery via {where} timed out after {self.timeout_s:g} s") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(f"SMTP delivery via {where} failed: {exc or type(exc).__name__}") from None
        if refused:
            raise NotifyError(f"SMTP server {where} refused recipients: {', '.join(sorted(refused))}")
        return str(msg["Message-ID"])


class _TrackedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that reports the socket it connects, so a deadline can cut the session off."""

    def __init__(self, opened: Callable[[Any], None], *args: Any, **kwargs: Any) -> None:
        self._opened = opened
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self._opened(sock)
        return sock


_KEYS = {
    "outbox": {"kind", "path"},
    "webhook": {"kind", "url", "timeout_s", "headers"},
    "smtp": {"kind", "host", "port", "from", "starttls", "timeout_s", "username", "password_env"},
}


def _timeout(config: Mapping[str, Any]) -> float:
    value = config.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(f"notifier timeout_s must be a positive number, got {value!r}")
    return float(value)


def _text(config: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = config.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{config.get('kind', 'outbox')} notifier needs {key!r} as a non-empty string")
    return value


def _known_keys(config: Mapping[str, Any]) -> None:
    kind = config.get("kind", "outbox")
    unknown = sorted(set(config) - _KEYS[kind])
    if unknown:
        raise InputError(f"{kind} notifier: unknown key(s) {', '.join(map(repr, unknown))}")


def _outbox(config: Mapping[str, Any], *, base: Path, clock: Clock) -> Notifier:
    _known_keys(config)
    raw = _text(config, "path", required=False) or DEFAULT_OUTBOX
    path = Path(raw).expanduser()
    return OutboxNotifier(path if path.is_absolute() else base / path, clock)


def _webhook(config: Mapping[str, Any], *, base: Path, clock: Clock) -> Notifier:
    _known_keys(config)
    url = _text(config, "url") or ""
    if not url.startswith(("http://", "https://")):
        raise InputError(f"webhook notifier url must be http(s), got {url!r}")
    headers = config.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InputError("webhook notifier headers must map strings to strings")
    return WebhookNotifier(url, _timeout(config), dict(headers))


def _smtp(config: Mapping[str, Any], *, base: Path, clock: Clock) -> Notifier:
    _known_keys(config)
    port = config.get("port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InputError(f"smtp notifier port must be an integer 1-65535, got {port!r}")
    starttls = config.get("starttls", False)
    if not isinstance(starttls, bool):
        raise InputError(f"smtp notifier starttls must be true or false, got {starttls!r}")
    return SmtpNotifier(
        host=_text(config, "host") or "",
        port=port,
        sender=_text(config, "from") or "",
        starttls=starttls,
        timeout_s=_timeout(config),
        username=_text(config, "username", required=False),
        password_env=_text(config, "password_env", required=False),
    )


NotifierFactory = Callable[..., Notifier]


def _validate(name: str, obj: Any) -> NotifierFactory:
    if not callable(obj):
        raise TypeError(f"expected a factory (config, *, base, clock) -> Notifier, got {type(obj).__name__}")
    return obj


def _builtins() -> Iterable[tuple[str, Any]]:
    return (("outbox", _outbox), ("webhook", _webhook), ("smtp", _smtp))


#: notifier factories by ``kind``
NOTIFIERS: PluginRegistry[NotifierFactory] = PluginRegistry("notifier", "harness.notifiers", validate=_validate,
                                                           builtins=_builtins)


def notifier_from_config(config: Mapping[str, Any], *, base: Path, clock: Clock = SYSTEM_CLOCK) -> Notifier:
    """The notifier a config mapping describes; relative paths are resolved against ``base``."""
    kind = config.get("kind", "outbox")
    if not isinstance(kind, str) or kind not in NOTIFIERS:
        raise InputError(f"unknown notifier kind {kind!r}; expected one of: {', '.join(NOTIFIERS.names())}")
    notifier = NOTIFIERS.get(kind)(config, base=base, clock=clock)
    if not callable(getattr(notifier, "send", None)):
        raise InputError(f"the {kind!r} notifier factory returned {type(notifier).__name__}, which cannot send")
    return notifier
