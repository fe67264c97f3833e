"""Example health check: passes when the last deployment serves the version rolled back to."""

import json
import sys
from pathlib import Path

payload = json.load(sys.stdin)
log = Path("audit/deployments.jsonl")
lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
serving = json.loads(lines[-1])["serving"] if lines else None
if serving != payload["to"]:
    print(f"unhealthy: serving {serving}, expected {payload['to']}")
    sys.exit(1)
print(f"healthy: serving {serving}")
