"""The model registry: where released versions, their tags and their aliases live.

Two backends implement one :class:`Registry` protocol: a JSON (or YAML) file that
needs no server, and MLflow's model registry for teams that run one. Pick one with
:func:`open_registry`; the rest of the harness only speaks the protocol.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from ..errors import InputError, Location

__all__ = [
    "AliasMove",
    "ModelVersion",
    "Registry",
    "RegistryError",
    "open_registry",
]

#: the default for ``tags=``: an empty mapping nobody can mutate
NO_TAGS: Mapping[str, str] = MappingProxyType({})

_MLFLOW_PREFIXES = ("sqlite:///", "postgresql://", "postgresql+", "mysql://", "mysql+", "http://", "https://",
                    "databricks")
_FILE_SUFFIXES = (".json", ".yaml", ".yml")


class RegistryError(InputError):
    """An unknown model, version or alias, a corrupted store, or a lock held elsewhere."""


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

    def register(self, name: str, version: str, *, source: str = "", tags: Mapping[str, str] = NO_TAGS) -> ModelVersion:
        """Register a version; registering an existing one returns it unchanged."""
        ...

    def get_version(self, name: str, version: str) -> ModelVersion:
        """The version, or a :class:`RegistryError` naming the model and version."""
        ...

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first; :class:`RegistryError` when the model is unknown."""
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


def open_registry(uri: str, *, base: Path | None = None) -> Registry:
    """Open the registry a URI names.

    ``file://PATH`` or a path ending in ``.json``/``.yaml`` is the file backend
    (relative paths are relative to ``base``, else the working directory);
    ``mlflow://TRACKING_URI`` or a ``sqlite:///``, ``postgresql://``, ``mysql://``,
    ``http(s)://`` or ``databricks`` URI is the MLflow backend.
    """
    text = uri.strip()
    if text.startswith("mlflow://"):
        return _open_mlflow(text[len("mlflow://"):], uri, base)
    if text.startswith(_MLFLOW_PREFIXES):
        return _open_mlflow(text, uri, base)
    if text.startswith("file://"):
        return _open_file(text[len("file://"):], uri, base)
    if text.lower().endswith(_FILE_SUFFIXES) and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", text):
        return _open_file(text, uri, base)
    raise RegistryError(
        "unrecognised registry URI: expected file://PATH, a .json/.yaml path, mlflow://TRACKING_URI "
        "or a sqlite:///, postgresql://, mysql://, http(s):// or databricks URI",
        Location(file=uri),
    )


def _open_file(path_text: str, uri: str, base: Path | None) -> Registry:
    from .file import FileRegistry

    if not path_text:
        raise RegistryError("file registry URI names no path", Location(file=uri))
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return FileRegistry(path, uri=uri)


def _open_mlflow(tracking_uri: str, uri: str, base: Path | None) -> Registry:
    from .mlflow import MlflowRegistry

    if tracking_uri.startswith("sqlite:///") and base is not None:
        db = tracking_uri[len("sqlite:///"):]
        if db and not db.startswith("/") and db != ":memory:":
            tracking_uri = "sqlite:///" + str((base / db).resolve())
    return MlflowRegistry(tracking_uri or None, uri=uri)


def now_utc() -> str:
    """The current time as ISO 8601 in UTC, to the microsecond, ending in ``Z``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def safe_name(name: str) -> str:
    """A model name made safe for a file name, still recognisable, still unique."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if cleaned == name and not name.startswith("."):
        return name
    import hashlib

    return f"{cleaned.lstrip('.')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def check_names(uri: str, **names: str) -> None:
    """Refuse empty or non-string model names, versions and aliases early, with the field named."""
    for what, value in names.items():
        if not isinstance(value, str) or not value.strip():
            raise RegistryError(f"{what} must be a non-empty string, got {value!r}", Location(file=uri))
