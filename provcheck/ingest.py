"""Reading sources for the index: fingerprints of frames, and the worker processes that make them.

What :class:`provcheck.api.Index` stores for a source (hashes, local features,
overlay flags of every sampled frame) is computed here, in this process or in a pool
of worker processes, one file per task or, when workers would otherwise be idle, one
time segment of a long video per task, joined here into exactly what one pass gives;
the index itself is written by the caller alone, one transaction per source.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .dates import parse_published
from .errors import ClusterError, DuplicateSourceError, ExitCode, MediaError, ProvcheckError
from .features import INDEX_KEYPOINTS, STILL_KEYPOINTS, OverlayDetector, extract, overlay_thumbnail
from .hashing import HASHERS
from .media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Frame, image_frame, probe_video, sample_video
from .media.video import (
    SamplerState,
    SegmentEnds,
    SplitError,
    VideoInfo,
    VideoSegment,
    check_joined,
    joined_state,
    overlap_agrees,
    plan_segments,
    sample_segment,
)
from .parent_watch import exit_with_parent
from .results import FailedFile, SkippedFile
from .store import FrameRecord, IndexStore, NewSource, SourceRecord

#: Progress callback: (work done, work total), in the unit of the task (seconds of video).
Progress = Callable[[float, float], None]
#: What adding one file of a batch came to: the stored source, or why it was not added.
AddOutcome = SourceRecord | SkippedFile | FailedFile
#: Files read ahead of the one being written, beyond one per worker: enough to keep every
#: worker busy while the parent writes, while at most ``jobs + 1`` files' fingerprints
#: (a few MB per minute of video) are held at once.
READ_AHEAD_FILES = 1
#: Shortest time segment a video is cut into when workers would otherwise be idle, in
#: seconds of video: a segment costs a worker a seek and a few frames decoded twice,
#: and the parent the check of its first frames (see :func:`join_segments`).
MIN_SEGMENT_S = 10.0


#: How often the parent looks at the workers' progress while it waits for a file, in seconds.
PROGRESS_POLL_S = 0.25


@dataclass(frozen=True)
class AddProgress:
    """How far :meth:`provcheck.api.Index.iter_add` has got.

    Attributes:
        files_done: files finished (added, skipped or failed).
        files_total: files in the batch.
        frames: frames stored.
        files_read: ``files_done`` plus the share already read of the files being
            read (by seconds of video), for a bar that moves within long files.
        video_s: seconds of video read so far, finished files and files being read.
        upkeep: the index upkeep step starting after the last file (training the
            shortlist, writing its word file), said once as it starts; else None.
    """

    files_done: int
    files_total: int
    frames: int
    files_read: float = 0.0
    video_s: float = 0.0
    upkeep: str | None = None


def fingerprint(frame: Frame, with_features: bool = True) -> FrameRecord:
    """Compute every hasher's hash of one frame, and its local features (more of them for a still)."""
    values = {hasher.name: hasher.compute(frame.pixels) for hasher in HASHERS}
    keypoints = STILL_KEYPOINTS if frame.time_s is None else INDEX_KEYPOINTS
    return FrameRecord(
        frame_number=frame.index,
        time_s=frame.time_s,
        hashes={name: value.packed for name, value in values.items()},
        pdq_quality=values["pdq"].quality,
        features=extract(frame.pixels, wanted=keypoints) if with_features else None,
    )


def fingerprint_video(frames: Iterable[Frame]) -> list[FrameRecord]:
    """Fingerprint a video's sampled frames and flag keypoints on burned-in overlays."""
    overlay = OverlayDetector()
    records = []
    for frame in frames:
        overlay.update(frame.pixels)
        records.append(fingerprint(frame))
    return [
        dataclasses.replace(record, static=overlay.flags(record.features)) if record.features is not None else record
        for record in records
    ]


@dataclass(frozen=True)
class SegmentContent:
    """One time segment of a video, read: what :func:`join_segments` puts together.

    Attributes:
        frames: the kept frames' fingerprints, numbered from the segment's first frame,
            their keypoints not yet flagged as overlay (that needs the whole video).
        overlay: each kept frame's :func:`~provcheck.features.overlay_thumbnail` and size.
        ends: what joining the segment to its neighbours needs.
    """

    frames: tuple[FrameRecord, ...]
    overlay: tuple[tuple[NDArray[np.uint8], tuple[int, int]], ...]
    ends: SegmentEnds


def read_segment(path: Path, fps: float, info: VideoInfo, segment: VideoSegment,
                 state: SamplerState | None = None, progress: Callable[[float], None] | None = None) -> SegmentContent:
    """Sample and fingerprint one time segment of a video (in a worker process, or again in the parent).

    Raises:
        SplitError: the segment cannot be read exactly on its own (read the video in one pass).
        MediaError: the video cannot be decoded.
    """
    frames, ends = sample_segment(path, info, segment, fps, state=state, progress=progress)
    records = []
    overlay = []
    for frame in frames:
        overlay.append((overlay_thumbnail(frame.pixels), (frame.width, frame.height)))
        records.append(fingerprint(frame))
    return SegmentContent(tuple(records), tuple(overlay), ends())


def join_segments(path: Path, fps: float, info: VideoInfo, segments: list[VideoSegment],
                  parts: list[SegmentContent]) -> SourceContent:
    """Put a video's read segments together into what reading it in one pass gives, exactly.

    Each segment after the first was read from a guessed sampler state; it is checked
    against the true one (the end state of the segment before) and read again, here,
    from the true state when it would have kept other frames. Frame numbers are made
    absolute and the overlay statistics fed in frame order, as :func:`fingerprint_video` does.

    Raises:
        SplitError: the segments do not join exactly (the decoder gave other pixels
            after a seek, or the frame limit is reached): read the video in one pass.
        MediaError: the video is truncated (as one pass says).
    """
    period_s = 1.0 / fps
    joined = [parts[0]]
    state = parts[0].ends.final_state
    for segment, part in zip(segments[1:], parts[1:], strict=True):
        if not overlap_agrees(joined[-1].ends, part.ends):
            raise SplitError(f"{path}: segments decode differently where they meet")
        after = joined_state(part.ends, state, period_s)
        if after is None:  # it would have kept other frames: read it from the true state
            part = read_segment(path, fps, info, segment, state=state)
            after = part.ends.final_state
        joined.append(part)
        state = after
    check_joined(path, info, [part.ends for part in joined])
    overlay = OverlayDetector()
    records = []
    offset = 0
    for part in joined:
        for record, (small, size) in zip(part.frames, part.overlay, strict=True):
            overlay.add(small, size)
            records.append(dataclasses.replace(record, frame_number=record.frame_number + offset))
        offset += part.ends.decoded
    frames = tuple(
        dataclasses.replace(record, static=overlay.flags(record.features)) if record.features is not None else record
        for record in records
    )
    return SourceContent(frames, info.width, info.height, info.duration_s)


def segments_for(path: Path, info: VideoInfo, wanted: int) -> list[VideoSegment] | None:
    """Cut a video into up to ``wanted`` segments of at least :data:`MIN_SEGMENT_S`; None when it is not worth it."""
    count = min(wanted, int((info.duration_s or 0.0) // MIN_SEGMENT_S))
    if count < 2:
        return None
    plan = plan_segments(path, info, count)
    return plan if len(plan) > 1 else None


def iter_media_files(folder: Path) -> Iterator[Path]:
    """Media files in a folder and its subfolders, by extension, in sorted order."""
    known = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in known and path.is_file():
            yield path


@dataclass(frozen=True)
class SourceDetails:
    """What :meth:`provcheck.api.Index.add` was asked to store with a source, and how to read it."""

    title: str | None
    url: str | None
    published: str | None
    notes: str | None
    fps: float
    replace: bool
    #: a manifest row's: its non-empty values are also applied to the source when the file is already indexed
    from_manifest: bool = False


@dataclass(frozen=True)
class SourceContent:
    """A read source: its fingerprinted frames and the picture's size and duration."""

    frames: tuple[FrameRecord, ...]
    width: int
    height: int
    duration_s: float | None


def refuse_duplicate(store: IndexStore, digest: str, media_path: Path, replace: bool) -> None:
    """Raise DuplicateSourceError when a file with this sha256 is indexed and ``replace`` is false."""
    existing = store.find_by_sha256(digest)
    if existing is not None and not replace:
        raise DuplicateSourceError(
            f"{media_path}: already indexed as source {existing.id} ({existing.title!r}); "
            "use --replace to index it again",
            existing.id,
        )


def read_video(path: Path, fps: float, progress: Progress | None, probe: VideoInfo | None = None) -> SourceContent:
    """Probe a video once (unless ``probe`` is given), then sample and fingerprint it.

    ``progress`` gets (seconds decoded, duration).
    """
    info = probe_video(path) if probe is None else probe
    total = info.duration_s or 0.0
    callback = None if progress is None else (lambda t: progress(t, total))
    frames = fingerprint_video(sample_video(path, fps, progress=callback, probe=info))
    return SourceContent(tuple(frames), info.width, info.height, info.duration_s)


def read_still(path: Path) -> SourceContent:
    """Load and fingerprint a still image."""
    frame = image_frame(path)
    return SourceContent((fingerprint(frame),), frame.width, frame.height, None)


def read_content(path: Path, kind: str, fps: float, progress: Progress | None = None,
                 probe: VideoInfo | None = None) -> SourceContent:
    """Everything stored for a source but its metadata: run in a worker process by :meth:`provcheck.api.Index.iter_add`.

    ``probe`` is what :func:`~provcheck.media.probe_video` returned for a video, when the caller has it.
    """
    return read_video(path, fps, progress, probe) if kind == "video" else read_still(path)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def add_failure(file: str, exc: Exception) -> SkippedFile | FailedFile:
    """What a failure to add ``file`` comes to in a batch; an index error or an unexpected one is raised again.

    Args:
        file: the file or URL as given.
        exc: what adding it raised.

    Returns:
        :class:`SkippedFile` for a file already indexed, else :class:`FailedFile` with its one-line message.

    Raises:
        Exception: ``exc`` itself when the whole batch must stop (the index cannot be
            written, the Dask cluster cannot be used) or when it is not a failure of this file alone.
    """
    if isinstance(exc, DuplicateSourceError):
        return SkippedFile(path=file, source_id=exc.source_id, reason="already indexed", message=_one_line(str(exc)))
    if isinstance(exc, ProvcheckError):
        if exc.exit_code == ExitCode.INDEX_ERROR or isinstance(exc, ClusterError):
            raise exc
        return FailedFile(path=file, error=_one_line(str(exc)))
    if isinstance(exc, (MemoryError, RuntimeError, ValueError, AttributeError)):  # a bug or exhaustion: this file only
        return FailedFile(path=file, error=f"{file}: internal error: {type(exc).__name__}: {_one_line(str(exc))}")
    raise exc


@dataclass(frozen=True)
class Prepared:
    """A file ready to be read: sniffed, hashed and not already indexed (unless replaced)."""

    path: Path
    kind: str
    digest: str
    details: SourceDetails
    downloaded: bool
    #: A video's stream parameters, when they were read to decide whether to split it.
    probe: VideoInfo | None = None
    #: The path stored with the source, resolved where the file was prepared (a worker may see other links).
    stored_path: str | None = None

    def stored_at(self) -> str:
        """The path the source is stored with."""
        return self.stored_path or str(self.path.resolve())


def new_source(prepared: Prepared, content: SourceContent) -> NewSource:
    """The source row of a read file, with what it was asked to be stored with."""
    details = prepared.details
    return NewSource(
        kind=prepared.kind,
        title=details.title or prepared.path.name,
        url=details.url or None,
        published=parse_published(details.published),
        notes=details.notes or None,
        path=prepared.stored_at(),
        sha256=prepared.digest,
        duration_s=content.duration_s,
        width=content.width,
        height=content.height,
    )


@dataclass
class Slot:
    """One file of a batch on its way through: prepared, being read by a worker, or already failed."""

    file: str
    details: SourceDetails | None = None
    prepared: Prepared | None = None
    ticket: int | None = None
    outcome: AddOutcome | None = None


#: In a worker process: the shared array where tasks write (seconds read, seconds to read), two
#: doubles a slot. Plain shared memory without a lock: a worker killed mid-write cannot
#: leave a lock held, and a torn value only shows on a progress bar.
_progress_slots: Any = None


def _init_worker(slots: Any) -> None:
    global _progress_slots
    exit_with_parent()
    _progress_slots = slots


def _slot_writer(slot: int, start_s: float = 0.0, end_s: float | None = None) -> Callable[[float, float], None]:
    """A progress callback writing (seconds read, seconds to read) of the task into its slot."""

    def write(done_s: float, duration_s: float) -> None:
        if _progress_slots is not None:
            total_s = (duration_s if end_s is None else end_s) - start_s
            _progress_slots[2 * slot] = max(0.0, done_s - start_s)
            _progress_slots[2 * slot + 1] = max(0.0, total_s)

    return write


def _worker_read(path: str, kind: str, fps: float, slot: int, probe: VideoInfo | None) -> SourceContent:
    """The task of a worker process: read and fingerprint one file (module level, so spawn can find it)."""
    return read_content(Path(path), kind, fps, _slot_writer(slot), probe)


def _worker_read_segment(path: str, fps: float, info: VideoInfo, segment: VideoSegment, slot: int) -> SegmentContent:
    """The task of a worker process: read and fingerprint one time segment of a video."""
    write = _slot_writer(slot, segment.start_s, segment.end_s)
    duration_s = info.duration_s or 0.0
    return read_segment(Path(path), fps, info, segment, progress=lambda time_s: write(time_s, duration_s))


class ReadPool(Protocol):
    """What :meth:`provcheck.api.Index.iter_add` needs of the workers reading its files.

    :class:`WorkerPool` (processes on this machine) and
    :class:`provcheck.dask_pool.DaskPool` (a Dask cluster) are the two.
    """

    #: Tasks the pool runs at once: files in flight are this plus READ_AHEAD_FILES.
    workers: int
    #: Whether a batch of one file is read by the pool too (else in the calling process).
    reads_alone: bool
    #: Whether the pool's workers add the files they read whole to the index themselves.
    writes_index: bool

    def submit(self, prepared: Prepared, segments: list[VideoSegment] | None = None) -> int:
        """Start reading a file, whole or in time ``segments``; returns its ticket."""
        ...

    def result(self, ticket: int) -> SourceContent | SourceRecord:
        """The fingerprints of a submitted file, or the source itself when the pool wrote it to the index (a
        Dask pool writing a database index); errors raised reading or writing it are raised here."""
        ...

    def read(self, ticket: int) -> tuple[float, float]:
        """(seconds read, seconds to read) of a file being read, for progress."""
        ...

    def forget(self, ticket: int) -> None:
        """Drop a file's task once its outcome is known."""
        ...

    def close(self) -> None:
        """Stop the workers (or let go of the cluster), dropping what is still being read."""
        ...


class _PoolTask(Protocol):
    """A file handed to a pool: read whole (one future) or in time segments (one future each)."""

    prepared: Prepared
    futures: Sequence[Any]
    segments: list[VideoSegment] | None


class FuturesPool:
    """What both read pools share: waiting on a task while progress is drawn, and collecting a file (its one
    task, or its segments joined, or, when a segment fails or they do not join exactly, the file read again
    in one pass, which names any error).

    A subclass sets :attr:`worker_name` and :attr:`pool_failures` (errors of the pool itself, which reading
    the file again would only meet again), and implements :meth:`_run`.
    """

    #: Who returned a wrong value, in the message saying so.
    worker_name = "a worker"
    #: Errors of the pool itself: raised as they are, never taken for a failed segment.
    pool_failures: tuple[type[BaseException], ...] = ()
    waiting: Callable[[], None] | None
    _waiting_raised: bool
    _tasks: dict[int, Any]

    def _run(self, prepared: Prepared) -> Any:
        raise NotImplementedError

    def _rerun_whole(self, ticket: int) -> None:
        """Hand a file whose segments failed to the pool again, as one task."""
        self._tasks[ticket] = self._run(self._tasks[ticket].prepared)

    def _wait(self, future: Any) -> Any:
        """``future.result()``, calling :attr:`waiting` every PROGRESS_POLL_S meanwhile."""
        if self.waiting is None:
            return future.result()
        while True:
            try:
                return future.result(timeout=PROGRESS_POLL_S)
            except TimeoutError:
                if future.done():  # it ended meanwhile, or the task itself raised TimeoutError: say which
                    return future.result()
                try:
                    self.waiting()
                except BaseException:  # the caller's own error: never taken for a failed segment
                    self._waiting_raised = True
                    raise

    def _collect(self, ticket: int) -> SourceContent | SourceRecord:
        """Wait for a file's task(s); segments are joined, or the file read again in one pass (a task that wrote
        the source itself returns it)."""
        task: _PoolTask = self._tasks[ticket]
        if task.segments is None or task.prepared.probe is None:
            content = self._wait(task.futures[0])
            if not isinstance(content, (SourceContent, SourceRecord)):
                raise RuntimeError(f"{self.worker_name} returned something else than a file's content")
            return content
        info, segments = task.prepared.probe, task.segments
        parts = []
        try:
            for future in task.futures:
                part = self._wait(future)
                if not isinstance(part, SegmentContent):
                    raise RuntimeError(f"{self.worker_name} returned something else than a segment's content")
                parts.append(part)
            return join_segments(task.prepared.path, task.prepared.details.fps, info, segments, parts)
        except self.pool_failures:
            raise
        except Exception:  # a segment failed, or they do not join exactly: one pass, which names any error
            if self._waiting_raised:
                raise
            self._rerun_whole(ticket)
            return self._collect(ticket)


@dataclass
class _Task:
    """A file handed to the pool: read whole (one future) or in time segments (one future each)."""

    prepared: Prepared
    futures: list[Future[Any]]
    slots: list[int]
    segments: list[VideoSegment] | None = None


class WorkerPool(FuturesPool):
    """Worker processes reading files for :meth:`provcheck.api.Index.iter_add`, replaced when one dies.

    A file is read by one worker, or a long video in time segments by several (when
    there are fewer files left than workers); the segments are joined here into
    exactly what one pass gives, and a video whose segments do not join exactly (or
    one of which fails) is read again in one pass, which also names any error. The
    processes start with the first file handed over.

    A worker killed mid-file (a decoder crash, the out-of-memory killer) breaks the
    whole pool. The file being waited for is then read again alone in a new pool: if
    it breaks that one too it is the culprit and fails; the files that were in flight
    beside it are read again.
    """

    #: A file alone is read in the calling process: starting a worker would only add its start-up time.
    reads_alone = False
    writes_index = False
    #: A dead worker breaks the pool: :meth:`result` restarts it and reads the file again alone.
    pool_failures = (BrokenProcessPool,)

    def __init__(self, workers: int, waiting: Callable[[], None] | None = None) -> None:
        self.workers = workers
        #: Called every PROGRESS_POLL_S while a result is awaited (to draw progress).
        self.waiting = waiting
        self._context = multiprocessing.get_context("spawn")
        # a ring of progress slots, far more than tasks in flight ((workers + read-ahead) x segments)
        self._slot_count = 4 * workers * (workers + READ_AHEAD_FILES + 1)
        self._slots = self._context.Array("d", 2 * self._slot_count, lock=False)
        self._next_slot = 0
        self._executor: ProcessPoolExecutor | None = None
        self._tasks: dict[int, _Task] = {}
        self._next_ticket = 0
        self._waiting_raised = False

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: workers inherit none of this process's threads, locks or open index, on every OS
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context,
                                                 initializer=_init_worker, initargs=(self._slots,))
        return self._executor

    def _slot(self) -> int:
        slot = self._next_slot % self._slot_count
        self._next_slot += 1
        self._slots[2 * slot] = self._slots[2 * slot + 1] = 0.0
        return slot

    def _run(self, prepared: Prepared) -> _Task:
        slot = self._slot()
        future = self._pool().submit(_worker_read, str(prepared.path), prepared.kind, prepared.details.fps, slot,
                                     prepared.probe)
        return _Task(prepared, [future], [slot])

    def _run_split(self, prepared: Prepared, segments: list[VideoSegment]) -> _Task:
        info = prepared.probe
        if info is None:
            raise ValueError("A video is split only once probed.")
        pool = self._pool()
        slots = [self._slot() for _ in segments]
        futures = [pool.submit(_worker_read_segment, str(prepared.path), prepared.details.fps, info, segment, slot)
                   for segment, slot in zip(segments, slots, strict=True)]
        return _Task(prepared, futures, slots, segments)

    def read(self, ticket: int) -> tuple[float, float]:
        """(seconds read, seconds to read) of a file being read, as its workers last reported."""
        task = self._tasks.get(ticket)
        if task is None:
            return 0.0, 0.0
        done = sum(self._slots[2 * slot] for slot in task.slots)
        total = sum(self._slots[2 * slot + 1] for slot in task.slots)
        return float(done), float(total)

    def submit(self, prepared: Prepared, segments: list[VideoSegment] | None = None) -> int:
        """Start reading a file (in time ``segments`` if given: then ``prepared.probe`` is set); returns its ticket."""
        ticket = self._next_ticket
        self._next_ticket += 1
        try:
            task = self._run(prepared) if segments is None else self._run_split(prepared, segments)
        except BrokenProcessPool:  # a worker died while no result was awaited
            self._restart()
            self._rerun_lost(except_ticket=None)
            task = self._run(prepared)
        self._tasks[ticket] = task
        return ticket

    def result(self, ticket: int) -> SourceContent | SourceRecord:
        """The fingerprints of a submitted file; errors raised reading it are raised here."""
        try:
            return self._collect(ticket)
        except BrokenProcessPool:
            pass
        self._restart()
        try:
            self._tasks[ticket] = self._run(self._tasks[ticket].prepared)
            return self._collect(ticket)
        except BrokenProcessPool:
            self._restart()
            raise MediaError(
                f"{self._tasks[ticket].prepared.path}: a worker process died reading this file "
                "(a decoder crash or out of memory)"
            ) from None
        finally:
            self._rerun_lost(except_ticket=ticket)

    def _rerun_lost(self, except_ticket: int | None) -> None:
        """Submit again, to the new pool, every file whose reading the broken one lost (whole, not in segments)."""
        for other, task in list(self._tasks.items()):
            lost = any(not earlier.done() or earlier.cancelled() or isinstance(earlier.exception(), BrokenProcessPool)
                       for earlier in task.futures)
            if other != except_ticket and lost:
                self._tasks[other] = self._run(task.prepared)

    def forget(self, ticket: int) -> None:
        self._tasks.pop(ticket, None)

    def _restart(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
