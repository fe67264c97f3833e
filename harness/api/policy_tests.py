"""Policy self-tests with rule coverage: ``harness policy test``, the audit report and the pytest plugin.

Every policy's ``examples`` are judged by its per-output rules (as ``harness validate`` does): a
``fail`` example must fail the policy, and the rules that caught it are named; a ``pass`` example
must pass every rule. A per-output rule that no ``fail`` example triggers is *uncovered*: nothing
shows that it catches anything. Run-level rules (``level: run``: percentiles, rates, parity,
baseline comparisons) judge whole runs, so one example cannot trigger them; they are listed apart,
as run-level, and never counted as uncovered.

    from harness.api.policy_tests import run_policy_tests
    report = run_policy_tests(["policies/privacy"], require_coverage=True)
    report.ok, report.exit_code, report.to_json()

Importing this module loads nothing heavy; nothing here prints or exits.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode, InputError, InputErrors, Location

if TYPE_CHECKING:
    from ..model import Example, Policy, Rule
    from ..project.examples import ExampleOutcome

PathLike = str | Path
#: version of the JSON document :meth:`PolicyTestReport.to_json` writes
POLICY_TEST_VERSION = 1
_RULE_INDEX = re.compile(r"^\$\.rules\[(\d+)\]$")
#: the most characters of an example's text the JSON and JUnit reports show
TEXT_MAX = 2000


@dataclass(frozen=True)
class ExampleResult:
    """One example of a policy and how it fared.

    ``caught_by``: the rules that failed it (for a ``fail`` example, the rules that caught it;
    for a ``pass`` example, the rules it should have passed). ``crashed``: each rule that raised
    (or returned anything but findings), as ``rule (ExceptionType: message)``, the message masked,
    on one line and bounded (see :func:`harness.project.examples.judge_example`).
    """

    policy: str
    example: Example
    caught_by: tuple[str, ...]
    crashed: tuple[str, ...] = ()
    #: the per-output rules of the policy, the ones that could have caught it
    rules: tuple[str, ...] = ()

    @property
    def expect(self) -> str:
        return self.example.expect

    @property
    def location(self) -> Location:
        return self.example.location

    @property
    def ok(self) -> bool:
        return not self.crashed and bool(self.caught_by) == (self.expect == "fail")

    @cached_property
    def masked_text(self) -> str:
        """The example's text with personal data masked, at most ``TEXT_MAX`` characters (``…`` ending a cut
        one; its file and line locate the whole): what the JSON and JUnit reports show."""
        from ..project.examples import masked_head

        return masked_head(self.example.text, TEXT_MAX)

    @property
    def problem(self) -> str | None:
        """What went wrong, in one sentence naming the example and the policy; ``None`` when it behaved."""
        if self.ok:
            return None
        from ..project.examples import shown_example

        quoted = repr(shown_example(self.example.text))
        if self.crashed:
            return f"{self.expect} example {quoted} of {self.policy} crashed rule(s): {'; '.join(self.crashed)}"
        if self.expect == "fail":
            which = ", ".join(self.rules) if self.rules else "(none: the policy has no per-output rule)"
            return (f"fail example {quoted} of {self.policy} passes every per-output rule; expected one of"
                    f" these to catch it: {which}")
        return (f"pass example {quoted} of {self.policy} fails rule(s) {', '.join(self.caught_by)};"
                " it must pass every rule")

    def to_dict(self) -> dict[str, Any]:
        return {"expect": self.expect, "text": self.masked_text, "file": self.location.file,
                "line": self.location.line, "ok": self.ok, "caught_by": list(self.caught_by),
                "crashed": list(self.crashed), "problem": self.problem}


@dataclass(frozen=True)
class RuleCoverage:
    """One rule of a policy: its level and how many ``fail`` examples trigger it.

    ``level`` is ``output`` (one output at a time: examples can cover it) or ``run`` (whole runs:
    not coverable by examples).
    """

    id: str
    check: str
    level: str
    location: Location
    caught_by: int = 0

    @property
    def coverable(self) -> bool:
        return self.level == "output"

    @property
    def covered(self) -> bool:
        return self.coverable and self.caught_by > 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "check": self.check, "level": self.level, "file": self.location.file,
                "line": self.location.line, "coverable": self.coverable, "covered": self.covered,
                "caught_by": self.caught_by}


@dataclass(frozen=True)
class PolicyCoverage:
    """One policy's self-test: every example's result and every rule's coverage."""

    id: str
    version: str
    file: str
    examples: tuple[ExampleResult, ...]
    rules: tuple[RuleCoverage, ...]

    @property
    def ok(self) -> bool:
        """Every example behaved (coverage aside)."""
        return all(e.ok for e in self.examples)

    @property
    def failed(self) -> tuple[ExampleResult, ...]:
        return tuple(e for e in self.examples if not e.ok)

    @property
    def coverable(self) -> tuple[RuleCoverage, ...]:
        return tuple(r for r in self.rules if r.coverable)

    @property
    def uncovered(self) -> tuple[RuleCoverage, ...]:
        """Per-output rules that no ``fail`` example triggers."""
        return tuple(r for r in self.rules if r.coverable and not r.covered)

    @property
    def run_level(self) -> tuple[RuleCoverage, ...]:
        """Rules that judge whole runs: not coverable by examples, never counted as uncovered."""
        return tuple(r for r in self.rules if not r.coverable)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "file": self.file, "ok": self.ok,
                "examples": [e.to_dict() for e in self.examples], "rules": [r.to_dict() for r in self.rules],
                "uncovered": [r.id for r in self.uncovered], "run_level": [r.id for r in self.run_level]}


@dataclass(frozen=True)
class PolicyTestReport:
    """The self-tests of the policies selected: ``ok`` when every example behaved and, with
    ``require_coverage``, every per-output rule is triggered by some ``fail`` example."""

    policies: tuple[PolicyCoverage, ...]
    require_coverage: bool = False

    @property
    def examples_ok(self) -> bool:
        return all(p.ok for p in self.policies)

    @property
    def uncovered(self) -> tuple[tuple[PolicyCoverage, RuleCoverage], ...]:
        return tuple((p, r) for p in self.policies for r in p.uncovered)

    @property
    def ok(self) -> bool:
        return self.examples_ok and not (self.require_coverage and self.uncovered)

    @property
    def exit_code(self) -> ExitCode:
        """0 when ``ok``; 1 for an example that failed or crashed (or an uncovered rule, when required)."""
        return ExitCode.PROMOTE if self.ok else ExitCode.BLOCK

    def totals(self) -> dict[str, int]:
        examples = [e for p in self.policies for e in p.examples]
        return {
            "policies": len(self.policies),
            "policies_without_examples": sum(not p.examples for p in self.policies),
            "examples": len(examples),
            "examples_failed": sum(not e.ok for e in examples),
            "rules": sum(len(p.rules) for p in self.policies),
            "rules_coverable": sum(len(p.coverable) for p in self.policies),
            "rules_covered": sum(r.covered for p in self.policies for r in p.rules),
            "rules_uncovered": len(self.uncovered),
            "rules_run_level": sum(len(p.run_level) for p in self.policies),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"policy_test_version": POLICY_TEST_VERSION, "ok": self.ok, "require_coverage": self.require_coverage,
                "totals": self.totals(), "policies": [p.to_dict() for p in self.policies]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=True) + "\n"


class _Place(tuple[Path, Path]):
    """A path as written (absolute, ``..`` folded) and as resolved (symbolic links followed)."""

    def __new__(cls, path: PathLike) -> _Place:
        return super().__new__(cls, (Path(os.path.abspath(path)), Path(os.path.realpath(path))))

    def within(self, folder: _Place) -> bool:
        """Inside ``folder`` (or it) as written or as resolved: a policy linked into the policies folder is one
        of its policies (the loader reads it), and a path written through a link to it is inside it too."""
        return any(path == root or root in path.parents for path, root in zip(self, folder, strict=True))


def _selection(paths: Sequence[PathLike], policies_dir: Path) -> list[_Place]:
    """The selected files and folders; ``InputErrors`` for a path that is missing or not a policy."""
    from ..io.files import YAML_SUFFIXES
    from ..project import PLAYBOOK, WAIVERS

    root = _Place(policies_dir)
    chosen: list[_Place] = []
    errors: list[InputError] = []
    for given in paths:
        place, path = _Place(given), Path(given)
        where = Location(str(given))
        if not path.exists():
            errors.append(InputError("not found; expected a policy file or a folder of policies", where))
        elif not place.within(root):
            errors.append(InputError(f"not inside the policies folder {policies_dir}; expected a policy file or a"
                                     " folder in it (or pass --policies with the folder that holds it)", where))
        elif path.is_file() and (path.suffix.lower() not in YAML_SUFFIXES
                                 or any(at.parent == top and at.name in (PLAYBOOK, WAIVERS, "signoffs.yaml")
                                        for at, top in zip(place, root, strict=True))):
            errors.append(InputError("not a policy file; expected a policy (.yaml) or a folder of policies", where))
        else:
            chosen.append(place)
    InputErrors.raise_if_any(errors)
    return chosen


def _rule_location(document: Any, policy: Policy, rule: Rule) -> Location:
    match = _RULE_INDEX.match(rule.json_path)
    if document is None or match is None:
        return Location(policy.source.path, json_path=rule.json_path or None)
    located: Location = document.locate(("rules", int(match.group(1))))
    return located


def _coverage(policy: Policy, outcomes: Iterable[ExampleOutcome]) -> PolicyCoverage:
    from ..io.yaml import load_yaml
    from ..project.examples import per_output_rules

    coverable = tuple(rule.id for rule in per_output_rules(policy))
    examples = tuple(ExampleResult(policy.id, o.example, o.failed_rules, o.crashed, coverable) for o in outcomes)
    try:
        document = load_yaml(policy.source.path)
    except InputError:  # gone or changed since it loaded: the rules are still named, without a line
        document = None
    rules = []
    for rule in policy.rules:
        level = "output" if rule.id in coverable else "run"
        caught = sum(1 for e in examples if e.expect == "fail" and rule.id in e.caught_by)
        rules.append(RuleCoverage(rule.id, rule.check, level, _rule_location(document, policy, rule), caught))
    return PolicyCoverage(policy.id, policy.version, policy.source.path, examples, tuple(rules))


def run_policy_tests(paths: Sequence[PathLike] | None = None, *, policies_dir: PathLike = "policies",
                     require_coverage: bool = False) -> PolicyTestReport:
    """Run the examples of the policies in ``paths`` (files or folders inside ``policies_dir``; default:
    every policy in it) and measure which rules their ``fail`` examples trigger.

    The repository is loaded as ``harness validate`` loads it (the playbook's plugins included), so a
    policy that does not parse or validate raises ``InputErrors`` (exit 4) naming file:line; problems
    of files outside the selection (and of the waivers, which ``validate`` checks) do not. A path
    that does not exist, lies outside ``policies_dir`` or is no policy, and a selection with no
    policy in it, are ``InputError`` too. ``require_coverage`` makes an uncovered per-output rule a
    failure (``ok`` false, exit 1).
    """
    from ..project import PLAYBOOK, WAIVERS, inspect_project

    folder = Path(policies_dir)
    chosen = _selection(list(paths), folder) if paths else [_Place(folder)]
    project, errors = inspect_project(folder, None)
    playbook, waivers = _Place(folder / PLAYBOOK), _Place(folder / WAIVERS)

    def relevant(error: InputError) -> bool:
        """An error of the playbook or of a selected file (the waivers are ``validate``'s to check)."""
        if error.location.file is None:
            return True
        where = _Place(error.location.file)
        if where.within(waivers):
            return False
        return where.within(playbook) or any(where.within(c) for c in chosen)

    InputErrors.raise_if_any(e for e in errors if relevant(e))
    selected = [p for p in project.policies if any(_Place(p.source.path).within(c) for c in chosen)]
    if not selected:
        shown = ", ".join(str(p) for p in paths) if paths else str(folder)
        raise InputError(f"no policies in {shown}; expected policy files (.yaml) with rules", Location(shown))
    return self_test(selected, require_coverage=require_coverage)


def self_test(policies: Iterable[Policy], *, require_coverage: bool = False) -> PolicyTestReport:
    """The self-test of policies already loaded (``run_policy_tests`` without reading a file)."""
    from ..project.examples import run_examples

    ordered = sorted(policies, key=lambda p: (p.source.path, p.id))
    return PolicyTestReport(tuple(_coverage(p, run_examples(p)) for p in ordered), require_coverage)


# --- rendering -------------------------------------------------------------------------------------

def _where(location: Location) -> str:
    from ..text.normalize import one_line

    return one_line(str(Location(location.file, location.line)) or "?")


def _rule_names(rules: Iterable[RuleCoverage]) -> str:
    from ..text.normalize import one_line

    return ", ".join(one_line(f"{r.id} ({r.check}, {_where(r.location)})") for r in rules)


def render_text(report: PolicyTestReport, *, verbose: bool = False) -> str:
    """The self-tests for a terminal: a line per policy, then each failing example and each uncovered rule
    (``verbose``: every example, with the rules that caught each ``fail`` example).

    Every piece of text from a policy file is on one line, with personal data masked and no
    control characters (a terminal escape in an example is shown as U+FFFD, never obeyed).
    """
    from ..project.examples import shown_example
    from ..text.normalize import one_line

    lines: list[str] = []
    for policy in report.policies:
        total, failed = len(policy.examples), len(policy.failed)
        if not total:
            counts = "no examples"
        elif failed:
            counts = f"{failed} of {total} examples FAILED"
        else:
            counts = f"{total} example{'s' if total != 1 else ''} ok"
        coverage = f"rules {sum(r.covered for r in policy.rules)}/{len(policy.coverable)} covered"
        if policy.run_level:
            coverage += f", {len(policy.run_level)} run-level"
        lines.append(one_line(f"{policy.id} {policy.version}  {counts}  {coverage}"))
        for example in policy.examples if verbose else policy.failed:
            text = shown_example(example.example.text, 100)
            if example.ok:
                caught = f"; caught by {', '.join(example.caught_by)}" if example.caught_by else ""
                lines.append(one_line(f"  ok {_where(example.location)}: {example.expect} example {text!r}{caught}"))
                continue
            lines.append(one_line(f"  FAIL {_where(example.location)}: {example.expect} example {text!r}"))
            if example.crashed:
                lines.append(one_line(f"    crashed: {'; '.join(example.crashed)}"))
            elif example.expect == "fail":
                lines.append(one_line(f"    no rule caught it; expected one of: {', '.join(example.rules) or '-'}"))
            else:
                lines.append(one_line(f"    fired: {', '.join(example.caught_by)}; a pass example must pass every"
                                      " rule"))
        for rule in policy.uncovered:
            label = "UNCOVERED" if report.require_coverage else "uncovered"
            lines.append(one_line(f"  {label} {_where(rule.location)}: rule {rule.id} ({rule.check}): no fail"
                                  " example triggers it"))
        if policy.run_level:
            lines.append(f"  run-level, not coverable by examples: {_rule_names(policy.run_level)}")
    totals = report.totals()
    lines.append("")
    lines.append(f"{totals['policies']} policies ({totals['policies_without_examples']} without examples),"
                 f" {totals['examples']} examples, {totals['examples_failed']} failed;"
                 f" per-output rules {totals['rules_covered']}/{totals['rules_coverable']} covered,"
                 f" {totals['rules_uncovered']} uncovered; {totals['rules_run_level']} run-level rule(s) judge whole"
                 " runs and are not coverable by examples")
    if not report.examples_ok:
        lines.append(f"FAILED: {totals['examples_failed']} example(s) did not behave as declared")
    if report.require_coverage and report.uncovered:
        lines.append(f"FAILED: {totals['rules_uncovered']} per-output rule(s) uncovered (--require-coverage)")
    if report.ok:
        lines.append("ok")
    return "\n".join(lines) + "\n"


def render_junit(report: PolicyTestReport) -> str:
    """JUnit XML (valid against the JUnit 10 XSD): a test suite per policy, a test case per example
    (``classname``: the policy id) and, with ``require_coverage``, a failing test case per uncovered rule."""
    from xml.sax.saxutils import escape, quoteattr

    from ..project.examples import shown_example

    bad = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

    def attr(text: str) -> str:
        return quoteattr(bad.sub("", text), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})

    def body(text: str) -> str:
        return escape(bad.sub("", text))

    suites: list[str] = []
    all_tests = all_failures = 0
    for policy in report.policies:
        cases: list[str] = []
        failures = 0
        numbers = {"pass": 0, "fail": 0}
        for example in policy.examples:
            numbers[example.expect] += 1  # as the pytest plugin's example-N[pass|fail]
            name = f"{example.expect} example {numbers[example.expect]}: {shown_example(example.example.text)}"
            head = f"    <testcase name={attr(name)} classname={attr(policy.id)} time=\"0\""
            if example.ok and example.caught_by:
                cases.append(f"{head}>\n      <system-out>{body('caught by: ' + ', '.join(example.caught_by))}"
                             "</system-out>\n    </testcase>")
                continue
            if example.ok:
                cases.append(f"{head} />")
                continue
            failures += 1
            kind = "crash" if example.crashed else "not-caught" if example.expect == "fail" else "caught"
            detail = f"{_where(example.location)}\n{example.problem or ''}\ntext: {example.masked_text}"
            cases.append(f"{head}>\n      <failure message={attr(example.problem or '')} type={attr(kind)}>"
                         f"{body(detail)}</failure>\n    </testcase>")
        if report.require_coverage:
            for rule in policy.uncovered:
                failures += 1
                message = f"rule {rule.id} ({rule.check}) of {policy.id}: no fail example triggers it"
                cases.append(f"    <testcase name={attr(f'rule {rule.id} covered')} classname={attr(policy.id)}"
                             f" time=\"0\">\n      <failure message={attr(message)} type=\"uncovered\">"
                             f"{body(_where(rule.location) + ': ' + message)}</failure>\n    </testcase>")
        all_tests += len(cases)
        all_failures += failures
        suites.append(f"  <testsuite name={attr(policy.id)} tests=\"{len(cases)}\" failures=\"{failures}\""
                      f" errors=\"0\" skipped=\"0\" time=\"0\" file={attr(policy.file)}>\n"
                      f"    <properties>\n      <property name=\"version\" value={attr(policy.version)} />\n"
                      "    </properties>\n" + "".join(c + "\n" for c in cases) + "  </testsuite>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuites name="harness policy test" tests="{all_tests}" failures="{all_failures}" errors="0"'
            ' time="0">\n' + "".join(s + "\n" for s in suites) + "</testsuites>\n")


def render(report: PolicyTestReport, fmt: str, *, verbose: bool = False) -> str:
    """The report as ``text`` (``verbose``: every example), ``json`` or ``junit``."""
    if fmt == "json":
        return report.to_json()
    if fmt == "junit":
        return render_junit(report)
    if fmt == "text":
        return render_text(report, verbose=verbose)
    raise InputError(f"unknown format {fmt!r}; expected text, json or junit")
