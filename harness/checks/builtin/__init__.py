"""The checks that ship with the harness: 12 per output, 4 over the whole run (DESIGN §3)."""

from __future__ import annotations

from .pii import pii
from .run import baseline, disparity, quantile, rate
from .structured import field_check, json_check, latency
from .text import blocklist, contains, equals, length, not_contains, refusal, regex, similar

BUILTIN_CHECKS = (regex, contains, not_contains, blocklist, pii, json_check, length, latency, refusal, equals,
                  similar, field_check, rate, quantile, disparity, baseline)
