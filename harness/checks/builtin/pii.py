"""The ``pii`` check: personal data in an output, masked in every finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...model import EvalCase, Finding, OutputRecord
from ...text import pii as detector
from ...text.mask import mask_match
from ...text.regex import Pattern, compile_pattern
from ..base import check

MAX_FINDINGS = 20


@dataclass(frozen=True, slots=True)
class PiiRule:
    kinds: tuple[str, ...]
    allow: tuple[Pattern, ...]
    region: str
    prefilter: str
    strict: bool = False


def _prepare(options: Mapping[str, Any]) -> PiiRule:
    kinds = tuple(options.get("kinds", detector.KINDS))
    allow = tuple(compile_pattern(p, subpath=("allow", i)) for i, p in enumerate(options.get("allow", ())))
    return PiiRule(kinds, allow, options.get("region", "US"), detector.prefilter_pattern(kinds),
                   bool(options.get("strict", False)))


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
    matches = detector.find_pii(record.output, rule.kinds, region=rule.region, allow=rule.allow, strict=rule.strict)
    return [
        Finding(m.kind, f"{m.kind.replace('_', ' ')} found", m.start, m.end, mask_match(m))
        for m in matches[:MAX_FINDINGS]
    ]
