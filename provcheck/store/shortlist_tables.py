"""The shortlist's tables in a SQLite index: one vocabulary row and one postings row a frame.

Postings are written in the same transaction as the frame they quantise, so an index
interrupted at any point holds postings for exactly the frames it holds, all made with
the vocabulary it holds. Installing a (re)trained vocabulary rewrites every postings row
in one transaction. A frame's postings leave out its static overlay keypoints, which
never vote. Once the word file beside the index covers a row, the row is *sealed*: its
blobs are emptied (the file holds its postings) and only its keypoint count stays, so
postings are stored once (:mod:`provcheck.shortlist.ondisk`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from ..codec import DescriptorCodec
from ..features import LocalFeatures
from ..shortlist.ondisk import WordFile
from ..shortlist.words import Postings, Vocabulary
from .feature_rows import FEATURE_COLUMNS, decode_features

SCHEMA_SHORTLIST = """
CREATE TABLE vocabulary (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    words INTEGER NOT NULL,
    training_descriptors INTEGER NOT NULL,
    trained_at TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE postings (
    frame_id INTEGER PRIMARY KEY REFERENCES frames(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    keypoints INTEGER NOT NULL,
    words BLOB NOT NULL,
    signatures BLOB NOT NULL
);
CREATE INDEX postings_by_seq ON postings(seq);
"""

#: The meta key of the last postings sequence number given out (never reused, so a word
#: file covering "every row up to n" stays true whatever is removed later).
SEQ_KEY = "postings_seq"

#: The meta key of the sequence number up to which postings rows are sealed (0 or absent: none).
SEALED_KEY = "postings_sealed_seq"

#: Frames re-quantised per batch when a vocabulary is installed.
INSTALL_BATCH = 500


class VocabularyCache:
    """The stored vocabulary, read again only when another writer has installed a new one."""

    def __init__(self) -> None:
        self._generation = 0
        self._vocabulary: Vocabulary | None = None

    def current(self, conn: sqlite3.Connection) -> Vocabulary | None:
        row = conn.execute("SELECT generation FROM vocabulary WHERE id = 1").fetchone()
        if row is None:
            self._generation, self._vocabulary = 0, None
        elif int(row[0]) != self._generation:
            blob = conn.execute("SELECT data FROM vocabulary WHERE id = 1").fetchone()[0]
            self._generation, self._vocabulary = int(row[0]), Vocabulary.from_bytes(bytes(blob))
        return self._vocabulary


def usable(features: LocalFeatures, static: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """The descriptors that vote: all but the static overlay keypoints."""
    return features.descriptors[~static]


def next_seq(conn: sqlite3.Connection) -> int:
    """A new postings sequence number (inside the caller's write transaction)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (SEQ_KEY,)).fetchone()
    seq = (int(row[0]) if row is not None else 0) + 1
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (SEQ_KEY, str(seq)))
    return seq


def last_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (SEQ_KEY,)).fetchone()
    return int(row[0]) if row is not None else 0


def sealed_seq(conn: sqlite3.Connection) -> int:
    """Rows up to this sequence number hold no postings: the word file does (0: no row is sealed)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (SEALED_KEY,)).fetchone()
    return int(row[0]) if row is not None else 0


def seal(conn: sqlite3.Connection, covered_seq: int) -> None:
    """Empty the blobs of every row up to ``covered_seq``, now in the word file (inside the caller's transaction)."""
    conn.execute("UPDATE postings SET words = x'', signatures = x'' WHERE seq <= ? AND length(words) > 0",
                 (covered_seq,))
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                 (SEALED_KEY, str(max(covered_seq, sealed_seq(conn)))))


def current_up_to(conn: sqlite3.Connection, seq: int) -> NDArray[np.bool_]:
    """Indexed by frame id: the frames whose current postings row is at most ``seq`` (a word file covering
    ``seq`` holds their postings; removed frames and frames rewritten since are False)."""
    ids = np.array([int(row[0]) for row in conn.execute("SELECT frame_id FROM postings WHERE seq <= ?", (seq,))],
                   np.int64)
    keep = np.zeros(int(ids.max()) + 1 if ids.size else 0, bool)
    keep[ids] = True
    return keep


def generation(conn: sqlite3.Connection) -> int:
    """The stored vocabulary's generation (0: none trained)."""
    row = conn.execute("SELECT generation FROM vocabulary WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else 0


def write_postings(conn: sqlite3.Connection, vocabulary: Vocabulary, frame_id: int, seq: int,
                   descriptors: NDArray[np.uint8]) -> None:
    words, signatures = vocabulary.assign(descriptors)
    conn.execute("INSERT OR REPLACE INTO postings (frame_id, seq, keypoints, words, signatures) VALUES (?, ?, ?, ?, ?)",
                 (frame_id, seq, int(words.shape[0]), words.astype("<u4").tobytes(),
                  signatures.astype("<u8").tobytes()))


def install(conn: sqlite3.Connection, vocabulary: Vocabulary, trained_at: str, codec: DescriptorCodec | None) -> None:
    """Store a vocabulary and re-quantise every stored frame with it (inside the caller's transaction).

    Frames stored as codes are quantised from their decoded descriptors (``codec``).
    """
    previous = conn.execute("SELECT generation FROM vocabulary WHERE id = 1").fetchone()
    generation = 1 if previous is None else int(previous[0]) + 1
    conn.execute("INSERT OR REPLACE INTO vocabulary (id, generation, words, training_descriptors, trained_at, data)"
                 " VALUES (1, ?, ?, ?, ?, ?)",
                 (generation, vocabulary.size, vocabulary.training_descriptors, trained_at, vocabulary.to_bytes()))
    conn.execute("DELETE FROM postings")
    conn.execute("DELETE FROM meta WHERE key = ?", (SEALED_KEY,))  # a new generation: no word file covers it yet
    seq = next_seq(conn)
    last = -1
    while True:
        rows = conn.execute(f"SELECT {FEATURE_COLUMNS} FROM features WHERE frame_id > ? ORDER BY frame_id LIMIT ?",
                            (last, INSTALL_BATCH)).fetchall()
        if not rows:
            return
        for row in rows:
            features, static = decode_features(row, codec)
            write_postings(conn, vocabulary, int(row[0]), seq, usable(features, static))
        last = int(rows[-1][0])


def iter_postings(conn: sqlite3.Connection, after_seq: int = 0, batch: int = 2_000) -> Iterator[Postings]:
    """The postings of every frame written after sequence number ``after_seq``, by frame id, read in batches.

    Reading starts at the first such frame, found in ``postings_by_seq``: the rows before it
    are not walked (a word file covers all or most of them; at 10^5 frames walking them to
    find no newer row took 0.15 s). :func:`all_postings_after` is the simple twin.
    """
    first = conn.execute("SELECT frame_id FROM postings WHERE seq > ? ORDER BY frame_id LIMIT 1", (after_seq,)).fetchone()
    if first is None:
        return
    last = int(first[0]) - 1
    while True:
        rows = conn.execute("SELECT frame_id, words, signatures FROM postings WHERE frame_id > ? AND seq > ?"
                            " ORDER BY frame_id LIMIT ?", (last, after_seq, batch)).fetchall()
        if not rows:
            return
        for frame_id, words, signatures in rows:
            yield Postings(int(frame_id), np.frombuffer(bytes(words), "<u4"), np.frombuffer(bytes(signatures), "<u8"))
        last = int(rows[-1][0])


def all_postings_after(conn: sqlite3.Connection, after_seq: int = 0) -> list[Postings]:
    """What :func:`iter_postings` yields, in one query (the reference it is tested against)."""
    rows = conn.execute("SELECT frame_id, words, signatures FROM postings WHERE seq > ? ORDER BY frame_id",
                        (after_seq,)).fetchall()
    return [Postings(int(frame_id), np.frombuffer(bytes(words), "<u4"), np.frombuffer(bytes(signatures), "<u8"))
            for frame_id, words, signatures in rows]


def problems(conn: sqlite3.Connection, word_file: WordFile | None) -> list[str]:
    """What disagrees between the postings, the vocabulary, the stored features and the word file.

    ``word_file`` is the file beside the index opened for the current vocabulary (None:
    missing, damaged or made for another one); it is read whole when rows are sealed.
    """
    found: list[str] = []
    vocabulary = conn.execute("SELECT words FROM vocabulary WHERE id = 1").fetchone()
    postings = int(conn.execute("SELECT count(*) FROM postings").fetchone()[0])
    if vocabulary is None:
        if postings:
            found.append(f"{postings} postings rows but no vocabulary")
        return found
    missing = int(conn.execute(
        "SELECT count(*) FROM features WHERE frame_id NOT IN (SELECT frame_id FROM postings)").fetchone()[0])
    if missing:
        found.append(f"{missing} frames with local features have no shortlist postings")
    extra = int(conn.execute(
        "SELECT count(*) FROM postings WHERE frame_id NOT IN (SELECT frame_id FROM features)").fetchone()[0])
    if extra:
        found.append(f"{extra} shortlist postings rows belong to no stored features")
    sealed = sealed_seq(conn)
    bad = int(conn.execute(
        "SELECT count(*) FROM postings WHERE (length(words) != keypoints * 4 OR length(signatures) != keypoints * 8)"
        " AND NOT (seq <= ? AND length(words) = 0 AND length(signatures) = 0)", (sealed,)
    ).fetchone()[0])
    if bad:
        found.append(f"{bad} shortlist postings rows have blobs that disagree with their keypoint count")
    words = int(vocabulary[0])
    wrong = 0
    for keypoints, blob, static in _postings_with_static(conn):
        if keypoints != int(np.count_nonzero(~static)):
            wrong += 1
        elif len(blob) % 4 == 0 and blob and int(np.frombuffer(blob, "<u4").max()) >= words:
            wrong += 1
    if wrong:
        found.append(f"{wrong} shortlist postings rows disagree with their frame's features or the vocabulary")
    if sealed:
        found.extend(_sealed_problems(conn, word_file, sealed))
    return found


def _sealed_problems(conn: sqlite3.Connection, word_file: WordFile | None, sealed: int) -> list[str]:
    """Whether the word file holds exactly the postings of every sealed row."""
    rows = conn.execute("SELECT frame_id, keypoints FROM postings WHERE seq <= ? AND length(words) = 0",
                        (sealed,)).fetchall()
    if word_file is None or word_file.header.covered_seq < sealed:
        return [f"the shortlist's word file is missing or damaged and held the postings of {len(rows)} frames"
                " (`provcheck index train` rebuilds them from the stored descriptors)"]
    ids = np.array([int(row[0]) for row in rows], np.int64)
    expected = np.array([int(row[1]) for row in rows], np.int64)
    try:
        counts = word_file.frame_counts(int(ids.max()) + 1 if ids.size else 0)
    except OSError as exc:
        return [f"the shortlist's word file cannot be read ({exc})"]
    wrong = int(np.count_nonzero(counts[ids] != expected))
    return [f"the shortlist's word file disagrees with {wrong} sealed postings rows"] if wrong else []


def _postings_with_static(conn: sqlite3.Connection) -> Iterator[tuple[int, bytes, NDArray[np.bool_]]]:
    """Each postings row's keypoint count and words, with its frame's static flags."""
    cursor = conn.execute("SELECT p.keypoints, p.words, f.keypoints, f.static FROM postings p"
                          " JOIN features f ON f.frame_id = p.frame_id")
    for keypoints, words, count, static in cursor:
        flags = np.unpackbits(np.frombuffer(bytes(static), dtype=np.uint8))[:int(count)].astype(bool)
        yield int(keypoints), bytes(words), flags
