"""How a frame's local features are stored in a SQLite index: one ``features`` row a frame.

A row holds keypoint positions, static-overlay flags and descriptors; its ``encoding``
says whether the descriptors are the 128 SIFT bytes of each keypoint (0) or 16 codes of
the index's descriptor codec (1, :mod:`provcheck.codec`). Each row says its own
encoding, so an index may hold both: it is compacted a batch of rows a transaction (the
codec row comes with the first), and an interrupted compaction leaves a sound index
whose remaining raw rows the next one encodes. Once it has a codec every frame added is
stored as codes. Readers get ``uint8`` descriptors either way (codes are decoded).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..codec import CODE_BYTES, DescriptorCodec
from ..features import DESCRIPTOR_BYTES, LocalFeatures, unpack

#: Added by schema 4: the descriptor codec of a compacted index.
SCHEMA_CODEC = """
CREATE TABLE descriptor_codec (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    training_descriptors INTEGER NOT NULL,
    trained_at TEXT NOT NULL,
    data BLOB NOT NULL
);
"""

#: Values of ``features.encoding``.
RAW, CODES = 0, 1
#: Bytes a keypoint's descriptor takes in each encoding.
DESCRIPTOR_SIZE = {RAW: DESCRIPTOR_BYTES, CODES: CODE_BYTES}

#: The columns :func:`decode_features` reads, in its order.
FEATURE_COLUMNS = "frame_id, width, height, keypoints, xy, descriptors, static, encoding"

#: Frames re-encoded per transaction when an index is compacted: one transaction over
#: 10^5 frames grew the WAL past 9 GB (pages spilled and rewritten) before it was stopped.
COMPACT_BATCH = 500


class CodecCache:
    """The stored codec, read once it exists (an index is compacted once; its codec never changes)."""

    def __init__(self) -> None:
        self._codec: DescriptorCodec | None = None

    def current(self, conn: sqlite3.Connection) -> DescriptorCodec | None:
        if self._codec is None:
            row = conn.execute("SELECT data FROM descriptor_codec WHERE id = 1").fetchone()
            if row is not None:
                self._codec = DescriptorCodec.from_bytes(bytes(row[0]))
        return self._codec


def decode_features(row: Sequence[Any], codec: DescriptorCodec | None) -> tuple[LocalFeatures, NDArray[np.bool_]]:
    """Features and static flags of a row of :data:`FEATURE_COLUMNS` (codes decoded with ``codec``)."""
    count, encoding = int(row[3]), int(row[7])
    blob = bytes(row[5])
    if encoding == CODES:
        if codec is None:
            raise sqlite3.DatabaseError(f"frame {int(row[0])} is stored as codes but the index has no codec")
        blob = codec.decode(np.frombuffer(blob, dtype=np.uint8).reshape(count, CODE_BYTES)).tobytes()
    elif encoding != RAW:
        raise sqlite3.DatabaseError(f"frame {int(row[0])} has an unknown descriptor encoding {encoding}")
    features = unpack(bytes(row[4]), blob, int(row[1]), int(row[2]))
    static = np.unpackbits(np.frombuffer(bytes(row[6]), dtype=np.uint8))[:count].astype(bool)
    return features, static


def stored_descriptors(features: LocalFeatures, codec: DescriptorCodec | None) -> tuple[bytes, int]:
    """The descriptors blob of a new row and its encoding: codes when the index has a codec."""
    if codec is None:
        return features.descriptors.tobytes(), RAW
    return codec.encode(features.descriptors).tobytes(), CODES


def encode_batch(conn: sqlite3.Connection, codec: DescriptorCodec, trained_at: str) -> int:
    """Store ``codec`` unless the index has one, and encode up to COMPACT_BATCH raw rows with the stored one, in
    the caller's transaction; the number of rows encoded (0: none was raw)."""
    row = conn.execute("SELECT data FROM descriptor_codec WHERE id = 1").fetchone()
    if row is None:
        conn.execute("INSERT INTO descriptor_codec (id, training_descriptors, trained_at, data) VALUES (1, ?, ?, ?)",
                     (codec.training_descriptors, trained_at, codec.to_bytes()))
    else:
        codec = DescriptorCodec.from_bytes(bytes(row[0]))
    rows = conn.execute("SELECT frame_id, keypoints, descriptors FROM features WHERE encoding = ? ORDER BY frame_id"
                        " LIMIT ?", (RAW, COMPACT_BATCH)).fetchall()
    for frame_id, keypoints, blob in rows:
        raw = np.frombuffer(bytes(blob), dtype=np.uint8).reshape(int(keypoints), DESCRIPTOR_BYTES)
        conn.execute("UPDATE features SET descriptors = ?, encoding = ? WHERE frame_id = ?",
                     (codec.encode(raw).tobytes(), CODES, int(frame_id)))
    return len(rows)


def problems(conn: sqlite3.Connection) -> list[str]:
    """What disagrees between the feature rows' blobs, their encodings and the codec."""
    found: list[str] = []
    bad = int(conn.execute(
        "SELECT count(*) FROM features WHERE length(xy) != keypoints * 8 OR length(static) != (keypoints + 7) / 8"
        " OR encoding NOT IN (?, ?) OR length(descriptors) != keypoints * (CASE encoding WHEN ? THEN ? ELSE ? END)",
        (RAW, CODES, CODES, CODE_BYTES, DESCRIPTOR_BYTES)).fetchone()[0])
    if bad:
        found.append(f"{bad} feature rows have blobs that disagree with their keypoint count or encoding")
    coded = int(conn.execute("SELECT count(*) FROM features WHERE encoding = ?", (CODES,)).fetchone()[0])
    codec = conn.execute("SELECT data FROM descriptor_codec WHERE id = 1").fetchone()
    if coded and codec is None:
        found.append(f"{coded} feature rows are stored as codes but the index has no descriptor codec")
    elif codec is not None:
        try:
            DescriptorCodec.from_bytes(bytes(codec[0]))
        except (ValueError, TypeError) as exc:
            found.append(f"the descriptor codec is unreadable ({exc})")
    return found
