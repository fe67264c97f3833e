"""Reading and writing files: located YAML, JSON Schemas composed from the checks, atomic writes."""
