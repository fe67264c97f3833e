"""The MLflow backend: MLflow's model registry, speaking the user's version names.

MLflow numbers versions itself (1, 2, 3...); the user may speak of a version by that
number or by a name ("1.2.0"). A name means, in this order: the version whose
``harness.version`` tag holds it (the versions the harness registered itself); else,
for a name of digits only, the MLflow version of that number; else the version whose
*version tag* (``version`` by default, for teams that tag their versions with their
own names) holds it. A number and a version tag pointing at two different versions, or
two versions with the same tag, are ambiguous: an error naming both, never a guess. Each
version is shown by its ``harness.version`` tag, else its version tag, else its number,
so versions registered with MLflow's own API are listed, served and promoted too.

MLflow aliases keep no history, so each move is recorded twice: as tags on the target
version (``harness.alias.<alias>.moved_at``, ``.from``, ``.actor``, ``.reason``) and in
a JSON list of moves on the registered model, split over ``harness.history.<alias>.<i>``
tags to stay under the tag value limit of older servers. That list keeps the last
:data:`HISTORY_LIMIT` moves of each alias; older ones are dropped. An alias moved
outside the harness has no history until the harness moves it.

``lock()`` and the lock around each history update are files on this machine: next to
the database for a sqlite store, else in the temp directory keyed by the URI. They
serialise processes on one host only, not clients of a shared tracking server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import filelock

from ...clock import SYSTEM_CLOCK, Clock, format_timestamp
from ...errors import Location
from . import (
    NO_TAGS,
    AliasMove,
    ModelVersion,
    RegistryError,
    RegistryLockTimeout,
    UnknownModel,
    UnknownVersion,
    check_names,
    safe_name,
)

VERSION_TAG = "harness.version"
#: the tag a team may keep its own version names in (``version=1.4.2``)
TEAM_VERSION_TAG = "version"
HISTORY_LIMIT = 100
#: how many existing version names an unknown-version error lists
_LISTED = 10
_DIGITS = re.compile(r"[0-9]+")
#: the tag value limit of MLflow before 2.x servers raised it; chunks stay below it
_CHUNK = 4000
_HIDDEN = ("harness.version", "harness.alias.")
_WRITE_TIMEOUT = 60.0


def _store_errors() -> tuple[type[Exception], ...]:
    """What a store raises when it cannot be used: MLflow's errors, and a sqlite store's own (a corrupt file)."""
    from mlflow.exceptions import MlflowException

    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # a client of a tracking server needs no SQLAlchemy
        return (MlflowException, OSError)
    return (MlflowException, SQLAlchemyError, OSError)


def _message(exc: Exception) -> str:
    """The first line of a store error (SQLAlchemy appends the SQL and a link)."""
    lines = str(getattr(exc, "message", "") or exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def _iso(millis: int | None) -> str:
    if millis is None:
        return ""
    return format_timestamp(dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC))


class MlflowRegistry:
    """A registry backed by an MLflow tracking/registry server or database."""

    creates_versions = False

    def __init__(self, tracking_uri: str | None, *, uri: str | None = None, clock: Clock = SYSTEM_CLOCK,
                 version_tag: str = TEAM_VERSION_TAG) -> None:
        self.clock = clock
        self.version_tag = version_tag
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise RegistryError(
                "the MLflow registry backend needs MLflow: pip install 'ai-release-harness[mlflow]'",
                Location(file=uri or tracking_uri),
            ) from exc
        # MLflow and alembic log INFO lines when a store is created; a library stays quiet.
        for logger in ("mlflow", "alembic"):
            if logging.getLogger(logger).getEffectiveLevel() < logging.WARNING:
                logging.getLogger(logger).setLevel(logging.WARNING)
        self.uri = uri or tracking_uri or "mlflow://"
        self.tracking_uri = tracking_uri
        self._errors = _store_errors()
        try:
            self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        except self._errors as exc:
            raise self._error(f"cannot open the MLflow registry: {_message(exc)}") from exc
        self._lock_dir = self._local_lock_dir(tracking_uri)

    def __repr__(self) -> str:
        return f"MlflowRegistry({self.uri!r})"

    # -- helpers -----------------------------------------------------------------------

    def _error(self, message: str) -> RegistryError:
        return RegistryError(message, Location(file=self.uri))

    @staticmethod
    def _local_lock_dir(tracking_uri: str | None) -> Path:
        if tracking_uri and tracking_uri.startswith("sqlite:///"):
            db = tracking_uri[len("sqlite:///"):].split("?", 1)[0]
            if db and db != ":memory:":
                path = Path(db)
                return path.parent / f"{path.name}.harness-locks"
        key = hashlib.sha256((tracking_uri or "").encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "harness-registry-locks" / key

    def _file_lock(self, name: str, kind: str, timeout: float) -> filelock.FileLock:
        try:
            self._lock_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error(f"cannot create the lock directory {self._lock_dir}: {exc.strerror or exc}") from exc
        return filelock.FileLock(str(self._lock_dir / f"{safe_name(name)}.{kind}.lock"), timeout=timeout)

    @contextlib.contextmanager
    def _writing(self, name: str) -> Iterator[None]:
        """Serialise read-modify-write sequences on one model (a different file from ``lock()``)."""
        try:
            with self._file_lock(name, "write", _WRITE_TIMEOUT):
                yield
        except filelock.Timeout as exc:
            raise RegistryLockTimeout(f"model {name!r} is being written by another process for over "
                                      f"{_WRITE_TIMEOUT:.0f} s", Location(file=self.uri)) from exc
        except OSError as exc:
            raise self._error(f"cannot take the write lock of model {name!r}: {exc.strerror or exc}") from exc

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise self._error(f"{what}: {_message(exc)}") from exc

    def _is_missing(self, exc: Exception) -> bool:
        return getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"

    def _model_tags(self, name: str, version: str | None = None) -> dict[str, str]:
        try:
            model = self._client.get_registered_model(name)
        except self._errors as exc:
            if self._is_missing(exc):
                asked = f" (asked for version {version!r})" if version is not None else ""
                raise UnknownModel(f"unknown model {name!r}{asked}", Location(file=self.uri)) from exc
            raise self._error(f"cannot read model {name!r}: {_message(exc)}") from exc
        return dict(model.tags or {})

    def _mlflow_versions(self, name: str, version: str | None = None) -> list[Any]:
        """Every MLflow version of a model, oldest first, page by page; :class:`UnknownModel` for an unknown model."""
        self._model_tags(name, version)
        escaped = name.replace("'", "\\'")
        found: list[Any] = []
        token = None
        while True:
            page = self._call(f"cannot list versions of {name!r}", self._client.search_model_versions,
                              f"name='{escaped}'", page_token=token)
            found.extend(mv for mv in page if mv.name == name)
            token = page.token
            if not token:
                return sorted(found, key=lambda mv: int(mv.version))

    def _name_of(self, mv: Any) -> str:
        """The user's name of an MLflow version: the harness's tag, else the team's version tag, else its number."""
        tags = mv.tags or {}
        return str(tags.get(VERSION_TAG) or tags.get(self.version_tag) or mv.version)

    def _claim(self, mv: Any, version: str) -> str:
        tags = mv.tags or {}
        for tag in (VERSION_TAG, self.version_tag):
            if tags.get(tag) == version:
                return f"{mv.version} (tag {tag}={version})"
        return f"{mv.version} (its number)"

    def _resolve(self, name: str, version: str, found: list[Any]) -> Any | None:
        """The MLflow version a user's version name means (see the module docstring), or ``None``."""
        claims = [mv for mv in found if (mv.tags or {}).get(VERSION_TAG) == version]
        if not claims:
            claims = [mv for mv in found if (_DIGITS.fullmatch(version) and int(mv.version) == int(version))
                      or (mv.tags or {}).get(self.version_tag) == version]
        if len(claims) > 1:
            listed = ", ".join(self._claim(mv, version) for mv in claims)
            raise self._error(f"version {version!r} of model {name!r} is ambiguous, claimed by MLflow versions"
                              f" {listed}; change the tags so that only one version has this name")
        return claims[0] if claims else None

    def _require(self, name: str, version: str) -> Any:
        found = self._mlflow_versions(name, version)
        mv = self._resolve(name, version, found)
        if mv is None:
            names = [self._name_of(mv) for mv in found]
            more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
            known = f"versions: {', '.join(names[:_LISTED])}{more}" if names else "the model has no versions"
            raise UnknownVersion(f"unknown version {version!r} of model {name!r} ({known})", Location(file=self.uri))
        return mv

    def _version(self, mv: Any) -> ModelVersion:
        tags = {k: v for k, v in (mv.tags or {}).items() if not k.startswith(_HIDDEN)}
        return ModelVersion(mv.name, self._name_of(mv), tags, _iso(mv.creation_timestamp))

    def _read_history(self, tags: Mapping[str, str], alias: str) -> list[dict[str, Any]]:
        prefix = f"harness.history.{alias}"
        try:
            count = int(tags.get(f"{prefix}.chunks", "0"))
            text = "".join(tags[f"{prefix}.{i}"] for i in range(count))
            moves = json.loads(text) if text else []
        except (KeyError, ValueError) as exc:
            raise self._error(f"corrupted alias history in tags {prefix}.*: {exc}") from exc
        if not isinstance(moves, list) or not all(isinstance(m, dict) and isinstance(m.get("to"), str)
                                                  and (m.get("from") is None or isinstance(m["from"], str))
                                                  for m in moves):
            raise self._error(f"corrupted alias history in tags {prefix}.*: expected a list of moves with 'to' (a"
                              " version string) and 'from' (a version string or null)")
        return moves

    def _write_history(self, name: str, alias: str, old_tags: Mapping[str, str], moves: list[dict[str, Any]]) -> None:
        prefix = f"harness.history.{alias}"
        text = json.dumps(moves[-HISTORY_LIMIT:], separators=(",", ":"), ensure_ascii=False)
        chunks = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)]
        for i, chunk in enumerate(chunks):
            self._call("cannot record the alias move", self._client.set_registered_model_tag, name,
                       f"{prefix}.{i}", chunk)
        self._call("cannot record the alias move", self._client.set_registered_model_tag, name,
                   f"{prefix}.chunks", str(len(chunks)))
        for i in range(len(chunks), int(old_tags.get(f"{prefix}.chunks", "0") or 0)):
            self._call("cannot record the alias move", self._client.delete_registered_model_tag, name, f"{prefix}.{i}")

    # -- the Registry protocol ---------------------------------------------------------

    def register(self, name: str, version: str, *, source: str = "", tags: Mapping[str, str] = NO_TAGS) -> ModelVersion:
        """The version ``version`` names if there is one (unchanged), else a new MLflow version tagged with it."""
        check_names(self.uri, name=name, version=version)
        with self._writing(name):
            try:
                self._client.get_registered_model(name)
            except self._errors as exc:
                if not self._is_missing(exc):
                    raise self._error(f"cannot read model {name!r}: {_message(exc)}") from exc
                self._call(f"cannot create model {name!r}", self._client.create_registered_model, name)
            existing = self._resolve(name, version, self._mlflow_versions(name, version))
            if existing is not None:
                return self._version(existing)
            all_tags = {**{str(k): str(v) for k, v in tags.items()}, VERSION_TAG: version}
            mv = self._call(f"cannot register version {version!r} of {name!r}", self._client.create_model_version,
                            name, source or f"harness://{name}/{version}", tags=all_tags)
            return self._version(mv)

    def get_version(self, name: str, version: str) -> ModelVersion:
        return self._version(self._require(name, version))

    def versions(self, name: str) -> list[ModelVersion]:
        return [self._version(mv) for mv in self._mlflow_versions(name)]

    def set_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        mv = self._require(name, version)
        for key, value in tags.items():
            self._call(f"cannot tag {name!r} {version!r}", self._client.set_model_version_tag,
                       name, mv.version, str(key), str(value))

    def get_alias(self, name: str, alias: str) -> str | None:
        self._model_tags(name)
        try:
            mv = self._client.get_model_version_by_alias(name, alias)
        except self._errors as exc:
            if self._is_missing(exc) or getattr(exc, "error_code", "") == "INVALID_PARAMETER_VALUE":
                return None
            raise self._error(f"cannot read alias {alias!r} of {name!r}: {_message(exc)}") from exc
        return self._name_of(mv)

    def move_alias(self, name: str, alias: str, version: str, *, actor: str, reason: str) -> AliasMove:
        """Move MLflow's own alias to the version ``version`` names; the move is recorded under that version's name."""
        check_names(self.uri, alias=alias)
        with self._writing(name):
            target = self._require(name, version)
            to = self._name_of(target)
            previous = self.get_alias(name, alias)
            tags = self._model_tags(name)
            moves = self._read_history(tags, alias)  # a corrupt history stops the move before anything changes
            at = self.clock.timestamp()
            self._call(f"cannot move alias {alias!r} of {name!r}", self._client.set_registered_model_alias,
                       name, alias, str(target.version))
            for key, value in (("moved_at", at), ("from", previous or ""), ("actor", actor), ("reason", reason)):
                self._call("cannot record the alias move", self._client.set_model_version_tag,
                           name, target.version, f"harness.alias.{alias}.{key}", value)
            raw = {"alias": alias, "from": previous, "to": to, "at": at, "actor": actor, "reason": reason}
            self._write_history(name, alias, tags, [*moves, raw])
        return AliasMove(name, alias, previous, to, at, actor, reason)

    def alias_history(self, name: str, alias: str) -> list[AliasMove]:
        """The moves the harness recorded; an alias moved only outside the harness has none."""
        moves = self._read_history(self._model_tags(name), alias)
        return [AliasMove(name, alias, m.get("from"), m["to"], str(m.get("at", "")), str(m.get("actor", "")),
                          str(m.get("reason", ""))) for m in moves]

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30.0) -> Iterator[None]:
        """A lock on one model for processes on this machine only (see the module docstring)."""
        model_lock = self._file_lock(name, "model", timeout)
        try:
            model_lock.acquire()
        except filelock.Timeout as exc:
            raise RegistryLockTimeout(f"model {name!r} is locked by another process (waited {timeout:g} s)",
                                      Location(file=model_lock.lock_file)) from exc
        except OSError as exc:
            raise self._error(f"cannot take the lock of model {name!r}: {exc.strerror or exc}") from exc
        try:
            yield
        finally:
            model_lock.release()
