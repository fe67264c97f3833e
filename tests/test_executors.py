"""A streamed scan in forked workers never imports pandas (a sixth of a second of start-up in each process),
and the workers' pyarrow, told that pandas is absent, leaves pandas usable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

POLICY = """id: fairness.parity
version: 1.0.0
title: Every group is answered alike
severity: sev3
on_fail: warn
owner: qa@example.com
applies_to:
  tags: [support-bot]
rules:
  - {id: parity, check: disparity, of: {check: regex, pattern: 'sorry', must: not_match}, by: slice.group,
     max_gap: 0.5}
  - {id: answered, check: rate, of: {check: regex, pattern: 'sorry', must: not_match}, min: 0.1}
  - {id: latency-p50, check: quantile, field: latency_ms, q: 0.5, max: 1000}
"""

SCAN = """
import json, sys
from harness import api
from harness.api import judge
from harness.evaluation import executors, lane

lane.MIN_BYTES = 0  # the lane reads this small file
judge.SPLIT_BYTES = 64 * 1024  # in byte ranges, one worker each
result = api.run_scan(sys.argv[1], policies=sys.argv[2], evals=None, executor=executors.ForkExecutor(2))
statuses = [aggregate["status"] for aggregate in result.report.to_dict()["aggregates"]]
print(json.dumps({"pandas": "pandas" in sys.modules, "lane": "pyarrow.json" in sys.modules, "aggregates": statuses}))
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Python in a new process (this one has imported pandas), with every import timed on stderr."""
    return subprocess.run([sys.executable, "-X", "importtime", "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=300, check=True)


def _imported_pandas(stderr: str) -> bool:
    """Whether any process imported pandas (its submodules load only when it does)."""
    return re.search(r"\|\s+pandas\.", stderr) is not None


def test_a_forked_streamed_scan_imports_no_pandas(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "parity.yaml").write_text(POLICY)
    lines = [json.dumps({"case_id": f"gen-{i % 2500:07d}", "output": "sorry, no" if i % 7 == 0 else "Here you go.",
                         "latency_ms": 100 + i % 900, "slice": {"group": ["a", "b", "c"][i % 3]},
                         "tags": ["support-bot"]}) for i in range(3000)]
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("\n".join(lines) + "\n")
    assert outputs.stat().st_size > 2 * 64 * 1024

    done = _python(SCAN, str(outputs), str(tmp_path / "policies"))
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["aggregates"] == ["pass", "pass", "pass"]  # the run-level rules judged the records
    assert found["lane"]  # set up before the fork: the workers read the pieces in the columnar lane
    assert not found["pandas"]
    assert not _imported_pandas(done.stderr)  # nor did a worker


def test_pyarrow_told_pandas_is_absent_leaves_pandas_importable() -> None:
    done = _python("""
        import sys
        import pyarrow as pa
        import pyarrow.compute as pc
        from harness.evaluation import executors

        executors._arrow_without_pandas()
        column = pa.array([1, 2, 3])
        pc.equal(column, 0), column.to_numpy(), pa.scalar(1.5)
        assert "pandas" not in sys.modules
        import pandas as pd

        assert pa.Table.from_pandas(pd.DataFrame({"a": [1, 2]})).to_pandas()["a"].tolist() == [1, 2]
        print("ok")
    """)
    assert done.stdout.split() == ["ok"]
    assert _imported_pandas(done.stderr)  # by the `import pandas`, not before (asserted in the process)
