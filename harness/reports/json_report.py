"""``--format json``: the report exactly as ``report.schema.json`` describes it."""

from __future__ import annotations

import json
from typing import Any

from ..engine import Evaluation
from . import reporter


@reporter("json")
def render(report: dict[str, Any], evaluation: Evaluation, *, color: bool = False) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
