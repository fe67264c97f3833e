"""The README's Python API examples run as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_the_python_api_examples_run(tmp_path, monkeypatch, capsys):
    blocks = python_blocks("Python API")
    assert len(blocks) == 2
    for name in ("policies", "evals", "incidents", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTOR", "readme")
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # our own documentation, not untrusted text
    outcome = namespace["outcome"]
    assert (outcome.state.status, outcome.state.to_version) == ("done", "1.1.0")  # type: ignore[attr-defined]
    assert list((tmp_path / "audit" / "reports").glob("*.json"))
    assert "harness gate" in capsys.readouterr().out  # the markdown summary was printed


def test_the_extending_example_defines_a_check():
    [block] = python_blocks("Extending")
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    from harness.checks import Check
    from harness.model import OutputRecord

    tone = namespace["tone"]
    assert isinstance(tone, Check) and tone.options["required"] == ["max_exclamations"]
    assert tone({"max_exclamations": 1}, OutputRecord("c", "Great!!", 1, {}), None)[0].message == \
        "2 exclamation marks"
    assert tone({"max_exclamations": 1}, OutputRecord("c", "Great!", 1, {}), None) == []
