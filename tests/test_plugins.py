"""Extension points: the registry utility, entry points, a policy repository's own checks, composed schemas."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import api
from harness.checks import CHECKS, all_checks, check
from harness.cli import main
from harness.errors import InputError
from harness.io.schema import compose, load_schema, render
from harness.model import Finding
from harness.plugins import PluginError, PluginRegistry
from harness.release.notify import NOTIFIERS, Notice, notifier_from_config
from harness.release.registry import REGISTRIES, open_registry
from harness.report import REPORTERS

TONE = textwrap.dedent('''
    from harness.checks import check
    from harness.model import Finding

    @check("tone", options={"properties": {"max_exclamations": {"type": "integer", "minimum": 0}},
                            "required": ["max_exclamations"]})
    def tone(options, record, case):
        """At most max_exclamations exclamation marks."""
        count = record.output.count("!")
        if count > options["max_exclamations"]:
            return [Finding("tone", f"{count} exclamation marks")]
        return []

    def render_csv(report, *, color=False, width=None):
        return "policy,status\\n" + "".join(f"{p.id},{p.status}\\n" for p in report.policies)
    ''')

POLICY = """\
id: style.tone
version: 1.0.0
title: Calm answers
severity: sev3
on_fail: block
owner: style@example.com
rules:
  - {id: calm, check: tone, max_exclamations: 1}
  - {id: mostly-calm, check: rate, min: 0.5, of: {check: tone, max_exclamations: 0}}
examples:
  pass: ["Your order ships today."]
  fail: ["Wow!! Amazing!!!"]
"""

SUITE = """\
suite: calm
severity: sev3
cases:
  - id: calm-1
    input: Is my order late?
    expect: [{check: tone, max_exclamations: 0}]
"""


def repository(root: Path, plugins: str = "") -> Path:
    (root / "policies").mkdir(parents=True)
    (root / "evals").mkdir()
    playbook = "severities:\n  sev3: {meaning: minor}\n" + (f"plugins: [{plugins}]\n" if plugins else "")
    (root / "policies" / "playbook.yaml").write_text(playbook)
    (root / "policies" / "tone.yaml").write_text(POLICY)
    (root / "evals" / "calm.yaml").write_text(SUITE)
    (root / "out.jsonl").write_text(json.dumps({"case_id": "calm-1", "output": "Sure!!! It ships today!!"}) + "\n")
    return root


# -- the registry utility ----------------------------------------------------------------


@pytest.fixture
def colours() -> PluginRegistry[str]:
    def validate(name: str, obj: object) -> str:
        if not isinstance(obj, str):
            raise TypeError(f"expected a colour name, got {type(obj).__name__}")
        return obj

    return PluginRegistry("colour", "harness.test-colours", validate=validate, builtins=lambda: [("red", "#f00")])


def test_registry_validates_refuses_duplicates_and_forgets(colours):
    assert colours.get("red") == "#f00"
    colours.register("blue", "#00f")
    assert colours.names() == ["blue", "red"]
    with pytest.raises(PluginError, match="'blue' is already registered"):
        colours.register("blue", "#00e")
    with pytest.raises(PluginError, match=r"colour 'green' .* not a valid colour: expected a colour name, got int"):
        colours.register("green", 7)
    colours.unregister("blue")
    with pytest.raises(InputError, match="unknown colour 'blue'; expected one of: red"):
        colours.get("blue")


def test_registered_restores_what_was_there(colours):
    with colours.registered("red", "#ff0000"):
        assert colours.get("red") == "#ff0000"
    assert colours.get("red") == "#f00"
    with colours.registered("pink", "#fcc"):
        assert "pink" in colours
    assert "pink" not in colours


def test_a_check_must_be_decorated_and_named_as_registered():
    def plain(options, record, case):
        return []

    with pytest.raises(PluginError, match=r"decorated with harness\.checks\.check"):
        CHECKS.register("plain", plain)
    with pytest.raises(PluginError, match="calls itself 'other'"):
        CHECKS.register("plain", check("other")(plain))
    assert "plain" not in CHECKS


@pytest.mark.parametrize(("options", "message"), [
    pytest.param({"properties": {"id": {}}}, "may not redefine the rule keys", id="reuses-a-rule-key"),
    pytest.param({"properties": {}, "required": ["x"]}, "not among its properties", id="required-unknown"),
    pytest.param({"properties": []}, "must be a mapping", id="properties-not-a-mapping"),
])
def test_a_check_options_schema_is_checked_when_declared(options, message):
    with pytest.raises(ValueError, match=message):
        check("broken", options=options)


# -- entry points ------------------------------------------------------------------------


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution on sys.path whose entry points add a check and a reporter, as pip would install it."""
    site = tmp_path / "site"
    (site / "acme_checks-1.0.dist-info").mkdir(parents=True)
    (site / "acme_checks.py").write_text(TONE)
    (site / "acme_checks-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-checks\n"
                                                                 "Version: 1.0\n")
    (site / "acme_checks-1.0.dist-info" / "entry_points.txt").write_text(
        "[harness.checks]\ntone = acme_checks:tone\n\n[harness.reporters]\ncsv = acme_checks:render_csv\n")
    monkeypatch.syspath_prepend(str(site))
    for registry in (CHECKS, REPORTERS):
        registry.refresh()
    yield site
    monkeypatch.undo()
    for registry, name in ((CHECKS, "tone"), (REPORTERS, "csv")):
        registry.unregister(name)
        registry.refresh()


def test_an_installed_check_and_reporter_work_everywhere(installed_plugin, tmp_path, monkeypatch, capsys):
    root = repository(tmp_path / "repo")
    monkeypatch.chdir(root)
    assert main(["validate"]) == 0
    capsys.readouterr()
    # the check fails the output as a top-level rule and as an eval expectation; its rate rule fails too
    assert main(["gate", "--outputs", "out.jsonl", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = {(r["policy"], r["rule"]) for r in report["results"]}
    assert ("style.tone", "calm") in failed and ("eval:calm", "tone") in failed
    assert [a["status"] for a in report["aggregates"]] == ["fail"]
    assert main(["gate", "--outputs", "out.jsonl", "--format", "csv"]) == 1
    assert capsys.readouterr().out == "policy,status\nstyle.tone,fail\neval:calm,fail\n"


def test_a_plugin_check_options_are_validated(installed_plugin, tmp_path, monkeypatch, capsys):
    root = repository(tmp_path / "repo")
    (root / "policies" / "tone.yaml").write_text(POLICY.replace("max_exclamations: 1}", "max_exclamation: 1}"))
    monkeypatch.chdir(root)
    assert main(["validate"]) == 4
    err = capsys.readouterr().err
    assert "tone.yaml:8:5: $.rules[0]: 'max_exclamations' is a required property" in err
    assert "$.rules[0].max_exclamation: unknown key 'max_exclamation'; expected one of: check, description, id," \
           " mask, max_exclamations, message" in err


# -- a policy repository's own checks ----------------------------------------------------


def test_plugins_named_by_the_playbook_judge_like_built_ins(tmp_path, monkeypatch, capsys):
    root = repository(tmp_path / "repo", plugins="house_checks.tone")
    (root / "house_checks").mkdir()
    (root / "house_checks" / "__init__.py").write_text("")
    (root / "house_checks" / "tone.py").write_text(TONE)
    result = api.run_gate(root / "out.jsonl", policies=root / "policies", evals=root / "evals")
    assert result.exit_code == 1
    assert {r.rule for r in result.report.results} >= {"calm", "tone"}
    assert "tone" not in CHECKS  # the repository's check is the project's own, not global
    monkeypatch.chdir(root)
    assert main(["schema", "policy"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$defs"]["check_tone"]["required"] == ["check", "max_exclamations"]
    assert api.validate(root / "policies", root / "evals").ok


def test_a_plugin_that_does_not_import_is_an_error_in_the_playbook(tmp_path, monkeypatch, capsys):
    root = repository(tmp_path / "repo", plugins="no_such_plugin_module")
    monkeypatch.chdir(root)
    assert main(["validate"]) == 4
    err = capsys.readouterr().err
    assert "policies/playbook.yaml:3:11: $.plugins[0]: cannot import plugin module 'no_such_plugin_module'" in err
    assert "unknown check 'tone'" in err  # its policy cannot load either, and says why


def test_the_shipped_schemas_are_the_composition_of_the_built_in_checks():
    composed = compose(all_checks())
    for name in ("policy", "eval"):
        shipped = (Path(__file__).resolve().parents[1] / "harness" / "schemas" / f"{name}.schema.json").read_text()
        assert render(composed[name]) == shipped, f"regenerate harness/schemas/{name}.schema.json"
    assert set(composed["policy"]["$defs"]["inner_rule"]["properties"]["check"]["enum"]) == {
        name for name, c in all_checks().items() if c.level == "output"}
    assert load_schema("policy")["$defs"]["check_pii"]["properties"]["kinds"]["items"]["enum"][0] == "email"


def test_a_custom_check_registered_in_process_is_composed_into_the_schema(tmp_path):
    @check("short_answer", options={"properties": {"words": {"type": "integer", "minimum": 1}},
                                    "required": ["words"]})
    def short_answer(options, record, case):
        """At most ``words`` words."""
        return [Finding("length", "too long")] if len(record.output.split()) > options["words"] else []

    root = repository(tmp_path / "repo")
    (root / "policies" / "tone.yaml").write_text(POLICY.replace("tone, max_exclamations: 1", "short_answer, words: 3")
                                                 .replace("tone, max_exclamations: 0", "short_answer, words: 2"))
    (root / "evals" / "calm.yaml").write_text(SUITE.replace("tone, max_exclamations: 0", "short_answer, words: 3"))
    (root / "policies" / "tone.yaml").write_text((root / "policies" / "tone.yaml").read_text()
                                                 .replace('fail: ["Wow!! Amazing!!!"]', 'fail: ["one two three four"]'))
    with CHECKS.registered("short_answer", short_answer):
        result = api.run_gate(root / "out.jsonl", policies=root / "policies", evals=root / "evals")
        assert {(r.policy, r.rule) for r in result.report.results} >= {("style.tone", "calm"),
                                                                      ("eval:calm", "short_answer")}
    assert "short_answer" not in CHECKS


# -- notifiers and registry backends -----------------------------------------------------


def test_a_notifier_plugin_is_chosen_by_its_kind(tmp_path):
    sent: list[Notice] = []

    class Pigeon:
        def send(self, notice: Notice) -> str:
            sent.append(notice)
            return "pigeon #1"

    with NOTIFIERS.registered("pigeon", lambda config, *, base, clock: Pigeon()):
        notifier = notifier_from_config({"kind": "pigeon"}, base=tmp_path)
        assert notifier.send(Notice("risk", ("r@example.com",), "s", "b")) == "pigeon #1"
    assert [n.audience for n in sent] == ["risk"]
    with pytest.raises(InputError, match="unknown notifier kind 'pigeon'; expected one of: outbox, smtp, webhook"):
        notifier_from_config({"kind": "pigeon"}, base=tmp_path)


def test_a_registry_backend_plugin_is_chosen_by_its_uri_scheme(tmp_path):
    def memory(uri: str, *, base, clock):
        return open_registry(str(tmp_path / "memory.json"), clock=clock)

    with REGISTRIES.registered("memory", memory):
        registry = open_registry("memory://anything")
        registry.register("m", "1")
        assert registry.get_version("m", "1").version == "1"
    with pytest.raises(InputError, match="unrecognised registry URI"):
        open_registry("memory://anything")


def test_two_repositories_may_each_have_a_module_of_the_same_name(tmp_path):
    """Plugin modules leave sys.modules after loading: no leak from one repository to the next."""
    import sys

    roots = []
    for name, check_name in (("a", "shout"), ("b", "whisper")):
        root = repository(tmp_path / name, plugins="house")
        (root / "house.py").write_text(TONE.replace('"tone"', f'"{check_name}"'))
        for path in (root / "policies" / "tone.yaml", root / "evals" / "calm.yaml"):
            path.write_text(path.read_text().replace("check: tone", f"check: {check_name}"))
        roots.append(root)
    for root in roots:
        result = api.validate(root / "policies", root / "evals")
        assert result.ok, [str(e) for e in result.errors]
    assert "house" not in sys.modules
    (roots[0] / "house.py").write_text(TONE.replace('"tone"', '"shout"').replace("count = ", "count = 0 * "))
    edited = api.run_gate(roots[0] / "out.jsonl", policies=roots[0] / "policies", evals=roots[0] / "evals")
    assert edited.exit_code == 0  # the edited plugin is read afresh


def test_a_plugin_may_not_shadow_an_imported_module(tmp_path, capsys, monkeypatch):
    root = repository(tmp_path / "repo", plugins="json")
    (root / "json.py").write_text(TONE)
    monkeypatch.chdir(root)
    assert main(["validate"]) == 4
    assert "'json' is already imported from" in capsys.readouterr().err
    import json as stdlib_json

    assert stdlib_json.dumps([1]) == "[1]"


def test_a_plugin_that_exits_is_reported_not_obeyed(tmp_path, capsys, monkeypatch):
    root = repository(tmp_path / "repo", plugins="quitter")
    (root / "quitter.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.chdir(root)
    assert main(["validate"]) == 4
    assert "cannot import plugin module 'quitter'" in capsys.readouterr().err


@pytest.fixture
def broken_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    site = tmp_path / "site"
    info = site / "broken_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[harness.checks]\nunused = no_such_module_anywhere:thing\n"
                                           "regex = no_such_module_anywhere:regex\n")
    monkeypatch.syspath_prepend(str(site))
    CHECKS.refresh()
    yield
    monkeypatch.undo()
    CHECKS.refresh()


def test_a_broken_installed_plugin_fails_only_the_rules_that_use_it(broken_entry_points, repo, policy_text,
                                                                    monkeypatch, capsys):
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text("- {id: r, check: regex, pattern: x}\n"))
    assert main(["validate", "--policies", "policies", "--evals", "evals"]) == 0
    broken = CHECKS.broken()
    assert "cannot load check 'unused'" in broken["unused"].message
    assert "has the name of a built-in" in broken["regex"].message
    repo.policy("q.yaml", policy_text("- {id: r, check: unused}\n", id="other.policy"))
    assert main(["validate", "--policies", "policies", "--evals", "evals"]) == 4
    assert "check 'unused' is installed but broken: cannot load check 'unused'" in capsys.readouterr().err


def test_the_registry_is_safe_to_fill_from_several_threads():
    import threading

    registry = PluginRegistry("check", "harness.checks", validate=lambda name, obj: obj,
                              builtins=lambda: [(c.name, c) for c in all_checks().values()])
    barrier = threading.Barrier(8)
    found: list[object] = []

    def look() -> None:
        barrier.wait()
        found.append(registry.get("regex"))

    threads = [threading.Thread(target=look) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and all(item is found[0] for item in found)


@pytest.mark.parametrize(("options", "message"), [
    pytest.param('{"properties": {"x": {"$ref": "#/$defs/nowhere"}}}', "refers to #/$defs/nowhere", id="dangling-ref"),
    pytest.param('{"properties": {"x": {"$ref": "https://example.org/s.json"}}}', "refers to https://example.org",
                 id="remote-ref"),
    pytest.param('{"properties": {"x": {"type": "integer"}}, "additionalProperties": 5}',
                 "not a valid JSON Schema at additionalProperties", id="invalid-keyword"),
])
def test_a_plugin_check_with_a_bad_options_schema_is_named(tmp_path, monkeypatch, capsys, options, message):
    root = repository(tmp_path / "repo", plugins="odd")
    (root / "odd.py").write_text(TONE + f"\n@check('odd', options={options})\ndef odd(options, record, case):\n"
                                        "    return []\n")
    monkeypatch.chdir(root)
    assert main(["validate"]) == 4
    err = capsys.readouterr().err
    assert "$.plugins[0]: plugin module 'odd': check 'odd': its options schema" in err and message in err
    assert main(["schema", "policy"]) == 4


def test_a_chatty_plugin_does_not_corrupt_json_output(tmp_path, monkeypatch, capsys):
    root = repository(tmp_path / "repo", plugins="chatty")
    (root / "chatty.py").write_text("print('hello from the plugin')\n" + TONE)
    monkeypatch.chdir(root)
    assert main(["validate", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["valid"] is True
    assert "hello from the plugin" in captured.err
