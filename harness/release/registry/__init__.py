"""The model registry: where released versions, their tags and their aliases live.

Two backends implement one :class:`Registry` protocol: a JSON (or YAML) file that
needs no server, and MLflow's model registry for teams that run one. Others arrive
through the ``harness.registries`` entry point group, named by their URI scheme
(``acme://...`` opens the backend registered as ``acme``). Pick one with
:func:`open_registry`; the rest of the harness only speaks the protocol.

Errors: an unknown model or version is the user's (:class:`UnknownModel`,
:class:`UnknownVersion`, exit 4); an unreachable or corrupt store and a lock held too
long are the environment's (:class:`RegistryError`, exit 6).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from ...clock import SYSTEM_CLOCK, Clock
from ...errors import EnvError, InputError, Location, LockTimeout
from ...plugins import PluginRegistry

__all__ = [
    "REGISTRIES",
    "AliasMove",
    "ModelVersion",
    "Registry",
    "RegistryError",
    "RegistryLockTimeout",
    "UnknownModel",
    "UnknownVersion",
    "check_name",
    "local_store",
    "open_registry",
]

#: the default for ``tags=``: an empty mapping nobody can mutate
NO_TAGS: Mapping[str, str] = MappingProxyType({})

_MLFLOW_PREFIXES = ("sqlite:///", "postgresql://", "postgresql+", "mysql://", "mysql+", "http://", "https://",
                    "databricks")
_FILE_SUFFIXES = (".json", ".yaml", ".yml")


class RegistryError(EnvError):
    """The registry cannot be used: unreachable, corrupted, or refusing a write."""


class RegistryLockTimeout(RegistryError, LockTimeout):
    """A model's lock (or the store's write lock) was held by another process for too long."""


class UnknownModel(InputError):
    """No model of that name in the registry."""


class UnknownVersion(InputError):
    """No version of that name for the model."""


def _frozen_tags(tags: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in tags.items()})


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, named in the user's words (``"1.2.0"``)."""

    name: str
    version: str
    tags: Mapping[str, str]
    created_at: str  # ISO 8601, UTC

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _frozen_tags(self.tags))


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias (``champion``) from a version to another, with who and why."""

    name: str
    alias: str
    from_version: str | None
    to_version: str
    at: str  # ISO 8601, UTC
    actor: str
    reason: str


@runtime_checkable
class Registry(Protocol):
    """What the gate and the rollback procedure need from a model registry."""

    uri: str
    #: whether a gate may register a version the registry does not know without being asked
    #: (a file registry holds only names and tags; an MLflow version is a real model artifact)
    creates_versions: bool

    def register(self, name: str, version: str, *, source: str = "", tags: Mapping[str, str] = NO_TAGS) -> ModelVersion:
        """Register a version; registering an existing one returns it unchanged."""
        ...

    def get_version(self, name: str, version: str) -> ModelVersion:
        """The version, or :class:`UnknownModel`/:class:`UnknownVersion` naming what is missing."""
        ...

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first; :class:`UnknownModel` when the model is unknown."""
        ...

    def set_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags of a version, keeping the others."""
        ...

    def get_alias(self, name: str, alias: str) -> str | None:
        """The version an alias points at, or ``None`` when the alias is not set."""
        ...

    def move_alias(self, name: str, alias: str, version: str, *, actor: str, reason: str) -> AliasMove:
        """Point an alias at a version and record the move in the alias history."""
        ...

    def alias_history(self, name: str, alias: str) -> list[AliasMove]:
        """Every recorded move of an alias, oldest first."""
        ...

    def lock(self, name: str, timeout: float = 30.0) -> AbstractContextManager[None]:
        """An inter-process lock on one model, held around multi-step operations (rollback)."""
        ...


Opener = Callable[..., Any]  # (uri, *, base: Path | None, clock: Clock) -> Registry


def _validate_opener(name: str, obj: Any) -> Opener:
    if not callable(obj):
        raise TypeError(f"expected a function (uri, *, base, clock) -> Registry, got {type(obj).__name__}")
    return obj


def _open_file(uri: str, *, base: Path | None, clock: Clock) -> Registry:
    from .file import FileRegistry

    text = uri[len("file://"):] if uri.startswith("file://") else uri
    if not text:
        raise InputError("file registry URI names no path", Location(file=uri))
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return FileRegistry(path, uri=uri, clock=clock)


def _open_mlflow(uri: str, *, base: Path | None, clock: Clock) -> Registry:
    from .mlflow import MlflowRegistry

    tracking_uri = uri[len("mlflow://"):] if uri.startswith("mlflow://") else uri
    if tracking_uri.startswith("sqlite:///"):
        db = tracking_uri[len("sqlite:///"):].split("?", 1)[0]
        if db and not db.startswith("/") and db != ":memory:" and base is not None:
            tracking_uri = "sqlite:///" + str((base / db).resolve())
            db = str((base / db).resolve())
        if db and db != ":memory:" and not Path(db).parent.is_dir():
            raise RegistryError(f"the folder of the MLflow database does not exist: {Path(db).parent}",
                                Location(file=uri))
    elif tracking_uri.startswith(("http://", "https://")):
        _reachable(tracking_uri, uri)
    return MlflowRegistry(tracking_uri or None, uri=uri, clock=clock)


#: how long a tracking server has to accept a connection before the registry is called unreachable
CONNECT_TIMEOUT_S = 5.0


def _reachable(url: str, uri: str) -> None:
    """Fail fast on a tracking server that does not accept connections (MLflow itself retries for minutes)."""
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RegistryError(f"the MLflow tracking server does not answer: {exc.strerror or exc}",
                            Location(file=uri)) from None


def _builtins() -> Iterable[tuple[str, Any]]:
    return (("file", _open_file), ("mlflow", _open_mlflow))


#: registry backends by URI scheme
REGISTRIES: PluginRegistry[Opener] = PluginRegistry("registry backend", "harness.registries",
                                                    validate=_validate_opener, builtins=_builtins)


def _scheme(text: str) -> str | None:
    if text.startswith("mlflow://") or text.startswith(_MLFLOW_PREFIXES):
        return "mlflow"
    if text.startswith("file://"):
        return "file"
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if match is None and text.lower().endswith(_FILE_SUFFIXES):
        return "file"
    return match.group(1) if match else None


def open_registry(uri: str, *, base: Path | None = None, clock: Clock = SYSTEM_CLOCK) -> Registry:
    """Open the registry a URI names.

    ``file://PATH`` or a path ending in ``.json``/``.yaml`` is the file backend
    (relative paths are relative to ``base``, else the working directory);
    ``mlflow://TRACKING_URI`` or a ``sqlite:///``, ``postgresql://``, ``mysql://``,
    ``http(s)://`` or ``databricks`` URI is the MLflow backend; ``SCHEME://...`` is the
    backend registered as ``SCHEME`` in the ``harness.registries`` entry point group.
    """
    text = uri.strip()
    scheme = _scheme(text)
    if scheme is None or scheme not in REGISTRIES:
        others = [n for n in REGISTRIES.names() if n not in ("file", "mlflow")]
        plugins = f", or a plugin scheme ({', '.join(others)})" if others else ""
        raise InputError(
            "unrecognised registry URI: expected file://PATH, a .json/.yaml path, mlflow://TRACKING_URI "
            f"or a sqlite:///, postgresql://, mysql://, http(s):// or databricks URI{plugins}",
            Location(file=uri),
        )
    registry = REGISTRIES.get(scheme)(text, base=base, clock=clock)
    if not isinstance(registry, Registry):
        raise RegistryError(f"the {scheme!r} registry backend returned {type(registry).__name__}, not a Registry",
                            Location(file=uri))
    return registry


def local_store(uri: str, *, base: Path | None = None) -> Path | None:
    """The local file a registry URI keeps its records in (a file registry, an MLflow sqlite database).

    ``None`` for a server or a plugin's scheme. Its lock files sit next to it, named after it
    (``registry.json.lock``, ``registry.json.<model>.lock``).
    """
    text = uri.strip()
    scheme = _scheme(text)
    if scheme == "file":
        name = text[len("file://"):] if text.startswith("file://") else text
        return ((base or Path.cwd()) / Path(name).expanduser()) if name else None
    if scheme == "mlflow":
        tracking = text[len("mlflow://"):] if text.startswith("mlflow://") else text
        if tracking.startswith("sqlite:///"):
            db = tracking[len("sqlite:///"):].split("?", 1)[0]
            return (base or Path.cwd()) / db if db and db != ":memory:" else None
    return None


def safe_name(name: str) -> str:
    """A model name made safe for a file name, still recognisable, still unique."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if cleaned == name and not name.startswith("."):
        return name
    import hashlib

    return f"{cleaned.lstrip('.')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


#: what a model name and an alias may be: no spaces, no ``/``, no control or invisible characters
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: what a version name may be: the same, and ``+`` for semantic versions' build metadata (``1.4.2+build.7``)
VERSION_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_RULES = {"model name": (NAME_RULE, "'.', '_' or '-'"), "alias": (NAME_RULE, "'.', '_' or '-'"),
          "version": (VERSION_RULE, "'.', '_', '+' or '-'")}


def check_name(value: object, *, what: str, source: str, location: Location | None = None) -> str:
    """``value`` when it is a valid ``what`` (model name, version or alias); else an ``InputError`` naming
    where it came from (``source``: ``--model-version``, ``the outputs' model_version``...)."""
    rule, others = _RULES[what]
    if isinstance(value, str) and rule.fullmatch(value):
        return value
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    raise InputError(f"{source} {shown} is not a valid {what}; expected 1 to 128 letters, digits, {others},"
                     " starting with a letter or digit (no spaces, '/' or control characters)", location)


def check_names(uri: str, **names: str) -> None:
    """Refuse model names, versions and aliases that are empty or not of the documented form, with the field named."""
    for what, value in names.items():
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{what} must be a non-empty string, got {value!r}", Location(file=uri))
        kind = {"name": "model name", "version": "version", "alias": "alias"}[what]
        check_name(value, what=kind, source=f"{what}", location=Location(file=uri))
