"""The CI integration the repository ships: the GitHub Actions workflow and the pre-commit hooks.

The workflow's ``run:`` steps run here in order, as the runner would run them, in a git clone of
this repository's working tree that has an ``origin/main``; only ``uses:`` steps (checkout,
setup-python, the SARIF upload) and the ``pip install`` (this venv has the package) are left out.
The hooks run through ``pre-commit try-repo``, which builds its own virtualenv and pip-installs the
hooks repository (a virtualenv each: try-repo keeps its store in a temporary folder of its own, so two
calls cannot share one; both runs share one module fixture and run side by side).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "release-gate.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent  # this venv's scripts: harness, pre-commit
LATENCY = "policies/quality/latency.yaml"
PII = "policies/privacy/pii.yaml"
#: a git that reads no user or system configuration (signing, hooks, default branch)
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "CI test",
           "GIT_AUTHOR_EMAIL": "ci@example.com", "GIT_COMMITTER_NAME": "CI test",
           "GIT_COMMITTER_EMAIL": "ci@example.com"}


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without anything of a CI runner's, with git isolated."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "PRE_COMMIT"))}
    return env | GIT_ENV | {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"} | extra


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def copy_working_tree(destination: Path, only: tuple[str, ...] = ()) -> None:
    """This repository's files as they are now (tracked and new, less what .gitignore ignores)."""
    names = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", *only).split("\0")
    for name in filter(None, names):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def new_repository(path: Path, only: tuple[str, ...] = ()) -> Path:
    path.mkdir(parents=True)
    copy_working_tree(path, only)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "the repository as it is")
    return path


def edit_policy(repo: Path, name: str, old: str, new: str) -> None:
    path = repo / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{name} no longer holds {old!r}: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def reword_title(repo: Path, name: str, *, bump: bool) -> None:
    """Change a policy's title (a change of content), with or without a patch version bump."""
    path = repo / name
    text, titled = re.subn(r"^title: (.*)$", r"title: \1, reworded", path.read_text(encoding="utf-8"), count=1,
                           flags=re.M)
    if bump:
        text, bumped = re.subn(r"^version: (\d+)\.(\d+)\.(\d+)$",
                               lambda m: f"version: {m[1]}.{m[2]}.{int(m[3]) + 1}", text, count=1, flags=re.M)
        assert bumped == 1, f"{name} has no plain version: line"
    assert titled == 1, f"{name} has no title: line"
    path.write_text(text, encoding="utf-8")


# --- the workflow ----------------------------------------------------------------------------------------------

def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def job_steps() -> list[dict[str, Any]]:
    return workflow()["jobs"]["gate"]["steps"]


CONTEXT_NAME = re.compile(r"\b(?:github|steps)(?:\.[A-Za-z_][\w-]*)+")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def evaluate(expression: str, context: Mapping[str, str]) -> Any:
    """A GitHub Actions expression of the few forms the workflow uses (``a || 'b'``, ``!cancelled()``,
    ``x != ''``, ``&&``), read as the Python expression it corresponds to; an unknown name fails the test."""
    values = {}
    for name in CONTEXT_NAME.findall(expression):
        step = re.match(r"steps\.([\w-]+)\.outputs\.", name)
        if step and f"steps.{step[1]}.outcome" in context:  # an output the step did not write is ''
            values[name] = context.get(name, "")
        else:
            assert name in context, f"the workflow uses {name}, which the test does not provide"
            values[name] = context[name]
    text = CONTEXT_NAME.sub(lambda m: f"_[{m.group(0)!r}]", expression)
    text = text.replace("!cancelled()", "True").replace("always()", "True")
    text = re.sub(r"!(?!=)", " not ", text.replace("&&", " and ").replace("||", " or "))
    return eval(text, {"__builtins__": {}}, {"_": values})  # the repository's own workflow, not untrusted text


def substitute(value: object, context: Mapping[str, str]) -> str:
    return EXPRESSION.sub(lambda m: str(evaluate(m.group(1), context)), str(value))


def condition(step: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    if "if" not in step:
        return True
    text = str(step["if"]).strip()
    whole = EXPRESSION.fullmatch(text)
    return bool(evaluate(whole.group(1) if whole else text, context))


def read_step_outputs(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as the runner reads it: ``name=value`` lines and ``name<<DELIMITER`` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            outputs[name] = "\n".join(iter(lambda: next(lines), delimiter))
        elif line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


@dataclass
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str
    github_output: str
    summary: str
    outputs: dict[str, str] = field(default_factory=dict)


#: a step whose `if:` calls one of these runs after a failed step too; any other is skipped then
STATUS_FUNCTIONS = ("always()", "cancelled()")


def run_job(repo: Path, event: Mapping[str, str], files: Path, **job_env: str) -> tuple[list[StepRun], list[str]]:
    """Run the gate job's steps as the runner would: ``bash -e``, each step with its own ``$GITHUB_OUTPUT`` and
    summary file, after a failure only the steps whose ``if:`` asks for it. ``job_env`` overrides the job's
    ``env:``. The steps run, and the names of those left out."""
    job = workflow()["jobs"]["gate"]
    context = dict(event)
    runs: list[StepRun] = []
    left_out: list[str] = []
    failed = False
    for number, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses") or f"step {number}"
        if "uses" in step or step["run"].strip() == "pip install -e .":
            left_out.append(name)
            continue
        if (failed and not any(f in str(step.get("if", "")) for f in STATUS_FUNCTIONS)) or not condition(step, context):
            left_out.append(name)
            if "id" in step:
                context[f"steps.{step['id']}.outcome"] = "skipped"
            continue
        script, output_file, summary = (files / f"{number}.{kind}" for kind in ("sh", "output", "summary"))
        script.write_text(step["run"], encoding="utf-8")
        output_file.touch()
        summary.touch()
        values = {**job.get("env", {}), **job_env, **step.get("env", {})}
        env = environment(
            CI="true", GITHUB_ACTIONS="true", GITHUB_ACTOR="octocat", GITHUB_WORKSPACE=str(repo),
            GITHUB_EVENT_NAME=event["github.event_name"], GITHUB_BASE_REF=event["github.base_ref"],
            GITHUB_OUTPUT=str(output_file), GITHUB_STEP_SUMMARY=str(summary),
            **{k: substitute(v, context) for k, v in values.items()})
        done = subprocess.run(["bash", "-e", str(script)], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=300)
        run = StepRun(name, done.returncode, done.stdout, done.stderr, output_file.read_text(encoding="utf-8"),
                      summary.read_text(encoding="utf-8"), read_step_outputs(output_file))
        runs.append(run)
        if "id" in step:
            context[f"steps.{step['id']}.outcome"] = "success" if done.returncode == 0 else "failure"
            context |= {f"steps.{step['id']}.outputs.{k}": v for k, v in run.outputs.items()}
        failed = failed or done.returncode != 0
    return runs, left_out


def failures(runs: list[StepRun]) -> str:
    return "\n".join(f"{r.name}: exit {r.returncode}\n{r.stdout}{r.stderr}" for r in runs if r.returncode)


def redate_waivers(repo: Path) -> None:
    """The shipped waiver, approved yesterday and expiring in 30 days: the workflow's gates run on today's
    date (as a runner's do), and what they decide must not change when the shipped waiver expires."""
    path = repo / "policies" / "waivers.yaml"
    today = dt.datetime.now(dt.UTC).date()
    text = re.sub(r'approved: "\d{4}-\d{2}-\d{2}"', f'approved: "{today - dt.timedelta(days=1)}"',
                  path.read_text(encoding="utf-8"))
    text = re.sub(r'expires: "\d{4}-\d{2}-\d{2}"', f'expires: "{today + dt.timedelta(days=30)}"', text)
    path.write_text(text, encoding="utf-8")
    git(repo, "commit", "-q", "-am", "the waiver, dated today")


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository whose ``main`` is this working tree: what the runner's ``origin`` is."""
    work = new_repository(tmp_path_factory.mktemp("origin") / "work")
    redate_waivers(work)
    bare = work.parent / "origin.git"
    git(work.parent, "clone", "-q", "--bare", str(work), str(bare))
    return bare


def checkout(origin: Path, tmp_path: Path) -> Path:
    """A clone with the whole history, as ``actions/checkout`` with ``fetch-depth: 0`` leaves it."""
    git(tmp_path, "clone", "-q", str(origin), "repo")
    return tmp_path / "repo"


def pull_request() -> dict[str, str]:
    return {"github.event_name": "pull_request", "github.base_ref": "main", "github.event.before": "",
            "github.ref": "refs/pull/7/merge", "github.repository": "acme/harness",
            "github.event.pull_request.head.repo.full_name": "acme/harness"}


def push(before: str) -> dict[str, str]:
    return {"github.event_name": "push", "github.base_ref": "", "github.event.before": before,
            "github.ref": "refs/heads/main", "github.repository": "acme/harness",
            "github.event.pull_request.head.repo.full_name": ""}


def test_the_workflow_checks_out_the_whole_history_and_names_only_files_that_exist():
    steps = job_steps()
    checkout_step = next(s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout_step["with"]["fetch-depth"] == 0  # validate --since needs the merge base
    assert all(re.search(r"@v\d+$", s["uses"]) for s in steps if "uses" in s)  # every action pinned to a release
    text = WORKFLOW.read_text(encoding="utf-8")
    named = set(re.findall(r"\b(?:examples|policies|evals|incidents)/[\w./-]*\w", text))
    assert "examples/outputs/acme-support-1.1.0.jsonl" in named
    assert sorted(name for name in named if not (ROOT / name).exists()) == []


def test_the_workflow_puts_no_expression_inside_a_script():
    # ${{ }} in a run: script is pasted into the shell before it runs (a branch name could be code);
    # the workflow passes every value through env: instead.
    assert [s["name"] for s in job_steps() if "run" in s and "${{" in s["run"]] == []


def test_the_sarif_upload_reads_the_file_the_gate_writes():
    steps = job_steps()
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    writer = next(s for s in steps if "--format sarif" in s.get("run", ""))
    assert f"--output {upload['with']['sarif_file']}" in writer["run"]
    assert steps.index(writer) < steps.index(upload)


def test_the_workflow_runs_green_on_a_pull_request(origin, tmp_path):
    repo = checkout(origin, tmp_path)
    git(repo, "checkout", "-q", "-b", "clearer-title")
    reword_title(repo, LATENCY, bump=True)
    git(repo, "commit", "-q", "-am", "quality.latency: a clearer title, a patch version")
    base = git(repo, "merge-base", "origin/main", "HEAD")
    files = tmp_path / "runner"
    files.mkdir()

    runs, left_out = run_job(repo, pull_request(), files)

    assert {r.name: r.returncode for r in runs} == {r.name: 0 for r in runs}, failures(runs)
    assert left_out == ["actions/checkout@v4", "actions/setup-python@v5", "Install", "Upload SARIF to code scanning"]
    validate, _self_tests, gate, sarif, verdict = runs
    assert f"comparing the policies with {base}" in validate.stdout
    assert "verdict=promote" in gate.github_output.splitlines()
    assert "exit_code=0" in gate.github_output.splitlines()
    assert "promote" in gate.summary.lower()
    assert "::error" not in gate.stdout  # a promoted candidate leaves no error annotation
    assert (sarif.github_output, sarif.summary) == ("", "")  # written once, by the gate step
    report = json.loads((repo / "harness.sarif").read_text(encoding="utf-8"))
    assert report["version"] == "2.1.0"
    assert len(report["runs"]) == 1
    assert verdict.stdout.splitlines()[0].startswith("::notice title=release gate::verdict promote (exit 0)")


def test_a_blocked_candidate_fails_the_job_and_still_gets_its_sarif_and_verdict(origin, tmp_path):
    repo = checkout(origin, tmp_path)
    files = tmp_path / "runner"
    files.mkdir()

    runs, _ = run_job(repo, pull_request(), files, OUTPUTS="examples/outputs/acme-support-1.2.1.jsonl")

    assert [(r.name, r.returncode) for r in runs] == [
        ("Validate the policies (governed versions against the merge base)", 0),
        ("Policy self-tests (every rule covered by a failing example)", 0),
        ("Gate", 1), ("SARIF report", 0), ("Verdict", 0)], failures(runs)
    _, _, gate, _, verdict = runs
    assert {"verdict=block", "exit_code=1"} <= set(gate.github_output.splitlines())
    annotations = [line for line in gate.stdout.splitlines() if line.startswith("::error ")]
    assert any(line.startswith("::error file=policies/safety/refuse-harmful.yaml,line=") for line in annotations)
    report = json.loads((repo / "harness.sarif").read_text(encoding="utf-8"))
    located = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in report["runs"][0]["results"]}
    assert "policies/safety/refuse-harmful.yaml" in located
    assert verdict.stdout.startswith("::notice title=release gate::verdict block (exit 1)")


@pytest.mark.parametrize("event", ["pull_request", "push"])
def test_a_policy_edited_without_a_version_bump_fails_the_workflow(origin, tmp_path, event):
    repo = checkout(origin, tmp_path)
    before = git(repo, "rev-parse", "HEAD")
    if event == "pull_request":
        git(repo, "checkout", "-q", "-b", "quiet-edit")
    reword_title(repo, LATENCY, bump=False)
    git(repo, "commit", "-q", "-am", "quality.latency: a clearer title, no version bump")
    if event == "push":  # the push has landed: origin/main is HEAD, the commit it replaced is `before`
        git(repo, "push", "-q", "origin", "main")
        git(repo, "fetch", "-q", "origin")
    files = tmp_path / "runner"
    files.mkdir()

    runs, _ = run_job(repo, pull_request() if event == "pull_request" else push(before), files)

    [validate] = runs  # every later step is skipped once a step failed, unless it asks to run
    assert validate.returncode == 4
    assert f"comparing the policies with {before}" in validate.stdout
    [error] = [line for line in validate.stderr.splitlines() if line.startswith(f"{LATENCY}:")]
    assert f"changed since {before}" in error and "bump the version" in error


# --- the pre-commit hooks --------------------------------------------------------------------------------------

def hooks() -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for hook in yaml.safe_load(HOOKS.read_text(encoding="utf-8"))}


@pytest.mark.parametrize(("hook", "path", "runs"), [
    ("harness-validate", "policies/privacy/pii.yaml", True),
    ("harness-validate", "evals/privacy/pii-echo.yaml", True),
    ("harness-validate", "incidents/INC-2026-0001.yaml", True),
    ("harness-validate", "harness/cli/gate.py", False),
    ("harness-policy-test", "policies/playbook.yaml", True),
    ("harness-policy-test", "evals/privacy/pii-echo.yaml", False),
    ("harness-policy-test", "README.md", False),
])
def test_a_hook_runs_when_its_folders_change(hook, path, runs):
    definition = hooks()[hook]
    assert definition["pass_filenames"] is False  # it checks the whole repository, whatever changed
    assert bool(re.search(definition["files"], path)) is runs


@dataclass(frozen=True)
class TryRepo:
    returncode: int
    output: str


@pytest.fixture(scope="module")
def try_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TryRepo]]:
    """``pre-commit try-repo HOOKS_REPO --all-files`` in a valid consumer and in one with a broken pattern.

    The hooks repository is this working tree committed in a fresh git repository (try-repo installs
    what is committed). Each try-repo builds its own virtualenv in a store of its own (``PRE_COMMIT_HOME`` is
    not used by try-repo), so the two cannot share one build; they run side by side.
    """
    base = tmp_path_factory.mktemp("pre-commit")
    hooks_repo = new_repository(base / "hooks")
    consumers = {"valid": new_repository(base / "valid", ("policies", "evals")),
                 "broken": new_repository(base / "broken", ("policies", "evals"))}
    for consumer in consumers.values():  # no waiver: what passes does not depend on today's date
        (consumer / "policies" / "waivers.yaml").write_text("waivers: []\n", encoding="utf-8")
        git(consumer, "commit", "-q", "-am", "no waivers")
    edit_policy(consumers["broken"], PII, r"pattern: '(?i)\b(?:cvv2?|", r"pattern: '(?i)\b(?:cvv2?(|")
    git(consumers["broken"], "commit", "-q", "-am", "a pattern that does not compile")
    scratch = base / "scratch"  # try-repo's temporary store, pip's and virtualenv's caches: nothing in ~
    scratch.mkdir()
    env = environment(TMPDIR=str(scratch), PRE_COMMIT_HOME=str(scratch / "pre-commit"),
                      XDG_CACHE_HOME=str(scratch / "cache"), XDG_DATA_HOME=str(scratch / "data"),
                      VIRTUALENV_OVERRIDE_APP_DATA=str(scratch / "virtualenv"), PRE_COMMIT_COLOR="never",
                      NO_COLOR="1",
                      # pip byte-compiles every installed module (pandas, numpy: most of a build's time);
                      # the hooks compile the few modules they import when they run
                      PIP_NO_COMPILE="1")
    logs = {name: scratch / f"{name}.log" for name in consumers}
    started = {}
    for name, consumer in consumers.items():
        with logs[name].open("w", encoding="utf-8") as log:  # a file, not a pipe nobody reads while waiting
            started[name] = subprocess.Popen([str(BIN / "pre-commit"), "try-repo", str(hooks_repo), "--all-files"],
                                             cwd=consumer, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield {name: TryRepo(process.wait(timeout=600), logs[name].read_text(encoding="utf-8"))
               for name, process in started.items()}
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.timeout(900)  # two virtualenvs built by pre-commit, side by side
def test_the_hooks_pass_on_a_valid_policy_repository(try_repo):
    run = try_repo["valid"]
    assert run.returncode == 0, run.output
    assert re.search(r"^harness validate\.+Passed$", run.output, re.M), run.output
    assert re.search(r"^harness policy test\.+Passed$", run.output, re.M), run.output


@pytest.mark.timeout(900)
def test_the_hooks_fail_naming_the_broken_policy(try_repo):
    run = try_repo["broken"]
    assert run.returncode == 1, run.output
    assert re.search(r"^harness validate\.+Failed$", run.output, re.M), run.output
    assert re.search(r"^harness policy test\.+Failed$", run.output, re.M), run.output
    text = (ROOT / PII).read_text(encoding="utf-8")
    before = text[:text.index(r"pattern: '(?i)\b(?:cvv2?|")]
    line, rule = before.count("\n") + 1, before.count("\n  - id: ") - 1
    assert f"{PII}:{line}:14: $.rules[{rule}].pattern: invalid RE2 pattern" in run.output
    policy_test = run.output.split("harness policy test", 1)[1]
    assert PII in policy_test
