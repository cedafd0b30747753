"""Reading sources for the index on a Dask cluster (``index add --dask``): :class:`DaskPool`.

The counterpart of :class:`~provcheck.ingest.WorkerPool` for Dask's ``distributed``: the
same Python tasks (:func:`~provcheck.ingest.read_content`, one file each, and
:func:`~provcheck.ingest.read_segment`, one time segment of a long video each) run on a
``LocalCluster`` of this machine, on a ``dask scheduler``/``dask worker`` pair, or on
whatever Dask runs on (SLURM through dask-jobqueue, Kubernetes).

Who writes the index: into a SQLite file (one writer), workers return the fingerprints
and the calling process writes each source, in the order given, as with local workers.
Into a PostgreSQL index, a worker that read a whole file writes it itself, in one
transaction by ``COPY`` (:func:`_add_on_worker`), and returns the stored source: the
fingerprints never travel through the calling process, which only waits, reports each
file's outcome in the order given, and keeps the shortlist once the batch is done.
Source ids then follow the order the workers finish in. A video read in time segments
by several workers is joined, and written, by the calling process; so is a file whose
worker cannot reach the database, or loses its connection while writing (its
fingerprints are returned instead).

Workers open the files at the paths this process gives them (it sniffs and hashes each
file first, so it reads them too): a remote worker needs them at the same paths, on a
shared file system. A worker that dies mid-file loses that file's task only (a write not committed leaves
nothing): the scheduler runs it again on another worker, up to
``distributed.scheduler.allowed-failures`` times, after which the file fails and the
others carry on. A worker killed after its write committed but before it answered left
the file stored whole: the caller finds it (same digest and path) and reports it added,
whether or not the scheduler ran the task again.

Dask is an optional extra (``pip install 'provcheck[dask]'``) imported by this module
only, and this module only when ``--dask`` is asked for.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import ClusterError, IndexStoreError, MediaError
from .hashing import HASHERS
from .ingest import FuturesPool, Prepared, SegmentContent, SourceContent, new_source, read_content, read_segment
from .media.video import VideoInfo, VideoSegment
from .store import SourceRecord
from .store.locations import open_store

if TYPE_CHECKING:
    from distributed import Client

#: A ``distributed.Future``, held as Any: ``distributed`` is only partly annotated (mypy strict refuses its calls).
DaskFuture = Any

#: What ``--dask`` takes to start a cluster on this machine instead of joining one.
LOCAL = "local"
#: How to install what ``--dask`` needs, said when it is missing.
INSTALL_HINT = "pip install 'provcheck[dask]'"
#: Dask's own log lines shown while a pool runs: none below this. A worker restarting, or the
#: traceback of a lost connection, would only repeat (as several lines, on stderr) what the
#: job reports in one line: a failed file, or a ClusterError.
DASK_LOG_LEVEL = logging.CRITICAL
#: How long a scheduler with no worker is given for one to join before the job gives up, in
#: seconds: its tasks would otherwise wait, silently, for ever. (Not for a Client passed in:
#: whoever made it can wait for their own workers, a batch queue's say.)
WORKER_WAIT_S = 60.0


def _stamp() -> str:
    """What a worker must share with this process for its fingerprints to be the ones this process makes."""
    hashers = ", ".join(f"{hasher.name} v{hasher.version}" for hasher in HASHERS)
    return f"provcheck {__version__} ({hashers})"


def _check_worker(stamp: str, path: Path) -> None:
    """In a worker: refuse to read for a process running another provcheck, or a file this machine lacks."""
    if stamp != _stamp():
        raise ClusterError(f"a Dask worker on {socket.gethostname()} runs {_stamp()}, this process {stamp}: "
                           "install the same provcheck on every worker")
    if not path.exists():
        raise MediaError(f"{path}: no such file on Dask worker {socket.gethostname()}; "
                         "workers read the files at the paths this machine gives them (a shared file system)")


def _read_on_worker(stamp: str, path: Path, kind: str, fps: float, probe: VideoInfo | None) -> SourceContent:
    """The task of a Dask worker: read and fingerprint one file."""
    _check_worker(stamp, path)
    return read_content(path, kind, fps, None, probe)


#: In a worker: the database locations it could not connect to (it then returns fingerprints at once).
_unreachable: set[str] = set()


def _add_on_worker(stamp: str, location: str, prepared: Prepared) -> SourceRecord | SourceContent:
    """The task of a Dask worker writing a database index: read one file and add it, in one transaction; the
    stored source, or the fingerprints when this worker cannot reach the database (the caller writes them)."""
    _check_worker(stamp, prepared.path)
    content = read_content(prepared.path, prepared.kind, prepared.details.fps, None, prepared.probe)
    if location in _unreachable:
        return content
    try:
        store = open_store(location)
    except IndexStoreError:
        _unreachable.add(location)  # not waited for again, file after file, by this worker
        return content
    try:
        return store.add_source(new_source(prepared, content), content.frames, replace=prepared.details.replace)
    except IndexStoreError:  # the connection broke (its transaction rolled back): the caller writes the file
        return content
    finally:
        store.close()


def _read_segment_on_worker(stamp: str, path: Path, fps: float, info: VideoInfo, segment: VideoSegment) -> SegmentContent:
    """The task of a Dask worker: read and fingerprint one time segment of a video."""
    _check_worker(stamp, path)
    return read_segment(path, fps, info, segment)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _distributed() -> Any:
    """The ``distributed`` module, or a one-line error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--dask needs Dask's distributed, which is not installed: {INSTALL_HINT}") from None
    return distributed


class _QuietLogs:
    """Dask's log handlers held at DASK_LOG_LEVEL until :meth:`restore` (as ``LocalCluster(silence_logs=)`` does)."""

    def __init__(self) -> None:
        self._old: list[tuple[logging.Handler, int]] = []
        for name in ("distributed", "bokeh"):
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, logging.StreamHandler):
                    self._old.append((handler, handler.level))
                    handler.setLevel(DASK_LOG_LEVEL)

    def restore(self) -> None:
        for handler, level in self._old:
            handler.setLevel(level)
        self._old.clear()


@dataclass
class _DaskTask:
    """A file handed to the cluster: read whole (one future) or in time segments (one future each)."""

    prepared: Prepared
    futures: list[DaskFuture]
    segments: list[VideoSegment] | None = None


class DaskPool(FuturesPool):
    """Dask workers reading files for :meth:`provcheck.api.Index.iter_add` (a :class:`~provcheck.ingest.ReadPool`).

    A file is one task; a long video, when fewer files are left than workers, one task
    per time segment, joined here into exactly what one pass gives (a video whose
    segments do not join exactly, or one of which fails, is read again as one task).
    Every file goes to the cluster, a batch of one too.

    Progress is coarse: a file counts as read when its task (or a segment's) is done,
    by the seconds of video it covers when they are known (a probed video); Dask
    workers have no shared memory with this process to report more often.

    Args:
        address: ``"local"`` to start a ``LocalCluster`` on this machine (``jobs``
            worker processes of one thread each, default one per core, on 127.0.0.1
            without a dashboard); a scheduler's address (``tcp://host:8786``); or a
            ``distributed.Client`` already connected (left open by :meth:`close`).
        jobs: worker processes of a local cluster; on another cluster, the files read at
            once (default: the threads of its workers when the job starts, at least 1).
        waiting: called every PROGRESS_POLL_S while a result is awaited (to draw progress).
        writes_to: a database index's location (with its password, if any): workers add
            each file they read whole to it themselves (see the module's docstring).

    Raises:
        ClusterError: Dask is not installed, or no scheduler answers at ``address``.
        ValueError: ``jobs`` under 1.
    """

    #: The cluster was asked for: a file alone is read there too, not in this process.
    reads_alone = True
    worker_name = "a Dask worker"

    def __init__(self, address: str | Client, jobs: int | None = None,
                 waiting: Callable[[], None] | None = None, writes_to: str | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}.")
        distributed = _distributed()
        self.waiting = waiting
        self._writes_to = writes_to
        #: Whether workers add the files they read whole to the index themselves (a database index).
        self.writes_index = writes_to is not None
        self._stamp = _stamp()
        self._killed_worker: type[Exception] = distributed.KilledWorker
        # the cluster's failures, not the segments': reading the file whole would meet them again
        self.pool_failures = (distributed.KilledWorker, CancelledError, ClusterError)
        self._own_client = not isinstance(address, distributed.Client)
        self._cluster: Any = None  # a LocalCluster when this pool started it
        self._tasks: dict[int, _DaskTask] = {}
        self._next_ticket = 0
        self._waiting_raised = False
        self._quiet = _QuietLogs()
        try:
            self._client: Any = self._connect(distributed, address, jobs)
        except BaseException:
            self._quiet.restore()
            raise
        try:
            self._check_cluster()
        except BaseException:
            self.close()
            raise
        threads = sum(self._client.nthreads().values())
        self.workers = jobs if jobs is not None else max(1, threads)

    def _connect(self, distributed: Any, address: str | Client, jobs: int | None) -> Any:
        """A client of the cluster asked for: a local one started now, a scheduler joined, or the one given."""
        if not isinstance(address, str):
            return address
        if address == LOCAL:
            count = jobs if jobs is not None else (os.cpu_count() or 1)
            # 127.0.0.1: a scheduler runs whatever it is sent, so it is not offered to the network. No
            # dashboard (bokeh may be missing), and the scheduler's HTTP routes on a free port: without
            # one they take 8787, or warn that it is taken (another cluster's) and take another
            try:
                self._cluster = distributed.LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                                         host="127.0.0.1", dashboard_address=None,
                                                         scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                                         silence_logs=DASK_LOG_LEVEL)
            except (OSError, RuntimeError) as exc:  # distributed says a worker failed to start as a RuntimeError
                raise ClusterError(f"could not start a local Dask cluster: {_one_line(exc)}") from None
            try:
                return distributed.Client(self._cluster, set_as_default=False)
            except BaseException:
                self._cluster.close()
                raise
        try:  # checked first: a Client refusing its address hangs for a minute when collected
            distributed.comm.get_address_host_port(address)
        except ValueError as exc:
            raise ClusterError(f"--dask takes {LOCAL!r} or a scheduler's address (tcp://host:8786), "
                               f"not {address!r}: {_one_line(exc)}") from None
        try:
            client = distributed.Client(address, set_as_default=False)
        except OSError as exc:  # a TimeoutError is an OSError
            raise ClusterError(f"no Dask scheduler answers at {address}: {_one_line(exc)}") from None
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            client.close()
            raise ClusterError(f"no Dask worker joined the scheduler at {address} within {WORKER_WAIT_S:g} s: "
                               f"start some (dask worker {address})") from None
        except BaseException:
            client.close()
            raise
        return client

    def _check_cluster(self) -> None:
        """Refuse a cluster that cannot run this provcheck's tasks, before any file is handed over.

        The scheduler unpickles each task, so it must import provcheck; a worker must run
        this provcheck (its fingerprints would be another version's). A worker joining
        later is checked by its first task (:func:`_check_worker`). Loading the module
        here also makes the workers import the media libraries now, not during the first file.
        """
        fix = f"install this provcheck ({self._stamp}) on the Dask scheduler and every worker"
        try:
            self._client.run_on_scheduler(_stamp)
        except Exception as exc:
            raise ClusterError(f"the Dask scheduler cannot load provcheck's tasks "
                               f"({type(exc).__name__}: {_one_line(exc)}): {fix}") from None
        for worker, stamp in sorted(self._client.run(_stamp, on_error="return").items()):
            if isinstance(stamp, BaseException):
                raise ClusterError(f"Dask worker {worker} cannot load provcheck's tasks ({_one_line(stamp)}): {fix}")
            if stamp != self._stamp:
                raise ClusterError(f"Dask worker {worker} runs {stamp}: {fix}")

    def _submit(self, function: Callable[..., Any], *args: Any) -> DaskFuture:
        # a unique key: the same file read twice (--replace, or again after its segments) is two tasks
        name = {_read_on_worker: "provcheck-read", _add_on_worker: "provcheck-add"}.get(function, "provcheck-segment")
        return self._client.submit(function, self._stamp, *args, key=f"{name}-{uuid.uuid4().hex}")

    def _run(self, prepared: Prepared) -> _DaskTask:
        if self._writes_to is not None:
            return _DaskTask(prepared, [self._submit(_add_on_worker, self._writes_to, prepared)])
        future = self._submit(_read_on_worker, prepared.path, prepared.kind, prepared.details.fps, prepared.probe)
        return _DaskTask(prepared, [future])

    def _run_split(self, prepared: Prepared, segments: list[VideoSegment]) -> _DaskTask:
        info = prepared.probe
        if info is None:
            raise ValueError("A video is split only once probed.")
        futures = [self._submit(_read_segment_on_worker, prepared.path, prepared.details.fps, info, segment)
                   for segment in segments]
        return _DaskTask(prepared, futures, segments)

    def submit(self, prepared: Prepared, segments: list[VideoSegment] | None = None) -> int:
        """Start reading a file (in time ``segments`` if given: then ``prepared.probe`` is set); returns its ticket."""
        ticket = self._next_ticket
        self._next_ticket += 1
        self._tasks[ticket] = self._run(prepared) if segments is None else self._run_split(prepared, segments)
        return ticket

    def read(self, ticket: int) -> tuple[float, float]:
        """(seconds read, seconds to read) of a file: the seconds of its finished tasks, when known."""
        task = self._tasks.get(ticket)
        if task is None:
            return 0.0, 0.0
        if task.segments is not None and task.prepared.probe is not None:
            duration_s = task.prepared.probe.duration_s or 0.0
            spans = [(segment.end_s if segment.end_s is not None else duration_s) - segment.start_s
                     for segment in task.segments]
        elif task.prepared.probe is not None and task.prepared.probe.duration_s:
            spans = [task.prepared.probe.duration_s]
        else:
            return 0.0, 0.0
        done = sum(span for span, future in zip(spans, task.futures, strict=True) if future.done())
        return float(done), float(sum(spans))

    def _rerun_whole(self, ticket: int) -> None:
        self._client.cancel(self._tasks[ticket].futures)
        super()._rerun_whole(ticket)

    def result(self, ticket: int) -> SourceContent | SourceRecord:
        """The fingerprints of a submitted file, or the stored source when a worker wrote it; errors raised
        reading or writing it are raised here.

        Raises:
            MediaError: the file cannot be read, or the workers running its task died
                more often than the scheduler allows (the file alone fails).
            ClusterError: the task was dropped (the scheduler is gone), or a worker runs another provcheck.
        """
        path = self._tasks[ticket].prepared.path
        try:
            return self._collect(ticket)
        except self._killed_worker as exc:
            tries = int(getattr(exc, "allowed_failures", 0)) + 1
            raise MediaError(f"{path}: a Dask worker died reading this file, {tries} time{'s' if tries > 1 else ''} "
                             "(a decoder crash or out of memory); it was not indexed") from None
        except CancelledError as exc:
            reason = _one_line(exc) or "cancelled"
            raise ClusterError(f"{path}: the Dask cluster dropped its task ({reason}); "
                               "the files written before it are in the index") from None

    def forget(self, ticket: int) -> None:
        """Drop a file's task: its futures are released, and with them its result held by a worker."""
        self._tasks.pop(ticket, None)

    def close(self) -> None:
        """Cancel what is still being read; close the client and the local cluster if this pool made them."""
        futures = [future for task in self._tasks.values() for future in task.futures]
        self._tasks.clear()
        try:
            if futures and self._client.status == "running":
                self._client.cancel(futures)
        finally:
            try:
                if self._own_client:
                    self._client.close()
                if self._cluster is not None:
                    self._cluster.close()
            finally:
                self._quiet.restore()
