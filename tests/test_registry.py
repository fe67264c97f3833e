"""Contract tests for the registry backends: the same behaviour from a file and from MLflow."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.synchronize
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ExitCode, InputError
from harness.release.registry import (
    AliasMove,
    ModelVersion,
    Registry,
    RegistryError,
    RegistryLockTimeout,
    UnknownModel,
    UnknownVersion,
    open_registry,
)
from harness.release.registry.file import FileRegistry

# MLflow's own sqlite store trips a SQLAlchemy deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite MLflow store per session: creating its schema takes seconds."""
    pytest.importorskip("mlflow")
    db = tmp_path_factory.mktemp("mlflow") / "registry.db"
    return f"sqlite:///{db}"


@pytest.fixture(params=["file", "mlflow"], ids=["file", "mlflow"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Registry:
    if request.param == "file":
        return open_registry("registry.json", base=tmp_path)
    return open_registry(request.getfixturevalue("mlflow_uri"))


@pytest.fixture
def model(request: pytest.FixtureRequest) -> str:
    """A model name unique to the test, since the MLflow store is shared by the session."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)


# -- URI selection ---------------------------------------------------------------------


@pytest.mark.parametrize("uri", ["file://reg.json", "reg.json", "sub/reg.yaml"], ids=["file-scheme", "json", "yaml"])
def test_file_uris_open_the_file_backend_relative_to_base(uri: str, tmp_path: Path) -> None:
    reg = open_registry(uri, base=tmp_path)
    assert isinstance(reg, FileRegistry)
    assert reg.path.parent.is_relative_to(tmp_path)
    assert isinstance(reg, Registry)


def test_unknown_uri_is_refused_as_invalid_input() -> None:
    with pytest.raises(InputError, match="unrecognised registry URI") as info:
        open_registry("ftp://somewhere/registry")
    assert info.value.exit_code == ExitCode.INVALID_INPUT


def test_yaml_file_round_trips(tmp_path: Path) -> None:
    reg = open_registry("reg.yaml", base=tmp_path)
    reg.register("m", "1.0", tags={"k": "v"})
    reg.move_alias("m", "champion", "1.0", actor="ci", reason="first")
    again = open_registry(str(tmp_path / "reg.yaml"))
    assert again.get_version("m", "1.0").tags == {"k": "v"}
    assert again.get_alias("m", "champion") == "1.0"


# -- the contract, for every backend ---------------------------------------------------


def test_register_is_idempotent(registry: Registry, model: str) -> None:
    first = registry.register(model, "1.2.0", tags={"team": "search"})
    again = registry.register(model, "1.2.0", tags={"team": "other"})
    assert isinstance(first, ModelVersion)
    assert again == first
    assert (first.name, first.version, dict(first.tags)) == (model, "1.2.0", {"team": "search"})
    assert first.created_at.endswith("Z")
    assert [v.version for v in registry.versions(model)] == ["1.2.0"]


def test_unknown_version_and_model_are_named(registry: Registry, model: str) -> None:
    registry.register(model, "1.0.0")
    with pytest.raises(UnknownVersion, match=rf"unknown version '9\.9\.9' of model '{model}'") as info:
        registry.get_version(model, "9.9.9")
    assert info.value.exit_code == ExitCode.INVALID_INPUT
    with pytest.raises(UnknownModel, match="unknown model 'no-such-model'"):
        registry.versions("no-such-model")


def test_versions_are_oldest_first(registry: Registry, model: str) -> None:
    for version in ["2.0.0", "1.0.0", "10.0.0"]:
        registry.register(model, version)
    assert [v.version for v in registry.versions(model)] == ["2.0.0", "1.0.0", "10.0.0"]


def test_tags_are_merged_and_read_back(registry: Registry, model: str) -> None:
    registry.register(model, "1.0.0", tags={"a": "1"})
    registry.set_tags(model, "1.0.0", {"b": "2", "a": "3"})
    assert dict(registry.get_version(model, "1.0.0").tags) == {"a": "3", "b": "2"}
    with pytest.raises(UnknownVersion, match="unknown version"):
        registry.set_tags(model, "0.0.1", {"x": "y"})


def test_alias_moves_are_recorded(registry: Registry, model: str) -> None:
    registry.register(model, "1.0.0")
    registry.register(model, "1.1.0")
    assert registry.get_alias(model, "champion") is None
    assert registry.alias_history(model, "champion") == []
    first = registry.move_alias(model, "champion", "1.0.0", actor="ci", reason="initial release")
    second = registry.move_alias(model, "champion", "1.1.0", actor="alice", reason="gate passed")
    registry.move_alias(model, "challenger", "1.0.0", actor="bob", reason="shadow")
    assert registry.get_alias(model, "champion") == "1.1.0"
    assert (first.from_version, first.to_version) == (None, "1.0.0")
    assert second == AliasMove(model, "champion", "1.0.0", "1.1.0", second.at, "alice", "gate passed")
    assert second.at >= first.at and second.at.endswith("Z")
    assert registry.alias_history(model, "champion") == [first, second]
    assert [m.to_version for m in registry.alias_history(model, "challenger")] == ["1.0.0"]


def test_moving_to_an_unknown_version_changes_nothing(registry: Registry, model: str) -> None:
    registry.register(model, "1.0.0")
    registry.move_alias(model, "champion", "1.0.0", actor="ci", reason="initial")
    with pytest.raises(UnknownVersion, match=r"unknown version '2\.0\.0'"):
        registry.move_alias(model, "champion", "2.0.0", actor="ci", reason="typo")
    assert registry.get_alias(model, "champion") == "1.0.0"
    assert len(registry.alias_history(model, "champion")) == 1


def test_lock_is_reusable_and_does_not_block_writes(registry: Registry, model: str) -> None:
    registry.register(model, "1.0.0")
    with registry.lock(model, timeout=1):
        registry.move_alias(model, "champion", "1.0.0", actor="ci", reason="under lock")
    with registry.lock(model, timeout=1):
        pass
    assert registry.get_alias(model, "champion") == "1.0.0"


def test_mlflow_history_survives_many_long_moves(mlflow_uri: str, model: str) -> None:
    registry = open_registry(f"mlflow://{mlflow_uri}")
    registry.register(model, "1")
    registry.register(model, "2")
    for i in range(8):
        registry.move_alias(model, "champion", str(i % 2 + 1), actor="ci", reason=f"{i} " + "x" * 1500)
    history = registry.alias_history(model, "champion")
    assert [m.reason[:2] for m in history] == [f"{i} " for i in range(8)]
    assert history[-1].from_version == "1"


def test_mlflow_store_creation_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mlflow")
    registry = open_registry(f"sqlite:///{tmp_path / 'fresh.db'}")
    registry.register("quiet", "1")
    assert capfd.readouterr() == ("", "")


def test_relative_sqlite_path_is_relative_to_base(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from harness.release.registry.mlflow import MlflowRegistry

    (tmp_path / "store").mkdir()
    registry = open_registry("mlflow://sqlite:///store/mlflow.db", base=tmp_path)
    assert isinstance(registry, MlflowRegistry)
    assert registry.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'store' / 'mlflow.db'}"


# -- the file backend only -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ('{"format": "harness-registry/1",\n  "models": {,}}\n', "invalid JSON", 2),
        ('{"format": "harness-registry/1", "models": []}\n', r"\$\.models: corrupted registry file", None),
        ('{"format": "other/9", "models": {}}\n', "expected format", None),
    ],
    ids=["bad-json", "wrong-shape", "wrong-format"],
)
def test_corrupted_file_is_reported_and_left_alone(tmp_path: Path, content: str, message: str,
                                                   line: int | None) -> None:
    path = tmp_path / "registry.json"
    path.write_text(content, encoding="utf-8")
    before = path.read_bytes()
    reg = open_registry(str(path))
    for action in (lambda: reg.versions("m"), lambda: reg.register("m", "1")):
        with pytest.raises(RegistryError, match=message) as info:
            action()
        assert info.value.exit_code == ExitCode.ENVIRONMENT
        assert str(path) in str(info.value)
        assert info.value.location.line == line
    assert path.read_bytes() == before


def test_missing_file_is_an_empty_registry_created_on_first_write(tmp_path: Path) -> None:
    path = tmp_path / "new" / "registry.json"
    reg = open_registry(f"file://{path}")
    with pytest.raises(UnknownModel, match=f"no registry yet at {path}"):
        reg.versions("m")
    assert not path.exists()
    reg.register("m", "1")
    assert json.loads(path.read_text())["format"] == "harness-registry/1"


def test_atomic_writes_leave_no_temp_files(tmp_path: Path) -> None:
    reg = open_registry("registry.json", base=tmp_path)
    for i in range(5):
        reg.register("m", str(i))
    reg.set_tags("m", "0", {"k": "v"})
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert {p.name for p in tmp_path.iterdir()} <= {"registry.json", "registry.json.lock"}


def _write_tags(path: str, worker: int, start: multiprocessing.synchronize.Barrier) -> None:
    reg = open_registry(path)
    start.wait(30)  # both writers begin together, so their read-modify-write cycles interleave
    for i in range(50):
        reg.set_tags("m", "1", {f"w{worker}-{i}": str(i)})


def test_two_processes_lose_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.json")
    open_registry(path).register("m", "1")
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_write_tags, args=(path, w, start)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    tags = open_registry(path).get_version("m", "1").tags
    assert len(tags) == 100
    assert tags["w0-49"] == tags["w1-49"] == "49"


def _hold_lock(path: str, held: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with open_registry(path).lock("m"):
        held.set()
        release.wait(30)


@pytest.fixture
def lock_held_elsewhere(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "registry.json")
    ctx = multiprocessing.get_context("fork")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, held, release))
    holder.start()
    try:
        assert held.wait(30)
        yield path
    finally:
        release.set()
        holder.join(30)


def test_lock_held_by_another_process_times_out(lock_held_elsewhere: str) -> None:
    reg = open_registry(lock_held_elsewhere)
    with pytest.raises(RegistryLockTimeout, match="'m' is locked by another process") as info, \
            reg.lock("m", timeout=0.2):
        pass
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    with pytest.raises(RegistryLockTimeout), reg.lock("m", timeout=0):
        pass
    # the per-model lock is not the write lock: writes go through while it is held
    reg.register("m", "1")
    with reg.lock("other-model", timeout=0.2):
        pass
