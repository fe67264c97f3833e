"""Developer sessions: ``nox -s tests lint typecheck demo``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

EXAMPLES = "examples/outputs"


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, tests, benchmarks and this file."""
    session.install("ruff")
    session.run("ruff", "check", "harness", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """The README demo: a good candidate promotes, a bad one is rolled back, a third is blocked."""
    session.install("-e", ".")
    session.run("harness", "validate")
    baseline = f"{EXAMPLES}/acme-support-1.0.0.jsonl"
    for version, code in (("1.1.0", 0), ("1.2.0", 3), ("1.2.1", 1)):
        session.run("harness", "gate", "--outputs", f"{EXAMPLES}/acme-support-{version}.jsonl",
                    "--baseline", baseline, success_codes=[code])
    session.run("harness", "scan", "--outputs", "examples/production/support-2026-11-20.jsonl")


@nox.session
def release_demo(session: nox.Session) -> None:
    """Promote 1.0.0 and 1.1.0, serve a bad 1.2.0 by hand, and let the gate roll it back to 1.1.0."""
    session.install("-e", ".")
    tmp = session.create_tmp()
    for name in ("policies", "evals", "incidents", "examples"):
        session.run("cp", "-r", name, tmp, external=True)
    session.chdir(tmp)
    model = ["--model", "acme-support-assistant"]
    baseline = ["--baseline", f"{EXAMPLES}/acme-support-1.0.0.jsonl"]
    for version in ("1.0.0", "1.1.0"):
        session.run("harness", "gate", "--outputs", f"{EXAMPLES}/acme-support-{version}.jsonl", *baseline, *model,
                    "--model-version", version, "--promote")
    session.run("harness", "registry", "alias", *model, "--version", "1.2.0", "--create",
                "--reason", "hotfix outside the gate")
    session.run("harness", "gate", "--outputs", f"{EXAMPLES}/acme-support-1.2.0.jsonl", *baseline, *model,
                "--model-version", "1.2.0", "--on-rollback", "execute", success_codes=[3])
    session.run("harness", "registry", "show", *model)
    session.run("harness", "log", "show")
    session.run("harness", "log", "verify")
