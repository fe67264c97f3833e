"""Waivers: approved, time-limited exceptions to a policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..errors import Location


@dataclass(frozen=True, slots=True)
class Waiver:
    policy: str
    reason: str
    approver: str
    ticket: str
    expires: dt.date  # the last day (UTC) on which the waiver applies
    rule: str | None = None
    cases: frozenset[str] | None = None
    location: Location = field(default_factory=Location)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def covers(self, policy: str, rule: str, case_id: str) -> bool:
        return (
            policy == self.policy
            and (self.rule is None or self.rule == rule)
            and (self.cases is None or case_id in self.cases)
        )
