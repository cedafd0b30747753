"""The Python API: :class:`Index`, what the CLI and Python users call.

Example:
    >>> from provcheck import Index
    >>> index = Index("footage.sqlite")
    >>> index.add("strike.mp4", title="Strike video", url="https://...", published="2016-06-30")
    >>> for match in index.match("claimed.jpg"):
    ...     print(match.verdict.value, match.source.title, match.timestamp_s)
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import numpy as np
from PIL import Image

from . import shortlist_upkeep
from .batch import ClaimCheck, ClaimWorkers
from .codec import MIN_TRAINING_DESCRIPTORS as CODEC_MIN_TRAINING_DESCRIPTORS
from .codec import TRAINING_DESCRIPTORS as CODEC_TRAINING_DESCRIPTORS
from .codec import DescriptorCodec
from .dates import ClaimedDate, parse_published
from .errors import ClusterError, IndexStoreError, MediaError, ProvcheckError
from .fetch import FetchPolicy, fetch, is_url
from .ingest import (
    READ_AHEAD_FILES,
    AddOutcome,
    AddProgress,
    Prepared,
    Progress,
    ReadPool,
    Slot,
    SourceContent,
    SourceDetails,
    WorkerPool,
    add_failure,
    fingerprint,
    iter_media_files,
    new_source,
    read_content,
    refuse_duplicate,
    segments_for,
)
from .manifest import ManifestEntry
from .match import Assessment, MatchEngine, MatchSettings
from .media import (
    DEFAULT_SAMPLE_FPS,
    Frame,
    image_frame,
    media_kind,
    probe_video,
    sha256_file,
)
from .media.capture import capture_date
from .paths import INDEX_ENV_VAR, INDEX_FILENAME, default_index_location, default_index_path, user_data_folder
from .results import ClaimResult, Match, SkippedFile, Verdict
from .shortlist.words import Vocabulary
from .store import FeatureCoverage, IndexStats, IndexStore, IntegrityReport, SourceRecord
from .store.locations import is_database_url, open_store, shown_location

if TYPE_CHECKING:
    from distributed import Client

#: Claims are shrunk to this long side before matching (features use 1024, hashes less).
CLAIM_MAX_SIDE = 4096
#: Folder beside the index where sources added by URL are kept.
DOWNLOADS_FOLDER = "downloads"
#: What :meth:`Index.check_safely` makes one claim's internal error (a bug) instead of stopping a batch.
_CLAIM_ERRORS = (MemoryError, RuntimeError, ValueError, AttributeError)


def _url_name(url: str) -> str:
    """A readable title for a downloaded source: the URL path's last part, else the host."""
    parts = urlsplit(url)
    name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return name or parts.hostname or url


def _with_details(path: str | os.PathLike[str] | ManifestEntry, shared: SourceDetails) -> tuple[str, SourceDetails]:
    """A file to add and what to store with it: a manifest row's own fields, else the ones shared by the batch."""
    if isinstance(path, ManifestEntry):
        own = dataclasses.replace(shared, title=path.title, url=path.url, published=path.published, notes=path.notes,
                                  from_manifest=True)
        return path.path, own
    return os.fspath(path), shared


def load_claim(image: str | os.PathLike[str] | Image.Image | np.ndarray) -> Frame:
    """A claim's pixels as the matcher reads them (EXIF orientation applied, shrunk past CLAIM_MAX_SIDE)."""
    if isinstance(image, Image.Image):
        return Frame(np.asarray(image.convert("RGB"), dtype=np.uint8), "<image>", 0, None)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("A claim given as an array must be RGB uint8 of shape (height, width, 3).")
        return Frame(image, "<array>", 0, None)
    frame = image_frame(Path(image))
    height, width = frame.pixels.shape[:2]
    if max(height, width) > CLAIM_MAX_SIDE:
        # every stage works far below this size; huge claims would only cost memory
        scale = CLAIM_MAX_SIDE / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = np.asarray(Image.fromarray(frame.pixels).resize(size, Image.Resampling.BOX), dtype=np.uint8)
        frame = Frame(pixels, frame.source, frame.index, frame.time_s)
    return frame


class _Tally:
    """What :meth:`Index.iter_add` reports to its ``progress`` callback: files and frames done, and reading under way."""

    def __init__(self, files_total: int, progress: Callable[[AddProgress], None] | None) -> None:
        self.progress = progress
        self.files_total = files_total
        self.files_done = 0
        self.frames = 0
        self.video_done_s = 0.0  # seconds of the videos finished
        self.pool: ReadPool | None = None
        self.slots: deque[Slot] = deque()  # the files submitted and not yet written
        self._here = (0.0, 0.0)  # (seconds read, seconds to read) of the file read in this process

    def reading_here(self, done_s: float, total_s: float) -> None:
        """Progress callback of a file read in this process."""
        self._here = (done_s, total_s)
        self.report()

    def finished(self, outcome: AddOutcome) -> None:
        self.files_done += 1
        self._here = (0.0, 0.0)
        if isinstance(outcome, SourceRecord):
            self.frames += outcome.frame_count
            self.video_done_s += outcome.duration_s or 0.0
        self.report()

    def announce(self, upkeep: str) -> None:
        """Say that an upkeep step starts (after the last file: nothing is being read)."""
        if self.progress is not None:
            self.progress(AddProgress(self.files_done, self.files_total, self.frames, float(self.files_done),
                                      self.video_done_s, upkeep))

    def report(self) -> None:
        if self.progress is None:
            return
        reads = [self._here]
        if self.pool is not None:
            reads += [self.pool.read(slot.ticket) for slot in self.slots if slot.ticket is not None]
        share = sum(done / total for done, total in reads if total > 0)
        files_read = min(float(self.files_total), self.files_done + share)
        video_s = self.video_done_s + sum(done for done, _ in reads)
        self.progress(AddProgress(self.files_done, self.files_total, self.frames, files_read, video_s))


class Index:
    """A provcheck index of known sources: one SQLite file, or a PostgreSQL database.

    The index is created by the first :meth:`add`; reading an index that does not
    exist raises :class:`~provcheck.errors.IndexStoreError`.

    Args:
        path: the index file, or a ``postgresql://user@host/db`` URL; default
            :func:`default_index_path`.
        store: a storage backend to use instead of the one at ``path``.
        settings: the matcher's thresholds (default: the measured ones).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, store: IndexStore | None = None,
                 settings: MatchSettings | None = None) -> None:
        given: str | os.PathLike[str] = path if path is not None else default_index_location()
        #: Where the index is, as given: a file path or a database URL (password included; see :attr:`location`).
        self.address = str(given) if is_database_url(given) else str(Path(given))
        #: The SQLite file (None for a database).
        self.path: Path | None = None if is_database_url(given) else Path(given)
        self._store: IndexStore | None = store
        self._given_store = store is not None
        self._settings = settings or MatchSettings()
        self._engine: MatchEngine | None = None

    def _matcher(self) -> MatchEngine:
        if self._engine is None:
            self._engine = MatchEngine(self._open(), self._settings)
        return self._engine

    def _open(self, create: bool = False) -> IndexStore:
        if self._store is None:
            self._store = open_store(self.address, create=create)
        return self._store

    @property
    def location(self) -> str:
        """Where the index is, as messages and JSON name it (a database URL without its password)."""
        return self._store.location if self._store is not None else shown_location(self.address)

    def change_stamp(self) -> Hashable:
        """A value that changes whenever any process adds, edits or removes a source (a page reopens on it)."""
        return self._open().change_stamp()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying store."""
        if self._store is not None:
            self._store.close()
            self._store = None
        self._engine = None

    def add(
        self,
        path: str | os.PathLike[str],
        *,
        title: str | None = None,
        url: str | None = None,
        published: str | None = None,
        notes: str | None = None,
        fps: float = DEFAULT_SAMPLE_FPS,
        replace: bool = False,
        progress: Progress | None = None,
        fetch_policy: FetchPolicy | None = None,
    ) -> SourceRecord:
        """Fingerprint a video or still image and add it to the index in one transaction.

        An http(s) URL is downloaded first (private addresses refused unless the policy
        allows them) into a ``downloads`` folder beside the index, which keeps the file
        for timestamp refinement; ``url`` defaults to it.

        Args:
            path: the media file, or an http(s) URL.
            title: human title; default the file name.
            url: where the source was published.
            published: publication date, ``YYYY-MM-DD``.
            notes: free text.
            fps: video sampling rate, frames per second.
            replace: re-index a file that is already indexed (same sha256).
            progress: called with (seconds decoded, duration) while a video is read.
            fetch_policy: limits for downloading a URL.

        Returns:
            The stored source.

        Raises:
            MediaError: the file cannot be read.
            DuplicateSourceError: already indexed and ``replace`` is false.
            IndexStoreError: the index cannot be written.
        """
        details = SourceDetails(title=title, url=url, published=published, notes=notes, fps=fps, replace=replace)
        prepared = self._prepare(os.fspath(path), details, fetch_policy or FetchPolicy())
        try:
            content = read_content(prepared.path, prepared.kind, details.fps, progress)
            record = self._store_source(prepared, content)
        except BaseException:
            if prepared.downloaded:
                prepared.path.unlink(missing_ok=True)
            raise
        self._keep_shortlist()
        return record

    def add_many(
        self,
        paths: Sequence[str | os.PathLike[str] | ManifestEntry],
        *,
        jobs: int | None = None,
        title: str | None = None,
        url: str | None = None,
        published: str | None = None,
        notes: str | None = None,
        fps: float = DEFAULT_SAMPLE_FPS,
        replace: bool = False,
        progress: Callable[[AddProgress], None] | None = None,
        fetch_policy: FetchPolicy | None = None,
        dask: str | Client | None = None,
    ) -> list[AddOutcome]:
        """Add several files, reading them in ``jobs`` worker processes; see :meth:`iter_add`.

        Returns:
            One outcome per file, in the order given: the stored source, a
            :class:`SkippedFile` (already indexed) or a :class:`FailedFile`.
        """
        return list(self.iter_add(paths, jobs=jobs, title=title, url=url, published=published, notes=notes, fps=fps,
                                  replace=replace, progress=progress, fetch_policy=fetch_policy, dask=dask))

    def iter_add(
        self,
        paths: Sequence[str | os.PathLike[str] | ManifestEntry],
        *,
        jobs: int | None = None,
        title: str | None = None,
        url: str | None = None,
        published: str | None = None,
        notes: str | None = None,
        fps: float = DEFAULT_SAMPLE_FPS,
        replace: bool = False,
        progress: Callable[[AddProgress], None] | None = None,
        fetch_policy: FetchPolicy | None = None,
        dask: str | Client | None = None,
    ) -> Iterator[AddOutcome]:
        """Add several files or URLs, yielding each one's outcome, in the order given, once it is written.

        Decoding and fingerprinting (the costly part) run in ``jobs`` worker processes,
        one file per task; when fewer files are left than workers, a video of at least
        twice :data:`~provcheck.ingest.MIN_SEGMENT_S` is read in time segments by
        several workers at once, joined into exactly what one pass gives. This process
        sniffs and hashes each file first (a file already indexed is skipped without
        being read), downloads URLs, and alone writes each source to the index, each in
        its own transaction, in the order the files were given: ids and outcomes are
        those of adding the files one by one with :meth:`add` (except where Dask
        workers write into a database, see ``dask``). At most ``jobs + 1`` files are
        read ahead of the one being written, so memory stays bounded. A file that cannot be read is a
        :class:`FailedFile` and the others carry on. With ``jobs=1``, or for a single
        file that is not split, everything runs in this process (unless ``dask`` is given).

        Args:
            paths: media files or http(s) URLs (not folders: see :func:`iter_media_files`), or
                :class:`~provcheck.manifest.ManifestEntry` rows (:func:`~provcheck.manifest.read_manifest`),
                each stored with its own title, URL, date and notes instead of the ones given here.
            jobs: worker processes (at least 1); default the number of cores.
            title: as for :meth:`add`, and so are ``url``, ``published``, ``notes``,
                ``fps``, ``replace`` and ``fetch_policy``: the same for every file.
            progress: called with an :class:`AddProgress` at the start, after each file,
                and while files are read (every kept frame in this process, every
                quarter second while waiting for workers).
            dask: read on a Dask cluster instead of local worker processes
                (:class:`~provcheck.dask_pool.DaskPool`, needs ``provcheck[dask]``): ``"local"``
                starts one on this machine with ``jobs`` workers, else a scheduler's address
                (``tcp://host:8786``; ``jobs`` then caps the files read at once) or a
                connected ``distributed.Client``. Workers open the files at the paths
                given here. Into a SQLite file this process still writes the index, in
                the same order; into a PostgreSQL index each worker writes the files it
                reads whole (source ids then follow the order workers finish in), and
                the outcomes are still yielded in the order given. Stopped early, a
                worker already writing a file may still store it, unreported (and its
                download is kept).

        Yields:
            The stored source, or a :class:`SkippedFile` or :class:`FailedFile`.

        Raises:
            ValueError: ``jobs`` under 1, or ``published`` not a date.
            IndexStoreError: the index cannot be written (the batch stops there).
            ClusterError: ``dask`` was given and cannot be used (not installed, no
                scheduler there), or the cluster was lost (the batch stops there).
        """
        workers = (os.cpu_count() or 1) if jobs is None else jobs
        if workers < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}.")
        parse_published(published)
        shared = SourceDetails(title=title, url=url, published=published, notes=notes, fps=fps, replace=replace)
        files = [_with_details(path, shared) for path in paths]
        policy = fetch_policy or FetchPolicy()
        tally = _Tally(len(files), progress)
        waiting = tally.report if progress is not None else None
        pool: ReadPool | None
        if dask is not None:
            from .dask_pool import DaskPool  # Dask is imported only when asked for

            # into a database, workers write what they read (a SQLite file has one writer: this process)
            into = self.address if is_database_url(self.address) and not self._given_store else None
            pool = DaskPool(dask, jobs, waiting=waiting, writes_to=into)
            workers = pool.workers
        else:  # the pool's processes start with the first file handed over
            pool = WorkerPool(workers, waiting=waiting) if workers > 1 else None
        tally.pool = pool
        try:
            self._open(create=True)  # after the cluster: one that cannot be used leaves no new index behind
            yield from self._written(files, policy, pool, workers, tally)
            self._keep_shortlist(tally.announce)
        finally:
            if pool is not None:
                pool.close()

    def _written(
        self, files: list[tuple[str, SourceDetails]], policy: FetchPolicy, pool: ReadPool | None, workers: int,
        tally: _Tally,
    ) -> Iterator[AddOutcome]:
        """Submit files as workers free up (at most ``workers + READ_AHEAD_FILES`` ahead); write each in order."""
        slots: deque[Slot] = deque()
        tally.slots = slots
        digests: set[str] = set()  # files of this batch: a second copy waits for the first to be written
        tally.report()
        try:
            position = 0
            while position < len(files) or slots:
                while position < len(files) and len(slots) < workers + READ_AHEAD_FILES:
                    # fewer files left than workers: a long video is read in time segments by several
                    share = max(1, workers // (len(files) - position))
                    file, details = files[position]
                    batch = len(files) > 1 or (pool is not None and pool.reads_alone)
                    slots.append(self._submit(file, details, policy, pool, digests, share, batch))
                    position += 1
                outcome = self._settle(slots[0], pool, tally)  # left in place: its progress counts while it is read
                row = slots[0].details
                if isinstance(outcome, SkippedFile) and row is not None and row.from_manifest:
                    outcome = self._apply_manifest_row(outcome, row)
                slots.popleft()
                tally.finished(outcome)
                yield outcome
        finally:
            for slot in slots:  # stopped early: nothing more is written here, and downloads are not kept...
                if slot.prepared is not None and slot.prepared.downloaded and not _worker_may_store(slot, pool):
                    slot.prepared.path.unlink(missing_ok=True)  # ...unless a worker may still be storing one

    def _submit(
        self, file: str, details: SourceDetails, policy: FetchPolicy, pool: ReadPool | None, digests: set[str],
        share: int = 1, batch: bool = True,
    ) -> Slot:
        """Prepare one file of a batch and hand its reading to workers (unless a copy of it is being read).

        A video is cut into up to ``share`` time segments, one a worker. A file read
        whole and alone (``batch`` false) is read in this process: starting a worker
        would only add its start-up time.
        """
        slot = Slot(file, details)
        try:
            slot.prepared = self._prepare(file, details, policy)
        except Exception as exc:
            slot.outcome = add_failure(file, exc)
            return slot
        # a copy waits for the first to be written; with --replace it is read again, unless workers write
        # the index (they would finish in any order, and the last file given must win)
        copy = slot.prepared.digest in digests and (not details.replace or (pool is not None and pool.writes_index))
        digests.add(slot.prepared.digest)
        if pool is not None and not copy:
            segments = None
            if share > 1 and slot.prepared.kind == "video":
                try:
                    slot.prepared = dataclasses.replace(slot.prepared, probe=probe_video(slot.prepared.path))
                except MediaError:
                    pass  # reading it says why
                if slot.prepared.probe is not None:
                    segments = segments_for(slot.prepared.path, slot.prepared.probe, share)
            if segments is not None or batch:
                slot.ticket = pool.submit(slot.prepared, segments)
        return slot

    def _apply_manifest_row(self, skipped: SkippedFile, details: SourceDetails) -> SkippedFile:
        """A file already indexed: its manifest row's non-empty values replace what is stored, when they differ.

        The manifest is the record of the footage: a date corrected in it reaches the index
        on the next ``index add --manifest`` (a CI job's), without indexing the file again.
        """
        stored = self.source(skipped.source_id)
        given = {"title": details.title, "url": details.url, "published": details.published, "notes": details.notes}
        changes = {field: value for field, value in given.items() if value and value != getattr(stored, field)}
        if not changes:
            return skipped
        self.edit(skipped.source_id, **changes)
        said = ", ".join(sorted(changes))
        return dataclasses.replace(skipped, reason=f"already indexed; {said} updated from the manifest",
                                   message=f"{skipped.path}: already indexed as #{skipped.source_id}; {said} updated "
                                   "from the manifest")

    def _settle(self, slot: Slot, pool: ReadPool | None, tally: _Tally | None = None) -> AddOutcome:
        """Wait for one file's fingerprints and write them: what adding it came to."""
        if slot.outcome is not None:
            return slot.outcome
        prepared = slot.prepared
        if prepared is None:
            raise RuntimeError("a batch slot has neither an outcome nor a prepared file")
        try:
            try:
                # written in file order, so the index is as adding the files one by one leaves it (unless
                # Dask workers write into a database: then in the order they finish)
                if slot.ticket is None or pool is None:
                    refuse_duplicate(self._open(), prepared.digest, prepared.path, prepared.details.replace)
                    reading = None if tally is None or tally.progress is None else tally.reading_here
                    content = read_content(prepared.path, prepared.kind, prepared.details.fps, reading, prepared.probe)
                else:
                    read = pool.result(slot.ticket)
                    if isinstance(read, SourceRecord):  # a Dask worker wrote it to the database itself
                        self._engine = None
                        return read
                    refuse_duplicate(self._open(), prepared.digest, prepared.path, prepared.details.replace)
                    content = read
                return self._store_source(prepared, content)
            finally:
                if slot.ticket is not None and pool is not None:
                    pool.forget(slot.ticket)
        except BaseException as exc:
            may_store = _worker_may_store(slot, pool)
            if may_store and isinstance(exc, Exception) and not isinstance(exc, ClusterError):
                # its task is over: a worker killed after its commit, or whose answer was lost, stored it whole
                stored = self._stored_as_prepared(prepared)
                if stored is not None:
                    self._engine = None
                    return stored
                may_store = False
            if prepared.downloaded and not may_store:
                prepared.path.unlink(missing_ok=True)
            if not isinstance(exc, Exception):
                raise
            return add_failure(slot.file, exc)

    def _stored_as_prepared(self, prepared: Prepared) -> SourceRecord | None:
        """The source stored for this file (same digest and path), if any."""
        try:
            record = self._open().find_by_sha256(prepared.digest)
        except IndexStoreError:
            return None
        return record if record is not None and record.path == prepared.stored_at() else None

    def _prepare(self, file: str, details: SourceDetails, policy: FetchPolicy) -> Prepared:
        """Download a URL (into the downloads folder beside the index), sniff and hash the file, refuse a duplicate."""
        if is_url(file) and not Path(file).exists():
            parse_published(details.published)  # refuse a bad date before downloading
            downloads = (self.path.parent if self.path is not None else user_data_folder()) / DOWNLOADS_FOLDER
            downloads.mkdir(parents=True, exist_ok=True)
            fetched = fetch(file, downloads, policy)
            named = dataclasses.replace(details, title=details.title or _url_name(file), url=details.url or file)
            try:
                return self._prepare_file(fetched.path, named, downloaded=True)
            except BaseException:
                fetched.path.unlink(missing_ok=True)
                raise
        return self._prepare_file(Path(file), details, downloaded=False)

    def _prepare_file(self, media_path: Path, details: SourceDetails, downloaded: bool) -> Prepared:
        parse_published(details.published)
        kind = media_kind(media_path)
        digest = sha256_file(media_path)
        refuse_duplicate(self._open(create=True), digest, media_path, details.replace)
        return Prepared(path=media_path, kind=kind, digest=digest, details=details, downloaded=downloaded,
                        stored_path=str(media_path.resolve()))

    def _store_source(self, prepared: Prepared, content: SourceContent) -> SourceRecord:
        """Write one read source in one transaction."""
        record = self._open(create=True).add_source(new_source(prepared, content), content.frames,
                                                    replace=prepared.details.replace)
        self._engine = None
        return record

    def _keep_shortlist(self, announce: shortlist_upkeep.Announce | None = None) -> None:
        store = self._open()
        trained = shortlist_upkeep.keep_trained(store, announce) is not None
        if shortlist_upkeep.keep_word_file(store, announce) or trained:
            self._engine = None

    def train_shortlist(self) -> Vocabulary:
        """Train the shortlist's vocabulary now, on the index as it is, and re-quantise every frame.

        ``index add`` does this by itself once an index passes
        :data:`~provcheck.shortlist_upkeep.TRAIN_AT` stored keypoints, and again as it grows
        (see :mod:`provcheck.shortlist_upkeep`); an index made by an older provcheck is
        trained at its next add, or here.
        """
        vocabulary = shortlist_upkeep.train(self._open())
        shortlist_upkeep.keep_word_file(self._open())
        self._engine = None
        return vocabulary

    def compact(self, progress: Callable[[int, int], None] | None = None) -> tuple[int, int, int]:
        """Store every descriptor as codes of a codec trained on the index (:mod:`provcheck.codec`), move
        every shortlist posting still held in the index into the word file, then rewrite the file
        without the space that frees.

        A batch of frames is encoded a transaction: interrupted, the index is sound (some
        frames coded, the rest raw) and compacting again goes on. ``progress`` is called
        with (frames encoded, frames to encode) after each batch.

        Returns:
            (frames encoded, index bytes before, index bytes after).

        Raises:
            IndexStoreError: too few stored descriptors to train the codec, or the index cannot be written.
        """
        store = self._open()
        before = store.stats()
        codec = store.descriptor_codec()
        if codec is None:
            sample = store.descriptor_sample(CODEC_TRAINING_DESCRIPTORS, seed=shortlist_upkeep.SAMPLE_SEED)
            if sample.shape[0] < CODEC_MIN_TRAINING_DESCRIPTORS:
                raise IndexStoreError(f"{store.location}: {sample.shape[0]} stored descriptors are too few to train"
                                      f" the descriptor codec (at least {CODEC_MIN_TRAINING_DESCRIPTORS})")
            codec = DescriptorCodec.train(sample)
        total = before.frames_with_features - before.compact_frames
        frames = store.compact_descriptors(codec, None if progress is None else lambda done: progress(done, total))
        shortlist_upkeep.seal_postings(store)
        store.vacuum()
        self._engine = None
        return frames, before.size_bytes, store.stats().size_bytes

    def sources(self) -> list[SourceRecord]:
        """Every indexed source, by id."""
        return self._open().list_sources()

    def source(self, source_id: int) -> SourceRecord:
        """One indexed source by id."""
        return self._open().get_source(source_id)

    def remove(self, source_id: int) -> SourceRecord:
        """Remove a source and its frames; returns what was removed."""
        record = self._open().remove_source(source_id)
        self._engine = None
        return record

    def edit(
        self, source_id: int, *, title: str | None = None, url: str | None = None, published: str | None = None,
        notes: str | None = None,
    ) -> SourceRecord:
        """Change a source's metadata without indexing it again; returns the source as now stored.

        Only the fields given change; an empty string clears ``url``, ``published`` or
        ``notes``. ``published`` is checked as for :meth:`add`.

        Raises:
            ValueError: an empty title, or a bad publication date.
            SourceNotFoundError: no source has that id.
        """
        changes: dict[str, str | None] = {}
        if title is not None:
            if not title.strip():
                raise ValueError("A source's title cannot be empty.")
            changes["title"] = title.strip()
        if published is not None:
            changes["published"] = parse_published(published)
        for field, value in (("url", url), ("notes", notes)):
            if value is not None:
                changes[field] = value.strip() or None
        record = self._open().edit_source(source_id, changes)
        self._engine = None  # the matcher holds the sources it loaded
        return record

    def verify_integrity(self) -> IntegrityReport:
        """Check the index file: schema, row counts, every fingerprint owned by a source."""
        return self._open().check()

    def info(self) -> IndexStats:
        """Counts and metadata of the index."""
        return self._open().stats()

    def feature_coverage(self, load_matcher: bool = False) -> FeatureCoverage:
        """How many indexed frames have local features (crops of the others, indexed by provcheck 0.1, are not found).

        Taken from the matcher when it is loaded, else counted by the store in one query
        (not the full statistics of :meth:`info`). ``load_matcher`` loads it first, for a
        caller about to match claims in this process (see :meth:`matches_in_process`),
        which then pays nothing more; a matcher that fails to load is left to the claims,
        whose results say why (as :meth:`check_safely` always did), and the store counts.
        """
        if load_matcher and self._engine is None:
            try:
                self._matcher()
            except _CLAIM_ERRORS:
                pass
        if self._engine is not None:
            return self._engine.feature_coverage
        return self._open().feature_coverage()

    def match(self, image: str | os.PathLike[str] | Image.Image | np.ndarray, top: int = 5) -> list[Match]:
        """Find the sources a claimed photo was likely derived from, best first.

        Args:
            image: a path, a Pillow image, or an RGB ``uint8`` array.
            top: at most this many sources.

        Raises:
            MediaError: the image cannot be read.
            IndexStoreError: the index is missing or damaged.
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}.")
        return list(self.assess(image).matches[:top])

    def assess(self, image: str | os.PathLike[str] | Image.Image | np.ndarray) -> Assessment:
        """Match a claim and keep the evidence behind every source looked at (every match, not only the top).

        A claim given as a file is also compared byte for byte (SHA-256) with the indexed files.
        """
        claim = load_claim(image)
        digest = sha256_file(Path(image)) if isinstance(image, (str, os.PathLike)) else None
        return self._matcher().assess(claim, claim_sha256=digest)

    def check(
        self, image: str | os.PathLike[str], top: int = 5, fetch_policy: FetchPolicy | None = None,
        claimed_date: ClaimedDate | None = None,
    ) -> ClaimResult:
        """Like :meth:`match` but never raises for a bad claim: the error is in the result.

        ``image`` may be an http(s) URL: it is downloaded to a temporary folder first.
        The result carries the claim's date: ``claimed_date`` when given (see
        :func:`~provcheck.dates.given_claim_date`), else the capture date in the file's
        EXIF or XMP metadata, if any (:func:`~provcheck.media.capture.capture_date`).
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}.")
        query = os.fspath(image)
        self._matcher()
        try:
            if is_url(query) and not Path(query).exists():
                with tempfile.TemporaryDirectory(prefix="provcheck-fetch-") as folder:
                    fetched = fetch(query, Path(folder), fetch_policy or FetchPolicy())
                    try:
                        return self._checked_file(query, fetched.path, top, claimed_date)
                    except MediaError as exc:
                        raise MediaError(str(exc).replace(str(fetched.path), query)) from exc
            return self._checked_file(query, Path(query), top, claimed_date)
        except MediaError as exc:
            return ClaimResult(query=query, verdict=Verdict.NONE, matches=(), error=str(exc))
        except MemoryError:
            return ClaimResult(query=query, verdict=Verdict.NONE, matches=(), error=f"{query}: not enough memory")

    def _checked_file(self, query: str, path: Path, top: int, claimed_date: ClaimedDate | None) -> ClaimResult:
        """Match a claim file: its result with its SHA-256 (hashed once) and its date."""
        claim = load_claim(path)  # first: a file that is not a readable image is said so, as by match()
        digest = sha256_file(path)
        matches = self._matcher().assess(claim, claim_sha256=digest).matches[:top]
        return ClaimResult.of(query, matches, claimed_date or capture_date(path), digest)

    def check_safely(self, image: str, top: int = 5, fetch_policy: FetchPolicy | None = None) -> ClaimResult:
        """Like :meth:`check`, and an internal error (a bug) is that claim's error too: a batch goes on.

        An index error (missing, damaged) still raises: no claim can be checked then.
        """
        try:
            return self.check(image, top=top, fetch_policy=fetch_policy)
        except _CLAIM_ERRORS as exc:  # a bug: this claim only
            detail = " ".join(str(exc).split())
            message = f"{image}: internal error: {type(exc).__name__}: {detail}"
            return ClaimResult(query=image, verdict=Verdict.NONE, matches=(), error=message)

    def matches_in_process(self, claims: int, jobs: int) -> bool:
        """Whether :meth:`check_many` matches this many claims in this process (else in worker processes)."""
        return min(jobs, claims) <= 1 or self._given_store

    def check_many(self, images: Sequence[str], top: int = 5, fetch_policy: FetchPolicy | None = None,
                   jobs: int = 1, claimed_date: ClaimedDate | None = None) -> Iterator[ClaimResult]:
        """:meth:`check_safely` of every claim, in order, each result as soon as it is known.

        With ``jobs`` > 1 (and more than one claim) the claims are matched in that many
        worker processes, each opening the index file itself (:mod:`provcheck.batch`);
        the results are the same as in this process. An index given as ``store`` is
        matched in this process only. ``claimed_date``, when given, dates every claim
        (instead of each file's own metadata).
        """
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}.")
        policy = fetch_policy or FetchPolicy()
        if self.matches_in_process(len(images), jobs):
            results: Iterator[ClaimResult] = (self.check_safely(image, top, policy) for image in images)
            yield from (_dated(result, claimed_date) for result in results)
            return
        self._open()  # a missing or damaged index is said here, once, not by every worker
        with ClaimWorkers(_open_checker, self.address, self._settings, min(jobs, len(images))) as pool:
            yield from (_dated(result, claimed_date) for result in pool.check(images, top, policy))


def _dated(result: ClaimResult, claimed_date: ClaimedDate | None) -> ClaimResult:
    """``result`` dated by ``claimed_date`` when one was given (a claim that could not be read stays undated)."""
    if claimed_date is None or result.error is not None:
        return result
    return dataclasses.replace(result, claimed_date=claimed_date)


def _worker_may_store(slot: Slot, pool: ReadPool | None) -> bool:
    """Whether a worker of ``pool`` may be adding this file to the index itself (so its download must stay)."""
    return slot.ticket is not None and pool is not None and pool.writes_index


def _open_checker(index_path: str, settings: MatchSettings) -> ClaimCheck:
    """A worker's claim check on its own handle of the index (see :mod:`provcheck.batch`)."""
    return Index(index_path, settings=settings).check_safely


__all__ = [
    "INDEX_ENV_VAR",
    "INDEX_FILENAME",
    "AddOutcome",
    "AddProgress",
    "ClaimResult",
    "Index",
    "ProvcheckError",
    "SourceRecord",
    "add_failure",
    "default_index_path",
    "fingerprint",
    "iter_media_files",
    "parse_published",
]
