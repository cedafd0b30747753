"""Adding several files with worker processes (``Index.add_many``, ``index add --jobs``).

The index written with ``jobs=2`` must be the one ``jobs=1`` writes, byte for byte and
ids included, and the CLI must say the same things; real clips, real processes, real SQLite.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import encode_clip, index_rows, pan_frames, texture, write_still

from provcheck import Index
from provcheck.api import AddProgress
from provcheck.cli import cli
from provcheck.results import FailedFile, SkippedFile
from provcheck.store import SourceRecord


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, pan_clip: Path, other_clip: Path, still_path: Path) -> list[Path]:
    """Three clips, two stills and a truncated clip, in a deliberate (unsorted) order."""
    folder = tmp_path_factory.mktemp("batch")
    short = encode_clip(folder / "short.mp4", pan_frames(seed=9, count=30))
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(pan_clip.read_bytes()[: pan_clip.stat().st_size // 2])
    second_still = write_still(folder / "second.jpg", texture(12, 360, 540), quality=90)
    return [shutil.copy(pan_clip, folder / "pan.mp4"), shutil.copy(still_path, folder / "still.png"), truncated,
            short, second_still, shutil.copy(other_clip, folder / "other.mp4")]


def test_two_workers_write_the_index_one_writes(tmp_path: Path, batch: list[Path]) -> None:
    outcomes = {}
    workers_seen = {}
    for jobs in (1, 2):
        reports: list[AddProgress] = []

        def seen(state: AddProgress, reports: list[AddProgress] = reports, jobs: int = jobs) -> None:
            reports.append(state)
            workers_seen[jobs] = workers_seen.get(jobs, 0) + len(multiprocessing.active_children())

        with Index(tmp_path / f"jobs{jobs}.sqlite") as index:
            outcomes[jobs] = index.add_many(batch, jobs=jobs, title=None, published="2016-06-30", progress=seen)
        # one report at the start and after each file, and more while files are read
        finished = [(state.files_done, state.files_total) for state in reports]
        assert sorted(set(finished)) == [(n, 6) for n in range(7)] and finished == sorted(finished)
        assert all(state.files_done <= state.files_read <= state.files_total for state in reports)
        assert reports[-1].files_read == 6 and reports[-1].video_s == pytest.approx(
            sum(o.duration_s or 0.0 for o in outcomes[jobs] if isinstance(o, SourceRecord)))
        assert reports[-1].frames == sum(o.frame_count for o in outcomes[jobs] if isinstance(o, SourceRecord))
    assert workers_seen[1] == 0 and workers_seen[2] > 0  # jobs=2 really ran worker processes
    first, second = index_rows(tmp_path / "jobs1.sqlite"), index_rows(tmp_path / "jobs2.sqlite")
    assert [row[0] for row in first["sources"]] == [1, 2, 3, 4, 5]
    assert len(first["frames"]) > 10 and len(first["features"]) == len(first["frames"])
    assert first == second
    # the truncated clip is reported in its place, the others are added in the order given
    kinds = [type(outcome).__name__ for outcome in outcomes[2]]
    assert kinds == ["SourceRecord", "SourceRecord", "FailedFile", "SourceRecord", "SourceRecord", "SourceRecord"]
    failed = outcomes[2][2]
    assert isinstance(failed, FailedFile) and failed == outcomes[1][2] and str(batch[2]) in failed.error
    assert [o.title for o in outcomes[2] if isinstance(o, SourceRecord)] == [
        "pan.mp4", "still.png", "short.mp4", "second.jpg", "other.mp4"]


def test_copies_in_one_batch_are_skipped_as_one_by_one(tmp_path: Path, batch: list[Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths: the messages name each file as given, as adding them one by one does."""
    monkeypatch.chdir(tmp_path)
    copy = Path("copy of still.png")
    shutil.copy(batch[1], copy)
    files = [batch[1], batch[3], copy, batch[1]]
    results = {}
    for jobs in (1, 2):
        with Index(tmp_path / f"jobs{jobs}.sqlite") as index:
            results[jobs] = index.add_many(files, jobs=jobs)
    assert results[1] == [o if isinstance(o, SkippedFile) else results[1][i] for i, o in enumerate(results[2])]
    skipped = [o for o in results[2] if isinstance(o, SkippedFile)]
    assert [(o.path, o.source_id) for o in skipped] == [(str(copy), 1), (str(batch[1]), 1)]
    assert [o.message.split(": already indexed as source 1 ")[0] for o in skipped] == [str(copy), str(batch[1])]
    assert index_rows(tmp_path / "jobs1.sqlite") == index_rows(tmp_path / "jobs2.sqlite")


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_cli_says_the_same_with_jobs_1_and_2(tmp_path: Path, batch: list[Path], as_json: bool) -> None:
    said = {}
    for jobs in (1, 2):
        index_path = tmp_path / f"jobs{jobs}.sqlite"
        # the second run adds the batch again: every file is then skipped
        for attempt in (1, 2):
            args = ["index", "add", *batch, batch[0], "--index", index_path, "--jobs", jobs, "--notes", "n"]
            code, out, err = run(*args, *(["--json"] if as_json else []))
            if as_json:
                document = json.loads(out)
                assert document.pop("index") == str(index_path)
                for source in document["added"]:
                    assert source.pop("added_at")
                out = json.dumps(document)
            said[jobs, attempt] = (code, out, err)
    assert said[1, 1] == said[2, 1] and said[1, 2] == said[2, 2]
    code, out, err = said[2, 1]
    assert code == 1 and "5 added, 1 skipped, 1 failed" in err and str(batch[2]) in err
    if not as_json:
        assert out.splitlines()[0].startswith("added #1 video 'pan.mp4'") and out.count("added #") == 5
    assert said[2, 2][0] == 1 and "0 added, 6 skipped, 1 failed" in said[2, 2][2]


def test_jobs_must_be_positive(tmp_path: Path, batch: list[Path]) -> None:
    assert run("index", "add", batch[1], "--index", tmp_path / "i.sqlite", "--jobs", 0)[0] == 2
    with Index(tmp_path / "i.sqlite") as index, pytest.raises(ValueError, match="at least 1"):
        index.add_many(batch, jobs=0)


@pytest.mark.parametrize("noticed", [False, True], ids=["while-reading", "pool-already-broken"])
def test_a_worker_killed_mid_batch_loses_no_file(tmp_path: Path, batch: list[Path], noticed: bool) -> None:
    """A worker process that dies (SIGKILL: the out-of-memory killer, a decoder crash) costs a re-read, not a file.

    ``pool-already-broken``: the kill is noticed (the executor stops every worker) before
    the next file is handed over, so that hand-over meets a broken pool.
    """
    import os
    import signal
    import time

    killed: list[int] = []

    def kill_a_worker(state: AddProgress) -> None:
        if state.files_done == 1 and not killed:  # the pool is up, other files are being read
            children = multiprocessing.active_children()
            if children and children[0].pid is not None:
                killed.append(children[0].pid)
                os.kill(children[0].pid, signal.SIGKILL)
                give_up = time.monotonic() + 30  # a guard against hanging, not a measured bound
                while noticed and multiprocessing.active_children() and time.monotonic() < give_up:
                    time.sleep(0.01)

    readable = [path for path in batch if path.name != "truncated.mp4"]
    with Index(tmp_path / "killed.sqlite") as index:
        outcomes = index.add_many(readable, jobs=2, progress=kill_a_worker)
        assert killed, "no worker process was running to kill"
        assert all(isinstance(outcome, SourceRecord) for outcome in outcomes), outcomes
        assert [Path(o.path).name for o in outcomes if isinstance(o, SourceRecord)] == [p.name for p in readable]
        assert index.verify_integrity().ok
    with Index(tmp_path / "serial.sqlite") as serial:
        serial.add_many(readable, jobs=1)
    assert index_rows(tmp_path / "killed.sqlite")["frames"] == index_rows(tmp_path / "serial.sqlite")["frames"]
