"""The postings of an index sorted by word in one file beside it, read list by list.

SQLite keeps one postings row a frame, written in the frame's own transaction: that is
the truth. Voting needs the postings of one word together, so this file holds them sorted
by word, built from the rows in two streaming passes (count per word, then place), and
replaced atomically (written aside, fsynced, renamed). It records the vocabulary
generation it was built with and the last postings sequence number it covers; rows
written since (a higher sequence number) are read from SQLite and held in memory, and a
frame whose postings were rewritten since is read only from there. Removed frames drop
out because their ids are no longer in the frame table. A file that is missing, damaged
or from another vocabulary is ignored: it is a cache, never the only copy.

Lists are read with ``os.pread``, not a memory map: the pages a map touches count in the
process's resident memory and grow with every claim; the page cache does not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

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


def write_word_file(path: Path, header_of: Callable[[int], WordFileHeader],
                    postings: Callable[[], Iterable[Postings]], words: int) -> WordFileHeader:
    """Build the file from two passes over ``postings()`` (which must yield the same rows twice).

    ``header_of(total)`` gives the header once the number of postings is known.
    """
    counts = np.zeros(words, np.int64)
    for frame in postings():
        counts += np.bincount(frame.words.astype(np.int64), minlength=words)
    total = int(counts.sum())
    header = header_of(total)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    aside = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with open(aside, "wb") as handle:
            handle.truncate(header.file_size())
        ids_start = HEADER_BYTES + 8 * (words + 1)
        signatures_start = ids_start + 4 * total + _pad(4 * total)
        ids = np.memmap(aside, np.uint32, "r+", ids_start, (total,)) if total else np.zeros(0, np.uint32)
        signatures = np.memmap(aside, np.uint64, "r+", signatures_start, (total,)) if total else np.zeros(0, np.uint64)
        cursor = offsets[:-1].copy()
        batch: list[Postings] = []
        for frame in postings():
            batch.append(frame)
            if sum(item.words.shape[0] for item in batch) >= 1 << 20:
                _place(batch, cursor, ids, signatures)
                batch = []
        _place(batch, cursor, ids, signatures)
        if not np.array_equal(cursor, offsets[1:]):
            raise RuntimeError("the postings changed while the word file was being written")
        for array in (ids, signatures):
            if isinstance(array, np.memmap):
                array.flush()
        del ids, signatures
        with open(aside, "r+b") as handle:
            handle.write(header.to_bytes())
            handle.write(offsets.astype("<i8").tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(aside, path)
    finally:
        aside.unlink(missing_ok=True)
    return header


def _place(batch: list[Postings], cursor: NDArray[np.int64], ids: NDArray[np.uint32],
           signatures: NDArray[np.uint64]) -> None:
    """Write a batch of frames' postings at their words' next free places."""
    if not batch:
        return
    words = np.concatenate([frame.words for frame in batch]).astype(np.int64)
    frame_ids = np.concatenate([np.full(frame.words.shape[0], frame.frame_id, np.uint32) for frame in batch])
    batch_signatures = np.concatenate([frame.signatures for frame in batch])
    order = np.argsort(words, kind="stable")
    sorted_words = words[order]
    first = np.searchsorted(sorted_words, sorted_words, side="left")
    positions = cursor[sorted_words] + (np.arange(sorted_words.shape[0]) - first)
    ids[positions] = frame_ids[order]
    signatures[positions] = batch_signatures[order]
    unique, counts = np.unique(sorted_words, return_counts=True)
    cursor[unique] += counts


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
        start, end = int(self.offsets[word]), int(self.offsets[word + 1])
        if end == start:
            return np.zeros(0, np.uint32), np.zeros(0, np.uint64)
        if self._fd is None:
            raise ValueError(f"{self.path}: the word file is closed")
        ids = np.frombuffer(os.pread(self._fd, 4 * (end - start), self._ids_start + 4 * start), "<u4")
        signatures = np.frombuffer(os.pread(self._fd, 8 * (end - start), self._signatures_start + 8 * start), "<u8")
        return ids, signatures

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()
