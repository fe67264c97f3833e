"""Waivers (``policies/waivers.yaml``): checked against the policies and cases they name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError
from ..model import Waiver
from .rules import Problems


def build_waivers(problems: Problems, known: Mapping[str, frozenset[str]],
                  case_ids: Iterable[str]) -> tuple[Waiver, ...]:
    """The waivers of a checked document; every unknown policy, rule or case is a problem."""
    doc = problems.document
    cases = set(case_ids)
    waivers = []
    items = doc.data.get("waivers")
    for i, raw in enumerate(items if isinstance(items, list) else ()):
        if problems.schema_error_under(("waivers", i)):
            continue
        if raw["policy"] not in known:
            problems.add(f"waiver names unknown policy {raw['policy']!r}", ("waivers", i, "policy"))
            continue
        if "rule" in raw and known[raw["policy"]] and raw["rule"] not in known[raw["policy"]]:
            rules = ", ".join(sorted(known[raw["policy"]]))
            problems.add(f"policy {raw['policy']!r} has no rule {raw['rule']!r}; its rules: {rules}",
                         ("waivers", i, "rule"))
            continue
        if raw["policy"].startswith("eval:") and "cases" in raw:
            unknown = sorted(set(raw["cases"]) - cases)
            if unknown:
                problems.add(f"waiver names unknown case id(s): {', '.join(unknown)}", ("waivers", i, "cases"))
                continue
        try:
            expires = dt.date.fromisoformat(raw["expires"])
        except ValueError:
            problems.add(f"expected a date YYYY-MM-DD, got {raw['expires']!r}", ("waivers", i, "expires"))
            continue
        waivers.append(Waiver(
            policy=raw["policy"], reason=raw["reason"], approver=raw["approver"], ticket=raw["ticket"],
            expires=expires, rule=raw.get("rule"), cases=frozenset(raw["cases"]) if "cases" in raw else None,
            location=doc.locate(("waivers", i)),
        ))
    return tuple(waivers)


def expired_waivers(waivers: Iterable[Waiver] | Any, today: dt.date | str) -> list[InputError]:
    """Waivers past their ``expires`` date: they no longer apply, and validate says so.

    ``waivers`` may be a :class:`~harness.project.Project` (its waivers) and ``today`` an ISO date.
    """
    waivers = getattr(waivers, "waivers", waivers)
    if isinstance(today, str):
        today = dt.date.fromisoformat(today)
    return [
        InputError(f"waiver for {w.policy}{'/' + w.rule if w.rule else ''} (ticket {w.ticket}) expired on "
                   f"{w.expires.isoformat()}; it no longer applies: renew it with a new date or remove it",
                   w.location)
        for w in waivers if w.expired(today)
    ]
