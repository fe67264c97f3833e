from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


class Repo:
    """A small policy repository in a temporary folder, written from YAML snippets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.policies = root / "policies"
        self.evals = root / "evals"
        self.policies.mkdir()
        self.evals.mkdir()

    def policy(self, name: str, text: str) -> Path:
        path = self.policies / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
        return path

    def suite(self, name: str, text: str) -> Path:
        path = self.evals / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
        return path

    def outputs(self, name: str, records: Sequence[Mapping[str, Any]]) -> Path:
        path = self.root / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return path


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


@pytest.fixture
def policy_text() -> Callable[..., str]:
    """A valid policy document with the given rules (YAML list items as text)."""

    def make(rules: str, *, id: str = "test.policy", on_fail: str = "block", extra: str = "") -> str:
        return dedent(f"""
            id: {id}
            version: 1.0.0
            title: Test policy
            severity: sev2
            on_fail: {on_fail}
            owner: owner@example.com
            {extra}
            rules:
            """) + textwrap.indent(dedent(rules), "  ")

    return make
