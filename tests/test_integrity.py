"""Index integrity under crashes and concurrency: nothing lost, nothing half-written, no lock failures."""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_gone, children_of, encode_clip, pan_frames, texture, write_still

from provcheck.cli import cli
from provcheck.errors import ExitCode, IndexStoreError
from provcheck.media import sha256_file
from provcheck.store import SQLiteStore

#: Longest wait for a child process to reach its kill point or to die (it imports provcheck
#: and fingerprints a few files first); reached only when something is broken.
CHILD_TIMEOUT_S = 120.0

#: The killed child: provcheck's CLI with an observer on SQLite's statement trace (no hook in
#: provcheck). Arguments: a pipe to signal on, then the kill point (statement prefix, occurrence,
#: counted inside write transactions from the n-th source row the run writes on, or from the
#: start for 0; an empty prefix counts every statement but BEGIN), then provcheck's own
#: arguments. When the statement is about to run for that time, the child writes "inside" to
#: the pipe and waits to be killed.
KILLED_CHILD = """
import os, sqlite3, sys, time

signal_fd, statement, occurrence, source = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
state = {"in_transaction": False, "sources": 0, "seen": 0}
real_connect = sqlite3.connect


def trace(sql):
    sql = sql.lstrip()
    if sql.startswith("BEGIN"):
        state["in_transaction"] = True
        return  # a kill point is a statement inside the transaction, once the lock is held
    if state["in_transaction"] and sql.startswith(("INSERT INTO sources", "UPDATE sources")):
        state["sources"] += 1
    if state["in_transaction"] and sql.startswith(statement) and (source == 0 or state["sources"] == source):
        state["seen"] += 1
        if state["seen"] == occurrence:
            os.write(signal_fd, b"inside\\n")
            while True:
                time.sleep(60)
    if sql.startswith(("COMMIT", "ROLLBACK")):
        state["in_transaction"] = False


def connect(*args, **kwargs):
    conn = real_connect(*args, **kwargs)
    conn.set_trace_callback(trace)
    return conn


sqlite3.connect = connect
from provcheck.cli import cli

cli.main(args=sys.argv[5:], prog_name="provcheck")
"""


def provcheck_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "provcheck", *(str(a) for a in args)]


@pytest.fixture(scope="module")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six stills and two short clips: adds that finish at different moments."""
    folder = tmp_path_factory.mktemp("integrity-media")
    files = []
    for number in range(6):
        files.append(write_still(folder / f"still_{number}.png", texture(500 + number, 240, 400)))
    for number in range(2):
        files.append(encode_clip(folder / f"clip_{number}.mp4", pan_frames(seed=600 + number, count=50)))
    return files


def assert_sound(index: Path, attempted: list[Path]) -> set[str]:
    """The index opens, passes check, and every source in it is complete and one of the attempted files."""
    store = SQLiteStore(index)
    try:
        report = store.check()
        assert report.ok, report.problems
        digests = {sha256_file(path) for path in attempted}
        features = {stored.frame_id for stored in store.feature_table()}
        frame_ids = set(store.hash_table("pdq").frame_ids.tolist())
        assert frame_ids == features  # every frame has its local features: no half-written source
        sources = store.list_sources()
        assert {source.sha256 for source in sources} <= digests
        return {source.sha256 for source in sources}
    finally:
        store.close()


def test_check_reports_a_sound_index(tmp_path: Path, media_files: list[Path]) -> None:
    index = tmp_path / "index.sqlite"
    assert CliRunner().invoke(cli, ["index", "add", str(media_files[0]), "--index", str(index)]).exit_code == 0
    result = CliRunner().invoke(cli, ["index", "check", "--index", str(index), "--json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["problems"] == [] and document["sources"] == 1


def test_check_finds_damage(tmp_path: Path, media_files: list[Path]) -> None:
    index = tmp_path / "index.sqlite"
    assert CliRunner().invoke(cli, ["index", "add", str(media_files[6]), "--index", str(index)]).exit_code == 0
    conn = sqlite3.connect(index)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DELETE FROM frames WHERE id = (SELECT min(id) FROM frames)")
    conn.execute("INSERT INTO frames (source_id, frame_number, phash, pdq) VALUES (99, 0, ?, ?)", (b"\0" * 8, b"\0" * 32))
    conn.commit()
    conn.close()
    result = CliRunner().invoke(cli, ["index", "check", "--index", str(index)])
    assert result.exit_code == ExitCode.INDEX_ERROR
    assert "problem" in result.stdout
    assert "records" in result.stdout and "missing" in result.stdout


@dataclass(frozen=True)
class KillPoint:
    """Where the child is stopped: the ``occurrence``-th statement starting with ``statement`` in a
    write transaction, counted from the ``source``-th source row the run writes (0: from the start,
    e.g. the schema's transaction). ``before`` are indexed first by a normal add, ``files`` are
    given to the killed add; ``committed`` are the files the index must hold afterwards.
    """

    statement: str
    occurrence: int
    source: int
    files: tuple[int, ...]
    committed: tuple[int, ...]
    before: tuple[int, ...] = ()
    replace: bool = False
    trained: bool = False  # the shortlist is trained after ``before``: the add writes postings too


KILL_POINTS = {
    "creating the schema": KillPoint("CREATE TABLE frames", 1, 0, files=(0, 1), committed=()),
    "first frame of the first source": KillPoint("INSERT INTO frames", 1, 1, files=(0, 1), committed=()),
    "third frame of a video after two stills": KillPoint("INSERT INTO frames", 3, 3, files=(0, 1, 6, 2),
                                                         committed=(0, 1)),
    "last features row before a commit": KillPoint("INSERT INTO features", 1, 2, files=(3, 4), committed=(3,)),
    "at the commit of a source": KillPoint("COMMIT", 1, 2, files=(5, 7, 2), committed=(5,)),
    "replacing an indexed video": KillPoint("INSERT INTO frames", 2, 1, files=(6,), committed=(6,), before=(6,),
                                            replace=True),
    "shortlist postings of a frame": KillPoint("INSERT OR REPLACE INTO postings", 1, 2, files=(3, 4), committed=(0, 1, 3),
                                               before=(0, 1), trained=True),
}


@pytest.mark.parametrize("point", KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_kill_9_inside_the_add_transaction_leaves_only_whole_sources(tmp_path: Path, media_files: list[Path],
                                                                     point: KillPoint) -> None:
    """SIGKILL a real `index add` at a known statement of its write transaction; the index keeps every
    committed source whole, holds nothing of the interrupted one, and the same add then completes."""
    index = tmp_path / "index.sqlite"
    before: set[str] = set()
    if point.before:
        indexed = CliRunner().invoke(cli, ["index", "add", *(str(media_files[n]) for n in point.before),
                                           "--index", str(index)])
        assert indexed.exit_code == 0, indexed.stderr
        if point.trained:
            trained = CliRunner().invoke(cli, ["index", "train", "--index", str(index)])
            assert trained.exit_code == 0, trained.stderr
        before = assert_sound(index, media_files)
    files = [media_files[n] for n in point.files]
    add = ["index", "add", *files, "--index", index, "-q", *(["--replace"] if point.replace else [])]
    stdout = kill_inside_transaction(point, add, index)
    assert stdout is not None, f"the add finished without reaching {point}"

    if point.statement.startswith("CREATE"):
        # Killed while creating the index: the schema is all there or not at all.
        conn = sqlite3.connect(index)
        try:
            assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        finally:
            conn.close()
        with pytest.raises(IndexStoreError, match="not a provcheck index yet"):
            SQLiteStore(index)
    else:
        assert assert_sound(index, media_files) == {sha256_file(media_files[n]) for n in point.committed}
        if point.replace:
            assert assert_sound(index, media_files) == before  # the old version is intact, frames and features
    printed = [line.split("'")[1] for line in stdout.splitlines() if line.startswith("added #")]
    assert printed == [media_files[n].name for n in point.committed if n not in point.before]

    resumed = CliRunner().invoke(cli, [str(arg) for arg in add])
    assert resumed.exit_code == 0, resumed.stderr
    everything = {sha256_file(path) for path in files} | before
    assert assert_sound(index, media_files) == everything


def test_kill_9_while_training_keeps_the_previous_shortlist(tmp_path: Path, media_files: list[Path]) -> None:
    """SIGKILL `index train` while it re-quantises the stored frames: the index keeps the vocabulary and
    postings the add trained (same generation, same rows), is sound, and training again completes."""
    index = tmp_path / "index.sqlite"
    indexed = CliRunner().invoke(cli, ["index", "add", *(str(media_files[n]) for n in (0, 1, 6)), "--index", str(index)])
    assert indexed.exit_code == 0, indexed.stderr
    before = assert_sound(index, media_files)
    shortlist = shortlist_rows(index)
    assert shortlist[0] == 1 and shortlist[2] > 0  # the add trained it (past TRAIN_AT keypoints)
    point = KillPoint("INSERT OR REPLACE INTO postings", 4, 0, files=(), committed=())
    assert kill_inside_transaction(point, ["index", "train", "--index", index], index) is not None
    assert assert_sound(index, media_files) == before
    assert shortlist_rows(index) == shortlist
    trained = CliRunner().invoke(cli, ["index", "train", "--index", str(index)])
    assert trained.exit_code == 0, trained.stderr
    assert assert_sound(index, media_files) == before
    assert shortlist_rows(index)[1] == shortlist[1] + 1  # a new generation


def test_kill_9_while_compacting_leaves_every_descriptor_raw(tmp_path: Path, media_files: list[Path]) -> None:
    """SIGKILL `index compact` inside its first batch of re-encoded frames: no codec, no coded row, a sound
    index; compacting again completes. (An interruption between batches: test_compact.)"""
    index = tmp_path / "index.sqlite"
    indexed = CliRunner().invoke(cli, ["index", "add", *map(str, media_files), "--index", str(index)])
    assert indexed.exit_code == 0, indexed.stderr
    before = assert_sound(index, media_files)
    point = KillPoint("UPDATE features SET descriptors", 3, 0, files=(), committed=())
    assert kill_inside_transaction(point, ["index", "compact", "--index", index], index) is not None
    assert assert_sound(index, media_files) == before
    assert coded_rows(index) == (0, 0)
    compacted = CliRunner().invoke(cli, ["index", "compact", "--index", str(index)])
    assert compacted.exit_code == 0, compacted.stderr
    assert assert_sound(index, media_files) == before
    codecs, coded = coded_rows(index)
    assert codecs == 1 and coded == len(SQLiteStore(index).featured_frame_ids())


def coded_rows(index: Path) -> tuple[int, int]:
    """(codec rows, feature rows stored as codes)."""
    conn = sqlite3.connect(index)
    try:
        row = conn.execute("SELECT (SELECT count(*) FROM descriptor_codec),"
                           " (SELECT count(*) FROM features WHERE encoding = 1)").fetchone()
        return int(row[0]), int(row[1])
    finally:
        conn.close()


def shortlist_rows(index: Path) -> tuple[int, int, int, int]:
    """(vocabularies, vocabulary generation, postings rows, total of their words' bytes)."""
    conn = sqlite3.connect(index)
    try:
        row = conn.execute("SELECT (SELECT count(*) FROM vocabulary), (SELECT coalesce(max(generation), 0) FROM"
                           " vocabulary), (SELECT count(*) FROM postings), (SELECT coalesce(sum(length(words)), 0)"
                           " FROM postings)").fetchone()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])
    finally:
        conn.close()


def kill_inside_transaction(point: KillPoint, args: list[str | Path], index: Path) -> str | None:
    """Run ``provcheck ARGS`` in a child that stops at ``point``; check it holds the write lock there, SIGKILL it.

    Returns:
        What the child printed on stdout before it was killed (unbuffered, so nothing is lost),
        or ``None`` when it finished (exit 0) without reaching the point.
    """
    reader, writer = os.pipe()
    command = [sys.executable, "-u", "-c", KILLED_CHILD, str(writer), point.statement, str(point.occurrence),
               str(point.source), *(str(arg) for arg in args)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, pass_fds=(writer,))
        os.close(writer)
        try:
            ready, _, _ = select.select([reader], [], [], CHILD_TIMEOUT_S)
            signal_text = os.read(reader, 64) if ready else b""
            if signal_text != b"inside\n":
                if not ready:
                    process.kill()
                if process.wait() == 0:
                    return None
                err.seek(0)
                pytest.fail(f"the child failed before {point}: exit {process.returncode}\n{err.read().decode()[-3000:]}")
            # The child is stopped inside its write transaction: nobody else can start one.
            probe = sqlite3.connect(index, timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    probe.execute("BEGIN IMMEDIATE")
            finally:
                probe.close()
            workers = children_of(process.pid)
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=CHILD_TIMEOUT_S) == -signal.SIGKILL
            assert_gone(workers)  # a killed command leaves no worker process behind
        finally:
            os.close(reader)
            if process.poll() is None:
                process.kill()
                process.wait()
        out.seek(0)
        return out.read().decode()


@pytest.mark.slow
def test_kill_9_before_every_statement_of_a_four_file_add(tmp_path: Path, media_files: list[Path]) -> None:
    """SIGKILL a four-file `index add` before each statement of each of its write transactions in turn.

    The files are reported and committed in order, between transactions, so at every kill
    point the index holds exactly the files reported so far, each whole.
    """
    files = [media_files[n] for n in (0, 1, 6, 2)]
    kills = 0
    for occurrence in itertools.count(1):
        index = tmp_path / f"killed_{occurrence}.sqlite"
        add = ["index", "add", *files, "--index", index, "-q"]
        stdout = kill_inside_transaction(KillPoint("", occurrence, 0, files=(), committed=()), add, index)
        if stdout is None:
            break  # there is no statement number `occurrence`: the add ran to its end
        kills += 1
        printed = [line.split("'")[1] for line in stdout.splitlines() if line.startswith("added #")]
        assert printed == [path.name for path in files[: len(printed)]]
        conn = sqlite3.connect(index)
        try:
            has_schema = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        finally:
            conn.close()
        if has_schema:
            assert assert_sound(index, media_files) == {sha256_file(path) for path in files[: len(printed)]}
        else:
            assert printed == []  # killed while creating the index: no schema at all, not half of one
        resumed = CliRunner().invoke(cli, [str(arg) for arg in add])
        assert resumed.exit_code == 0, resumed.stderr
        assert assert_sound(index, media_files) == {sha256_file(path) for path in files}
    assert kills >= 20  # every statement of every transaction: schema, three stills, a video


@pytest.mark.parametrize("trained", [False, True], ids=["untrained", "trained shortlist"])
def test_four_concurrent_adds_lose_nothing(tmp_path: Path, media_files: list[Path], trained: bool) -> None:
    """Four `index add` processes at once; with a trained shortlist every add also writes postings."""
    index = tmp_path / "shared.sqlite"
    rest = media_files
    if trained:
        first = CliRunner().invoke(cli, ["index", "add", str(media_files[0]), "--index", str(index), "-q"])
        assert first.exit_code == 0 and CliRunner().invoke(cli, ["index", "train", "--index", str(index)]).exit_code == 0
        rest = media_files[1:]
    groups = [rest[number::4] for number in range(4)]
    processes = [subprocess.Popen(provcheck_command("index", "add", *group, "--index", index, "-q"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for group in groups]
    outcomes = [process.communicate(timeout=180) for process in processes]
    for process, (_, stderr) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, stderr.decode()
    assert len(assert_sound(index, media_files)) == len(media_files)


def test_damaged_or_foreign_index_gives_exit_3_and_is_never_overwritten(tmp_path: Path, media_files: list[Path]) -> None:
    cases = {
        "text.sqlite": b"not a database at all\n" * 40,
        "half.sqlite": b"SQLite format 3\x00" + bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8)),
    }
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    cases["foreign.sqlite"] = foreign.read_bytes()
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        for args in (("index", "add", media_files[0]), ("index", "check"), ("match", media_files[0])):
            result = subprocess.run(provcheck_command(*args, "--index", path), capture_output=True, timeout=60)
            assert result.returncode == ExitCode.INDEX_ERROR, (name, args, result.stderr)
            stderr = result.stderr.decode()
            assert "Traceback" not in stderr and str(path) in stderr and stderr.count("\n") == 1
        assert path.read_bytes() == content
        assert not os.path.exists(f"{path}-wal") or os.path.getsize(f"{path}-wal") == 0
