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
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
from PIL import Image

from .errors import DuplicateSourceError, MediaError, ProvcheckError
from .features import INDEX_KEYPOINTS, STILL_KEYPOINTS, OverlayDetector, extract
from .fetch import FetchPolicy, fetch, is_url
from .hashing import HASHERS
from .match import Assessment, MatchEngine, MatchSettings
from .media import (
    DEFAULT_SAMPLE_FPS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Frame,
    image_frame,
    media_kind,
    probe_video,
    sample_video,
    sha256_file,
)
from .paths import INDEX_ENV_VAR, INDEX_FILENAME, default_index_path
from .results import ClaimResult, Match, Verdict
from .store import FrameRecord, IndexStats, IndexStore, IntegrityReport, NewSource, SourceRecord, SQLiteStore

#: Claims are shrunk to this long side before matching (features use 1024, hashes less).
CLAIM_MAX_SIDE = 4096
#: Folder beside the index where sources added by URL are kept.
DOWNLOADS_FOLDER = "downloads"

#: Progress callback: (work done, work total), in the unit of the task (seconds of video).
Progress = Callable[[float, float], None]


def _url_name(url: str) -> str:
    """A readable title for a downloaded source: the URL path's last part, else the host."""
    parts = urlsplit(url)
    name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return name or parts.hostname or url


def parse_published(value: str | None) -> str | None:
    """Check a publication date is ``YYYY-MM-DD`` (a real date) and return it unchanged.

    Raises:
        ValueError: not a valid date in that form.
    """
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise ValueError(f"The publication date must be a real date written YYYY-MM-DD, not {value!r}.")


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


def _load_claim(image: str | os.PathLike[str] | Image.Image | np.ndarray) -> Frame:
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


@dataclass(frozen=True)
class _SourceDetails:
    """What :meth:`Index.add` was asked to store with a source, and how to read it."""

    title: str | None
    url: str | None
    published: str | None
    notes: str | None
    fps: float
    replace: bool


@dataclass(frozen=True)
class _SourceContent:
    """A read source: its fingerprinted frames and the picture's size and duration."""

    frames: tuple[FrameRecord, ...]
    width: int
    height: int
    duration_s: float | None


def _refuse_duplicate(store: IndexStore, digest: str, media_path: Path, replace: bool) -> None:
    """Raise DuplicateSourceError when a file with this sha256 is indexed and ``replace`` is false."""
    existing = store.find_by_sha256(digest)
    if existing is not None and not replace:
        raise DuplicateSourceError(
            f"{media_path}: already indexed as source {existing.id} ({existing.title!r}); "
            "use --replace to index it again",
            existing.id,
        )


def _read_video(path: Path, fps: float, progress: Progress | None) -> _SourceContent:
    """Probe a video once, then sample and fingerprint it; progress gets (seconds decoded, duration)."""
    info = probe_video(path)
    total = info.duration_s or 0.0
    callback = None if progress is None else (lambda t: progress(t, total))
    frames = fingerprint_video(sample_video(path, fps, progress=callback, probe=info))
    return _SourceContent(tuple(frames), info.width, info.height, info.duration_s)


def _read_still(path: Path) -> _SourceContent:
    """Load and fingerprint a still image."""
    frame = image_frame(path)
    return _SourceContent((fingerprint(frame),), frame.width, frame.height, None)


class Index:
    """A provcheck index of known sources, stored in one SQLite file.

    The file is created by the first :meth:`add`; reading an index that does not
    exist raises :class:`~provcheck.errors.IndexStoreError`.

    Args:
        path: the index file; default :func:`default_index_path`.
        store: a storage backend to use instead of SQLite at ``path``.
        settings: the matcher's thresholds (default: the measured ones).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, store: IndexStore | None = None,
                 settings: MatchSettings | None = None) -> None:
        self.path = Path(path) if path is not None else default_index_path()
        self._store: IndexStore | None = store
        self._settings = settings or MatchSettings()
        self._engine: MatchEngine | None = None

    def _matcher(self) -> MatchEngine:
        if self._engine is None:
            self._engine = MatchEngine(self._open(), self._settings)
        return self._engine

    def _open(self, create: bool = False) -> IndexStore:
        if self._store is None:
            self._store = SQLiteStore(self.path, create=create)
        return self._store

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
        details = _SourceDetails(title=title, url=url, published=published, notes=notes, fps=fps, replace=replace)
        text = os.fspath(path)
        if is_url(text) and not Path(text).exists():
            return self._add_url(text, details, progress, fetch_policy or FetchPolicy())
        return self._add_file(Path(path), details, progress)

    def _add_url(
        self, address: str, details: _SourceDetails, progress: Progress | None, policy: FetchPolicy
    ) -> SourceRecord:
        """Download ``address`` into the downloads folder beside the index and add the file (kept only if added)."""
        parse_published(details.published)  # refuse a bad date before downloading
        downloads = self.path.parent / DOWNLOADS_FOLDER
        downloads.mkdir(parents=True, exist_ok=True)
        fetched = fetch(address, downloads, policy)
        named = dataclasses.replace(details, title=details.title or _url_name(address), url=details.url or address)
        try:
            return self._add_file(fetched.path, named, progress)
        except BaseException:
            fetched.path.unlink(missing_ok=True)
            raise

    def _add_file(self, media_path: Path, details: _SourceDetails, progress: Progress | None) -> SourceRecord:
        """Sniff, hash, refuse a duplicate, fingerprint and store one local file."""
        published = parse_published(details.published)
        kind = media_kind(media_path)
        digest = sha256_file(media_path)
        store = self._open(create=True)
        _refuse_duplicate(store, digest, media_path, details.replace)
        content = _read_video(media_path, details.fps, progress) if kind == "video" else _read_still(media_path)
        record = store.add_source(
            NewSource(
                kind=kind,
                title=details.title or media_path.name,
                url=details.url or None,
                published=published,
                notes=details.notes or None,
                path=str(media_path.resolve()),
                sha256=digest,
                duration_s=content.duration_s,
                width=content.width,
                height=content.height,
            ),
            content.frames,
            replace=details.replace,
        )
        self._engine = None
        return record

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

    def verify_integrity(self) -> IntegrityReport:
        """Check the index file: schema, row counts, every fingerprint owned by a source."""
        return self._open().check()

    def info(self) -> IndexStats:
        """Counts and metadata of the index."""
        return self._open().stats()

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
        claim = _load_claim(image)
        digest = sha256_file(Path(image)) if isinstance(image, (str, os.PathLike)) else None
        return self._matcher().assess(claim, claim_sha256=digest)

    def check(
        self, image: str | os.PathLike[str], top: int = 5, fetch_policy: FetchPolicy | None = None
    ) -> ClaimResult:
        """Like :meth:`match` but never raises for a bad claim: the error is in the result.

        ``image`` may be an http(s) URL: it is downloaded to a temporary folder first.
        """
        query = os.fspath(image)
        self._matcher()
        try:
            if is_url(query) and not Path(query).exists():
                with tempfile.TemporaryDirectory(prefix="provcheck-fetch-") as folder:
                    fetched = fetch(query, Path(folder), fetch_policy or FetchPolicy())
                    try:
                        matches = self.match(fetched.path, top=top)
                    except MediaError as exc:
                        raise MediaError(str(exc).replace(str(fetched.path), query)) from exc
            else:
                matches = self.match(image, top=top)
        except MediaError as exc:
            return ClaimResult(query=query, verdict=Verdict.NONE, matches=(), error=str(exc))
        except MemoryError:
            return ClaimResult(query=query, verdict=Verdict.NONE, matches=(), error=f"{query}: not enough memory")
        return ClaimResult.of(query, matches)


__all__ = [
    "INDEX_ENV_VAR",
    "INDEX_FILENAME",
    "ClaimResult",
    "Index",
    "ProvcheckError",
    "SourceRecord",
    "default_index_path",
    "fingerprint",
    "iter_media_files",
    "parse_published",
]
