"""The ``pii`` check: personal data in an output, masked in every finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import InputError
from ...model import EvalCase, Finding, OutputRecord
from ...text import pii as detector
from ...text.mask import mask_span
from ...text.regex import Pattern, compile_pattern
from ..base import check

MAX_FINDINGS = 20
_MESSAGES = {kind: f"{kind.replace('_', ' ')} found" for kind in detector.KINDS}


@dataclass(frozen=True, slots=True)
class PiiRule:
    kinds: tuple[str, ...]
    allow: tuple[Pattern, ...]
    region: str
    prefilter: str
    strict: bool = False
    #: `allow` as one pattern where it can be (`_as_one`): what the check gives `find_pii`; None: `allow`
    allowed: tuple[Pattern, ...] | None = None
    #: `kinds` as the detector takes them, checked (None: `kinds`)
    wanted: frozenset[str] | None = None


def _as_one(allow: tuple[Pattern, ...]) -> tuple[Pattern, ...]:
    """The allow patterns as one, which a value fullmatches when it fullmatches one of them: one search per
    finding rather than one per pattern. As they are when there is one, when one is not ASCII (the one pattern
    would read an ASCII value in another mode, see ``regex._ascii_regex``), when one holds ``\\Q`` or ``\\E``
    (a quote runs to the end of a pattern, past the group around it), or when RE2 cannot compile the union."""
    if len(allow) < 2 or any(not p.pattern.isascii() or "\\Q" in p.pattern or "\\E" in p.pattern for p in allow):
        return allow
    try:
        return (compile_pattern("|".join(f"(?:{p.pattern})" for p in allow)),)
    except InputError:
        return allow


def _prepare(options: Mapping[str, Any]) -> PiiRule:
    kinds = tuple(options.get("kinds", detector.KINDS))
    allow = tuple(compile_pattern(p, subpath=("allow", i)) for i, p in enumerate(options.get("allow", ())))
    return PiiRule(kinds, allow, options.get("region", "US"), detector.prefilter_pattern(kinds),
                   bool(options.get("strict", False)), _as_one(allow), frozenset(kinds))


@check("pii", prepare=_prepare, prefilter=lambda r: r.prefilter, options={"properties": {
    "kinds": {"type": "array", "uniqueItems": True, "minItems": 1, "items": {"enum": list(detector.KINDS)}},
    "allow": {"type": "array", "items": {"type": "string", "minLength": 1},
              "description": "RE2 patterns; a finding whose whole value matches one is allowed."},
    "region": {"type": "string", "pattern": "^[A-Z]{2}$", "default": "US",
               "description": "Default region for phone numbers written without a country code."},
    "strict": {"type": "boolean", "default": False,
               "description": "Phone numbers only when libphonenumber finds them valid; by default any number "
                              "written in a phone format is reported, assigned area code or not."}}})
def pii(rule: PiiRule, record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]:
    """No personal data of the given kinds (email, phone, us_ssn, credit_card, iban, ip_address, secret)."""
    spans = detector.find_spans(record.output, rule.kinds if rule.wanted is None else rule.wanted, rule.region,
                                rule.allow if rule.allowed is None else rule.allowed, rule.strict)
    if not spans:
        return []
    return [Finding(k, _MESSAGES[k], s, e, mask_span(k, v, n)) for s, e, k, v, n in spans[:MAX_FINDINGS]]
