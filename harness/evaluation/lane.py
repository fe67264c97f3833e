"""The columnar lane of a streamed scan: JSON lines judged from columns, records built only where a check reads one.

A block of JSON lines is parsed by pyarrow's JSON reader (C++) into columns. The rules that run on
every output and have a columnar form (``Check.columns``: ``field``, ``latency``) judge the block's
columns in one call each; the prefilter set is matched once per output; a record is built (from its
line, by the same parser as every other record) only for an output a prefilter pattern or a
record-reading check needs, and the run-level columns (plans, lines, case keys, numbers, groups,
model counts) are taken from the columns. The results are those of
:meth:`~harness.evaluation.scanner.Scanner.scan`, in the same order: the lane is a faster way to the
same partial, and it steps aside whenever it cannot be sure of that.

It steps aside for a whole block or piece (parsed record by record, as without the lane) when
pyarrow is not installed, the input is smaller than :data:`MIN_BYTES`, a field map renames fields, a
run-level check keeps whole records, the reader disagrees with the strict parser on it (a row count
that differs from the line count, bytes that are not UTF-8, which pyarrow keeps and its validation
finds, nesting deeper than :data:`MAX_DEPTH`, more than :data:`RETRIES` lines it stops at), or a
column the judging reads has another type than the records' values would (a timestamp pyarrow
recognised, a float that may have been an integer: the rule is then judged record by record). It
steps aside for one line (the strict parser reads it, and names its error if it has one) when the
line holds ``null`` anywhere (pyarrow reads a null as an absent field), starts with a byte-order
mark (pyarrow skips it), has more than :data:`LINE_COLONS` colons, or is a line pyarrow stops at: a
number that is not finite (pyarrow reads ``NaN`` and ``Infinity``), an empty case id, a negative
latency, a value of another type than the other lines'; and for a record of a suite's case (its
case's rules judge it, record by record). When the lines it left to the
strict parser hold errors, the block is parsed again as a whole, so the errors named (and where reading stops,
at the error limit) are the record-by-record scan's. A ``columns`` hook's answer is judged from only when it
maps rows of the block to findings; anything else, like an exception, sends the records to ``fn``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import re2

from ..checks.base import MISSING, Unsuitable
from ..model import OutputRecord
from ..model.output import case_key
from .partial import ROW_BYTES, Partial, key_hashes, row_hashes, utf8_hashes
from .scanner import COUNTED_FIELDS, PREFILTER_MAX_CHARS, ScopePlan

if TYPE_CHECKING:
    from ..outputs.sources import LineBlock
    from .scanner import Scanner, Unit

#: the smallest piece of an input (bytes on disk) the lane reads
MIN_BYTES = 4 << 20
#: whether streamed scans use the lane (a switch for comparing it with the record-by-record scan)
ENABLED = True
#: blocks judged from columns and blocks handed to the record-by-record scan, in this process
STATS: Counter[str] = Counter()
#: the deepest nesting of objects and arrays the lane reads (the strict parser allows more: deeper blocks step aside)
MAX_DEPTH = 64
#: what pyarrow reads as an absent field, anywhere in a line: such a line is parsed alone (pyarrow skips a
#: byte-order mark at a line's start: such a line too; bytes that are not UTF-8, ``NaN`` and ``Infinity`` are
#: found in the columns)
_NULL = b"null"
_NULL_RE = re2.compile(re2.escape(_NULL))
_BOM = b"\xef\xbb\xbf"
_BLANK = frozenset(b" \t\r\n\x0b\x0c")
#: pyarrow's table holds a slot per row for every field any row has, so a block is read in pieces of at most
#: PIECE_LINES lines and PIECE_COLONS colons (every key ends with one), and a line with more than LINE_COLONS
#: colons is parsed alone: a block of lines each with keys of its own costs at most PIECE_LINES x PIECE_COLONS
#: slots. When a block's first piece has at most SHAPE_FIELDS fields, the rest of the block is read at once with
#: that piece's fields and types (a line with any other is an error, and the block is read in pieces).
PIECE_LINES = 1024
PIECE_COLONS = 16_384
LINE_COLONS = 64
SHAPE_FIELDS = 256
#: how many lines of a block pyarrow may stop at before the whole block is left to the strict parser
RETRIES = 8
_ROW = re.compile(r"in row (\d+)")
#: the fields of a record the strict parser requires to be strings: read as strings (never as timestamps)
_STRINGS = ("case_id", "output", "model", "model_version", "input", "timestamp")


@functools.cache
def _arrow() -> Any:
    """(pyarrow, pyarrow.json, pyarrow.compute), or None when pyarrow is not installed."""
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.json
    except ImportError:
        return None
    return pyarrow, pyarrow.json, pyarrow.compute


def available() -> bool:
    return _arrow() is not None


class _Declined(Exception):
    """The lane cannot judge this block exactly as the record-by-record scan would."""

    def __init__(self, reason: str, row: int | None = None) -> None:
        super().__init__(reason)
        self.row = row


class Columns:
    """A :class:`~harness.checks.base.ColumnView` of a pyarrow table (rows = the block's clean records)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._cache: dict[str, Any] = {}

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def column(self, path: str) -> Any:
        """The array at a dotted path (None: no record has it)."""
        if path in self._cache:
            return self._cache[path]
        pa, _, pc = _arrow()
        head, *rest = path.split(".")
        found: Any = None
        if head in self.table.column_names:
            found = self.table.column(head).combine_chunks()
            for part in rest:
                if not pa.types.is_struct(found.type) or found.type.get_field_index(part) < 0:
                    found = None
                    break
                # a struct's null row has null children: a record without the object has no value at the path
                found = pc.struct_field(found, [found.type.get_field_index(part)])
        self._cache[path] = found
        return found

    def array(self, path: str) -> Any:
        """The pyarrow array at a path (a null: no value there), or None when no record has the path."""
        return self.column(path)

    def values(self, path: str) -> list[Any]:
        pa = _arrow()[0]
        found = self.column(path)
        if found is None or pa.types.is_null(found.type):
            return [MISSING] * len(self)
        kind = found.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_int64(kind)
                or pa.types.is_boolean(kind)):
            raise Unsuitable(f"{path}: {kind}")
        values = found.to_pylist()
        if found.null_count:
            values = [MISSING if value is None else value for value in values]
        return values

    def numbers(self, path: str) -> np.ndarray:
        pa = _arrow()[0]
        found = self.column(path)
        if found is None or pa.types.is_null(found.type):
            return np.full(len(self), np.nan)
        if not (pa.types.is_int64(found.type) or pa.types.is_floating(found.type)):
            raise Unsuitable(f"{path}: {found.type}")
        if pa.types.is_int64(found.type) and found.null_count < len(found):
            bounds = _arrow()[2].min_max(found).as_py()
            if max(-bounds["min"], bounds["max"]) > 2**53:  # beyond what a float holds exactly
                raise Unsuitable(f"{path}: integers beyond 2**53")
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.float64)


def _deeper(kind: Any, limit: int) -> bool:
    """Whether a type nests objects and arrays more than ``limit`` levels deep (without recursion)."""
    pa = _arrow()[0]
    pending = [(kind, 0)]
    while pending:
        kind, level = pending.pop()
        if level > limit:
            return True
        if pa.types.is_struct(kind):
            pending.extend((kind.field(i).type, level + 1) for i in range(kind.num_fields))
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            pending.append((kind.value_type, level + 1))
    return False


def _first_true(mask: Any) -> int | None:
    """The first row where a boolean array is true (nulls count as false), or None."""
    pc = _arrow()[2]
    at = pc.index(pc.fill_null(mask, False), True).as_py()
    return None if at < 0 else int(at)


def _non_finite(array_: Any) -> int | None:
    """The first row holding a float that is not finite (NaN or an infinity, which pyarrow reads and the strict
    parser refuses), anywhere in it; -1 when one is nested in an array (its row unknown); None when none is."""
    pa, _, pc = _arrow()
    kind = array_.type
    if pa.types.is_floating(kind):
        return _first_true(pc.invert(pc.is_finite(array_)))
    if pa.types.is_struct(kind):
        rows = [row for i in range(kind.num_fields) if (row := _non_finite(array_.field(i))) is not None]
        return min(rows) if rows else None
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return None if _non_finite(array_.flatten()) is None else -1
    return None


def _checked(table: Any) -> None:
    """Refuse what the strict parser would refuse or read otherwise (:class:`_Declined`, with the row to leave to
    the strict parser where one row is the cause)."""
    pa, _, pc = _arrow()
    names = table.column_names
    if "case_id" not in names or "output" not in names:
        raise _Declined("no case_id or output column")
    for name in names:
        column = table.column(name).combine_chunks()
        kind = column.type
        if name in _STRINGS:
            if not pa.types.is_string(kind):
                raise _Declined(name)
            if name in ("case_id", "output") and column.null_count:
                raise _Declined(f"no {name}", _first_true(column.is_null()))
            if name == "case_id" and (row := _first_true(pc.equal(pc.binary_length(column), 0))) is not None:
                raise _Declined("an empty case id", row)
        elif name == "latency_ms":
            if not (pa.types.is_int64(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
                raise _Declined(name)
            if not pa.types.is_null(kind) and (row := _first_true(pc.less(column, 0))) is not None:
                raise _Declined("a negative latency", row)
        elif name == "slice":
            if not (pa.types.is_struct(kind) or pa.types.is_null(kind)):
                raise _Declined(name)
        elif name == "tags" and not (pa.types.is_null(kind) or (pa.types.is_list(kind) and (
                pa.types.is_string(kind.value_type) or pa.types.is_null(kind.value_type)))):
            raise _Declined(name)
        if _deeper(kind, MAX_DEPTH):
            raise _Declined(f"{name} nests too deep")
        row = _non_finite(column)
        if row is not None:
            raise _Declined(f"{name}: a number that is not finite", row if row >= 0 else None)


def _parse(lines: Sequence[bytes], shape: Any = None) -> Any:
    """The lines (no blank one, none suspect) as a pyarrow table; :class:`_Declined` where it cannot be exact,
    with the row that made pyarrow stop when it names one (:attr:`_Declined.row`). With ``shape`` (a schema),
    the lines must have its fields and types: any other is an error (no row named)."""
    return _parse_text(b"\n".join(lines), len(lines), shape)


def _parse_text(text: bytes | memoryview, count: int, shape: Any = None) -> Any:
    """:func:`_parse` of ``count`` lines joined by newlines."""
    pa, pj, _ = _arrow()
    if shape is None:
        options = pj.ParseOptions(explicit_schema=pa.schema([(name, pa.string()) for name in _STRINGS]),
                                  unexpected_field_behavior="infer")
    else:
        options = pj.ParseOptions(explicit_schema=shape, unexpected_field_behavior="error")
    try:
        table = pj.read_json(pa.BufferReader(text), parse_options=options,
                             read_options=pj.ReadOptions(use_threads=False, block_size=max(len(text) + 1, 1 << 20)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError, ValueError) as exc:
        found = _ROW.search(str(exc))
        raise _Declined(str(exc), int(found.group(1)) if found else None) from None
    if table.num_rows != count:
        raise _Declined("rows and lines differ")
    try:
        table.validate(full=True)  # pyarrow keeps bytes that are not UTF-8 in its strings: the strict parser does not
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _Declined(f"not UTF-8: {exc}") from None
    _checked(table)
    return table


def _parse_rest(block: LineBlock, rest: list[int], shape: Any) -> Any:
    """:func:`_parse` of the block's lines ``rest`` (in line order) with the fields and types of ``shape``; when they
    are every line from the first of them on, read from the block's joined text as it is (no copy, no second
    join)."""
    lines = block.lines
    if len(rest) != len(lines) - rest[0]:  # some lines left out
        return _parse([lines[i] for i in rest], shape)
    start = sum(map(len, lines[:rest[0]])) + rest[0]  # the lines before it and their newlines
    return _parse_text(memoryview(block.joined())[start:], len(rest), shape)


def _parsed(lines: Sequence[bytes], clean: list[int]) -> tuple[Any, list[int]]:
    """The clean lines as a table, and which lines it holds: a line pyarrow stops at (a type other lines do
    not share, or an error the strict parser will name) is left to the strict parser, up to :data:`RETRIES`
    times; :class:`_Declined` past that."""
    for _ in range(RETRIES + 1):
        try:
            return _parse([lines[i] for i in clean]), clean
        except _Declined as declined:
            if declined.row is None or not 0 <= declined.row < len(clean):
                raise
            clean = clean[:declined.row] + clean[declined.row + 1:]
            if not clean:
                raise
    raise _Declined("too many lines pyarrow reads otherwise")


def _fields(schema: Any) -> int:
    """How many fields a schema holds, nested ones included."""
    pa = _arrow()[0]
    pending, count = [field.type for field in schema], len(schema)
    while pending:
        kind = pending.pop()
        if pa.types.is_struct(kind):
            count += kind.num_fields
            pending.extend(kind.field(i).type for i in range(kind.num_fields))
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            pending.append(kind.value_type)
    return count


def _colons(lines: Sequence[bytes], clean: set[int], upto: int) -> list[int]:
    """The colons of the first ``upto`` lines, 0 for a line that is not clean (its keys are not pyarrow's), and
    for every line after them (:func:`_piece_ends` counts them in no piece)."""
    counts = [line.count(b":") if i in clean else 0 for i, line in enumerate(lines[:upto])]
    return counts + [0] * (len(lines) - len(counts))


def _piece_ends(colons: Sequence[int], *, first_only: bool = False) -> list[int]:
    """Where a block's pieces end: at most :data:`PIECE_LINES` lines and :data:`PIECE_COLONS` colons each (with
    ``first_only``, where the first one ends)."""
    ends, lines, total = [], 0, 0
    for i, count in enumerate(colons):
        if lines and (lines == PIECE_LINES or total + count > PIECE_COLONS):
            if first_only:
                return [i]
            ends.append(i)
            lines = total = 0
        lines += 1
        total += count
    ends.append(len(colons))
    return ends


class Lane:
    """Judges :class:`~harness.outputs.sources.LineBlock` s for one scanner (see the module's text)."""

    def __init__(self, scanner: Scanner, size: int | None = None) -> None:
        self.scanner = scanner
        #: whether the lane runs for this scanner and a piece of ``size`` bytes (importing and setting up pyarrow
        #: takes most of a second: a small input is read faster record by record)
        self.on = (ENABLED and (size is None or size >= MIN_BYTES) and available()
                   and not any(scanner.needs.kept.values()))

    def judge(self, block: LineBlock, partial: Partial) -> None:
        """Judge a block of lines into ``partial``, as ``scanner.scan(block.records(), partial)`` would."""
        if not self.on or block.fields is not None:
            self._records(block, partial)
            return
        errors = block.parser.errors
        before = len(errors)
        self._judge(block, partial)
        if len(errors) > before:
            # the lines the lane left to the strict parser hold errors: the partition will not be read, and what
            # counts is which errors it names. Parsed in pieces, and past the error limit, they may be others than
            # the record-by-record scan names (it stops at the limit): the block is parsed again as that scan does.
            del errors[before:]
            STATS["errors"] += 1
            block.records()

    def _judge(self, block: LineBlock, partial: Partial, *, whole: bool = True) -> None:
        lines = block.lines
        suspects = _suspects(block.joined(), block)
        cases = self.scanner.cases
        blank = _BLANK
        clean = _clean_lines(lines, blank)
        if suspects:
            clean = [i for i in clean if i not in suspects]
        table = None
        shape = self.scanner.lane_shape if whole and len(clean) > PIECE_LINES else None
        if shape is not None:  # the fields and types of the last block read: no inference when this one has them
            try:
                table = _parse_rest(block, clean, shape)
                STATS["shaped"] += 1
            except _Declined:
                STATS["unshaped"] += 1
        if clean and table is None:
            # the keys a piece brings are bounded by its colons (every key ends with one): counted for the first
            # piece here (all of them when the block goes piece by piece), the rest must have its fields
            colons = _colons(lines, set(clean), PIECE_LINES if whole else len(lines))
            ends = _piece_ends(colons, first_only=whole)
            if not whole:
                ends = [len(lines)] if len(ends) == 1 else ends
            cut = bisect.bisect_left(clean, ends[0])  # clean is in line order
            first = [i for i in clean[:cut] if colons[i] <= LINE_COLONS]
            rest = clean[cut:]
            try:
                if first:
                    table, first = _parsed(lines, first)
                if rest:
                    if table is None or _fields(table.schema) > SHAPE_FIELDS:
                        raise _Declined("irregular fields")
                    table = _arrow()[0].concat_tables([table, _parse_rest(block, rest, table.schema)])
                    if whole:
                        self.scanner.lane_shape = table.schema
                clean = first + rest
            except _Declined:
                if whole and len(lines) > PIECE_LINES:  # piece by piece, each with its own fields
                    ends = _piece_ends(_colons(lines, set(clean), len(lines)))
                    for begin, end in itertools.pairwise([0, *ends]):
                        self._judge(block.part(begin, end), partial, whole=False)
                    STATS["pieces"] += 1
                    return
                self._records(block, partial)
                return
            if table is None:  # every clean line of the first piece was left to the strict parser
                clean = []
        case_ids = table.column("case_id").to_pylist() if table is not None else []
        lane = np.zeros(len(lines), dtype=bool)
        row_of = np.full(len(lines), -1, dtype=np.int64)
        if clean:
            at = np.asarray(clean, dtype=np.int64)
            row_of[at] = np.arange(len(clean))
            lane[at] = True
            if cases and not cases.keys().isdisjoint(case_ids):  # a suite's case is judged record by record
                lane[at[[row for row, case_id in enumerate(case_ids) if case_id in cases]]] = False
        if not lane.any():
            self._records(block, partial)
            return
        # consecutive runs of lane lines and of others, in order
        edges = np.flatnonzero(np.diff(lane.astype(np.int8))) + 1
        bounds = [0, *edges.tolist(), len(lines)]
        for begin, end in itertools.pairwise(bounds):
            if lane[begin] and table is not None:
                rows = row_of[begin:end]
                segment = table.slice(int(rows[0]), int(rows[-1]) - int(rows[0]) + 1)
                try:
                    self._columns(block, begin, end, segment, case_ids[rows[0]:rows[-1] + 1], partial)
                except _Declined:
                    self._records(block.part(begin, end), partial)
            else:
                self._records(block.part(begin, end), partial)

    def _records(self, block: LineBlock, partial: Partial) -> None:
        STATS["records"] += 1
        records = block.records()
        if records:
            self.scanner.scan(records, partial)

    def _columns(self, block: LineBlock, begin: int, end: int, table: Any, case_ids: list[str],
                 partial: Partial) -> None:
        """Judge lines ``begin:end`` of a block (every one a clean record of ``table``, no suite case) into
        ``partial``."""
        scanner = self.scanner
        _, _, pc = _arrow()
        view = Columns(table)
        n = len(case_ids)
        numbers_of_lines = np.arange(block.first + begin, block.first + end, dtype=np.int64)
        # scope plans: by the records' tags
        plan_of_row, plans = self._plans(view, n)
        # what could stop the lane, before anything is added to the partial
        for plan in plans:
            for path in plan.groups:
                kind = view.column(path)
                if kind is not None and not _groupable(kind.type):
                    raise _Declined(f"groups of {path}: {kind.type}")
        # the columnar units of these plans, and the plans that need a record for every output
        columnar: dict[int, Mapping[int, Any]] = {}
        every: set[int] = set()
        for plan in plans:
            for unit in plan.always:
                if unit.key in columnar:
                    continue
                hook = getattr(unit.check, "columns", None)
                if hook is not None and unit.key >= 0:
                    try:
                        found = hook(unit.rule.prepared, view)
                        if _rows_within(found, n):
                            columnar[unit.key] = found
                            continue
                    except KeyboardInterrupt:
                        raise
                    except BaseException:  # Unsuitable, or the hook failed: record by record, as the scan would
                        pass
                every.add(plan.id)
        for plan in plans:
            if any(unit.key not in columnar for unit in plan.always):
                every.add(plan.id)
        # which outputs a prefilter pattern (or a record-reading check) sends to a record
        output_column = table.column("output")
        # as UTF-8 bytes, what the pattern set reads: no str made (and encoded again) for each output; outputs past
        # the prefilter's length are sent to every check (a silent miss must never be a pass)
        outputs = output_column.cast(_arrow()[0].binary()).to_pylist()
        hits: dict[int, list[int]] = {}
        plan_list = plans
        by_id = {plan.id: plan for plan in plan_list}
        rows_of = {plans[0].id: range(n)} if len(plans) == 1 else {
            plan.id: np.flatnonzero(plan_of_row == plan.id).tolist() for plan in plans}
        needs_record: list[int] = []
        for plan in plans:
            if plan.id in every:
                needs_record.extend(rows_of[plan.id])
        # each row's plan: one for every row (the usual block), else looked up in a list (not numpy scalars)
        single = plans[0] if len(plans) == 1 else None
        plan_ids: list[int] = [] if single is not None else plan_of_row.tolist()
        if any(plan.by_slot for plan in plans):
            found_of = self._hits(output_column, outputs)
            for row in itertools.compress(range(n), found_of):  # the rows some pattern occurs in
                found, slots = found_of[row], (by_id[plan_ids[row]] if single is None else single).by_slot
                if len(found) > 1:
                    found.sort()  # slot order, as Scanner.hits gives them: the order the checks run in
                for hit in found:
                    if hit in slots:
                        hits[row] = found
                        break
        if hits:
            needs_record = sorted(set(needs_record).union(hits)) if needs_record else sorted(hits)
        active = set(needs_record)
        for found_rows in columnar.values():
            active.update(found_rows)
        records = self._built(block, begin, needs_record)
        # judge the active rows, in order, exactly as the scan does
        first = partial.records
        local: dict[int, int] = {}
        for plan in plan_list:
            local[plan.id] = len(partial.plan_keys)
            partial.plan_keys.append(plan.key)
            partial.plan_counts.append(0)
            partial.plan_cases.append({})
        line = block.first + begin  # of row 0 (numbers_of_lines)
        judge, record_of, hits_of = scanner.judge, records.get, hits.get
        for row in sorted(active):
            plan = by_id[plan_ids[row]] if single is None else single
            units: list[Unit] = plan.always
            found_hits = hits_of(row)
            if found_hits:
                extra = [u for hit in found_hits for u in plan.by_slot.get(hit, ())]
                if extra:
                    units = units + extra
            judge(partial, first + row, record_of(row), case_ids[row], line + row, None, units, columnar, row)
        # the columns of the run-level rules and of the merge
        ids = np.array(sorted(plan.id for plan in plan_list), dtype=np.int64)
        partial_slots = np.array([local[int(plan_id)] for plan_id in ids], dtype=np.int32)
        plan_rows = (partial_slots[np.searchsorted(ids, plan_of_row)] if len(plan_list) > 1
                     else np.full(n, partial_slots[0], np.int32))
        in_plan = {int(local[plan.id]): list(rows_of[plan.id]) for plan in plan_list}
        scanner.scope_counts(partial, case_ids, in_plan)
        for name in COUNTED_FIELDS:
            counter = partial.field_counts.setdefault(name, Counter())
            column = view.column(name)
            if column is not None and column.null_count < len(column):
                counts = pc.value_counts(column.drop_null())
                counter.update(dict(zip(counts.field(0).to_pylist(), counts.field(1).to_pylist(), strict=True)))
        numbers: dict[str, np.ndarray] = {}
        groups: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
        plan_at = {int(local[plan.id]): plan for plan in plan_list}
        for slot, positions in in_plan.items():
            plan = plan_at[slot]
            at = positions if len(positions) < n else slice(None)
            for path in plan.numbers:
                column = numbers.setdefault(path, np.full(n, np.nan))
                column[at] = _numbers(view, path)[at]
            for path in plan.groups:
                codes, labels = groups.setdefault(path, (np.full(n, -1, np.int32), {}))
                _group_codes(view, path, positions, n, codes, labels)
            if plan.compare:
                wanted = scanner.needs.compare_cases
                for i in positions:
                    if case_ids[i] in wanted:
                        for rule_position in plan.compare:
                            partial.outputs.setdefault(rule_position, []).append(
                                (case_ids[i], outputs[i].decode()))
        scanner.close(partial, first + n, array("i", plan_rows.astype(np.int32).tobytes()),
                      array("q", numbers_of_lines.tobytes()), case_ids, numbers, groups, True,
                      _case_keys(view.column("case_id"), case_ids),
                      np.asarray(pc.utf8_length(view.column("case_id")).to_numpy(zero_copy_only=False), np.int64))
        scanner.trim(partial)
        STATS["columns"] += 1

    def _hits(self, column: Any, outputs: list[bytes]) -> list[list[int]]:
        """The prefilter slots each output hits (``Scanner.hits``): one ``re2.Set`` match per output, called from C;
        the scanner's whole test for the outputs that are not ASCII (their folded views) or may be longer than the
        prefilter reads."""
        _, _, pc = _arrow()
        found: list[list[int]] = list(map(self.scanner.patterns.utf8_matcher(), outputs))
        odd = pc.or_(pc.invert(pc.string_is_ascii(column)),
                     pc.greater(pc.binary_length(column), PREFILTER_MAX_CHARS)).to_numpy(zero_copy_only=False)
        if odd.any():
            whole = self.scanner.hits()
            for row in np.flatnonzero(odd).tolist():
                found[row] = whole(outputs[row])
        return found

    def _plans(self, view: Columns, n: int) -> tuple[np.ndarray, list[ScopePlan]]:
        """Each row's scope plan id (by its tags; no suite case comes here), and the plans."""
        pa, _, pc = _arrow()
        scanner = self.scanner
        tags = view.column("tags")
        if tags is None or pa.types.is_null(tags.type) or pa.types.is_null(tags.type.value_type):
            # no tags, or only empty lists of them (list<null>: a null in a list makes its line a suspect)
            plan = scanner.plan(None, frozenset())
            return np.full(n, plan.id, dtype=np.int64), [plan]
        if pc.any(pc.match_substring(tags.flatten(), "\x00")).as_py():
            raise _Declined("a tag holds a NUL character")
        joined = pc.binary_join(tags, "\x00")  # a null list (no tags) joins to null
        encoded = pc.dictionary_encode(joined)
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        names = encoded.dictionary.to_pylist()
        plan_ids = []
        plans: dict[int, ScopePlan] = {}
        for name in names:
            plan = scanner.plan(None, frozenset(name.split("\x00")) if name else frozenset())
            plans[plan.id] = plan
            plan_ids.append(plan.id)
        none_plan = scanner.plan(None, frozenset())
        if encoded.null_count:
            plans[none_plan.id] = none_plan
        codes = np.asarray([*plan_ids, none_plan.id], dtype=np.int64)
        where = np.where(np.asarray(encoded.is_null().to_numpy(zero_copy_only=False)), len(plan_ids),
                         np.nan_to_num(indices, nan=len(plan_ids)).astype(np.int64))
        of_row = codes[where]
        # in the order of their first record, as the record-by-record scan meets them
        _, first = np.unique(of_row, return_index=True)
        order = [int(of_row[i]) for i in sorted(first.tolist())]
        return of_row, [plans[plan_id] for plan_id in order]

    def _built(self, block: LineBlock, begin: int, rows: list[int]) -> dict[int, OutputRecord]:
        """The records of some rows (their lines parsed by the block's strict parser)."""
        if not rows:
            return {}
        built = block.objects([begin + row for row in rows])
        return {row: record for row, record in zip(rows, built, strict=False) if record is not None}


def _rows_within(found: Any, n: int) -> bool:
    """Whether a ``columns`` hook gave what it promises: a mapping from rows of the block (integers below ``n``)
    to findings. Anything else (a plugin's garbage: a list, None, rows past the block) is not judged from: the
    records are then judged one by one, as the record-by-record scan judges them."""
    if not isinstance(found, Mapping):
        return False
    try:
        return all(type(row) is int and 0 <= row < n for row in found)
    except Exception:  # a mapping whose keys cannot be listed
        return False


def _case_keys(column: Any, case_ids: list[str]) -> np.ndarray:
    """The hashes of the case keys (``model.output.case_key``) of a column of case ids: for printable ASCII ids
    without spaces (the usual ones) the key is the id lower-cased, done on the column and hashed from its buffers
    (a string of each is never made)."""
    pa, _, pc = _arrow()

    def buffers(strings: Any) -> tuple[np.ndarray, np.ndarray]:
        _, offsets, data = strings.buffers()
        return (np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8),
                np.frombuffer(offsets, dtype=np.int32)[strings.offset:strings.offset + len(strings) + 1])

    if pa.types.is_string(column.type) and not column.null_count and len(column):
        data, offsets = buffers(column)
        used = data[int(offsets[0]):int(offsets[-1])]
        if not len(used) or (int(used.min()) > ord(" ") and int(used.max()) < 0x7F):  # printable ASCII, no space
            lowered = pc.ascii_lower(column)
            data, offsets = buffers(lowered)
            lengths = np.diff(offsets)
            longest = int(lengths.max())
            if longest <= ROW_BYTES and int(lengths.min()) < longest:  # pyarrow pads them to rows of one width
                padded, padded_offsets = buffers(pc.ascii_rpad(lowered, width=longest, padding="\x00"))
                start = int(padded_offsets[0])
                return row_hashes(padded[start:start + len(lengths) * longest].reshape(len(lengths), longest),
                                  lengths)
            return utf8_hashes(data, offsets)
    return key_hashes([case_key(case_id) for case_id in case_ids])


def _groupable(kind: Any) -> bool:
    pa = _arrow()[0]
    return bool(pa.types.is_string(kind) or pa.types.is_int64(kind) or pa.types.is_boolean(kind)
                or pa.types.is_null(kind))


def _group_codes(view: Columns, path: str, positions: list[int], n: int, codes: np.ndarray,
                 labels: dict[str, int]) -> None:
    """Set ``codes`` at ``positions`` to the group of each row at ``path`` (-1: no value), numbering new groups
    in the order of their first row, as the record-by-record scan does (a string column is encoded by pyarrow)."""
    pa, _, pc = _arrow()
    column = view.column(path)
    if column is None or pa.types.is_null(column.type) or not positions:
        return  # no row has a value: -1 everywhere
    if pa.types.is_string(column.type):
        # arrays to and from numpy by their buffers: pa.array, fill_null(-1) and to_numpy would import pandas
        chosen = column if len(positions) == n else column.take(pa.Array.from_buffers(
            pa.int64(), len(positions), [None, pa.py_buffer(np.asarray(positions, dtype=np.int64))]))
        encoded = pc.dictionary_encode(chosen)
        indices = encoded.indices
        local = np.frombuffer(indices.buffers()[1], dtype=np.int32)[indices.offset:indices.offset + len(indices)]
        remap = np.array([labels.setdefault(name, len(labels)) for name in encoded.dictionary.to_pylist()] + [-1],
                         dtype=np.int32)
        if indices.null_count:  # no value: the last entry of remap
            valid = np.unpackbits(np.frombuffer(indices.buffers()[0], dtype=np.uint8), bitorder="little")
            local = np.where(valid[indices.offset:indices.offset + len(indices)].astype(bool), local, -1)
        codes[positions] = remap[local]
        return
    named = view.values(path)  # integers, booleans: named as the record-by-record scan names them
    for i in positions:
        value = named[i]
        codes[i] = -1 if value is MISSING else labels.setdefault(str(value), len(labels))


def _numbers(view: Columns, path: str) -> np.ndarray:
    """A run-level figure per row: the number as a float, NaN where missing or not a number (a string, a
    boolean, an object: as ``scanner._number``)."""
    pa = _arrow()[0]
    column = view.column(path)
    if column is None or not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        return np.full(len(view), np.nan)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _clean_lines(lines: Sequence[bytes], blank: frozenset[int]) -> list[int]:
    """The lines pyarrow may read: not blank (only white space), no byte-order mark at the start."""
    firsts = b"".join(map(_FIRST_BYTE, lines))  # an empty line gives none
    if len(firsts) == len(lines) and not firsts.translate(None, _NOT_USUAL):
        return list(range(len(lines)))  # every line starts with '{' (or another byte neither blank nor BOM)
    return [i for i, line in enumerate(lines)
            if line and (line[0] not in blank or not line.isspace()) and not line.startswith(_BOM)]


#: the first bytes of lines that need a closer look: blank ones and a byte-order mark's
_NOT_USUAL = bytes(b for b in range(256) if b not in _BLANK and b != _BOM[0])
_FIRST_BYTE = operator.itemgetter(slice(0, 1))


def _suspects(joined: bytes, block: LineBlock) -> set[int]:
    """The lines of a block holding ``null`` (searched by RE2, twice as fast as ``bytes.find`` on prose, whose
    many n's and l's defeat its skips)."""
    found: set[int] = set()
    offsets = None
    at = _null_at(joined, 0)
    while at >= 0:
        if offsets is None:
            offsets = block.offsets()
        line = text_line_index(offsets, at)
        found.add(line)
        at = _null_at(joined, int(offsets[line + 1]) if line + 1 < len(offsets) else len(joined))
    return found


def _null_at(text: bytes, start: int) -> int:
    """Where ``null`` next occurs in ``text`` from ``start`` (-1: nowhere)."""
    found = _NULL_RE.search(text, start)
    return -1 if found is None else found.start()


def text_line_index(offsets: np.ndarray, at: int) -> int:
    """The index of the line holding byte ``at`` of a block's joined text, given each line's start offset."""
    return int(np.searchsorted(offsets, at, side="right")) - 1
