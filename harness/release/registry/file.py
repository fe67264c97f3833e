"""The file registry: one JSON (or YAML) file, safe for several processes writing at once.

Every write takes ``PATH.lock``, re-reads the file, applies the change and replaces the
file atomically, so concurrent writers never lose each other's updates and readers see
the old or the new file, never half of one. ``lock(name)`` is a different file per model
(``PATH.<name>.lock``), so holding it around a rollback never blocks the writes inside.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import filelock

from ...clock import SYSTEM_CLOCK, Clock
from ...errors import InputError, Location
from ...io.files import write_atomic
from ...io.yaml import json_path, parse_yaml
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

FORMAT = "harness-registry/1"


def _type_name(value: Any) -> str:
    """A JSON value's type in JSON's words, for messages."""
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)
_T = TypeVar("_T")
_WRITE_TIMEOUT = 60.0


class FileRegistry:
    """A registry kept in one local file; a missing file is an empty registry."""

    creates_versions = True

    def __init__(self, path: Path, *, uri: str | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(path)
        self.uri = uri or str(self.path)
        self.clock = clock
        self._yaml = self.path.suffix.lower() in (".yaml", ".yml")

    def __repr__(self) -> str:
        return f"FileRegistry({str(self.path)!r})"

    # -- reading -----------------------------------------------------------------------

    def _where(self, parts: tuple[str | int, ...] = ()) -> Location:
        return Location(file=str(self.path), json_path=json_path(parts) if parts else None)

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"format": FORMAT, "models": {}}
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"cannot read the registry file: {exc}", self._where()) from exc
        if self._yaml:
            try:
                document = parse_yaml(text, str(self.path))
            except InputError as exc:
                raise RegistryError(f"corrupted registry file: {exc.message}", exc.location) from exc
            if document.problems:
                problem = document.problems[0]
                raise RegistryError(f"corrupted registry file: {problem.message}", problem.location)
            data = document.data
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RegistryError(
                    f"corrupted registry file: invalid JSON: {exc.msg}",
                    Location(file=str(self.path), line=exc.lineno, column=exc.colno),
                ) from exc
        self._check_shape(data)
        return data

    def _check_shape(self, data: Any) -> None:
        def bad(message: str, *parts: str | int) -> RegistryError:
            return RegistryError(f"corrupted registry file: {message}", self._where(parts))

        if not isinstance(data, dict):
            raise bad(f"expected an object with 'format' and 'models', got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise bad(f"expected format {FORMAT!r}, got {data.get('format')!r}", "format")
        models = data.get("models")
        if not isinstance(models, dict):
            raise bad("expected an object of models", "models")
        for name, model in models.items():
            if not isinstance(model, dict):
                raise bad("expected an object with versions, aliases and history", "models", name)
            for key, kind in (("versions", dict), ("aliases", dict), ("history", list)):
                if not isinstance(model.get(key), kind):
                    raise bad(f"expected {'an object' if kind is dict else 'a list'}", "models", name, key)
            for version, entry in model["versions"].items():
                if not isinstance(entry, dict) or not isinstance(entry.get("tags"), dict):
                    raise bad("expected an object with tags and created_at", "models", name, "versions", version)
                if not all(isinstance(v, str) for v in entry["tags"].values()):
                    raise bad("tag values must be strings", "models", name, "versions", version, "tags")
            for alias, target in model["aliases"].items():
                if not isinstance(target, str):
                    raise bad("expected a version string", "models", name, "aliases", alias)
            for i, move in enumerate(model["history"]):
                self._check_move(move, bad, name, i)

    @staticmethod
    def _check_move(move: Any, bad: Callable[..., RegistryError], name: str, i: int) -> None:
        """One move of the alias history: the shape the harness writes, every field named when it is wrong."""
        where = ("models", name, "history", i)
        if not isinstance(move, dict):
            raise bad(f"expected a move (an object with alias, from, to, at, actor, reason), got"
                      f" {_type_name(move)}", *where)
        for key in ("alias", "to"):
            if not isinstance(move.get(key), str):
                raise bad(f"expected a string, got {_type_name(move.get(key))}", *where, key)
        if move.get("from") is not None and not isinstance(move["from"], str):
            raise bad(f"expected a version string or null, got {_type_name(move['from'])}", *where, "from")
        for key in ("at", "actor", "reason"):
            if key in move and not isinstance(move[key], str):
                raise bad(f"expected a string, got {_type_name(move[key])}", *where, key)

    def _model(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        model = data["models"].get(name)
        if model is None:
            if not self.path.exists():
                raise UnknownModel(f"no registry yet at {self.path}, so no model {name!r}: nothing has been recorded"
                                   " (gate a version with --promote, or register one with"
                                   " `harness registry alias --create`)", self._where())
            known = ", ".join(sorted(data["models"])) or "none"
            raise UnknownModel(f"unknown model {name!r} (models in this registry: {known})", self._where())
        return model

    def _entry(self, data: dict[str, Any], name: str, version: str) -> dict[str, Any]:
        entry = self._model(data, name)["versions"].get(version)
        if entry is None:
            raise UnknownVersion(f"unknown version {version!r} of model {name!r}", self._where())
        return entry

    @staticmethod
    def _version(name: str, version: str, entry: Mapping[str, Any]) -> ModelVersion:
        return ModelVersion(name, version, entry.get("tags", {}), str(entry.get("created_at", "")))

    @staticmethod
    def _move(name: str, raw: Mapping[str, Any]) -> AliasMove:
        return AliasMove(name=name, alias=raw["alias"], from_version=raw.get("from"), to_version=raw["to"],
                         at=str(raw.get("at", "")), actor=str(raw.get("actor", "")), reason=str(raw.get("reason", "")))

    # -- writing -----------------------------------------------------------------------

    def _update(self, change: Callable[[dict[str, Any]], _T]) -> _T:
        """Apply ``change`` to a fresh read of the file under the write lock, then save it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with filelock.FileLock(str(self.path) + ".lock", timeout=_WRITE_TIMEOUT):
                data = self._read()
                result = change(data)
                self._write(data)
                return result
        except filelock.Timeout as exc:
            raise RegistryLockTimeout(f"registry file is locked by another process for over {_WRITE_TIMEOUT:.0f} s",
                                      self._where()) from exc
        except OSError as exc:  # a lock path that is a directory, a read-only folder, a full disk
            raise RegistryError(f"cannot write the registry: {exc.strerror or exc}", self._where()) from exc

    def _write(self, data: dict[str, Any]) -> None:
        if self._yaml:
            import yaml

            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        write_atomic(self.path, text)

    # -- the Registry protocol ---------------------------------------------------------

    def register(self, name: str, version: str, *, source: str = "", tags: Mapping[str, str] = NO_TAGS) -> ModelVersion:
        check_names(self.uri, name=name, version=version)

        def change(data: dict[str, Any]) -> ModelVersion:
            model = data["models"].setdefault(name, {"versions": {}, "aliases": {}, "history": []})
            entry = model["versions"].get(version)
            if entry is None:
                entry = {"tags": {str(k): str(v) for k, v in tags.items()}, "created_at": self.clock.timestamp(),
                         "source": source}
                model["versions"][version] = entry
            return self._version(name, version, entry)

        return self._update(change)

    def get_version(self, name: str, version: str) -> ModelVersion:
        return self._version(name, version, self._entry(self._read(), name, version))

    def versions(self, name: str) -> list[ModelVersion]:
        model = self._model(self._read(), name)
        return [self._version(name, v, entry) for v, entry in model["versions"].items()]

    def set_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        def change(data: dict[str, Any]) -> None:
            self._entry(data, name, version)["tags"].update({str(k): str(v) for k, v in tags.items()})

        self._update(change)

    def get_alias(self, name: str, alias: str) -> str | None:
        target = self._model(self._read(), name)["aliases"].get(alias)
        return target if isinstance(target, str) else None

    def move_alias(self, name: str, alias: str, version: str, *, actor: str, reason: str) -> AliasMove:
        check_names(self.uri, alias=alias)

        def change(data: dict[str, Any]) -> AliasMove:
            self._entry(data, name, version)
            model = self._model(data, name)
            raw = {"alias": alias, "from": model["aliases"].get(alias), "to": version, "at": self.clock.timestamp(),
                   "actor": actor, "reason": reason}
            model["aliases"][alias] = version
            model["history"].append(raw)
            return self._move(name, raw)

        return self._update(change)

    def models(self) -> list[str]:
        """Every model in the file: all of them are the harness's, so ``log verify`` checks them all."""
        return sorted(self._read()["models"])

    def alias_history(self, name: str, alias: str) -> list[AliasMove]:
        model = self._model(self._read(), name)
        return [self._move(name, raw) for raw in model["history"] if raw["alias"] == alias]

    @contextmanager
    def lock(self, name: str, timeout: float = 30.0) -> Iterator[None]:
        """Hold ``PATH.<name>.lock`` (not the per-write lock, so writes inside still work)."""
        path = f"{self.path}.{safe_name(name)}.lock"
        model_lock = filelock.FileLock(path, timeout=timeout)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            model_lock.acquire()
        except filelock.Timeout as exc:
            raise RegistryLockTimeout(f"model {name!r} is locked by another process (waited {timeout:g} s)",
                                      Location(file=path)) from exc
        except OSError as exc:
            raise RegistryError(f"cannot take the lock of model {name!r}: {exc.strerror or exc}",
                                Location(file=path)) from exc
        try:
            yield
        finally:
            model_lock.release()
