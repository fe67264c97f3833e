"""The audit trail of alias moves: an intent in the decision log before each move, its outcome after.

Every move of a serving alias the harness makes (a promotion, a rollback, a move by hand) is
bracketed by two ``alias_move`` entries sharing a move id: ``phase: intent`` before the
registry changes and ``phase: done`` (or ``failed``) after. The registry's record of the move
carries the same id at the end of its reason (``... [move 3f2a9c0d1b7e]``). So a process killed
between the two leaves an intent the next recording of that model completes
(:func:`resolve_pending`), and :func:`cross_check` finds every move in the registry's alias
history that the log does not account for, including moves from before move ids existed
(matched to the ``promotion``, ``manual_alias`` and ``rollback_step`` entries of that time: only
entries older than the model's first ``alias_move`` entry, and only to the version they name),
and every move the log says was ``done`` that the registry's history lacks, has out of order, or
whose target the alias no longer points at with no later move to explain it.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..text.normalize import one_line
from .registry import AliasMove, Registry, UnknownModel

#: appends one decision-log entry and returns it as written
LogFn = Callable[[Mapping[str, Any]], Mapping[str, Any]]

KIND = "alias_move"
_MOVE_ID = re.compile(r" \[move ([0-9a-f]{12})\]$")
_ROLLBACK_REASON = re.compile(r"^rollback ([0-9a-f]{12}):")


def tagged_reason(reason: str, move_id: str | None) -> str:
    """The reason the registry records for a move: the caller's, ending with the move id when logged."""
    return f"{reason} [move {move_id}]" if move_id else reason


def move_id_of(reason: str) -> str | None:
    """The move id at the end of a registry move's reason, if the move was logged with one."""
    match = _MOVE_ID.search(reason)
    return match.group(1) if match else None


def announce(log: LogFn, *, model: str, alias: str, from_version: str | None, to_version: str, cause: str,
             reason: str, details: Mapping[str, Any] | None = None) -> tuple[str, Mapping[str, Any]]:
    """Write the intent before moving the alias; the move id and the entry as written."""
    move_id = uuid.uuid4().hex[:12]
    entry = log({"kind": KIND, "model": model, "model_version": to_version,
                 "details": {"move": move_id, "phase": "intent", "alias": alias, "from": from_version,
                             "to": to_version, "cause": cause, "reason": reason, **(details or {})}})
    return move_id, entry


def conclude(log: LogFn, move_id: str, *, model: str, alias: str, to_version: str, phase: str,
             note: str = "", at: str = "") -> Mapping[str, Any]:
    """Write the outcome of an announced move: ``done``, ``failed`` (nothing moved) or ``abandoned``."""
    details: dict[str, Any] = {"move": move_id, "phase": phase, "alias": alias, "to": to_version}
    if at:
        details["at"] = at
    if note:
        details["note"] = note
    return log({"kind": KIND, "model": model, "model_version": to_version, "details": details})


def logged_move(registry: Registry, log: LogFn | None, *, model: str, alias: str, version: str, actor: str,
                reason: str, cause: str, details: Mapping[str, Any] | None = None) -> AliasMove:
    """Move an alias with its intent logged before and its outcome after (no log: just move it)."""
    if log is None:
        return registry.move_alias(model, alias, version, actor=actor, reason=reason)
    serving = registry.get_alias(model, alias)
    move_id, _ = announce(log, model=model, alias=alias, from_version=serving, to_version=version, cause=cause,
                          reason=reason, details=details)
    try:
        move = registry.move_alias(model, alias, version, actor=actor, reason=tagged_reason(reason, move_id))
    except BaseException as exc:
        fail_quietly(log, move_id, model=model, alias=alias, to_version=version, error=exc)
        raise
    conclude(log, move_id, model=model, alias=alias, to_version=move.to_version, phase="done", at=move.at)
    return move


def fail_quietly(log: LogFn, move_id: str, *, model: str, alias: str, to_version: str, error: BaseException) -> None:
    """Record that an announced move failed; a log that fails too leaves the intent for recovery."""
    with contextlib.suppress(Exception):  # the original error is the one to report
        conclude(log, move_id, model=model, alias=alias, to_version=to_version, phase="failed",
                 note=f"{type(error).__name__}: {error}"[:500])


def lenient_entries(path: Path, *, kind: str | None = None) -> list[dict[str, Any]]:
    """Every entry (of ``kind``) that parses, without checking the chain (``log verify`` does that)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    marker = f'"kind":{json.dumps(kind)}'.encode() if kind else b""
    entries = []
    for line in data.splitlines():
        if marker not in line:  # lines are canonical JSON: a kind is written exactly so
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and (kind is None or entry.get("kind") == kind):
            entries.append(entry)
    return entries


def _details(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    details = entry.get("details")
    return details if isinstance(details, Mapping) else {}


def _moves(entries: Iterable[Mapping[str, Any]], model: str) -> tuple[dict[str, Mapping[str, Any]],
                                                                      dict[str, Mapping[str, Any]]]:
    """The intents and the outcomes of the model's logged alias moves, by move id."""
    intents: dict[str, Mapping[str, Any]] = {}
    outcomes: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        if entry.get("kind") != KIND or entry.get("model") != model:
            continue
        details = _details(entry)
        move_id = details.get("move")
        if isinstance(move_id, str):
            (intents if details.get("phase") == "intent" else outcomes)[move_id] = entry
    return intents, outcomes


def resolve_pending(path: Path, log: LogFn, registry: Registry, model: str) -> list[Mapping[str, Any]]:
    """Complete the record of moves of ``model`` whose process died between intent and outcome.

    Run under the model's lock before recording anything new: a move the registry shows is
    concluded ``done`` (recovered), one it does not show ``abandoned`` (nothing changed).
    """
    intents, outcomes = _moves(lenient_entries(path, kind=KIND), model)
    pending = {i: e for i, e in intents.items() if i not in outcomes}
    if not pending:
        return []
    written = []
    for move_id, intent in pending.items():
        details = _details(intent)
        alias, to = str(details.get("alias")), str(details.get("to"))
        try:
            history = registry.alias_history(model, alias)
        except UnknownModel:
            history = []
        made = next((m for m in history if move_id_of(m.reason) == move_id), None)
        if made is not None:
            written.append(conclude(log, move_id, model=model, alias=alias, to_version=to, phase="done", at=made.at,
                                    note="recovered: the process stopped after the registry moved the alias"))
        else:
            written.append(conclude(log, move_id, model=model, alias=alias, to_version=to, phase="abandoned",
                                    note="recovered: the process stopped before the registry moved the alias"))
    return written


@dataclass(frozen=True)
class CrossCheck:
    """What comparing the registry's alias history with the decision log found."""

    moves: int  # registry moves looked at
    problems: tuple[str, ...]  # moves the log does not account for (or accounts for wrongly)
    notes: tuple[str, ...]  # intents that never moved anything: nothing is unrecorded

    @property
    def ok(self) -> bool:
        return not self.problems


def describe_move(move: AliasMove) -> str:
    """One line naming a registry move: model, alias, versions, when, by whom, why."""
    return one_line(f"{move.name}: alias {move.alias!r} moved {move.from_version or '(not set)'} ->"
                    f" {move.to_version} at {move.at or '?'} by {move.actor or '?'} ({move.reason})")


def _legacy(move: AliasMove, entry: Mapping[str, Any]) -> bool:
    """Whether an entry written before move ids existed records this move (its rollback or alias, and its target)."""
    details, kind = _details(entry), entry.get("kind")
    if kind == "rollback_step":
        match = _ROLLBACK_REASON.match(move.reason)
        return (match is not None and details.get("rollback") == match.group(1) and details.get("step") == "trigger"
                and details.get("to") == move.to_version)
    if entry.get("model_version") != move.to_version or details.get("alias") != move.alias:
        return False
    if kind == "promotion":
        return move.reason.startswith("promoted by the gate")
    return kind == "manual_alias" and move.reason.startswith("by hand")


def _legacy_entries(entries: Sequence[Mapping[str, Any]], model: str) -> list[Mapping[str, Any]]:
    """The model's entries written before move ids existed: those older than its first ``alias_move`` entry.

    Every move made since is bracketed by ``alias_move`` entries (and its trigger step names the
    move), so an entry after the first of them never vouches for a move without an id.
    """
    legacy = []
    for entry in entries:
        if entry.get("model") != model:
            continue
        if entry.get("kind") == KIND:
            break
        if entry.get("kind") in ("promotion", "manual_alias", "rollback_step") and "move" not in _details(entry):
            legacy.append(entry)
    return legacy


def _check_alias(registry: Registry, model: str, alias: str, entries: Sequence[Mapping[str, Any]],
                 intents: Mapping[str, Mapping[str, Any]], outcomes: Mapping[str, Mapping[str, Any]],
                 seen: set[str]) -> tuple[int, list[str]]:
    history = registry.alias_history(model, alias)
    legacy = _legacy_entries(entries, model)
    problems = []
    for move in history:
        move_id = move_id_of(move.reason)
        if move_id is None:
            found = next((e for e in legacy if _legacy(move, e)), None)
            if found is None:
                problems.append(f"{describe_move(move)}: no entry in the decision log records this move")
            else:
                legacy.remove(found)
            continue
        problem = _check_logged(move, move_id, intents, outcomes, seen)
        if problem:
            problems.append(f"{describe_move(move)}: {problem}")
        seen.add(move_id)
    serving = registry.get_alias(model, alias)
    last = history[-1].to_version if history else None
    if serving is not None and serving != last:
        recorded = f"its last recorded move was to {last}" if last else "no move of it is recorded"
        problems.append(one_line(f"{model}: alias {alias!r} points at {serving} but {recorded}: it was moved outside"
                                 " the harness, with no entry in the decision log"))
    problems.extend(_check_done(model, alias, history, serving, entries))
    return len(history), problems


def _check_done(model: str, alias: str, history: Sequence[AliasMove], serving: str | None,
                entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The other way round: every move the log says was done must be in the registry's history, in the log's
    order, and the alias must point where the last of them put it unless the registry moved it since. Entries
    written before move ids existed name no move and are left to the registry's side of the check."""
    done: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        details = _details(entry)
        if (entry.get("kind") == KIND and entry.get("model") == model and details.get("alias") == alias
                and details.get("phase") == "done" and isinstance(details.get("move"), str)):
            done.setdefault(details["move"], entry)
    if not done:
        return []
    at = {move_id_of(move.reason): i for i, move in enumerate(history)}
    problems = []
    previous: tuple[str, int] | None = None
    for move_id, entry in done.items():
        details = _details(entry)
        what = f"{model}: entry {entry.get('seq')} of the decision log says move {move_id} of alias {alias!r}"
        if move_id not in at:
            problems.append(one_line(f"{what} to {details.get('to')} was done, but the registry's history of the"
                                     " alias has no such move: it was removed from the registry"))
            continue
        if previous is not None and at[move_id] < previous[1]:
            problems.append(one_line(f"{what} to {details.get('to')} was done after move {previous[0]}, but the"
                                     " registry's history has it before: the history was rewritten"))
        previous = (move_id, at[move_id])
    last_id, last = list(done.items())[-1]
    to = _details(last).get("to")
    made = at.get(last_id)
    if serving != to and (made is None or made == len(history) - 1):
        problems.append(one_line(f"{model}: alias {alias!r} points at {serving or '(not set)'} but the decision"
                                 f" log's last done move of it (move {last_id}, entry {last.get('seq')}) put it at"
                                 f" {to}, and the registry records no move since"))
    return problems


def _check_logged(move: AliasMove, move_id: str, intents: Mapping[str, Mapping[str, Any]],
                  outcomes: Mapping[str, Mapping[str, Any]], seen: set[str]) -> str:
    intent = intents.get(move_id)
    if intent is None:
        return f"the decision log has no entry for move {move_id}"
    details = _details(intent)
    if details.get("alias") != move.alias or details.get("to") != move.to_version:
        return (f"entry {intent.get('seq')} announced move {move_id} of alias {details.get('alias')!r} to"
                f" {details.get('to')}, not this move")
    if move_id in seen:
        return f"move {move_id} appears twice in the registry's history"
    outcome = outcomes.get(move_id)
    if outcome is None:
        return (f"the decision log has its intent (entry {intent.get('seq')}) but no outcome: the process stopped"
                " after the alias moved; record anything for this model (re-run the gate) to complete the record")
    phase = _details(outcome).get("phase")
    if phase != "done":
        return f"the decision log says move {move_id} {phase} (entry {outcome.get('seq')}), but the registry made it"
    return ""


def cross_check(entries: Sequence[Mapping[str, Any]], registry: Registry, *, models: Iterable[str],
                aliases: Iterable[str]) -> CrossCheck:
    """Every move in the registry's history of ``aliases`` of ``models`` must have a completed log entry, and
    every move the log says was done must be in that history, in the log's order."""
    problems: list[str] = []
    notes: list[str] = []
    count = 0
    for model in sorted(set(models)):
        intents, outcomes = _moves(entries, model)
        named = {str(_details(e).get("alias")) for e in entries if e.get("model") == model and "alias" in _details(e)}
        seen: set[str] = set()
        try:
            for alias in sorted(set(aliases) | named):
                moved, found = _check_alias(registry, model, alias, entries, intents, outcomes, seen)
                count += moved
                problems.extend(found)
        except UnknownModel:
            continue
        for move_id, intent in intents.items():
            if move_id not in outcomes and move_id not in seen:
                details = _details(intent)
                notes.append(one_line(f"{model}: entry {intent.get('seq')} announced moving alias"
                                      f" {details.get('alias')!r} to {details.get('to')} ({details.get('cause')}),"
                                      " but the process stopped before the registry moved it: nothing changed"))
    return CrossCheck(count, tuple(problems), tuple(notes))
