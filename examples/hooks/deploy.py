"""Example rollback hook: stands in for the job that redeploys the serving model.

The harness runs it after moving the serving alias, with the rollback as JSON on stdin
(model, from, to, reason, incident, rollback). A real one would call the CI/CD system;
this one records the deployment in audit/deployments.jsonl, which the health check reads.
"""

import json
import sys
from pathlib import Path

payload = json.load(sys.stdin)
log = Path("audit/deployments.jsonl")
log.parent.mkdir(parents=True, exist_ok=True)
with log.open("a", encoding="utf-8") as handle:
    handle.write(json.dumps({"model": payload["model"], "serving": payload["to"]}) + "\n")
print(f"deployment of {payload['model']} {payload['to']} started")
