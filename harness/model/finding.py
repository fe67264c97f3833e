"""What a check found in one output."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """A kind, a message, and where in the output (a character span and a masked excerpt).

    ``masked`` never holds raw personal data: checks build it with ``text.normalize.excerpt``.
    """

    kind: str
    message: str
    start: int | None = None
    end: int | None = None
    masked: str | None = None
