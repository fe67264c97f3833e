"""What a check found in one output."""

from __future__ import annotations

from dataclasses import dataclass, replace

#: how a rule's findings show what they matched (a rule's ``mask:``)
MASK_MODES = ("full", "partial", "none")
_PARTIAL_KEEP = 4  # characters left visible at the end, as "the card ending in 1111"


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

    def __reduce__(self) -> tuple[type[Finding], tuple[str, str, int | None, int | None, str | None]]:
        # pickled by its fields (results go from worker processes to the merging one): the slots dataclass's own
        # __getstate__ is Python code, several times slower per finding
        return Finding, (self.kind, self.message, self.start, self.end, self.masked)

    def masked_as(self, mode: str) -> Finding:
        """This finding with its excerpt shown as ``mode`` says (``none``: as the check built it).

        ``full`` stars every character but spaces; ``partial`` keeps the last four letters
        or digits (and the separators) of an excerpt holding twelve or more letters and
        digits, and stars the rest (shorter excerpts are starred fully).
        """
        if mode == "none" or not self.masked:
            return self
        return replace(self, masked=_starred(self.masked, keep=_PARTIAL_KEEP if mode == "partial" else 0))


def _starred(text: str, *, keep: int) -> str:
    if keep and sum(c.isalnum() for c in text) < 3 * keep:
        keep = 0
    chars = list(text)
    kept = 0
    for i in range(len(chars) - 1, -1, -1):
        c = chars[i]
        if c.isspace() or (keep and c in "-./"):
            continue
        if kept < keep and c.isalnum():
            kept += 1
            continue
        chars[i] = "*"
    return "".join(chars)
