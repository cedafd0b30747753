"""The postings of an index sorted by word in one file beside it, read list by list.

Voting needs the postings of one word together, so this file holds them sorted by word.
SQLite keeps one postings row a frame, written in the frame's own transaction; once a
word file covering a row is in place, the row keeps only its keypoint count (it is
*sealed*) and the file is the one copy of its postings, so they are not stored twice.
Rows written since (a higher sequence number than the file covers) are read from SQLite
and held in memory, and a frame whose postings were rewritten since is read only from
there. Removed frames drop out because their ids are no longer in the frame table.

The file is built beside the old one in two streaming passes (count per word, then
place) from the old file's lists, less the postings no longer current, and the newer
rows; then it is fsynced and renamed over the old one. It records the vocabulary
generation it was built with and the last postings sequence number it covers. A file
that is missing, damaged or from another vocabulary is ignored; when rows are sealed,
that leaves the shortlist incomplete, which the store reports (``index train`` rebuilds
every posting from the stored descriptors).

Lists are read with ``os.pread``, not a memory map: the pages a map touches count in the
process's resident memory and grow with every claim; the page cache does not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .words import Postings

MAGIC = b"PROVCHECK-WORDS\n"
HEADER_BYTES = 4096
FORMAT_VERSION = 1


@dataclass(frozen=True)
class WordFileHeader:
    """What a word file covers: a vocabulary generation and every postings row up to a sequence number."""

    generation: int
    words: int
    covered_seq: int
    postings: int

    def to_bytes(self) -> bytes:
        body = json.dumps({"format": FORMAT_VERSION, "generation": self.generation, "words": self.words,
                           "covered_seq": self.covered_seq, "postings": self.postings}).encode()
        return (MAGIC + body).ljust(HEADER_BYTES, b" ")

    @classmethod
    def parse(cls, blob: bytes) -> WordFileHeader | None:
        if len(blob) < HEADER_BYTES or not blob.startswith(MAGIC):
            return None
        try:
            fields = json.loads(blob[len(MAGIC):HEADER_BYTES].decode())
            if fields.get("format") != FORMAT_VERSION:
                return None
            return cls(int(fields["generation"]), int(fields["words"]), int(fields["covered_seq"]),
                       int(fields["postings"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None

    def file_size(self) -> int:
        return HEADER_BYTES + 8 * (self.words + 1) + 4 * self.postings + _pad(4 * self.postings) + 8 * self.postings


def _pad(length: int) -> int:
    return (-length) % 8


def word_file_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".words")


#: A batch of postings: (words, frame ids, signatures), one entry a posting.
PostingArrays = tuple[NDArray[np.uint32], NDArray[np.int64], NDArray[np.uint64]]

#: Postings placed per batch while a file is written (bounds the writer's memory).
PLACE_BATCH = 1 << 22


def aside_path(path: Path) -> Path:
    """Where this process builds a new word file before renaming it to ``path`` (``NAME.tmpPID``)."""
    return path.with_name(f"{path.name}.tmp{os.getpid()}")


def remove_abandoned(path: Path) -> None:
    """Delete the files other writers left half-built beside ``path`` (their pid no longer running).

    ``kill -9`` during a rewrite leaves the aside file, as large as the postings, behind.
    """
    for aside in path.parent.glob(path.name + ".tmp*"):
        pid = aside.name[len(path.name) + len(".tmp"):]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            aside.unlink(missing_ok=True)
        except OSError:
            continue  # running (as another user): not ours to judge


def write_word_file(path: Path, header_of: Callable[[int], WordFileHeader],
                    postings: Callable[[], Iterable[Postings]], words: int,
                    kept: Callable[[], Iterable[PostingArrays]] | None = None) -> WordFileHeader:
    """Build the file at ``path`` (written aside, fsynced, renamed); see :func:`build_word_file`."""
    aside = aside_path(path)
    try:
        header = build_word_file(aside, header_of, postings, words, kept)
        os.replace(aside, path)
    finally:
        aside.unlink(missing_ok=True)
    return header


def build_word_file(path: Path, header_of: Callable[[int], WordFileHeader],
                    postings: Callable[[], Iterable[Postings]], words: int,
                    kept: Callable[[], Iterable[PostingArrays]] | None = None) -> WordFileHeader:
    """Write a whole, fsynced word file at ``path`` from two passes over its postings.

    ``kept()`` (postings carried over from the previous file, see :func:`kept_postings`)
    and ``postings()`` (frames' rows) must yield the same postings both times they are
    called; within a word, kept postings come first. ``header_of(total)`` gives the
    header once the number of postings is known.
    """

    def batches() -> Iterator[PostingArrays]:
        yield from kept() if kept is not None else ()
        yield from _frame_batches(postings())

    counts = np.zeros(words, np.int64)
    for batch_words, _, _ in batches():
        counts += np.bincount(batch_words.astype(np.int64), minlength=words)
    total = int(counts.sum())
    header = header_of(total)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    with open(path, "wb") as created:
        created.truncate(header.file_size())
    ids_start = HEADER_BYTES + 8 * (words + 1)
    signatures_start = ids_start + 4 * total + _pad(4 * total)
    ids = np.memmap(path, np.uint32, "r+", ids_start, (total,)) if total else np.zeros(0, np.uint32)
    signatures = np.memmap(path, np.uint64, "r+", signatures_start, (total,)) if total else np.zeros(0, np.uint64)
    cursor = offsets[:-1].copy()
    for batch in batches():
        _place(batch, cursor, ids, signatures)
    if not np.array_equal(cursor, offsets[1:]):
        raise RuntimeError("the postings changed while the word file was being written")
    for array in (ids, signatures):
        if isinstance(array, np.memmap):
            array.flush()
    del ids, signatures
    with open(path, "r+b") as handle:
        handle.write(header.to_bytes())
        handle.write(offsets.astype("<i8").tobytes())
        handle.flush()
        os.fsync(handle.fileno())
    return header


def _frame_batches(postings: Iterable[Postings]) -> Iterator[PostingArrays]:
    """Frames' postings gathered into batches of about :data:`PLACE_BATCH` postings."""
    batch: list[Postings] = []
    size = 0
    for frame in postings:
        batch.append(frame)
        size += frame.words.shape[0]
        if size >= PLACE_BATCH:
            yield _arrays(batch)
            batch, size = [], 0
    if batch:
        yield _arrays(batch)


def _arrays(batch: list[Postings]) -> PostingArrays:
    return (np.concatenate([frame.words for frame in batch]),
            np.concatenate([np.full(frame.words.shape[0], frame.frame_id, np.int64) for frame in batch]),
            np.concatenate([frame.signatures for frame in batch]))


def _place(batch: PostingArrays, cursor: NDArray[np.int64], ids: NDArray[np.uint32],
           signatures: NDArray[np.uint64]) -> None:
    """Write a batch of postings at their words' next free places."""
    batch_words, frame_ids, batch_signatures = batch
    if batch_words.shape[0] == 0:
        return
    words = batch_words.astype(np.int64)
    order = np.argsort(words, kind="stable")
    sorted_words = words[order]
    first = np.searchsorted(sorted_words, sorted_words, side="left")
    positions = cursor[sorted_words] + (np.arange(sorted_words.shape[0]) - first)
    ids[positions] = frame_ids[order].astype(np.uint32)
    signatures[positions] = batch_signatures[order]
    unique, counts = np.unique(sorted_words, return_counts=True)
    cursor[unique] += counts


def kept_postings(word_file: WordLists, keep: NDArray[np.bool_]) -> Iterator[PostingArrays]:
    """The postings of ``word_file`` whose frame id is marked in ``keep`` (indexed by frame id), word by word."""
    for first, last in word_file.word_ranges():
        ids, signatures = word_file.read_words(first, last)
        words = np.repeat(np.arange(first, last, dtype=np.uint32), np.diff(word_file.offsets[first:last + 1]))
        frame_ids = ids.astype(np.int64)
        wanted = np.zeros(frame_ids.shape[0], bool)
        inside = frame_ids < keep.shape[0]
        wanted[inside] = keep[frame_ids[inside]]
        yield words[wanted], frame_ids[wanted], signatures[wanted]


def word_ranges(offsets: NDArray[np.int64]) -> Iterator[tuple[int, int]]:
    """Consecutive ranges of words (first, last + 1) holding about :data:`PLACE_BATCH` postings each."""
    words = offsets.shape[0] - 1
    first = 0
    while first < words:
        last = int(np.searchsorted(offsets, offsets[first] + PLACE_BATCH, side="right")) - 1
        last = min(max(last, first + 1), words)
        yield first, last
        first = last


def frame_counts(offsets: NDArray[np.int64], word_ids: Callable[[int, int], NDArray[np.uint32]],
                 size: int) -> NDArray[np.int64]:
    """Postings per frame id below ``size`` (ids at or above it are counted in the last slot), reading every list;
    ``word_ids(first, last)`` reads the frame ids of the lists of words ``first`` to ``last - 1``."""
    counts = np.zeros(size + 1, np.int64)
    for first, last in word_ranges(offsets):
        ids = word_ids(first, last)
        counts += np.bincount(np.minimum(ids.astype(np.int64), size), minlength=size + 1)
    return counts


class WordLists(Protocol):
    """Postings sorted by word, read list by list: a word file, or the word-lists table of a database index."""

    header: WordFileHeader
    #: Where each word's list starts (a row per word, and the total last).
    offsets: NDArray[np.int64]

    def read_lists(self, words: Sequence[int]) -> Iterator[tuple[NDArray[np.uint32], NDArray[np.uint64]]]:
        """The frame ids and signatures of each word's list, in the order asked, read as they are consumed."""
        ...

    def read_words(self, first: int, last: int) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]: ...

    def word_ranges(self) -> Iterator[tuple[int, int]]: ...

    def close(self) -> None: ...


class WordFile:
    """An open word file: list offsets in memory, lists read on demand."""

    def __init__(self, path: Path, header: WordFileHeader, descriptor: int, offsets: NDArray[np.int64]) -> None:
        self.path = path
        self.header = header
        self._fd: int | None = descriptor  # a raw descriptor, closed by close() or with this object
        self.offsets = offsets
        self._ids_start = HEADER_BYTES + 8 * (header.words + 1)
        self._signatures_start = self._ids_start + 4 * header.postings + _pad(4 * header.postings)

    @classmethod
    def open(cls, path: Path, generation: int, words: int) -> WordFile | None:
        """The file at ``path`` if it is whole and made with this vocabulary, else None."""
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            header = WordFileHeader.parse(os.pread(descriptor, HEADER_BYTES, 0))
            if (header is None or header.generation != generation or header.words != words
                    or os.fstat(descriptor).st_size != header.file_size()):
                os.close(descriptor)
                return None
            raw = os.pread(descriptor, 8 * (words + 1), HEADER_BYTES)
            offsets = np.frombuffer(raw, "<i8").astype(np.int64)
            if offsets.shape[0] != words + 1 or offsets[-1] != header.postings or np.any(np.diff(offsets) < 0):
                os.close(descriptor)
                return None
        except OSError:
            os.close(descriptor)
            return None
        return cls(path, header, descriptor, offsets)

    def read(self, word: int) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        """The frame ids and signatures of one word's list."""
        return self.read_words(word, word + 1)

    def read_lists(self, words: Sequence[int]) -> Iterator[tuple[NDArray[np.uint32], NDArray[np.uint64]]]:
        """The frame ids and signatures of each word's list, in the order asked, read as they are consumed."""
        return (self.read(word) for word in words)

    def read_words(self, first: int, last: int) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        """The frame ids and signatures of the lists of words ``first`` to ``last - 1``, one after another."""
        start, end = int(self.offsets[first]), int(self.offsets[last])
        return self._read_ids(start, end), self._read(self._signatures_start, start, end, "<u8")

    def word_ranges(self) -> Iterator[tuple[int, int]]:
        """Consecutive ranges of words (first, last + 1) holding about :data:`PLACE_BATCH` postings each."""
        return word_ranges(self.offsets)

    def frame_counts(self, size: int) -> NDArray[np.int64]:
        """Postings per frame id below ``size`` (ids at or above it are counted in the last slot), reading it all."""
        return frame_counts(self.offsets, lambda first, last: self._read_ids(int(self.offsets[first]),
                                                                              int(self.offsets[last])), size)

    def _read_ids(self, start: int, end: int) -> NDArray[np.uint32]:
        return self._read(self._ids_start, start, end, "<u4")

    def _read(self, base: int, start: int, end: int, dtype: str) -> NDArray[Any]:
        """Entries ``start`` to ``end - 1`` of the array at byte ``base`` (``dtype``: ``<u4`` or ``<u8``)."""
        width = np.dtype(dtype).itemsize
        if end == start:
            return np.zeros(0, dtype)
        if self._fd is None:
            raise ValueError(f"{self.path}: the word file is closed")
        values = np.frombuffer(os.pread(self._fd, width * (end - start), base + width * start), dtype)
        if values.shape[0] != end - start:
            raise OSError(f"{self.path}: the word file is shorter than its header says")
        return values

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()
