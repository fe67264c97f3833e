"""Reading outputs: the fast shape check agrees with ``output.schema.json``, and its errors show no personal data."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import InputErrors
from harness.io.schema import validator
from harness.outputs import load_outputs, shape_problem

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                           max_size=3), max_leaves=6)
FIELDS = ("case_id", "output", "model", "model_version", "input", "latency_ms", "slice", "timestamp", "tags", "extra")
RECORDS = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS)),
    # mostly-valid records with one field perturbed: where the two checkers are most likely to disagree
    st.fixed_dictionaries({"case_id": st.text(min_size=1, max_size=5), "output": st.text(max_size=5)},
                          optional={key: VALUES for key in FIELDS[2:]}),
    VALUES,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECORDS)
def test_the_fast_shape_check_agrees_with_the_schema(record):
    schema_says = validator("output").is_valid(record)
    assert (shape_problem(record) is None) is schema_says, (record, shape_problem(record))


@pytest.mark.parametrize("record", [
    pytest.param({"case_id": "a", "output": "x", "latency_ms": None}, id="latency-null"),
    pytest.param({"case_id": "a", "output": "x", "tags": None}, id="tags-null"),
    pytest.param({"case_id": "a", "output": "x", "slice": None}, id="slice-null"),
    pytest.param({"case_id": "a", "output": "x", "model": None}, id="model-null"),
    pytest.param({"case_id": "a", "output": "x", "latency_ms": True}, id="latency-boolean"),
])
def test_null_is_not_a_value_of_a_typed_field(record):
    assert shape_problem(record) is not None
    assert not validator("output").is_valid(record)


@pytest.mark.parametrize(("line", "raw"), [
    pytest.param({"case_id": "a", "output": "x", "latency_ms": "4242 4242 4242 4242"}, "4242 4242 4242 4242",
                 id="card-as-latency"),
    pytest.param({"case_id": "a", "output": "x", "latency_ms": "jane.doe@example.org"}, "jane.doe@example.org",
                 id="email-as-latency"),
    pytest.param({"case_id": 4242424242424242, "output": "x"}, "4242424242424242", id="card-number-as-case-id"),
])
def test_output_validation_errors_do_not_echo_personal_data(tmp_path, line, raw):
    path = tmp_path / "o.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(InputErrors) as info:
        load_outputs(path)
    message = str(info.value)
    assert "o.jsonl:1: $." in message
    assert raw not in message
    assert "****" in message or "***@" in message
