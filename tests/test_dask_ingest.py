"""Reading files on a Dask cluster (``index add --dask``, ``Index.add_many(dask=...)``).

A real ``distributed.LocalCluster`` (two worker processes of one thread each), real
clips, real SQLite, the real CLI: the index written through Dask must be the one
``--jobs 1`` writes, row for row, and a worker killed mid-job must cost its task a
re-run, or that file alone, never half a source.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import encode_clip, index_rows, pan_frames, texture, write_still

from provcheck import Index
from provcheck.cli import cli
from provcheck.store import SourceRecord

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="Dask's distributed is not installed (pip install 'provcheck[dask]')")
#: Longest a test waits for a command or a worker; a guard against hanging, not a measured bound.
GIVE_UP_S = 120
#: Looks (0.1 s apart, plus a round trip to the workers) that must see a task running before its
#: worker is killed: the short files are read in fewer, the long clips in many more.
LONG_TASK_LOOKS = 3


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, pan_clip: Path, other_clip: Path, still_path: Path) -> list[Path]:
    """Clips, stills, a truncated clip and a copy of the first file, in a deliberate (unsorted) order."""
    folder = tmp_path_factory.mktemp("dask-batch")
    pan = shutil.copy(pan_clip, folder / "pan.mp4")
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(pan_clip.read_bytes()[: pan_clip.stat().st_size // 2])
    short = encode_clip(folder / "short.mp4", pan_frames(seed=9, count=30))
    second_still = write_still(folder / "second.jpg", texture(12, 360, 540), quality=90)
    return [pan, shutil.copy(still_path, folder / "still.png"), truncated, short, second_still,
            shutil.copy(other_clip, folder / "other.mp4"), pan]


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two 24 s clips: long enough to be killed while being read, and to be read in two segments."""
    folder = tmp_path_factory.mktemp("dask-long")
    return [encode_clip(folder / f"long{seed}.mp4", pan_frames(seed=seed, count=600, step_px=2)) for seed in (21, 22)]


def cluster_of(allowed_failures: int | None = None) -> Any:
    """A LocalCluster of two one-thread worker processes, quiet, on 127.0.0.1 without a dashboard.

    Its HTTP routes on a free port, as ``--dask local`` does: the default 8787 may be
    another cluster's, and the warning that says so is an error here.
    """
    import dask
    import distributed

    settings = {} if allowed_failures is None else {"distributed.scheduler.allowed-failures": allowed_failures}
    with dask.config.set(settings):  # read by the scheduler as it starts (in this process)
        return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                        silence_logs=logging.CRITICAL)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a running two-worker cluster, shared by the tests that do not harm it."""
    with cluster_of() as cluster:
        yield str(cluster.scheduler_address)


def add(*args: object) -> subprocess.CompletedProcess[str]:
    """``provcheck index add`` in a real process (the cluster's client is then its own)."""
    return subprocess.run([sys.executable, "-m", "provcheck", "index", "add", *map(str, args)], capture_output=True,
                          text=True, timeout=GIVE_UP_S)


def comparable(json_text: str) -> dict[str, Any]:
    """An ``index add --json`` document less what differs between two indexes of the same files."""
    document: dict[str, Any] = json.loads(json_text)
    document.pop("index")
    for source in document["added"]:
        source.pop("added_at")
    return document


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, files: list[Path],
              long_clips: list[Path]) -> dict[str, Any]:
    """``index add --jobs 1`` of the batch (exit code, JSON, stderr, rows), of the long clips (rows), and
    every file's frame count by name."""
    folder = tmp_path_factory.mktemp("reference")
    done = add(*files, "--index", folder / "batch.sqlite", "--jobs", 1, "--json")
    document = comparable(done.stdout)
    long_index = folder / "long.sqlite"
    with Index(long_index) as index:
        outcomes = index.add_many(long_clips, jobs=1)
    frame_counts = {Path(source["path"]).name: source["frames"] for source in document["added"]}
    frame_counts |= {Path(o.path).name: o.frame_count for o in outcomes if isinstance(o, SourceRecord)}
    return {"code": done.returncode, "json": document, "stderr": done.stderr, "rows": index_rows(folder / "batch.sqlite"),
            "long_rows": index_rows(long_index), "frame_counts": frame_counts}


@needs_dask
def test_a_dask_cluster_writes_the_index_jobs_1_writes(tmp_path: Path, files: list[Path], scheduler: str,
                                                       reference: dict[str, Any]) -> None:
    """Same outcomes in the same order (a failed file in its place, the copy skipped), same rows, ids included."""
    done = add(*files, "--index", tmp_path / "dask.sqlite", "--dask", scheduler, "--json")
    assert (done.returncode, done.stderr) == (reference["code"], reference["stderr"])
    assert comparable(done.stdout) == reference["json"]
    assert index_rows(tmp_path / "dask.sqlite") == reference["rows"]
    assert done.returncode == 1 and "5 added, 1 skipped, 1 failed" in done.stderr
    assert f"{files[2]}: video is truncated" in done.stderr
    assert len(reference["rows"]["frames"]) > 10


@needs_dask
def test_dask_local_starts_and_stops_a_cluster_of_jobs_workers(tmp_path: Path, files: list[Path],
                                                               reference: dict[str, Any]) -> None:
    """In this process (CliRunner): the cluster it starts is closed again, its processes gone, warning-free."""
    index_path = tmp_path / "local.sqlite"
    before = set(multiprocessing.active_children())  # the shared cluster's workers, when it is up
    result = CliRunner().invoke(cli, ["index", "add", *map(str, files), "--index", str(index_path), "--dask", "local",
                                      "--jobs", "2", "--json"])
    assert set(multiprocessing.active_children()) <= before
    assert (result.exit_code, result.stderr) == (reference["code"], reference["stderr"])
    assert comparable(result.stdout) == reference["json"]
    assert index_rows(index_path) == reference["rows"]


@needs_dask
def test_a_long_video_alone_is_read_in_segments_by_two_workers(tmp_path: Path, long_clips: list[Path],
                                                               scheduler: str, reference: dict[str, Any]) -> None:
    """One file at a time on two workers: each 24 s clip is cut in two segments, joined into what one pass gives."""
    import distributed

    with distributed.Client(scheduler, set_as_default=False) as client:
        with Index(tmp_path / "segments.sqlite") as index:
            for clip in long_clips:  # one file per call: the pool's two workers share it
                outcomes = index.add_many([clip], dask=client)
                assert [type(outcome) for outcome in outcomes] == [SourceRecord]
        prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert "provcheck-segment" in prefixes  # the segment tasks ran (the prefix of their keys)
    assert index_rows(tmp_path / "segments.sqlite") == reference["long_rows"]


def _worker_tasks(dask_worker: Any) -> tuple[int, list[str]]:
    """In a worker: its pid and the keys of the tasks it is running."""
    return os.getpid(), [str(task.key) for task in dask_worker.state.executing]


@needs_dask
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("allowed_failures", [None, 0], ids=["rerun", "no-retry"])
def test_a_worker_killed_mid_file_loses_that_file_at_most(tmp_path: Path, files: list[Path], long_clips: list[Path],
                                                          reference: dict[str, Any], allowed_failures: int | None,
                                                          backend: str, request: pytest.FixtureRequest) -> None:
    """SIGKILL a worker process while it reads a long clip (the out-of-memory killer, a decoder crash).

    ``rerun``: the scheduler runs the task again on a worker (the nanny restarts the
    killed one), and the index is the one ``--jobs 1`` writes. ``no-retry``
    (``allowed-failures`` 0): the files whose tasks the worker held fail, each said in
    one line naming it; every other file is indexed whole. Into PostgreSQL the worker
    also writes the file, so it may die inside its transaction: nothing of it is kept.
    """
    import distributed

    batch = [long_clips[0], *files[:2], long_clips[1], *files[3:6]]
    index_path = str(tmp_path / "killed.sqlite") if backend == "sqlite" else request.getfixturevalue("pg_url")
    with cluster_of(allowed_failures) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        command = subprocess.Popen(
            [sys.executable, "-m", "provcheck", "index", "add", *map(str, batch), "--index", index_path,
             "--dask", str(cluster.scheduler_address), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = None
        give_up = time.monotonic() + GIVE_UP_S
        looks: dict[tuple[int, str], int] = {}  # (worker pid, task) -> looks in a row that saw it running
        while killed is None and command.poll() is None and time.monotonic() < give_up:
            running = {(pid, keys[0]) for pid, keys in client.run(_worker_tasks).values() if keys}
            looks = {task: looks.get(task, 0) + 1 for task in running}
            # a task seen running on LONG_TASK_LOOKS looks in a row: most likely a long clip, being read
            long_running = [pid for (pid, _), count in looks.items() if count >= LONG_TASK_LOOKS]
            if long_running:
                killed = long_running[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.1)
        stdout, stderr = command.communicate(timeout=GIVE_UP_S)
    assert killed is not None, "no worker was seen reading a file"
    document = json.loads(stdout)
    assert "added" in document, stderr
    failed = {entry["path"]: entry["error"] for entry in document["errors"]}
    added = {Path(source["path"]).name: source["frames"] for source in document["added"]}
    # a worker killed after its write committed, before it answered: its task's re-run finds the file indexed
    rewritten = {Path(entry["path"]).name for entry in document["skipped"]}
    assert not rewritten or backend == "postgresql"
    # every file is either indexed whole (as many frames as one pass) or reported failed in one line naming it
    assert set(added) | rewritten | {Path(path).name for path in failed} == {path.name for path in batch}
    assert set(added).isdisjoint(Path(path).name for path in failed)
    assert added == {name: reference["frame_counts"][name] for name in added}
    assert all(path in error and "a Dask worker died reading this file" in error and "\n" not in error
               for path, error in failed.items())
    if allowed_failures is None:
        assert command.returncode == 0 and not failed, stderr
        assert [Path(source["path"]).name for source in document["added"]] == [
            path.name for path in batch if path.name not in rewritten]
    elif not rewritten:  # (a worker killed after its commit has its file reported added: then nothing fails)
        assert (command.returncode == 1 and failed) or (
            backend == "postgresql" and command.returncode == 0 and set(added) == {path.name for path in batch}), stderr
        assert "Traceback" not in stderr
    with Index(index_path) as index:
        assert index.verify_integrity().ok
        stored = {Path(source.path).name: source.frame_count for source in index.sources()}
    assert stored == {name: reference["frame_counts"][name] for name in [*added, *rewritten]}
    checked = subprocess.run([sys.executable, "-m", "provcheck", "index", "check", "--index", index_path],
                             capture_output=True, text=True, timeout=GIVE_UP_S)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_without_dask_the_option_says_which_extra_to_install(tmp_path: Path, still_path: Path) -> None:
    """A Python where ``distributed`` cannot be imported: one line naming the extra, exit 2, no index made."""
    index_path = tmp_path / "never.sqlite"
    program = ("import sys; sys.modules['distributed'] = None; from provcheck.cli import main; "
               f"sys.argv = ['provcheck', 'index', 'add', {str(still_path)!r}, '--index', {str(index_path)!r}, "
               "'--dask', 'local']; main()")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=GIVE_UP_S)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "provcheck: error: --dask needs Dask's distributed, which is not installed: pip install 'provcheck[dask]'"]
    assert not index_path.exists()


@needs_dask
@pytest.mark.parametrize("address", ["nonsense", "tcp://scheduler"], ids=["no-scheme", "no-port"])
def test_an_address_without_a_port_is_a_usage_error(tmp_path: Path, still_path: Path, address: str) -> None:
    result = CliRunner().invoke(cli, ["index", "add", str(still_path), "--index", str(tmp_path / "i.sqlite"),
                                      "--dask", address])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"provcheck: error: --dask takes 'local' or a scheduler's address "
                                    f"(tcp://host:8786), not {address!r}: missing port number")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "i.sqlite").exists()


def test_index_add_without_the_option_imports_no_dask(tmp_path: Path, still_path: Path) -> None:
    """Dask costs start-up time: only ``--dask`` loads it (``-X importtime`` lists every module imported)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "provcheck", "index", "add", str(still_path),
                           "--index", str(tmp_path / "i.sqlite"), "--quiet"], capture_output=True, text=True,
                          timeout=GIVE_UP_S)
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "provcheck" in imported and not imported & {"dask", "distributed"}


@needs_dask
def test_workers_running_another_provcheck_stop_the_job_before_any_file(tmp_path: Path, still_path: Path,
                                                                          scheduler: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """This process claims another version than the workers': their fingerprints would not be this one's."""
    from provcheck import dask_pool
    from provcheck.errors import ClusterError

    monkeypatch.setattr(dask_pool, "__version__", "0.0.0-other")
    with Index(tmp_path / "i.sqlite") as index, pytest.raises(ClusterError, match="runs provcheck .* install this "
                                                               r"provcheck \(provcheck 0.0.0-other"):
        index.add_many([still_path], dask=scheduler)
    assert not (tmp_path / "i.sqlite").exists()


@needs_dask
def test_a_scheduler_without_workers_is_given_up_on(tmp_path: Path, still_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import distributed

    from provcheck import dask_pool

    monkeypatch.setattr(dask_pool, "WORKER_WAIT_S", 0.5)
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                  silence_logs=logging.CRITICAL) as empty:
        result = CliRunner().invoke(cli, ["index", "add", str(still_path), "--index", str(tmp_path / "i.sqlite"),
                                          "--dask", str(empty.scheduler_address)])
    assert result.exit_code == 2 and result.stderr == (
        f"provcheck: error: no Dask worker joined the scheduler at {empty.scheduler_address} within 0.5 s: "
        f"start some (dask worker {empty.scheduler_address})\n")


def test_a_duplicate_raised_in_a_worker_reaches_the_caller_with_its_source_id() -> None:
    """A Dask worker writing a database index may meet a file indexed meanwhile: the error is pickled back."""
    import pickle

    from provcheck.errors import DuplicateSourceError

    again = pickle.loads(pickle.dumps(DuplicateSourceError("clip.mp4: already indexed as source 7", 7)))
    assert isinstance(again, DuplicateSourceError) and again.source_id == 7 and "source 7" in str(again)
