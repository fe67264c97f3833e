"""Reading outputs: the fast shape check agrees with ``output.schema.json``, its errors show no personal data,
strict JSON only (no key twice, no NaN), and one record is bounded in size."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import InputError, InputErrors
from harness.io.schema import validator
from harness.outputs import load_outputs, records_from_dicts, shape_problem
from harness.outputs.jsonl import MAX_RECORD_BYTES

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


# --- strict JSON: a key twice, NaN and the infinities are refused ------------------------------

def _load_line(tmp_path, line: str | bytes):
    path = tmp_path / "o.jsonl"
    path.write_bytes(line if isinstance(line, bytes) else line.encode("utf-8"))
    return load_outputs(path)


@pytest.mark.parametrize(("line", "key"), [
    pytest.param('{"case_id": "a", "output": "ok", "output": "leak"}', "output", id="output-twice"),
    pytest.param('{"case_id":"a","output":"ok","output":"leak"}', "output", id="compact"),
    pytest.param('{"case_id" : "a", "output" : "ok", "output"\t\r:"leak"}', "output", id="space-before-colon"),
    pytest.param('{"case_id": "b", "case_id": "a", "output": "x"}', "case_id", id="case-id-twice"),
    pytest.param('{"case_id": "a", "output": "x", "slice": {"group": "f", "group": "m"}}', "group", id="nested"),
    pytest.param('{"case_id": "a", "output": "x", "m": [{"k": 1, "k": 2}]}', "k", id="in-a-list"),
    pytest.param('{"case_id": "a", "output": "say \\"x\\": 1", "output": "leak"}', "output",
                 id="quote-colon-inside-a-string"),
    pytest.param('{"case_id": "a", "output": "10:00", "output": "leak", "timestamp": "10:00:00"}', "output",
                 id="colons-in-values"),
    pytest.param('{"case_id": "a", "output": "x", "\\u006fk": 1, "ok": 2}', "ok", id="escaped-key"),
])
def test_a_key_twice_in_one_object_is_refused(tmp_path, line, key):
    """orjson keeps the last value silently: the gate would judge "leak" while a reader keeping the first sees "ok"."""
    with pytest.raises(InputErrors) as info:
        _load_line(tmp_path, line + "\n")
    [error] = info.value.errors
    assert str(error) == f"{tmp_path / 'o.jsonl'}:1: duplicate key {key!r} in a JSON object; expected each key once"


@pytest.mark.parametrize("line", [
    pytest.param('{"case_id": "a", "output": "{\\"order\\": 1, \\"order\\": 2}"}', id="json-text-in-output"),
    pytest.param('{"case_id": "a", "output": "a\\": b", "note": "\\": \\":"}', id="quote-colons-in-strings"),
    pytest.param('{"case_id": "a", "output": "x", "slice": {"output": "y"}, "m": {"output": "z"}}',
                 id="same-key-in-different-objects"),
    pytest.param('{ "case_id" : "a" , "output" : "10:00 : ok" }', id="spaces-everywhere"),
])
def test_keys_that_only_look_repeated_are_read(tmp_path, line):
    [record] = _load_line(tmp_path, line + "\n").records
    assert record.output == json.loads(line)["output"]


KEYS = st.sampled_from(["a", "b", "output", "x:y", 'q"', "\\"])
SPACES = st.sampled_from(["", " ", "\t", " \r ", "  "])  # whitespace JSON allows within one line
JSON_OBJECTS = st.deferred(lambda: st.lists(st.tuples(KEYS, st.one_of(
    st.integers(), st.text(alphabet='ab:"\\ {}', max_size=6), JSON_OBJECTS)), max_size=4))


def _written(pairs, space: str) -> str:
    """An object as text with its pairs as given (keys may repeat), ``space`` around every colon."""
    items = [f"{json.dumps(k)}{space}:{space}{_written(v, space) if isinstance(v, list) else json.dumps(v)}"
             for k, v in pairs]
    return "{" + ", ".join(items) + "}"


def _repeats(pairs) -> bool:
    keys = [k for k, _ in pairs]
    return len(set(keys)) != len(keys) or any(_repeats(v) for _, v in pairs if isinstance(v, list))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=JSON_OBJECTS, space=SPACES)
def test_a_line_is_refused_exactly_when_an_object_repeats_a_key(tmp_path_factory, pairs, space):
    line = _written([("case_id", "c"), ("output", "o"), ("extra", pairs)], space)
    path = tmp_path_factory.mktemp("dup") / "o.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    if _repeats(pairs):
        with pytest.raises(InputErrors, match="duplicate key"):
            load_outputs(path)
    else:
        assert load_outputs(path).records[0].fields["extra"] == json.loads(line)["extra"]


def test_a_key_twice_a_thousand_levels_deep_is_refused_and_deep_nesting_alone_is_read(tmp_path):
    deep = '{"case_id": "a", "output": "x", "d": ' + '{"k": ' * 1000 + "1" + "}" * 1000 + "}\n"
    assert len(_load_line(tmp_path, deep)) == 1
    twice = '{"case_id": "a", "output": "x", "d": ' + '{"k": 1, "k": ' * 1000 + "1" + "}" * 1000 + "}\n"
    with pytest.raises(InputErrors, match=r"o\.jsonl:1: nested too deeply to check that no key is held twice"):
        _load_line(tmp_path, twice)


@pytest.mark.parametrize(("literal", "message"), [
    pytest.param("NaN", "NaN is not a JSON number; expected a finite number", id="nan"),
    pytest.param("Infinity", "Infinity is not a JSON number; expected a finite number", id="infinity"),
    pytest.param("-Infinity", "-Infinity is not a JSON number; expected a finite number", id="minus-infinity"),
    pytest.param("1e999", "'1e999' is too large for a number; expected a finite number", id="overflowing-exponent"),
    pytest.param("-1.8e308", "'-1.8e308' is too large for a number; expected a finite number", id="just-too-large"),
])
def test_non_finite_numbers_are_refused_when_read(tmp_path, literal, message):
    with pytest.raises(InputErrors) as info:
        _load_line(tmp_path, f'{{"case_id": "a", "output": "x", "score": {literal}}}\n')
    assert str(info.value) == f"{tmp_path / 'o.jsonl'}:1: {message}"


@pytest.mark.parametrize(("record", "where"), [
    pytest.param({"case_id": "a", "output": "x", "latency_ms": float("nan")}, "$.latency_ms", id="latency-nan"),
    pytest.param({"case_id": "a", "output": "x", "latency_ms": float("inf")}, "$.latency_ms", id="latency-inf"),
    pytest.param({"case_id": "a", "output": "x", "m": {"s": [1, float("-inf")]}}, "$.m.s[1]", id="nested"),
])
def test_records_built_in_memory_hold_finite_numbers_only(record, where):
    with pytest.raises(InputError) as info:
        records_from_dicts([record])
    assert str(info.value).startswith(f"<memory>:1: {where}: expected a finite number")


# --- one record is at most MAX_RECORD_BYTES long, and an overlong one is never read whole ------------

@pytest.fixture
def gigabyte_line(workdir):
    """A record, then a line of 1 GiB of NUL bytes without a newline (a sparse file: no disk space used)."""
    huge = workdir / "huge.jsonl"
    with huge.open("wb") as handle:
        handle.write(b'{"case_id": "a", "output": "x"}\n')
        handle.truncate(1 << 30)
    return huge


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))


@pytest.mark.parametrize(("source", "line"), [pytest.param("/dev/zero", 1, id="dev-zero"),
                                              pytest.param("gigabyte_line", 2, id="sparse-gigabyte-line")])
def test_an_endless_or_huge_line_fails_with_exit_4_without_being_held_in_memory(request, workdir, source, line):
    """The gate runs with 768 MiB of address space: reading the line whole would fail (or never end)."""
    path = str(request.getfixturevalue(source)) if source == "gigabyte_line" else source
    done = subprocess.run([sys.executable, "-m", "harness", "gate", "--outputs", path], capture_output=True,
                          text=True, preexec_fn=_limit_memory, check=False)
    assert done.returncode == 4, done.stderr
    if source == "/dev/zero":  # a device is refused before it is read at all
        assert done.stderr.startswith("/dev/zero: not a regular file (a FIFO, a device or a socket); expected an"
                                      " outputs file\n")
        return
    assert done.stderr.startswith(f"{path}:{line}: record longer than {MAX_RECORD_BYTES} bytes; expected one JSON"
                                  f" object per line of at most {MAX_RECORD_BYTES} bytes\n")


@pytest.mark.parametrize(("length", "ending", "accepted"), [
    pytest.param(64, b"\n", True, id="at-the-limit"),
    pytest.param(64, b"", True, id="at-the-limit-last-line"),
    pytest.param(64, b"\r\n", False, id="carriage-return-counts"),
    pytest.param(65, b"\n", False, id="one-byte-over"),
    pytest.param(65, b"", False, id="one-byte-over-last-line"),
])
def test_the_record_limit_counts_the_bytes_before_the_newline(tmp_path, length, ending, accepted):
    head = b'{"case_id": "a", "output": "'
    line = head + b"x" * (length - len(head) - 2) + b'"}'
    assert len(line) == length
    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"case_id": "b", "output": "y"}\n' + line + ending)
    if accepted:
        assert len(load_outputs(path, max_record_bytes=64).records) == 2
    else:
        with pytest.raises(InputErrors, match=r"o\.jsonl:2: record longer than 64 bytes"):
            load_outputs(path, max_record_bytes=64)
