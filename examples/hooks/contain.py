"""Example containment hook: stands in for the switch that disables an endpoint, turns on safe mode,
rate-limits or redirects traffic.

The harness runs it for `harness incident contain --action NAME` with the incident as JSON on
stdin (incident, action, severity, model, model_version, endpoint). A real one would flip a
feature flag or change the gateway's configuration; this one records the change in
audit/containment.jsonl and says what it did. Exit 0 means the action took effect.
"""

import json
import sys
from pathlib import Path

payload = json.load(sys.stdin)
log = Path("audit/containment.jsonl")
log.parent.mkdir(parents=True, exist_ok=True)
with log.open("a", encoding="utf-8") as handle:
    handle.write(json.dumps({"incident": payload["incident"], "action": payload["action"],
                             "endpoint": payload.get("endpoint")}) + "\n")
print(f"{payload['action']} applied to {payload.get('endpoint') or payload['model']} for {payload['incident']}")
