"""The sha256 of a file judged in byte ranges is computed beside the run (from the start of `harness scan`), by a
thread or, for a large file, a child process the thread waits for:
it is the file's own digest, of the file as the scan read it, and a run that ends by an error or an interruption
leaves no thread reading on."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import harness.evaluation as evaluation
from harness import api
from harness.api import judge as judge_module
from harness.cli import main
from harness.errors import InputError, InputErrors
from harness.outputs import digests as digests_module
from harness.outputs import sources as sources_module

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "examples" / "outputs" / "acme-support-1.2.0.jsonl"


def _scan(path: Path) -> Any:
    return api.run_scan(path, policies=ROOT / "policies", evals=ROOT / "evals", workers=1)


def _cli_scan(path: Path, report: Path) -> int:
    return main(["scan", "--outputs", str(path), "--policies", str(ROOT / "policies"), "--evals", str(ROOT / "evals"),
                 "--format", "json", "--output", str(report), "--workers", "1"])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _nothing_prefetched() -> Iterator[None]:
    yield
    digests_module.forget()


@pytest.fixture
def ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of more than 4 KiB read in byte ranges (by the scan and by a prefetch), hashed 512 bytes at a time."""
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 4096)
    monkeypatch.setattr(sources_module, "RANGE_BYTES", 4096)
    monkeypatch.setattr(digests_module, "CHUNK", 512)


class _Gate:
    """A sha256 for the digests module whose every ``update`` counts and waits until the gate opens, or ``wait``
    seconds (a file of 55 chunks is then hashed in about 55 times that: its thread is alive meanwhile)."""

    def __init__(self, wait: float) -> None:
        self.open = threading.Event()
        self.updates = 0
        gate = self

        class Gated:
            def __init__(self) -> None:
                self.digest = hashlib.sha256()

            def update(self, data: Any) -> None:
                gate.updates += 1
                gate.open.wait(wait)
                self.digest.update(data)

            def hexdigest(self) -> str:
                return self.digest.hexdigest()

        self.module = types.SimpleNamespace(sha256=Gated)


def _gated(monkeypatch: pytest.MonkeyPatch, wait: float) -> Iterator[_Gate]:
    gated = _Gate(wait)
    monkeypatch.setattr(digests_module, "hashlib", gated.module)
    yield gated
    gated.open.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Gate]:
    """Hashing slowed to 50 ms a chunk."""
    yield from _gated(monkeypatch, 0.05)


@pytest.fixture
def closed_gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Gate]:
    """Hashing that waits (up to a minute) for the test to open the gate."""
    yield from _gated(monkeypatch, 60)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each FileDigests made in the test hashes, in order."""
    made: list[Any] = []
    real = digests_module.FileDigests

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, paths: Any) -> None:
            made.append(tuple(paths))
            super().__init__(paths)

    monkeypatch.setattr(digests_module, "FileDigests", Counted)
    return made


def _threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.mark.usefixtures("ranges")
def test_the_report_holds_the_files_own_digest() -> None:
    assert _scan(OUTPUTS).report.run.outputs.sha256 == _sha(OUTPUTS)


@pytest.mark.usefixtures("ranges", "gate")
def test_an_interrupted_start_leaves_no_thread_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "prepare", interrupted)
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        _scan(OUTPUTS)
    assert _threads(before) == []


@pytest.mark.usefixtures("ranges")
@pytest.mark.usefixtures("gate")
def test_a_broken_input_leaves_no_thread_reading(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(OUTPUTS.read_bytes() + b'{"case_id": "x", "output": \n')
    before = set(threading.enumerate())
    with pytest.raises(InputErrors):
        _scan(broken)
    assert _threads(before) == []


@pytest.mark.usefixtures("ranges")
def test_a_stopped_thread_reads_no_further_chunk(closed_gate: _Gate) -> None:
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    while closed_gate.updates < 1:  # the thread is hashing its first chunk (of 55)
        threading.Event().wait(0.001)
    stopping = threading.Thread(target=digests.stop)
    stopping.start()
    while not digests._stop.is_set():
        threading.Event().wait(0.001)
    closed_gate.open.set()
    stopping.join(10)
    assert not stopping.is_alive()
    assert closed_gate.updates == 1
    assert digests.result() == {}


@pytest.mark.usefixtures("ranges")
def test_harness_scan_hashes_its_input_once_from_the_start(tmp_path: Path, counted: list[Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digests_module, "SETTLED_SECONDS", 0)  # (a fresh checkout's file counts as settled)
    real_load = api.load
    monkeypatch.setattr(api, "load", lambda *a, **k: (counted.append("rules loaded"), real_load(*a, **k))[1])
    report = tmp_path / "scan.json"
    assert _cli_scan(OUTPUTS, report) in (0, 1, 2, 3)
    assert json.loads(report.read_text())["run"]["outputs"]["sha256"] == _sha(OUTPUTS)
    assert counted == [(str(OUTPUTS),), "rules loaded"]  # hashed from before the rules were loaded, once
    assert digests_module._EARLY == {}


def _rewritten_in_place(path: Path) -> None:
    """The same size, the same inode, the modification time put back (as ``cp -p`` or ``rsync -t`` leave it)."""
    info = path.stat()
    data = bytearray(path.read_bytes())
    data[data.index(b"I can"):data.index(b"I can") + 5] = b"U CAN"
    with path.open("r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size == info.st_size and path.stat().st_mtime_ns == info.st_mtime_ns


def _replaced_same_size(path: Path) -> None:
    other = path.with_suffix(".new")
    other.write_bytes(path.read_bytes().replace(b"I can", b"U CAN", 1))
    os.replace(other, path)


@pytest.mark.usefixtures("ranges")
@pytest.mark.parametrize("change", [_rewritten_in_place, _replaced_same_size], ids=["in place", "renamed over"])
def test_a_file_changed_after_its_prefetch_is_hashed_as_the_scan_reads_it(tmp_path: Path, counted: list[Any],
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          change: Any) -> None:
    monkeypatch.setattr(digests_module, "SETTLED_SECONDS", 0)  # only the change itself tells
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())
    first = _sha(day)
    with digests_module.prefetched(day):
        assert digests_module._EARLY[(str(day),)].result() == {str(day): first}
        change(day)
        result = _scan(day)
    assert result.report.run.outputs.sha256 == _sha(day) != first
    assert len(counted) == 2  # the prefetch's, left for the scan's own


@pytest.mark.usefixtures("ranges")
def test_a_file_written_just_before_is_hashed_by_the_scan_itself(tmp_path: Path, counted: list[Any]) -> None:
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())  # changed less than SETTLED_SECONDS ago: could change again unseen
    with digests_module.prefetched(day):
        digests_module._EARLY[(str(day),)].result()
        assert _scan(day).report.run.outputs.sha256 == _sha(day)
    assert len(counted) == 2


@pytest.mark.usefixtures("ranges")
@pytest.mark.parametrize("change", [_rewritten_in_place, _replaced_same_size], ids=["in place", "renamed over"])
def test_a_digest_of_a_file_changed_since_is_no_digest(tmp_path: Path, change: Any) -> None:
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())
    digests = digests_module.FileDigests([str(day)]).start()
    assert digests.result() == {str(day): _sha(day)}
    change(day)
    assert digests.result() == {}


@pytest.mark.usefixtures("ranges")
def test_a_prefetch_no_scan_took_is_dropped_and_stopped(gate: _Gate) -> None:
    before = set(threading.enumerate())
    with digests_module.prefetched(OUTPUTS):
        (first,) = digests_module._EARLY.values()
        assert _threads(before) == ["harness-sha256"]
        digests_module.prefetch(OUTPUTS)  # a newer prefetch stops the older one
        assert not first._thread.is_alive()
        assert len(_threads(before)) == 1
    assert digests_module._EARLY == {}
    assert _threads(before) == []


@pytest.mark.usefixtures("ranges")
def test_a_scan_of_other_files_stops_a_prefetch(tmp_path: Path, gate: _Gate) -> None:
    other = tmp_path / "other.jsonl"
    other.write_bytes(OUTPUTS.read_bytes())
    digests_module.prefetch(OUTPUTS)
    (early,) = digests_module._EARLY.values()
    gate.open.set()
    _scan(other)
    assert not early._thread.is_alive() and digests_module._EARLY == {}


def test_a_prefetch_of_what_is_not_one_readable_file_does_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"case_id": "a", "output": "x"}\n' * 1000)
    before = set(threading.enumerate())
    for source in (tmp_path / "missing.jsonl", tmp_path / "*.jsonl", tmp_path):
        digests_module.prefetch(source, split_bytes=1024)
    assert digests_module._EARLY == {} and _threads(before) == []


def test_an_unreadable_file_is_named_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = open

    def failing(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("day.jsonl") and threading.current_thread().name == "harness-sha256":
            raise OSError(5, "Input/output error")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing)
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())
    digests = digests_module.FileDigests([str(day), str(OUTPUTS)]).start()
    assert digests.result() == {str(OUTPUTS): _sha(OUTPUTS)}  # the next file is hashed all the same
    assert digests.errors == {str(day): "Input/output error"}


class _Children:
    """The child processes the digests module started (through its own ``subprocess`` name), and an event set on the
    first one."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.first = threading.Event()


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> _Children:
    """Every file hashed by a child process (none is too small for one)."""
    import subprocess

    monkeypatch.setattr(digests_module, "PROCESS_MIN_BYTES", 0)
    made = _Children()

    def popen(*args: Any, **kwargs: Any) -> Any:
        made.started.append(subprocess.Popen(*args, **kwargs))
        made.first.set()
        return made.started[-1]

    monkeypatch.setattr(digests_module, "subprocess", types.SimpleNamespace(
        Popen=popen, PIPE=subprocess.PIPE, DEVNULL=subprocess.DEVNULL, SubprocessError=subprocess.SubprocessError))
    return made


def _answer(digest: str, size: str = "{info.st_size}", dev: str = "{info.st_dev}", ino: str = "{info.st_ino}") -> str:
    """A child that answers ``digest`` (and the file's size, device and inode, unless told otherwise)."""
    return (_HELLO + "import os\ninfo = os.fstat(int(sys.argv[1]))\n"
            f"sys.stdout.write(f'{digest} {size} {dev} {ino}')\n")


#: a child's first line, as the real one says it at once
_HELLO = "import sys\nsys.stdout.write('harness-sha256\\n')\n"


def test_a_large_file_is_hashed_by_a_child_process(tmp_path: Path, children: _Children) -> None:
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes() * 3)
    digests = digests_module.FileDigests([str(day), str(OUTPUTS)]).start()
    assert digests.result() == {str(day): _sha(day), str(OUTPUTS): _sha(OUTPUTS)}
    assert len(children.started) == 2 and all(child.returncode == 0 for child in children.started)


def test_the_childs_answer_is_the_digest(monkeypatch: pytest.MonkeyPatch, children: _Children) -> None:
    monkeypatch.setattr(digests_module, "_CHILD", _answer("ab" * 32))
    assert digests_module.FileDigests([str(OUTPUTS)]).start().result() == {str(OUTPUTS): "ab" * 32}


@pytest.mark.parametrize("size", [0, 1])
def test_files_from_the_threshold_on_go_to_a_child(monkeypatch: pytest.MonkeyPatch, children: _Children,
                                                   size: int) -> None:
    monkeypatch.setattr(digests_module, "PROCESS_MIN_BYTES", OUTPUTS.stat().st_size + size)
    assert digests_module.FileDigests([str(OUTPUTS)]).start().result() == {str(OUTPUTS): _sha(OUTPUTS)}
    assert len(children.started) == (1 if size == 0 else 0)


@pytest.mark.parametrize("child", [
    "import sys; sys.exit(3)",  # fails at once
    "print('hello')",  # says another first line
    _HELLO + "sys.exit(3)",  # fails
    _HELLO + "print('0' * 63)",  # answers what is no digest (63 digits and a newline: 64 characters)
    _answer("F" * 64),  # not in lower case
    _answer("f" * 64) + "sys.exit(1)\n",  # a digest, and a failure
    _answer("f" * 64, size="{info.st_size - 1}"),  # fewer bytes than the file holds
    _answer("f" * 64, ino="{info.st_ino + 1}"),  # another file
    _answer("f" * 64) + "sys.stdout.write(' 1')\n",  # more than the answer
    # reads from the shared offset (as a child that does not use pread would), then fails
    _HELLO + "import os\nos.read(int(sys.argv[1]), 1000)\nsys.exit(1)\n",
], ids=["exit-3-at-once", "other-first-line", "exit-3",
        "not-a-digest", "upper-case", "digest-and-failure", "short-read", "other-inode", "extra",
        "moved-offset"])
def test_a_failing_child_leaves_the_file_to_the_thread(monkeypatch: pytest.MonkeyPatch, children: _Children,
                                                      child: str) -> None:
    monkeypatch.setattr(digests_module, "_CHILD", child)
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    assert digests.result() == {str(OUTPUTS): _sha(OUTPUTS)}
    assert len(children.started) == 1


def test_a_child_that_does_not_say_it_runs_is_killed_and_the_thread_hashes(monkeypatch: pytest.MonkeyPatch,
                                                                          children: _Children) -> None:
    """A ``sys.executable`` that is no Python command (a program embedding Python) may never answer."""
    monkeypatch.setattr(digests_module, "_CHILD", "import time; time.sleep(60)")
    monkeypatch.setattr(digests_module, "HELLO_SECONDS", 0.2)
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    assert digests.result() == {str(OUTPUTS): _sha(OUTPUTS)}
    assert children.started[0].wait(10) != 0  # killed


def test_no_interpreter_to_start_leaves_the_file_to_the_thread(monkeypatch: pytest.MonkeyPatch,
                                                               children: _Children) -> None:
    monkeypatch.setattr(digests_module.sys, "executable", str(ROOT / "no-such-python"))
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    assert digests.result() == {str(OUTPUTS): _sha(OUTPUTS)}
    assert children.started == []  # Popen raised before a child existed


def test_a_stopped_run_kills_the_child_hashing(monkeypatch: pytest.MonkeyPatch, children: _Children) -> None:
    monkeypatch.setattr(digests_module, "_CHILD", "import time; time.sleep(60)")
    digests = digests_module.FileDigests([str(OUTPUTS), str(OUTPUTS)]).start()
    assert children.first.wait(10)
    digests.stop()
    assert children.started[0].wait(10) != 0  # killed, not finished
    assert len(children.started) == 1  # the next file was not started
    assert digests.result() == {}


def test_a_run_stopped_before_the_child_starts_starts_none(monkeypatch: pytest.MonkeyPatch,
                                                          children: _Children) -> None:
    real = digests_module.FileDigests._by_child

    def stopped_first(self: Any, *args: Any) -> Any:
        self._stop.set()  # as stop() would, between the file's opening and the child's start
        return real(self, *args)

    monkeypatch.setattr(digests_module.FileDigests, "_by_child", stopped_first)
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    assert digests.result() == {}
    assert children.started == []


@pytest.mark.parametrize("closed", [0, 2], ids=["stdin", "stderr"])
def test_a_closed_standard_stream_does_not_change_the_digest(tmp_path: Path, closed: int) -> None:
    """With standard input (or error) closed, the file opens as descriptor 0 (or 2), which a child holds its own
    standard stream on: the child must hash the file, not /dev/null (and its answer be taken, not the thread's)."""
    import subprocess
    import sys

    script = (f"import os, sys\nos.close({closed})\nfrom harness.outputs import digests\n"
              "digests.PROCESS_MIN_BYTES = 0\n"
              "digests.hashlib = None  # the thread cannot hash: the digest is the child's\n"
              f"found = digests.FileDigests([{str(OUTPUTS)!r}]).start().result()\n"
              "sys.stdout.write(found.get(sys.argv[1], 'none'))\n")
    done = subprocess.run([sys.executable, "-c", script, str(OUTPUTS)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=True)
    assert done.stdout == _sha(OUTPUTS)


@pytest.mark.usefixtures("ranges")
@pytest.mark.parametrize("workers", [1, 2])
def test_a_link_switched_after_the_listing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      workers: int) -> None:
    """A scan lists its input, then opens each byte range (and the file to hash) by its path: a link switched to
    another file meanwhile must not give a report with one file's findings and the other's digest."""
    first, second, link = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "latest.jsonl"
    first.write_bytes(OUTPUTS.read_bytes())
    second.write_bytes(OUTPUTS.read_bytes().replace(b"acme", b"acmf"))
    link.symlink_to(first)
    real = sources_module.partitions

    def then_switched(*args: Any, **kwargs: Any) -> Any:
        listed = real(*args, **kwargs)
        target = second if link.resolve() == first else first
        link.unlink()
        link.symlink_to(target)  # to the other file
        return listed

    monkeypatch.setattr(sources_module, "partitions", then_switched)
    with pytest.raises(InputError, match=r"another file is at this path|changed or vanished"):
        api.run_scan(link, policies=ROOT / "policies", evals=ROOT / "evals", workers=workers)
    report = tmp_path / "report.json"
    assert main(["scan", "--outputs", str(link), "--policies", str(ROOT / "policies"), "--evals",
                 str(ROOT / "evals"), "--format", "json", "--output", str(report), "--workers", str(workers)]) == 4
    assert not report.exists()


def test_a_reader_refuses_another_file_at_the_listed_path(tmp_path: Path) -> None:
    first, second, link = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "latest.jsonl"
    first.write_bytes(OUTPUTS.read_bytes())
    second.write_bytes(OUTPUTS.read_bytes())
    link.symlink_to(first)
    (part,) = sources_module.partitions(link)
    link.unlink()
    link.symlink_to(second)
    with pytest.raises(InputError, match="another file is at this path"):
        list(sources_module.PartitionReader(part))
    assert len(list(sources_module.PartitionReader(sources_module.partitions(link)[0]))) > 0  # listed again: read


def test_a_digest_counts_only_for_the_file_listed(tmp_path: Path) -> None:
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    digests.result()
    info = OUTPUTS.stat()
    assert digests.hashed_file(str(OUTPUTS), (info.st_dev, info.st_ino))
    assert not digests.hashed_file(str(OUTPUTS), (info.st_dev, info.st_ino + 1))  # another file was listed there
    assert digests.hashed_file(str(OUTPUTS), None)  # not checked (remote workers)
    assert not digests.hashed_file(str(tmp_path / "never-hashed.jsonl"), (info.st_dev, info.st_ino))


def test_a_child_whose_first_line_trickles_past_the_deadline_is_killed(monkeypatch: pytest.MonkeyPatch,
                                                                      children: _Children) -> None:
    """The first line's time limit is one deadline, not one per byte read."""
    monkeypatch.setattr(digests_module, "_CHILD", "import sys, time\nfor c in 'harness-sha256\\n':\n"
                        "    sys.stdout.write(c); sys.stdout.flush(); time.sleep(0.1)\ntime.sleep(60)\n")
    monkeypatch.setattr(digests_module, "HELLO_SECONDS", 0.5)
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    assert digests.result() == {str(OUTPUTS): _sha(OUTPUTS)}
    assert children.started[0].wait(10) != 0  # killed


def test_a_failure_around_the_child_leaves_the_file_to_the_thread(monkeypatch: pytest.MonkeyPatch,
                                                                 children: _Children) -> None:
    def broken(self: Any, *args: Any) -> Any:
        raise ValueError("filedescriptor out of range in select()")

    monkeypatch.setattr(digests_module.FileDigests, "_by_child", broken)
    assert digests_module.FileDigests([str(OUTPUTS)]).start().result() == {str(OUTPUTS): _sha(OUTPUTS)}


def test_a_child_on_a_descriptor_past_1023_hashes_the_file(tmp_path: Path) -> None:
    """A process with many files open (a server embedding harness) waits for its child on a pipe numbered past
    1023, which ``select.select`` refuses."""
    import resource
    import subprocess
    import sys

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("at most 2,047 descriptors may be open here")
    script = ("import os, resource, sys\nresource.setrlimit(resource.RLIMIT_NOFILE, (2048, resource.getrlimit("
              "resource.RLIMIT_NOFILE)[1]))\nheld = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]\n"
              "from harness.outputs import digests\ndigests.PROCESS_MIN_BYTES = 0\n"
              "digests.hashlib = None  # the thread cannot hash: the digest is the child's\n"
              f"found = digests.FileDigests([{str(OUTPUTS)!r}]).start().result()\n"
              "sys.stdout.write(found.get(sys.argv[1], 'none'))\n")
    done = subprocess.run([sys.executable, "-c", script, str(OUTPUTS)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=True)
    assert done.stdout == _sha(OUTPUTS)


def test_a_byte_range_of_a_file_rewritten_in_place_is_refused(tmp_path: Path) -> None:
    """The ranges of a file must be of one unchanged file: a rewrite in place (same inode) between the listing and
    a range's opening is refused; a whole file is held to its device and inode only (it is hashed as read)."""
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())
    ranges = sources_module.partitions(day, split_bytes=4096)
    (whole,) = sources_module.partitions(day)
    assert len(ranges) > 1
    at = day.read_bytes().index(b'"output": "') + len(b'"output": "')
    with day.open("r+b") as handle:  # same size, same inode, another letter in the first output
        handle.seek(at)
        handle.write(b"#")
    with pytest.raises(InputError, match="another file is at this path"):
        list(sources_module.PartitionReader(ranges[1]))
    assert list(sources_module.PartitionReader(whole))
    info = day.stat()
    digests = digests_module.FileDigests([str(day)]).start()
    digests.result()
    assert not digests.hashed_file(str(day), ranges[0].identity)  # hashed after the rewrite: not the file listed
    assert digests.hashed_file(str(day), sources_module.file_identity(info))
