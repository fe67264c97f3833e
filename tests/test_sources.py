"""Inputs people have: JSONL, gzip, zstd and Parquet, a directory or a glob of them, ``--map``; each fault named."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import InputError, InputErrors
from harness.outputs import FieldMap, Partition, PartitionReader, combined_sha256, load_outputs, partitions
from harness.outputs.jsonl import MAX_RECORD_BYTES
from harness.outputs.sources import load_outputs_files

RECORDS = [{"case_id": f"c{i}", "output": f"réponse {i}: ok", "model": "m", "latency_ms": i * 1.5,
            "slice": {"locale": "fr-FR"}, "tags": ["t"], "extra": {"n": [i, None]}} for i in range(50)]
TEXT = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in RECORDS).encode()
FORM = "FIELD=PATH[,FIELD=PATH...], e.g. --map output=response.text,case_id=request_id"


def _seen(outputs) -> list[tuple]:
    return [(r.case_id, r.output, r.line, dict(r.fields)) for r in outputs]


def _read(partition: Partition, fields: FieldMap | None = None, **options) -> list[tuple]:
    return [(r.case_id, r.output, r.line, dict(r.fields)) for batch in PartitionReader(partition, fields, **options)
            for r in batch]


def _message(path, **options) -> str:
    with pytest.raises(InputError) as info:
        load_outputs(path, **options)
    return str(info.value)


# --- every format reads the same records --------------------------------------------------------

def _gzip(path):  # two members, the second starting mid-file
    path.write_bytes(gzip.compress(TEXT[:1000]) + gzip.compress(TEXT[1000:]))


def _zstd(path):  # two frames
    compressor = zstandard.ZstdCompressor()
    path.write_bytes(compressor.compress(TEXT[:777]) + compressor.compress(TEXT[777:]))


def _parquet(path):
    pq.write_table(pa.Table.from_pylist(RECORDS), path, row_group_size=16)


@pytest.mark.parametrize(("name", "write", "kind"), [
    pytest.param("out.jsonl.gz", _gzip, "gzip", id="gzip-two-members"),
    pytest.param("out.jsonl.zst", _zstd, "zstd", id="zstd-two-frames"),
    pytest.param("out.parquet", _parquet, "parquet", id="parquet-row-groups"),
    pytest.param("no-suffix", _gzip, "gzip", id="format-by-magic-bytes"),
])
def test_every_format_reads_the_same_records_as_the_jsonl(tmp_path, name, write, kind):
    (tmp_path / "out.jsonl").write_bytes(TEXT)
    write(tmp_path / name)
    [part] = partitions(tmp_path / name)
    assert part.format == kind
    outputs = load_outputs(tmp_path / name)
    assert _seen(outputs) == _seen(load_outputs(tmp_path / "out.jsonl"))
    assert outputs.sha256 == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()  # the bytes on disk


def test_a_reader_reports_lines_bytes_and_the_digest_as_it_goes(tmp_path):
    path = tmp_path / "out.jsonl.gz"
    _gzip(path)
    [part] = partitions(path)
    reader = PartitionReader(part, batch_records=8)
    batches = [len(batch) for batch in reader]
    assert sum(batches) == 50 and len(batches) > 1
    assert (reader.lines, reader.consumed) == (50, path.stat().st_size)
    assert reader.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert pickle.loads(pickle.dumps(part)) == part  # a worker elsewhere opens it itself


def test_parquet_values_become_what_json_would_hold(tmp_path):
    path = tmp_path / "p.parquet"
    utc = dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC)
    pq.write_table(pa.table({
        "case_id": ["a", "b"], "output": ["x", "y"],
        "timestamp": pa.array([utc, None], pa.timestamp("us", tz="UTC")),
        "local": pa.array([dt.datetime(2026, 1, 2, 3, 4), None], pa.timestamp("ms")),
        "day": pa.array([dt.date(2026, 1, 2), None]),
        "cost": pa.array([decimal.Decimal("1.25"), None], pa.decimal128(5, 2)),
        "slice": [{"group": "f", "at": dt.datetime(2026, 1, 2)}, None],
        "tags": [["t1", "t2"], None],
    }), path)
    first, second = load_outputs(path)
    assert first.fields == {"case_id": "a", "timestamp": "2026-01-02T03:04:05.600000Z",
                            "local": "2026-01-02T03:04:00", "day": "2026-01-02", "cost": 1.25,
                            "slice": {"group": "f", "at": "2026-01-02T00:00:00"}, "tags": ["t1", "t2"]}
    assert (first.line, second.line) == (1, 2)
    assert second.fields == {"case_id": "b"}  # null in an optional field: the field is absent


@pytest.mark.parametrize(("columns", "message"), [
    pytest.param({"case_id": ["a", None], "output": ["x", "y"]}, "p.parquet:2: $.case_id: expected a non-empty"
                 " string, got None", id="null-case-id"),
    pytest.param({"case_id": ["a", "b"], "output": ["x", None]}, "p.parquet:2: $.output: expected a string, got"
                 " null", id="null-output"),
    pytest.param({"case_id": ["a", "b"], "output": ["x", "y"], "latency_ms": [1.0, float("nan")]},
                 "p.parquet:2: $.latency_ms: expected a finite number >= 0, got nan", id="nan"),
    pytest.param({"case_id": ["a", "b"], "output": ["x", "y"], "m": [{"s": 1.0}, {"s": float("inf")}]},
                 "p.parquet:2: $.m.s: expected a finite number, got inf", id="nested-inf"),
])
def test_a_parquet_row_is_as_strict_as_a_json_line(tmp_path, columns, message):
    pq.write_table(pa.table(columns), tmp_path / "p.parquet")
    assert _message(tmp_path / "p.parquet") == f"{tmp_path / 'p.parquet'}:{message.removeprefix('p.parquet:')}"


# --- a directory, a glob ----------------------------------------------------------------------------

@pytest.fixture
def day_logs(tmp_path, monkeypatch):
    """logs/ with a day per file in three formats, a nested folder, and what a writer leaves beside them."""
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    (logs / "2026-01-02").mkdir(parents=True)
    (logs / "2026-01-01.jsonl").write_bytes(TEXT[:TEXT.index(b"\n", 300) + 1])
    first_line = TEXT[:TEXT.index(b"\n") + 1]
    (logs / "2026-01-02" / "part-0.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(first_line))
    (logs / "2026-01-03.jsonl.gz").write_bytes(gzip.compress(TEXT))
    (logs / "_SUCCESS").write_text("")
    (logs / ".part-0.crc").write_text("not json")
    (logs / "_temporary").mkdir()
    (logs / "_temporary" / "half.jsonl").write_text("{")
    (logs / "README.txt").write_text("not an outputs file")
    return logs


def test_a_directory_is_read_recursively_in_path_order(day_logs):
    parts = partitions("logs")
    assert [(p.display, p.format, p.index) for p in parts] == [
        ("logs/2026-01-01.jsonl", "jsonl", 0), ("logs/2026-01-02/part-0.jsonl.zst", "zstd", 1),
        ("logs/2026-01-03.jsonl.gz", "gzip", 2)]
    outputs, files = load_outputs_files("logs")
    assert [(f.display, f.first, f.records) for f in files] == [
        ("logs/2026-01-01.jsonl", 0, 2), ("logs/2026-01-02/part-0.jsonl.zst", 2, 1),
        ("logs/2026-01-03.jsonl.gz", 3, 50)]
    assert [r.line for r in outputs.records[:6]] == [1, 2, 1, 1, 2, 3]  # each file's own line numbers
    assert outputs.path == "logs"


def test_the_digest_of_several_files_is_what_sha256sum_says(day_logs):
    outputs = load_outputs("logs")
    names = [p.display for p in partitions("logs")]
    assert outputs.sha256 == combined_sha256([(n, hashlib.sha256(Path(n).read_bytes()).hexdigest()) for n in names])
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    listed = subprocess.run(["sha256sum", *names], capture_output=True, check=True).stdout
    assert outputs.sha256 == hashlib.sha256(listed).hexdigest()


def test_a_glob_is_read_in_sorted_order(day_logs):
    assert [p.display for p in partitions("logs/**/*.jsonl*")] == [
        "logs/2026-01-01.jsonl", "logs/2026-01-02/part-0.jsonl.zst", "logs/2026-01-03.jsonl.gz"]
    assert [p.display for p in partitions("logs/2026-01-0[13]*")] == [
        "logs/2026-01-01.jsonl", "logs/2026-01-03.jsonl.gz"]


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param("missing.jsonl", "missing.jsonl: file not found", id="not-found"),
    pytest.param("logs/*.parquet", "logs/*.parquet: no outputs file matches this pattern", id="glob-no-match"),
    pytest.param("logs/_temporary", "logs/_temporary: no outputs file in this directory; expected names ending in"
                 " .jsonl, .ndjson, .json, .gz, .zst, .zstd, .parquet or .pq", id="directory-without-outputs"),
    pytest.param("/dev/null", "/dev/null: not a regular file (a FIFO, a device or a socket); expected an outputs"
                 " file", id="device"),
])
def test_an_input_that_is_not_there_is_an_error(day_logs, spec, message):
    (day_logs / "_temporary" / "half.jsonl").unlink()
    with pytest.raises(InputError) as info:
        partitions(spec)
    assert str(info.value) == message


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_blocking(tmp_path):
    """Nothing writes to the pipe: opening it for reading would wait forever (the timeout fails the test)."""
    os.mkfifo(tmp_path / "pipe.jsonl")
    with pytest.raises(InputError) as info:
        partitions(tmp_path)
    assert str(info.value) == (f"{tmp_path / 'pipe.jsonl'}: not a regular file (a FIFO, a device or a socket);"
                               " expected an outputs file")
    part = Partition(str(tmp_path / "pipe.jsonl"), "pipe.jsonl", "jsonl", 0)  # listed as a file, then replaced
    with pytest.raises(InputError, match=r"^pipe\.jsonl: not a regular file"):
        list(PartitionReader(part))


def test_a_file_that_vanishes_after_being_listed_is_named(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(TEXT)
    [part] = partitions(tmp_path / "a.jsonl")
    (tmp_path / "a.jsonl").unlink()
    with pytest.raises(InputError) as info:
        list(PartitionReader(part))
    assert str(info.value) == f"{tmp_path / 'a.jsonl'}: file not found"


# --- --map ------------------------------------------------------------------------------------------

LOG = [{"request_id": "r1", "response": {"text": "hello", "model": "m1"}, "ms": 12},
       {"request_id": "r2", "response": {"text": "bye"}, "ms": 7}]


def test_map_takes_fields_from_nested_paths_and_keeps_the_others(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in LOG))
    fields = FieldMap.parse("output=response.text, case_id=request_id,model=response.model,latency_ms=ms")
    first, second = load_outputs(path, fields=fields)
    assert (first.case_id, first.output, first.latency_ms, first.fields["model"]) == ("r1", "hello", 12, "m1")
    assert "model" not in second.fields  # a mapped optional field the record lacks is absent
    assert second.fields["response"] == {"text": "bye"}


def test_map_names_the_file_line_and_mapping_of_a_record_without_the_path(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(LOG[0]) + "\n" + json.dumps({"request_id": "r3", "response": "oops"}) + "\n"
                    + json.dumps({"request_id": "r4", "response": {"text": 42}}) + "\n")
    message = _message(path, fields=FieldMap.parse("output=response.text,case_id=request_id"))
    assert message == (f"{path}:2: $.response.text: not found (mapped to output by --map)\n"
                       f"{path}:3: $.response.text: expected a string, got number (mapped to output by --map)")


def test_map_on_parquet_needs_its_columns_before_any_row_is_read(tmp_path):
    path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pylist(LOG), path)
    records = load_outputs(path, fields=FieldMap.parse("output=response.text,case_id=request_id"))
    assert [(r.case_id, r.output) for r in records] == [("r1", "hello"), ("r2", "bye")]
    assert _message(path) == (f"{path}: no column 'output'; if another column holds the records' output, map it:"
                              " --map output=COLUMN (columns: 'request_id', 'response', 'ms')")
    assert _message(path, fields=FieldMap.parse("output=reply.text,case_id=request_id")) == (
        f"{path}: no column 'reply' (mapped to output by --map output=reply.text); columns: 'request_id',"
        " 'response', 'ms'")


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param("", f"--map: nothing to map; expected {FORM}", id="empty"),
    pytest.param("output=a,,case_id=b", f"--map 'output=a,,case_id=b': an empty item (two commas in a row, or one"
                 f" at an end); expected {FORM}", id="empty-item"),
    pytest.param("output", f"--map: 'output' has no '='; expected {FORM}", id="no-equals"),
    pytest.param("output=", f"--map: 'output=' has no path after '='; expected {FORM}", id="no-path"),
    pytest.param("output=a..b", f"--map: 'output=a..b': the path 'a..b' has an empty part; expected names joined by"
                 f" single dots (form: {FORM})", id="empty-part"),
    pytest.param("output=a,output=b", f"--map: output is mapped twice; expected {FORM}", id="twice"),
    pytest.param("answer=a", f"--map: 'answer=a' maps to 'answer', which is not a record field; expected one of"
                 " output, case_id, latency_ms, model, model_version, input, timestamp, slice, tags"
                 f" (form: {FORM})", id="unknown-field"),
])
def test_a_map_that_cannot_be_read_says_what_is_expected(spec, message):
    with pytest.raises(InputError) as info:
        FieldMap.parse(spec)
    assert str(info.value) == message


# --- faults: never a silent partial read ---------------------------------------------------------------

def test_a_corrupt_gzip_member_names_the_file_and_the_line_reached(tmp_path):
    second = bytearray(gzip.compress(TEXT[TEXT.index(b"\n", 300) + 1:]))
    second[10] ^= 0xFF  # the first byte of its deflate data
    path = tmp_path / "out.jsonl.gz"
    path.write_bytes(gzip.compress(TEXT[:TEXT.index(b"\n", 300) + 1]) + bytes(second))
    message = _message(path)
    assert message.startswith(f"{path}: corrupt gzip data after line 2: Error -3 while decompressing data: ")


def test_a_gzip_crc_mismatch_is_refused(tmp_path):
    data = bytearray(gzip.compress(TEXT))
    data[-8:-4] = (zlib.crc32(TEXT) ^ 1).to_bytes(4, "little")
    path = tmp_path / "out.jsonl.gz"
    path.write_bytes(bytes(data))
    assert _message(path) == (f"{path}: corrupt gzip data after line 50: CRC check failed"
                              f" {hex(zlib.crc32(TEXT) ^ 1)} != {hex(zlib.crc32(TEXT))}")


@pytest.mark.parametrize(("name", "write", "message"), [
    pytest.param("out.jsonl.gz", lambda: gzip.compress(TEXT)[:-20], "the gzip stream is truncated (it ends before"
                 " its end marker) after line 49; expected a complete file", id="gzip"),
    pytest.param("out.jsonl.zst", lambda: zstandard.ZstdCompressor().compress(TEXT)[:-20], "the zstd stream is"
                 " truncated (its last frame is incomplete) after line 0; expected a complete file", id="zstd"),
])
def test_a_truncated_stream_is_refused(tmp_path, name, write, message):
    (tmp_path / name).write_bytes(write())
    assert _message(tmp_path / name) == f"{tmp_path / name}: {message}"


def test_corrupt_zstd_and_parquet_files_are_refused(tmp_path):
    (tmp_path / "out.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(TEXT)[:8] + b"\xff" * 64)
    assert _message(tmp_path / "out.jsonl.zst").startswith(f"{tmp_path / 'out.jsonl.zst'}: corrupt zstd data: ")
    _parquet(tmp_path / "out.parquet")
    data = (tmp_path / "out.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[:4] + data[-200:])
    assert _message(tmp_path / "cut.parquet").startswith(f"{tmp_path / 'cut.parquet'}: not a readable Parquet file: ")


def test_a_gzipped_endless_line_fails_after_reading_about_16_mib(tmp_path):
    path = tmp_path / "zeros.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(b'{"case_id": "a", "output": "x"}\n')
        for _ in range(64):  # 64 MiB of NUL bytes, no newline
            handle.write(bytes(1 << 20))
    [part] = partitions(path)
    reader = PartitionReader(part)
    with pytest.raises(InputErrors) as info:
        list(reader)
    assert str(info.value) == (f"{path}:2: record longer than {MAX_RECORD_BYTES} bytes; expected one JSON object"
                               f" per line of at most {MAX_RECORD_BYTES} bytes")
    assert reader.consumed < path.stat().st_size  # it stopped before the end of the file


@pytest.mark.parametrize("before", [1, 40], ids=["small-batch", "large-batch"])
def test_a_key_twice_is_refused_in_a_compressed_file_even_behind_an_escaped_colon(tmp_path, before):
    """The kept "ok\\u003a" holds the colon the dropped key had: counting colons alone would miss the key."""
    line = b'{"case_id": "a", "output": "leak", "output": "ok\\u003a"}\n'
    (tmp_path / "out.jsonl.gz").write_bytes(gzip.compress(TEXT * before + line))
    assert _message(tmp_path / "out.jsonl.gz") == (f"{tmp_path / 'out.jsonl.gz'}:{50 * before + 1}: duplicate key"
                                                   " 'output' in a JSON object; expected each key once")
    (tmp_path / "ok.jsonl").write_bytes(b'{"case_id": "a", "output": "\\\\u003a"}\n')
    assert load_outputs(tmp_path / "ok.jsonl").records[0].output == "\\u003a"


# --- byte ranges of a large plain file -------------------------------------------------------------------

LINES = st.lists(st.one_of(
    st.fixed_dictionaries({"case_id": st.text("ab€😀", min_size=1, max_size=4),
                           "output": st.text("x\n:é😀", max_size=9)}),
    st.just(None)), min_size=1, max_size=12)  # None: a blank line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES, cuts=st.lists(st.integers(0, 400), max_size=6), final_newline=st.booleans(),
       data=st.data())
def test_byte_ranges_read_exactly_the_records_of_the_whole_file(tmp_path, lines, cuts, final_newline, data):
    text = "\n".join("" if obj is None else json.dumps(obj, ensure_ascii=False) for obj in lines).encode()
    text += b"\n" if final_newline else b""
    newlines = [i for i, byte in enumerate(text) if byte == 10]
    if newlines:  # a split exactly at a newline, or just after one
        cuts.append(data.draw(st.sampled_from(newlines)) + data.draw(st.integers(0, 1)))
    path = tmp_path / "out.jsonl"
    path.write_bytes(text)
    whole = _read(partitions(path)[0])
    bounds = sorted({c for c in cuts if 0 < c < len(text)})
    ranges = [Partition(str(path), "out.jsonl", "jsonl", len(text), i, start, end)
              for i, (start, end) in enumerate(zip([0, *bounds], [*bounds, None], strict=True))]
    assert [r for part in ranges for r in _read(part)] == whole
    relative = [[r[2] for r in _read(part, absolute_lines=False)] for part in ranges]
    readers = [PartitionReader(part, absolute_lines=False) for part in ranges]
    first, shifted = 1, []
    for reader, numbers in zip(readers, relative, strict=True):
        list(reader)
        shifted += [n + first - 1 for n in numbers]
        first += reader.lines  # the first line of the next range
    assert shifted == [r[2] for r in whole]


def test_split_partitions_cover_a_file_and_errors_name_absolute_lines(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_bytes(TEXT + b'{"case_id": "z", "output": NaN}\n' + TEXT)
    parts = partitions(path, split_bytes=1000)
    assert [p.index for p in parts] == list(range(len(parts))) and len(parts) > 5
    size = path.stat().st_size  # ranges of equal size (to a byte), at most split_bytes
    assert (parts[0].start, parts[-1].end, parts[1].start) == (0, None, size // len(parts))
    assert len(parts) == -(-size // 1000) and parts[1].start <= 1000
    errors = []
    for part in parts:
        for absolute in (True, False):
            try:
                _read(part, absolute_lines=absolute)
            except InputErrors as problems:
                errors += [str(e) for e in problems.errors]
    assert errors == [f"{path}:51: NaN is not a JSON number; expected a finite number"] * 2
    assert partitions(path, split_bytes=1 << 20) == [Partition(str(path), str(path), "jsonl", path.stat().st_size)]


def test_reading_stops_after_twenty_broken_lines(tmp_path):
    path = tmp_path / "out.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(TEXT + b"{\n" * 30 + TEXT))
    with pytest.raises(InputErrors) as info:
        load_outputs(path)
    messages = [str(e) for e in info.value.errors]
    assert messages[0] == f"{path}: stopped after 20 broken lines"
    assert messages[1:] == [f"{path}:{n}: invalid JSON: unexpected end of data: line 1 column 2 (char 1)"
                            for n in range(51, 71)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.sampled_from([b'{"case_id": "a", "output": "x"}', b"", b"  ", b'{"case_id": "bb", "output": "'
                                       + b"y" * 40 + b'"}', b"not json"]), min_size=1, max_size=60),
       final_newline=st.booleans(), read=st.integers(1, 64), batch=st.integers(1, 9),
       batch_bytes=st.none() | st.integers(1, 300), ranges=st.integers(1, 6))
def test_a_raw_block_holds_its_lines_as_read(tmp_path, monkeypatch, lines, final_newline, read, batch, batch_bytes,
                                             ranges):
    """A block of JSON lines carries the bytes it was read from (its lines joined, perhaps a newline after the
    last): the columnar lane parses that text, so it must be exactly the lines the block names, for any read
    size, batch bound and byte range (a raw reader does not parse: no line is an error to it)."""
    from harness.outputs import sources

    monkeypatch.setattr(sources, "_BLOCK", read)
    path = tmp_path / "o.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline else b""))
    data = path.read_bytes()
    expected = data.split(b"\n")
    if not expected[-1]:  # the file ends with a newline (or is empty)
        expected.pop()
    seen: list[bytes] = []
    for part in partitions(path, split_bytes=max(1, -(-len(data) // ranges))):
        for block in PartitionReader(part, raw=True, batch_records=batch, batch_bytes=batch_bytes):
            text = block.text  # as read, not joined again
            assert text is not None and text in (b"\n".join(block.lines), b"\n".join(block.lines) + b"\n")
            if batch_bytes is not None:  # a block ends once its bytes pass the bound (by at most a read and a line)
                assert len(text) <= batch_bytes + read + max(map(len, lines)) + 1
            assert block.first == len(seen) + 1  # its first line's number in the whole file
            seen += block.lines
    assert seen == expected
