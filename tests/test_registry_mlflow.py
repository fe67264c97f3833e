"""The MLflow backend with versions registered by MLflow's own API, not by the harness.

Teams register versions with ``MlflowClient`` (a real artifact behind each) and serve
``models:/NAME@champion``; the harness must list those versions, read the alias, and
promote by moving MLflow's own alias, never by creating a placeholder version.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.api import GateResult, record_release, run_gate
from harness.errors import ExitCode
from harness.model import ReleaseSettings, Verdict
from harness.outputs import records_from_dicts
from harness.release.registry import Registry, RegistryError, UnknownModel, UnknownVersion, open_registry
from harness.release.registry.mlflow import MlflowRegistry  # imports MLflow only when one is opened

pytest.importorskip("mlflow")

# MLflow's own sqlite store trips a SQLAlchemy deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "examples" / "outputs"
#: the day the shipped examples are judged on in the release demo (the waivers are valid then)
TODAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite MLflow store per session: creating its schema takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow-outside') / 'registry.db'}"


@pytest.fixture
def client(store: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store, registry_uri=store)


@pytest.fixture
def model(request: pytest.FixtureRequest) -> str:
    """A model name unique to the test, since the store is shared by the session."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)


@pytest.fixture
def outside(client: Any, model: str) -> str:
    """A model with versions 1 and 2 registered by MLflow's API, and ``champion`` on 1."""
    client.create_registered_model(model)
    for n in (1, 2):
        client.create_model_version(model, source=f"s3://bucket/model-v{n}", run_id=None)
    client.set_registered_model_alias(model, "champion", "1")
    return model


@pytest.fixture
def registry(store: str) -> Registry:
    return open_registry(store)


def mlflow_versions(client: Any, model: str) -> list[str]:
    """MLflow's own numbers of the model's versions, as MLflow itself lists them."""
    return sorted((str(mv.version) for mv in client.search_model_versions(f"name='{model}'")), key=int)


def serving(client: Any, model: str, alias: str = "champion") -> Any:
    """What ``models:/MODEL@alias`` loads."""
    return client.get_model_version_by_alias(model, alias)


# -- reading versions registered outside the harness ---------------------------------------


def test_versions_registered_outside_are_listed_by_number(registry: Registry, outside: str) -> None:
    versions = registry.versions(outside)
    assert [(v.name, v.version, dict(v.tags)) for v in versions] == [(outside, "1", {}), (outside, "2", {})]
    assert all(v.created_at.endswith("Z") for v in versions)


def test_alias_set_outside_is_read_and_has_no_history(registry: Registry, outside: str) -> None:
    assert registry.get_alias(outside, "champion") == "1"
    assert registry.get_alias(outside, "challenger") is None
    assert registry.alias_history(outside, "champion") == []


def test_a_version_is_found_by_its_mlflow_number(registry: Registry, outside: str) -> None:
    assert registry.get_version(outside, "2").version == "2"
    assert registry.get_version(outside, "1").version == "1"


def test_a_team_version_tag_names_the_version(registry: Registry, client: Any, outside: str) -> None:
    client.create_model_version(outside, source="s3://bucket/model-v3", run_id=None, tags={"version": "1.4.2"})
    assert registry.get_version(outside, "1.4.2").version == "1.4.2"
    assert registry.get_version(outside, "3").version == "1.4.2"  # its number still works
    assert [v.version for v in registry.versions(outside)] == ["1", "2", "1.4.2"]
    client.set_registered_model_alias(outside, "champion", "3")
    assert registry.get_alias(outside, "champion") == "1.4.2"


def test_the_version_tag_is_configurable(store: str, client: Any, outside: str) -> None:
    client.set_model_version_tag(outside, "2", "release", "2024.06")
    registry = MlflowRegistry(store, version_tag="release")
    assert [v.version for v in registry.versions(outside)] == ["1", "2024.06"]
    assert dict(registry.get_version(outside, "2024.06").tags) == {"release": "2024.06"}
    with pytest.raises(UnknownVersion):
        open_registry(store).get_version(outside, "2024.06")  # the default tag is `version`


def test_every_listed_name_finds_its_version(registry: Registry, client: Any, outside: str) -> None:
    client.create_model_version(outside, source="s3://bucket/model-v3", run_id=None, tags={"version": "1.4.2"})
    registry.register(outside, "2.0.0")  # the harness's own name, on MLflow version 4
    listed = registry.versions(outside)
    assert [v.version for v in listed] == ["1", "2", "1.4.2", "2.0.0"]
    assert [registry.get_version(outside, v.version) for v in listed] == listed


def test_versions_the_harness_registered_keep_their_names(registry: Registry, client: Any, model: str) -> None:
    registry.register(model, "2")  # MLflow version 1
    registry.register(model, "3")  # MLflow version 2: "2" is now both a harness name and an MLflow number
    registry.move_alias(model, "champion", "2", actor="ci", reason="the harness's name wins over the number")
    assert str(serving(client, model).version) == "1"
    assert registry.get_alias(model, "champion") == "2"
    assert [v.version for v in registry.versions(model)] == ["2", "3"]
    assert registry.register(model, "2").version == "2"
    assert mlflow_versions(client, model) == ["1", "2"]


# -- writing -------------------------------------------------------------------------------


def test_move_alias_moves_mlflow_alias_and_creates_no_version(registry: Registry, client: Any, outside: str) -> None:
    move = registry.move_alias(outside, "champion", "2", actor="alice", reason="gate passed")
    assert str(serving(client, outside).version) == "2"
    assert serving(client, outside).source == "s3://bucket/model-v2"
    assert mlflow_versions(client, outside) == ["1", "2"]
    assert (move.from_version, move.to_version) == ("1", "2")
    assert registry.get_alias(outside, "champion") == "2"
    assert registry.alias_history(outside, "champion") == [move]


def test_move_alias_by_team_tag_moves_to_that_version(registry: Registry, client: Any, outside: str) -> None:
    client.set_model_version_tag(outside, "2", "version", "1.4.2")
    move = registry.move_alias(outside, "champion", "1.4.2", actor="ci", reason="gate passed")
    assert str(serving(client, outside).version) == "2"
    assert move.to_version == "1.4.2"
    assert mlflow_versions(client, outside) == ["1", "2"]


@pytest.mark.parametrize("name", ["2", "1.4.2"], ids=["mlflow-number", "team-tag"])
def test_register_of_an_existing_version_creates_nothing(registry: Registry, client: Any, outside: str,
                                                         name: str) -> None:
    client.set_model_version_tag(outside, "2", "version", "1.4.2")
    found = registry.register(outside, name, tags={"team": "search"})
    assert found == registry.get_version(outside, "2")
    assert "team" not in found.tags  # returned unchanged
    assert mlflow_versions(client, outside) == ["1", "2"]


def test_register_of_an_unknown_name_creates_one_version(registry: Registry, client: Any, outside: str) -> None:
    created = registry.register(outside, "7")
    assert created.version == "7"
    assert mlflow_versions(client, outside) == ["1", "2", "3"]
    assert client.get_model_version(outside, "3").tags["harness.version"] == "7"
    assert registry.register(outside, "7") == created
    assert mlflow_versions(client, outside) == ["1", "2", "3"]


def test_set_tags_tags_the_resolved_version(registry: Registry, client: Any, outside: str) -> None:
    registry.set_tags(outside, "2", {"harness.verdict": "promote"})
    assert client.get_model_version(outside, "2").tags == {"harness.verdict": "promote"}
    assert client.get_model_version(outside, "1").tags == {}


# -- errors --------------------------------------------------------------------------------


def test_unknown_version_names_the_versions_that_exist(registry: Registry, client: Any, outside: str) -> None:
    expected = rf"unknown version '9\.9' of model '{outside}' \(versions: 1, 2\)"
    with pytest.raises(UnknownVersion, match=expected) as info:
        registry.get_version(outside, "9.9")
    assert info.value.exit_code == ExitCode.INVALID_INPUT
    for n in range(3, 13):
        client.create_model_version(outside, source=f"s3://bucket/model-v{n}", run_id=None)
    with pytest.raises(UnknownVersion, match=r"\(versions: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more\)"):
        registry.move_alias(outside, "champion", "99", actor="ci", reason="typo")
    assert str(serving(client, outside).version) == "1"


def test_unknown_model_names_the_model_and_version(registry: Registry) -> None:
    with pytest.raises(UnknownModel, match=r"unknown model 'no-such-model' \(asked for version '2'\)") as info:
        registry.get_version("no-such-model", "2")
    assert info.value.exit_code == ExitCode.INVALID_INPUT


@pytest.mark.parametrize(
    ("tags", "name", "claims"),
    [
        ({"1": "1.4.2", "2": "1.4.2"}, "1.4.2", r"1 \(tag version=1\.4\.2\), 2 \(tag version=1\.4\.2\)"),
        ({"2": "1"}, "1", r"1 \(its number\), 2 \(tag version=1\)"),
    ],
    ids=["same-team-tag", "number-and-team-tag"],
)
def test_a_name_two_versions_claim_is_an_error_naming_both(registry: Registry, client: Any, outside: str,
                                                           tags: dict[str, str], name: str, claims: str) -> None:
    for number, value in tags.items():
        client.set_model_version_tag(outside, number, "version", value)
    expected = rf"'{re.escape(name)}' of model '{outside}' is ambiguous, claimed by MLflow versions {claims};"
    with pytest.raises(RegistryError, match=expected) as info:
        registry.move_alias(outside, "champion", name, actor="ci", reason="which one?")
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    with pytest.raises(RegistryError, match="ambiguous"):
        registry.register(outside, name)
    assert mlflow_versions(client, outside) == ["1", "2"]
    assert str(serving(client, outside).version) == "1"


def test_corrupt_history_tags_are_a_store_error_and_move_nothing(registry: Registry, client: Any,
                                                                 outside: str) -> None:
    client.set_registered_model_tag(outside, "harness.history.champion.chunks", "2")
    client.set_registered_model_tag(outside, "harness.history.champion.0", "[")
    with pytest.raises(RegistryError, match="corrupted alias history") as info:
        registry.alias_history(outside, "champion")
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    with pytest.raises(RegistryError, match="corrupted alias history"):
        registry.move_alias(outside, "champion", "2", actor="ci", reason="blocked by the history")
    assert str(serving(client, outside).version) == "1"


def test_a_corrupt_store_file_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    db.write_bytes(b"this is not a sqlite database\n" * 64)
    with pytest.raises(RegistryError, match="cannot open the MLflow registry") as info:
        open_registry(f"sqlite:///{db}")
    assert info.value.exit_code == ExitCode.ENVIRONMENT


# -- end to end: a gate promoting a version registered outside the harness -----------------


@pytest.fixture(scope="module")
def passing_gate() -> GateResult:
    """The shipped 1.1.0 outputs against the 1.0.0 baseline: a passing gate (with a waiver).

    The records' own model and version fields are dropped: these tests record the verdict on
    versions named by MLflow's numbers, which the records cannot know.
    """
    lines = (OUTPUTS / "acme-support-1.1.0.jsonl").read_text().splitlines()
    records = [{k: v for k, v in json.loads(line).items() if k not in ("model", "model_version")} for line in lines]
    result = run_gate(records_from_dicts(records), policies=ROOT / "policies", evals=ROOT / "evals",
                      baseline=OUTPUTS / "acme-support-1.0.0.jsonl", today=TODAY,
                      backdate=True)
    assert result.verdict is Verdict.PROMOTE
    return result


@pytest.fixture
def settings(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReleaseSettings:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    return ReleaseSettings(registry=store, decision_log=tmp_path / "audit" / "decisions.jsonl",
                           reports_dir=tmp_path / "audit" / "reports")


def test_gate_promotes_a_version_registered_outside(passing_gate: GateResult, settings: ReleaseSettings,
                                                    client: Any, outside: str) -> None:
    recorded = record_release(passing_gate, settings=settings, model=outside, version="2", promote=True)
    assert recorded.promoted and not recorded.tags.registered
    assert str(serving(client, outside).version) == "2"
    assert serving(client, outside).source == "s3://bucket/model-v2"
    assert mlflow_versions(client, outside) == ["1", "2"]
    assert client.get_model_version(outside, "2").tags["harness.verdict"] == "promote"
    history = open_registry(settings.registry).alias_history(outside, "champion")
    assert [(m.from_version, m.to_version, m.actor) for m in history] == [("1", "2", "ci-bot")]
    assert [e["kind"] for e in recorded.entries][-1] == "promotion"


def test_gate_of_an_unknown_version_is_refused_and_creates_nothing(passing_gate: GateResult,
                                                                   settings: ReleaseSettings, client: Any,
                                                                   outside: str) -> None:
    with pytest.raises(UnknownVersion, match=r"unknown version '7' of model .*\(versions: 1, 2\).*--create-version"):
        record_release(passing_gate, settings=settings, model=outside, version="7", promote=True)
    assert mlflow_versions(client, outside) == ["1", "2"]
    assert str(serving(client, outside).version) == "1"
    assert not settings.decision_log.exists()


def test_gate_with_create_version_registers_the_unknown_version(passing_gate: GateResult,
                                                                settings: ReleaseSettings, client: Any,
                                                                outside: str) -> None:
    recorded = record_release(passing_gate, settings=settings, model=outside, version="7", promote=True,
                              create_version=True)
    assert recorded.tags.registered and recorded.promoted
    assert mlflow_versions(client, outside) == ["1", "2", "3"]
    assert client.get_model_version(outside, "3").tags["harness.version"] == "7"
    assert str(serving(client, outside).version) == "3"
    assert open_registry(settings.registry).get_alias(outside, "champion") == "7"


def test_an_unreachable_tracking_server_fails_fast() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on: bind, read the port, close
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RegistryError, match="does not answer") as info:
        open_registry(f"http://127.0.0.1:{port}")
    assert info.value.exit_code == ExitCode.ENVIRONMENT


def test_an_mlflow_database_in_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="folder of the MLflow database does not exist"):
        open_registry(f"sqlite:///{tmp_path}/missing/x.db")
    assert not (tmp_path / "missing").exists()
