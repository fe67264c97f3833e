"""Text the harness must handle with care: RE2 patterns, normalisation, personal data, terminal safety.

The bottom layer: nothing here knows about policies or reports. ``regex`` compiles
linear-time RE2 patterns; ``normalize`` sees through disguised text and makes untrusted
text safe to print; ``pii`` finds and masks personal data.
"""
