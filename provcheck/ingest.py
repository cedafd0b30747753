"""Reading sources for the index: fingerprints of frames, and the worker processes that make them.

What :class:`provcheck.api.Index` stores for a source (hashes, local features,
overlay flags of every sampled frame) is computed here, in this process or in a pool
of worker processes, one file per task; the index itself is written by the caller
alone, one transaction per source.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from .errors import DuplicateSourceError, ExitCode, MediaError, ProvcheckError
from .features import INDEX_KEYPOINTS, STILL_KEYPOINTS, OverlayDetector, extract
from .hashing import HASHERS
from .media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Frame, image_frame, probe_video, sample_video
from .results import FailedFile, SkippedFile
from .store import FrameRecord, IndexStore, SourceRecord

#: Progress callback: (work done, work total), in the unit of the task (seconds of video).
Progress = Callable[[float, float], None]
#: What adding one file of a batch came to: the stored source, or why it was not added.
AddOutcome = SourceRecord | SkippedFile | FailedFile
#: Files read ahead of the one being written, beyond one per worker: enough to keep every
#: worker busy while the parent writes, while at most ``jobs + 1`` files' fingerprints
#: (a few MB per minute of video) are held at once.
READ_AHEAD_FILES = 1


@dataclass(frozen=True)
class AddProgress:
    """How far :meth:`provcheck.api.Index.iter_add` has got: files finished (added, skipped or failed) and frames stored."""

    files_done: int
    files_total: int
    frames: int


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


def read_video(path: Path, fps: float, progress: Progress | None) -> SourceContent:
    """Probe a video once, then sample and fingerprint it; progress gets (seconds decoded, duration)."""
    info = probe_video(path)
    total = info.duration_s or 0.0
    callback = None if progress is None else (lambda t: progress(t, total))
    frames = fingerprint_video(sample_video(path, fps, progress=callback, probe=info))
    return SourceContent(tuple(frames), info.width, info.height, info.duration_s)


def read_still(path: Path) -> SourceContent:
    """Load and fingerprint a still image."""
    frame = image_frame(path)
    return SourceContent((fingerprint(frame),), frame.width, frame.height, None)


def read_content(path: Path, kind: str, fps: float, progress: Progress | None = None) -> SourceContent:
    """Everything stored for a source but its metadata: run in a worker process by :meth:`provcheck.api.Index.iter_add`."""
    return read_video(path, fps, progress) if kind == "video" else read_still(path)


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
            written) or when it is not a failure of this file alone.
    """
    if isinstance(exc, DuplicateSourceError):
        return SkippedFile(path=file, source_id=exc.source_id, reason="already indexed", message=_one_line(str(exc)))
    if isinstance(exc, ProvcheckError):
        if exc.exit_code == ExitCode.INDEX_ERROR:
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


@dataclass
class Slot:
    """One file of a batch on its way through: prepared, being read by a worker, or already failed."""

    file: str
    prepared: Prepared | None = None
    ticket: int | None = None
    outcome: AddOutcome | None = None


def _worker_read(path: str, kind: str, fps: float) -> SourceContent:
    """The task of a worker process: read and fingerprint one file (module level, so spawn can find it)."""
    return read_content(Path(path), kind, fps)


class WorkerPool:
    """Worker processes reading files for :meth:`provcheck.api.Index.iter_add`, replaced when one dies.

    A worker killed mid-file (a decoder crash, the out-of-memory killer) breaks the
    whole pool. The file being waited for is then read again alone in a new pool: if
    it breaks that one too it is the culprit and fails; the files that were in flight
    beside it are read again.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._executor = self._start()
        self._tasks: dict[int, tuple[Prepared, Future[SourceContent]]] = {}
        self._next_ticket = 0

    def _start(self) -> ProcessPoolExecutor:
        # spawn: workers inherit none of this process's threads, locks or open index, on every OS
        return ProcessPoolExecutor(max_workers=self._workers, mp_context=multiprocessing.get_context("spawn"))

    def _run(self, prepared: Prepared) -> Future[SourceContent]:
        return self._executor.submit(_worker_read, str(prepared.path), prepared.kind, prepared.details.fps)

    def submit(self, prepared: Prepared) -> int:
        """Start reading a file; returns the ticket to ask for its result with."""
        ticket = self._next_ticket
        self._next_ticket += 1
        try:
            future = self._run(prepared)
        except BrokenProcessPool:  # a worker died while no result was awaited
            self._restart()
            self._rerun_lost(except_ticket=None)
            future = self._run(prepared)
        self._tasks[ticket] = (prepared, future)
        return ticket

    def result(self, ticket: int) -> SourceContent:
        """The fingerprints of a submitted file; errors raised reading it are raised here."""
        prepared, future = self._tasks[ticket]
        try:
            return future.result()
        except BrokenProcessPool:
            pass
        self._restart()
        try:
            return self._run(prepared).result()
        except BrokenProcessPool:
            self._restart()
            raise MediaError(
                f"{prepared.path}: a worker process died reading this file (a decoder crash or out of memory)"
            ) from None
        finally:
            self._rerun_lost(except_ticket=ticket)

    def _rerun_lost(self, except_ticket: int | None) -> None:
        """Submit again, to the new pool, every file whose reading the broken one lost."""
        for other, (waiting, earlier) in list(self._tasks.items()):
            lost = not earlier.done() or earlier.cancelled() or isinstance(earlier.exception(), BrokenProcessPool)
            if other != except_ticket and lost:
                self._tasks[other] = (waiting, self._run(waiting))

    def forget(self, ticket: int) -> None:
        self._tasks.pop(ticket, None)

    def _restart(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = self._start()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
