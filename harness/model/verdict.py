"""The verdict of a gate and the exit code each verdict maps to."""

from __future__ import annotations

import enum

from ..errors import ExitCode


class Verdict(enum.StrEnum):
    """What the gate decides for a candidate."""

    PROMOTE = "promote"
    BLOCK = "block"
    ROLLBACK = "rollback"

    @property
    def exit_code(self) -> ExitCode:
        return {Verdict.PROMOTE: ExitCode.PROMOTE, Verdict.BLOCK: ExitCode.BLOCK,
                Verdict.ROLLBACK: ExitCode.ROLLBACK}[self]
