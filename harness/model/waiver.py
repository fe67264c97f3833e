"""Waivers: approved, time-limited exceptions to a policy."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..errors import Location

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str) -> dt.date:
    """The date ``YYYY-MM-DD`` exactly (a waiver's dates, the date judged against); ``ValueError`` otherwise.

    ``date.fromisoformat`` alone also takes ``20261203`` and ``2026-W49-4``, which nobody means here.
    """
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"expected a date YYYY-MM-DD, got {text!r}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date YYYY-MM-DD, got {text!r}") from None


@dataclass(frozen=True, slots=True)
class Waiver:
    """An exception to one policy, in force from the day it was approved to the day it expires (UTC, inclusive)."""

    policy: str
    reason: str
    approver: str
    ticket: str
    expires: dt.date  # the last day (UTC) on which the waiver applies
    approved: dt.date  # the day it was approved: it applies from then on
    rule: str | None = None
    cases: frozenset[str] | None = None
    location: Location = field(default_factory=Location)

    @property
    def whole_policy(self) -> bool:
        """Whether it names neither a rule nor cases, and so waives every failure of its policy."""
        return self.rule is None and self.cases is None

    @property
    def days(self) -> int:
        """How many days ``expires`` lies after ``approved``."""
        return (self.expires - self.approved).days

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def in_force(self, today: dt.date) -> bool:
        """Whether it applies on ``today``: approved by then and not yet expired."""
        return self.approved <= today <= self.expires

    def lapse(self, today: dt.date) -> str:
        """Why it does not apply on ``today`` ("expired on ...", "approved only on ..."); empty when it does."""
        if today > self.expires:
            return f"expired on {self.expires.isoformat()}"
        if today < self.approved:
            return f"was approved only on {self.approved.isoformat()}"
        return ""

    def covers(self, policy: str, rule: str, case_id: str) -> bool:
        return (
            policy == self.policy
            and (self.rule is None or self.rule == rule)
            and (self.cases is None or case_id in self.cases)
        )
