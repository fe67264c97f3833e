"""The pytest plugin: eval cases, policy examples and run-level rules as pytest items.

``pytest evals/ policies/ --harness-outputs outputs.jsonl`` judges the outputs once per session
with :func:`harness.api.run_gate` (the whole repository, as ``harness gate`` does) and collects:

- every eval suite file as one item per case (``evals/privacy/pii-echo.yaml::pii-echo-001``): it fails
  when its output failed a rule of a suite or policy that fails the gate, or when it has no output;
- every policy file as one item per example (``policies/privacy/pii.yaml::example-1[fail]``, judged
  by :func:`harness.project.examples.run_examples`) and one per rule (``policies/privacy/pii.yaml::no-email``
  fails when any output failed it; ``policies/quality/latency.yaml::p95-latency`` when the run did), so
  ``pytest policies/`` alone fails whenever a policy fails the gate.

The suites' and cases' tags become markers (``-m privacy``), except a tag that names a marker pytest or a
plugin already gives a meaning (``skip``, ``xfail``, ``timeout``...: a case tagged ``skip`` would otherwise
be skipped, one tagged ``xfail`` pass when it fails) and a tag that is no valid marker name: those are only
keywords for ``-k``, and a warning says so.

Files are collected as pytest collects anything: those under the paths given, so ``pytest evals/``
runs the cases alone and ``pytest policies/`` the policies' items. YAML files that are not the
repository's suites or policies (the playbook, waivers, CI workflows) are never collected, and
without ``--harness-outputs`` the plugin does nothing at all. Installed through the ``pytest11``
entry point, it loads in every pytest run: nothing heavy is imported before it is asked to judge.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from .api import GateResult
    from .errors import HarnessError
    from .evaluation import Result
    from .io.yaml import YamlDocument
    from .model import EvalSuite, Policy
    from .project import Project
    from .report.model import AggregateReport, ResultReport

OPTIONS = ("harness_policies", "harness_evals", "harness_baseline")
#: a tag usable as a marker: ``-m`` can name it and the ``markers`` ini line parses back to it
MARKER_NAME = re.compile(r"[^\W_][\w.+/-]*")
#: markers whose meaning pytest itself gives, reserved even before their plugin registers them
BUILTIN_MARKERS = frozenset({"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings",
                             "tryfirst", "trylast"})


class HarnessWarning(UserWarning):
    """A failure the gate does not count (a warn-only or draft policy, or one within its ``max_failures``)."""


class HarnessFailure(Exception):
    """An item's failure; its lines are the report (already masked and made printable)."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = tuple(lines)


@dataclass
class Judgement:
    """The session's judgement and where each collected file's items come from."""

    outputs: str  # as the user typed it
    result: GateResult
    suites: dict[Path, EvalSuite] = field(default_factory=dict)
    policies: dict[Path, list[Policy]] = field(default_factory=dict)
    #: case id -> [(result, its masked form in the report)]
    by_case: dict[str, list[tuple[Result, ResultReport]]] = field(default_factory=dict)
    #: (policy id, rule id) -> [(result, its masked form)] of a per-output rule, in the order of the outputs
    by_rule: dict[tuple[str, str], list[tuple[Result, ResultReport]]] = field(default_factory=dict)
    #: (policy id, rule id) -> the run-level rule's outcome as reported (masked)
    aggregates: dict[tuple[str, str], AggregateReport] = field(default_factory=dict)
    #: policy or suite id -> whether it fails the gate (fails or errs, and gates)
    failing: dict[str, bool] = field(default_factory=dict)


PROJECT: pytest.StashKey[Project] = pytest.StashKey()
JUDGEMENT = pytest.StashKey[Judgement]()
#: the tags applied as markers (the others are keywords only)
MARKERS = pytest.StashKey[frozenset[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "AI release harness (eval suites and policies as tests)")
    group.addoption("--harness-outputs", metavar="FILE", default=None,
                    help="judge this outputs JSONL file and collect the eval suites' cases and the policies'"
                         " examples and run-level rules as tests (without it, YAML files are never collected)")
    group.addoption("--harness-policies", metavar="DIR", default=None,
                    help="the policies directory (default: policies, relative to where pytest starts)")
    group.addoption("--harness-evals", metavar="DIR", default=None,
                    help="the eval suites directory (default: evals, relative to where pytest starts)")
    group.addoption("--harness-baseline", metavar="FILE", default=None,
                    help="the baseline outputs JSONL file for rules that compare against one")


def _option(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name, None)
    return None if value is None else str(value)


def _absolute(config: pytest.Config, value: str) -> Path:
    """A path option resolved as the user meant it: relative to the directory pytest was started in."""
    return config.invocation_params.dir / value


@pytest.hookimpl(trylast=True)  # after every other plugin registered its markers
def pytest_configure(config: pytest.Config) -> None:
    """Load the policy repository (without judging yet) and register the suites' tags as markers.

    Invalid input (an invalid policy or suite) is a usage error: pytest stops with exit code 4 and the
    harness's own messages, each naming the file and line.
    """
    if _option(config, "harness_outputs") is None:
        given = [f"--{name.replace('_', '-')}" for name in OPTIONS if _option(config, name) is not None]
        if given:
            raise pytest.UsageError(f"{', '.join(given)} needs --harness-outputs FILE (the outputs to judge)")
        return
    from .api import load
    from .errors import InputError

    policies = _absolute(config, _option(config, "harness_policies") or "policies")
    evals = _absolute(config, _option(config, "harness_evals") or "evals")
    try:
        project = load(policies, evals)
    except InputError as exc:
        raise pytest.UsageError(f"harness: invalid input, nothing judged:\n{_shown_error(exc, config)}") from None
    config.stash[MARKERS] = _register_markers(config, project)
    config.stash[PROJECT] = project


def _register_markers(config: pytest.Config, project: Project) -> frozenset[str]:
    """Register the tags that can be markers; warn once for each suite's tags that cannot (keywords only)."""
    from .text.normalize import one_line

    taken = BUILTIN_MARKERS | {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    markers: set[str] = set()
    for suite in project.suites:
        tags = suite.tags | {t for c in suite.cases for t in c.tags}
        for tag in sorted(tags):
            if tag in taken:
                why = "is a pytest marker with a meaning of its own (a case tagged skip or xfail would not fail)"
            elif not MARKER_NAME.fullmatch(tag) or tag in ("and", "or", "not"):
                why = "is not a valid marker name"
            else:
                markers.add(tag)
                continue
            config.issue_config_time_warning(HarnessWarning(
                f"tag {one_line(repr(tag))} of suite {suite.suite} ({one_line(suite.source.path)}) {why}:"
                " not applied as a marker, only a keyword for -k"), stacklevel=2)
    for tag in sorted(markers):
        config.addinivalue_line("markers", f"{tag}: eval cases tagged {tag} (harness)")
    return frozenset(markers)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Judge the outputs once, before anything is collected, as ``harness gate`` would.

    A missing or broken outputs file is a usage error (exit 4, naming the file and line), and so is
    any other input the gate refuses. With pytest-xdist the controller and every worker judge alike,
    so every worker collects the same items.
    """
    config = session.config
    project = config.stash.get(PROJECT, None)
    outputs = _option(config, "harness_outputs")
    if project is None or outputs is None:
        return
    from .api import run_gate
    from .errors import InputError

    baseline = _option(config, "harness_baseline")
    try:
        result = run_gate(_absolute(config, outputs), project=project,
                          baseline=None if baseline is None else _absolute(config, baseline))
    except InputError as exc:
        raise pytest.UsageError(f"harness: invalid input, nothing judged:\n{_shown_error(exc, config)}") from None
    config.stash[JUDGEMENT] = _index(outputs, result)


def _shown_error(exc: HarnessError, config: pytest.Config) -> str:
    """The error as the harness command prints it (masked, one line per error, so none can forge another);
    the absolute outputs path shown as the user typed it."""
    from .cli.common import error_lines

    text = "\n".join(error_lines(exc))
    for name in ("harness_outputs", "harness_baseline"):
        typed = _option(config, name)
        if typed is not None:
            text = text.replace(str(_absolute(config, typed)), typed)
    return text


def _index(outputs: str, result: GateResult) -> Judgement:
    judgement = Judgement(outputs, result)
    for suite in result.project.suites:
        judgement.suites[Path(suite.source.path).resolve()] = suite
    for policy in result.project.policies:
        judgement.policies.setdefault(Path(policy.source.path).resolve(), []).append(policy)
    for raw, shown in zip(result.evaluation.results, result.report.results, strict=True):
        judgement.by_case.setdefault(raw.case_id, []).append((raw, shown))
        judgement.by_rule.setdefault((raw.policy, raw.rule), []).append((raw, shown))
    for aggregate in result.report.aggregates:
        judgement.aggregates[(aggregate.policy, aggregate.rule)] = aggregate
    for outcome in result.evaluation.outcomes:
        judgement.failing[outcome.policy.id] = outcome.status in ("fail", "error") and outcome.policy.gating
    return judgement


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    judgement = parent.config.stash.get(JUDGEMENT, None)
    if judgement is None or file_path.suffix.lower() not in (".yaml", ".yml"):
        return None
    resolved = file_path.resolve()
    if resolved in judgement.suites:
        return SuiteFile.from_parent(parent, path=file_path)
    if resolved in judgement.policies:
        return PolicyFile.from_parent(parent, path=file_path)
    return None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    judgement = config.stash.get(JUDGEMENT, None)
    if judgement is None:
        return
    from .text.mask import mask_text
    from .text.normalize import one_line

    report = judgement.result.report
    summary = report.summary
    terminalreporter.write_sep("-", "harness gate")
    terminalreporter.write_line(
        f"verdict {report.verdict.value} (harness gate would exit {int(judgement.result.exit_code)})"
        f" over {one_line(judgement.outputs)}:"
        f" {summary.policies} policies and suites, {summary.passed} passed, {summary.failed} failed,"
        f" {summary.errors} errors, {summary.waived} waived")
    for reason in report.reasons:
        terminalreporter.write_line(f"  {one_line(mask_text(reason))}")
    for warning in report.warnings:
        terminalreporter.write_line(f"  warning: {one_line(warning)}")


def _judgement(node: pytest.Item | pytest.Collector) -> Judgement:
    return node.config.stash[JUDGEMENT]


def _document(path: Path) -> YamlDocument:
    """The file as the harness reads it, for the line of each case or rule (it loaded once already)."""
    from .io.files import display_path
    from .io.yaml import load_yaml

    return load_yaml(path, display_path(path))


class SuiteFile(pytest.File):
    """An eval suite file: one item per case, in the order of the file, marked with the suite's and case's tags."""

    def collect(self) -> Iterator[pytest.Item]:
        suite = _judgement(self).suites[self.path.resolve()]
        document = _document(self.path)
        raw_cases = document.data.get("cases") if isinstance(document.data, dict) else None
        lines = {raw.get("id"): document.locate(("cases", i)).line or 1
                 for i, raw in enumerate(raw_cases if isinstance(raw_cases, list) else ()) if isinstance(raw, dict)}
        markers = self.config.stash[MARKERS]
        for case in suite.cases:
            item = CaseItem.from_parent(self, name=_item_name(case.id), case_id=case.id, suite=suite,
                                        line=lines.get(case.id, 1))
            item.extra_keyword_matches.add(case.id)  # -k with the id as written, when its name had to differ
            for tag in sorted(suite.tags | case.tags):
                if tag in markers:
                    item.add_marker(tag)
                else:
                    item.extra_keyword_matches.add(tag)
            yield item


def _item_name(case_id: str) -> str:
    """The case id as an item's name: ``::`` separates a node id's parts, so a case id's colons become ``%3A``
    there (a case id holds no ``%``, so no two cases share a name; ``-k`` and the output still say the id)."""
    return case_id.replace(":", "%3A") if "::" in case_id else case_id


class PolicyFile(pytest.File):
    """A policy file: one item per example (``example-N[pass|fail]``), then one per rule."""

    def collect(self) -> Iterator[pytest.Item]:
        from .project.examples import run_examples

        document = _document(self.path)
        raw_rules = document.data.get("rules") if isinstance(document.data, dict) else None
        lines = {raw.get("id"): document.locate(("rules", i)).line or 1
                 for i, raw in enumerate(raw_rules if isinstance(raw_rules, list) else ()) if isinstance(raw, dict)}
        for policy in _judgement(self).policies[self.path.resolve()]:
            numbers = {"pass": 0, "fail": 0}
            for outcome in run_examples(policy):
                expect = outcome.example.expect
                numbers[expect] += 1
                yield ExampleItem.from_parent(self, name=f"example-{numbers[expect]}[{expect}]", outcome=outcome)
            if policy.status == "deprecated":
                continue  # not judged, so its rules have no outcome
            for rule in policy.rules:
                yield RuleItem.from_parent(self, name=rule.id, policy=policy, line=lines.get(rule.id, 1),
                                           run_level=rule.impl is not None and rule.impl.level == "run")


class HarnessItem(pytest.Item):
    """An item whose failure is a :class:`HarnessFailure`: shown as its lines, without a Python traceback."""

    line: int = 1

    def repr_failure(self, excinfo: ExceptionInfo[BaseException],
                     style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, HarnessFailure):
            return "\n".join(excinfo.value.lines)
        return super().repr_failure(excinfo, style)

    def where(self) -> str:
        """``file:line`` of what this item checks, relative to where pytest started."""
        from .io.files import display_path

        return f"{display_path(self.path)}:{self.line}"


class CaseItem(HarnessItem):
    """One eval case: fails when its output failed a suite or policy that fails the gate, or is missing."""

    def __init__(self, *, case_id: str, suite: EvalSuite, line: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case_id = case_id
        self.suite = suite
        self.line = line

    def runtest(self) -> None:
        from .text.mask import mask_text
        from .text.normalize import one_line

        judgement = _judgement(self)
        failures: list[str] = []
        failed: list[str] = []
        for raw, shown in judgement.by_case.get(self.case_id, ()):
            if shown.status == "waived":
                continue
            text = [f"  {one_line(shown.policy)}, rule {one_line(shown.rule)}: {one_line(shown.message)}"]
            text += [f"      {one_line(f.kind)}: {one_line(mask_text(f.masked))}" for f in shown.findings if f.masked]
            if shown.line is not None:
                text.append(f"      output: {one_line(judgement.outputs)} line {shown.line}")
            if judgement.failing.get(raw.policy, True):
                failures += text
                missing = raw.policy == self.suite.policy_id and raw.rule == "output"  # the engine's missing output
                failed.append("missing output" if missing else f"{one_line(shown.policy)}/{one_line(shown.rule)}")
            else:
                warnings.warn(HarnessWarning(f"{self.case_id}: {text[0].strip()} (not counted by the gate)"),
                              stacklevel=1)
        if failures:
            raise HarnessFailure([f"failed: {', '.join(failed)} ({self.where()})",
                                  f"case {one_line(self.case_id)} of suite {one_line(self.suite.suite)}:", *failures])

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line - 1, f"case {self.case_id}"


class ExampleItem(HarnessItem):
    """One policy example: a ``fail`` example must fail a per-output rule, a ``pass`` example pass them all."""

    def __init__(self, *, outcome: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcome = outcome
        self.line = outcome.example.location.line or 1

    def runtest(self) -> None:
        from .text.mask import mask_text
        from .text.normalize import one_line

        outcome = self.outcome
        if outcome.ok:
            return
        policy, example = outcome.policy, outcome.example
        shown = one_line(mask_text(" ".join(example.text.split())))
        if outcome.crashed:
            why = f"crashed rule(s): {one_line('; '.join(outcome.crashed))}"
        elif example.expect == "fail":
            why = "passes every per-output rule; a fail example must fail at least one"
        else:
            why = f"fails rule(s) {', '.join(outcome.failed_rules)}; a pass example must pass them all"
        raise HarnessFailure([f"{example.expect} example of {policy.id} {why} ({self.where()})", f"  {shown!r}"])

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line - 1, f"{self.outcome.policy.id} {self.name}"


class RuleItem(HarnessItem):
    """One rule of a policy: a per-output rule fails when any output failed it (or its check crashed on one),
    a run-level rule (a rate, a quantile, a comparison) when the run as a whole did."""

    #: the outputs a per-output rule's failure lists; the rest are counted
    SHOWN = 5

    def __init__(self, *, policy: Policy, line: int, run_level: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.line = line
        self.run_level = run_level

    def runtest(self) -> None:
        from .text.normalize import one_line

        judgement = _judgement(self)
        lines = self._run_level(judgement) if self.run_level else self._per_output(judgement)
        if not lines:
            return
        text = f"{one_line(self.policy.id)}, rule {one_line(self.name)}: {lines[0]}"
        if not judgement.failing.get(self.policy.id, True):
            warnings.warn(HarnessWarning(f"{text} (not counted by the gate)"), stacklevel=1)
            return
        raise HarnessFailure([f"{text} ({self.where()})", *lines[1:]])

    def _run_level(self, judgement: Judgement) -> list[str]:
        from .text.normalize import one_line

        aggregate = judgement.aggregates.get((self.policy.id, self.name))
        if aggregate is None or aggregate.status in ("pass", "waived"):
            return []
        return [f"{aggregate.status}: {one_line(aggregate.message)}",
                f"  judged over every output of {one_line(judgement.outputs)}"]

    def _per_output(self, judgement: Judgement) -> list[str]:
        from .text.mask import mask_text
        from .text.normalize import one_line

        results = [shown for _, shown in judgement.by_rule.get((self.policy.id, self.name), ())
                   if shown.status != "waived"]
        if not results:
            return []
        errors = sum(shown.status == "error" for shown in results)
        lines = [f"{len(results) - errors} output(s) failed it" + (f", its check crashed on {errors}" if errors else "")
                 + f" in {one_line(judgement.outputs)}"]
        for shown in results[:self.SHOWN]:
            at = "" if shown.line is None else f" (line {shown.line})"
            lines.append(f"  case {one_line(shown.case_id)}{at}: {shown.status}: {one_line(shown.message)}")
            lines += [f"      {one_line(f.kind)}: {one_line(mask_text(f.masked))}" for f in shown.findings if f.masked]
        if len(results) > self.SHOWN:
            lines.append(f"  ... and {len(results) - self.SHOWN} more")
        return lines

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line - 1, f"{self.policy.id} {self.name}"
