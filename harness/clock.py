"""The one clock every module reads the time from, and the one timestamp format.

Timestamps are ISO 8601 in UTC to the millisecond, ending in ``Z``
(``2026-11-27T18:00:00.000Z``): reports, registry tags, the decision log, rollback
states and notices all write this format. Library functions take a :class:`Clock`
argument (the system clock by default), so tests and replays can fix the time.
"""

from __future__ import annotations

import datetime as dt

#: the precision of every timestamp the harness writes
PRECISION = "milliseconds"


def format_timestamp(moment: dt.datetime) -> str:
    """``moment`` as ISO 8601 UTC to the millisecond: ``2026-11-27T18:00:00.000Z``."""
    if moment.tzinfo is None:
        raise ValueError("a timestamp needs a time zone; the harness works in UTC")
    return moment.astimezone(dt.UTC).isoformat(timespec=PRECISION).replace("+00:00", "Z")


def parse_timestamp(text: str) -> dt.datetime:
    """The aware datetime of an ISO 8601 timestamp (``Z`` or an offset); ``ValueError`` otherwise."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"timestamp {text!r} is out of range") from None


def _aware(moment: dt.datetime | str) -> dt.datetime:
    """A moment in UTC; a naive datetime is refused (it would mean the machine's local time)."""
    if isinstance(moment, str):
        return parse_timestamp(moment)
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no time zone; pass an aware one (tzinfo=datetime.UTC)")
    return moment.astimezone(dt.UTC)


class Clock:
    """The current time. Subclasses say what ``now`` is; everything else derives from it."""

    def now(self) -> dt.datetime:
        """The current moment, aware, in UTC."""
        return dt.datetime.now(dt.UTC)

    def timestamp(self) -> str:
        """The current moment in the harness's one format."""
        return format_timestamp(self.now())

    def today(self) -> dt.date:
        """Today's date in UTC (waivers expire at the end of a UTC day)."""
        return self.now().date()


class SystemClock(Clock):
    """The machine's clock."""


class FixedClock(Clock):
    """A clock that says what it is told: for tests, replays and reproducible reports.

    ``step`` advances the clock by that much after each reading, so successive events
    stay ordered without sleeping.
    """

    def __init__(self, moment: dt.datetime | str, *, step: dt.timedelta = dt.timedelta(0)) -> None:
        self._now = _aware(moment)
        self._step = step

    def now(self) -> dt.datetime:
        moment = self._now
        self._now = moment + self._step
        return moment

    def set(self, moment: dt.datetime | str) -> None:
        """Move the clock to ``moment``."""
        self._now = _aware(moment)

    def advance(self, delta: dt.timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self._now += delta


SYSTEM_CLOCK = SystemClock()
