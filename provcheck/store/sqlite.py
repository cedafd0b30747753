"""The reference backend: one SQLite file holding sources and their fingerprinted frames.

WAL mode, a busy timeout for concurrent writers, one transaction per added source, and
a versioned schema (migrated on open) whose metadata names the hashers and the feature
extractor that made the stored fingerprints.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..codec import DescriptorCodec
from ..errors import DuplicateSourceError, IndexMismatchError, IndexStoreError, SourceNotFoundError
from ..features import LocalFeatures, extractor_signature
from ..hashing import HASHERS, hasher_signature
from ..shortlist.ondisk import (
    WordFile,
    WordFileHeader,
    aside_path,
    build_word_file,
    kept_postings,
    remove_abandoned,
    word_file_path,
)
from ..shortlist.words import Postings, Vocabulary
from . import feature_rows, shortlist_tables
from .compat import APPLICATION_ID, initial_meta, now_iso, refuse_incompatible
from .records import (
    EDITABLE_FIELDS,
    FeatureCoverage,
    FrameHashes,
    FrameRecord,
    FrameTable,
    HashTable,
    IndexStats,
    IntegrityReport,
    NewSource,
    SourceRecord,
    StoredFeatures,
    sample_descriptors,
)

SCHEMA_VERSION = 5
#: How long a writer waits for another process's lock before giving up, in ms.
BUSY_TIMEOUT_MS = 60_000


_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
    title TEXT NOT NULL,
    url TEXT,
    published TEXT,
    notes TEXT,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    duration_s REAL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    frame_count INTEGER NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE frames (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    frame_number INTEGER NOT NULL,
    time_s REAL,
    phash BLOB NOT NULL,
    pdq BLOB NOT NULL,
    pdq_quality INTEGER
);
CREATE INDEX frames_by_source ON frames(source_id, frame_number);
"""

#: Added by schema 2: local features of each frame ([crop-proof]).
_SCHEMA_FEATURES = """
CREATE TABLE features (
    frame_id INTEGER PRIMARY KEY REFERENCES frames(id) ON DELETE CASCADE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    keypoints INTEGER NOT NULL,
    xy BLOB NOT NULL,
    descriptors BLOB NOT NULL,
    static BLOB NOT NULL,
    encoding INTEGER NOT NULL DEFAULT 0
);
"""

_SOURCE_COLUMNS = (
    "id, kind, title, url, published, notes, path, sha256, duration_s, width, height, frame_count, added_at"
)


def _create_tables(conn: sqlite3.Connection, schema: str, if_missing: bool = False) -> None:
    for statement in filter(str.strip, schema.split(";")):
        if if_missing:
            statement = statement.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")
            statement = statement.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS")
        conn.execute(statement)


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename in it survives a power cut (where the platform allows it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _source_from_row(row: sqlite3.Row) -> SourceRecord:
    return SourceRecord(
        id=int(row["id"]),
        kind=str(row["kind"]),
        title=str(row["title"]),
        url=row["url"],
        published=row["published"],
        notes=row["notes"],
        path=str(row["path"]),
        sha256=str(row["sha256"]),
        duration_s=row["duration_s"],
        width=int(row["width"]),
        height=int(row["height"]),
        frame_count=int(row["frame_count"]),
        added_at=str(row["added_at"]),
    )


class SQLiteStore:
    """The SQLite backend of :class:`IndexStore`.

    Args:
        path: the index file.
        create: create the file if it does not exist (``index add`` does; queries do not).

    Raises:
        IndexStoreError: missing (and ``create`` is false), not a provcheck index, or damaged.
        IndexMismatchError: written by a newer schema or by other hasher versions.
    """

    def __init__(self, path: Path, create: bool = False) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._vocabulary = shortlist_tables.VocabularyCache()
        self._codec = feature_rows.CodecCache()
        exists = self.path.exists()
        if exists and self.path.is_dir():
            raise IndexStoreError(f"{self.path}: is a directory, not an index file")
        if not exists and not create:
            raise IndexStoreError(
                f"{self.path}: index not found (create one with 'provcheck index add FILE --index {self.path}')"
            )
        if not exists:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise IndexStoreError(f"{self.path}: cannot create the index folder ({exc.strerror})") from exc
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise IndexStoreError(f"{self.path}: cannot open the index ({exc})") from exc
        self._conn.row_factory = sqlite3.Row
        try:
            self._prepare_with_retries(create)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise IndexStoreError(f"{self.path}: not a provcheck index or damaged ({exc})") from exc
        except IndexStoreError:
            self._conn.close()
            raise

    def _prepare_with_retries(self, create: bool) -> None:
        """Open the index, waiting while another process holds it (creating it, switching to WAL).

        SQLite's busy handler does not cover every step of opening (a journal-mode
        switch can fail at once with "database is locked"), so opening is retried until
        the busy timeout.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._prepare(create)
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() > deadline:
                    raise
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                time.sleep(0.05)

    def _prepare(self, create: bool) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            # An empty database holds nothing to lose: it is either new or being
            # created by a concurrent `index add` (the schema appears in one transaction).
            if not create:
                raise IndexStoreError(f"{self.path}: an empty database, not a provcheck index yet")
            self._create_schema()
            return
        if "meta" not in tables:
            raise IndexStoreError(f"{self.path}: a SQLite database that is not a provcheck index; refusing to touch it")
        meta = self._meta()
        if meta.get("application") != APPLICATION_ID:
            raise IndexStoreError(f"{self.path}: a SQLite database that is not a provcheck index; refusing to touch it")
        version = int(meta.get("schema_version", "0"))
        if version < SCHEMA_VERSION:
            self._migrate(version)
            meta = self._meta()
        if version > SCHEMA_VERSION:
            raise IndexMismatchError(
                f"{self.path}: index schema {version} is newer than this provcheck understands "
                f"({SCHEMA_VERSION}); upgrade provcheck"
            )
        refuse_incompatible(str(self.path), meta)
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")

    def _migrate(self, version: int) -> None:
        """Bring an older index up to :data:`SCHEMA_VERSION` in one transaction.

        Schema 1 had hashes only: its frames get an empty features table and keep
        matching by hash; re-adding a source with --replace gives it local features.
        Schema 2 had no shortlist: it gets empty shortlist tables, and the exact search
        serves it until ``index add`` trains a vocabulary. Schema 3 stored every
        descriptor raw: its feature rows are marked so and it gets an empty codec table.
        Schema 5 seals postings rows covered by the word file (nothing to convert: the
        version keeps an older provcheck from rewriting the file from sealed rows).
        """
        with self._transaction() as conn:
            current = int(self._meta().get("schema_version", "0"))
            if current == 1:
                _create_tables(conn, _SCHEMA_FEATURES, if_missing=True)
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('features', ?)",
                             (json.dumps(extractor_signature(), sort_keys=True),))
            if current in (1, 2):
                _create_tables(conn, shortlist_tables.SCHEMA_SHORTLIST, if_missing=True)
            if current in (1, 2, 3, 4):
                columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(features)")}
                if "encoding" not in columns:
                    conn.execute("ALTER TABLE features ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0")
                _create_tables(conn, feature_rows.SCHEMA_CODEC, if_missing=True)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))

    def _create_schema(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode = WAL")
        with self._transaction():
            # Another process may have created the schema between our check and our lock.
            if conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'meta'").fetchone()[0]:
                return
            _create_tables(conn, _SCHEMA + _SCHEMA_FEATURES + shortlist_tables.SCHEMA_SHORTLIST
                           + feature_rows.SCHEMA_CODEC)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", initial_meta(SCHEMA_VERSION))

    def _meta(self) -> dict[str, str]:
        return {str(row[0]): str(row[1]) for row in self._conn.execute("SELECT key, value FROM meta")}

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE write transaction, retried while another writer holds the lock."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise IndexStoreError(f"{self.path}: cannot write to the index ({exc})") from exc
                if time.monotonic() > deadline:
                    raise IndexStoreError(f"{self.path}: index is locked by another process") from exc
                time.sleep(0.05)
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    def add_source(self, source: NewSource, frames: Sequence[FrameRecord], replace: bool = False) -> SourceRecord:
        """Add a source and all its frames in one transaction (all or nothing).

        Args:
            source: the source's metadata.
            frames: its fingerprinted frames.
            replace: replace a source with the same sha256 instead of refusing.

        Raises:
            DuplicateSourceError: the same file is already indexed and ``replace`` is false.
        """
        names = [hasher.name for hasher in HASHERS]
        try:
            with self._transaction() as conn:
                vocabulary = self._vocabulary.current(conn)
                codec = self._codec.current(conn)  # read inside the transaction: a compaction may have just landed
                seq = shortlist_tables.next_seq(conn) if vocabulary is not None else 0
                existing = conn.execute("SELECT id, title FROM sources WHERE sha256 = ?", (source.sha256,)).fetchone()
                values = (
                    source.kind, source.title, source.url, source.published, source.notes, source.path,
                    source.sha256, source.duration_s, source.width, source.height, len(frames), now_iso(),
                )
                if existing is not None:
                    if not replace:
                        raise DuplicateSourceError(
                            f"{source.path}: already indexed as source {existing['id']} "
                            f"({existing['title']!r}); use --replace to index it again",
                            int(existing["id"]),
                        )
                    # Re-indexing keeps the source's id, so references to it stay valid.
                    source_id = int(existing["id"])
                    conn.execute("DELETE FROM frames WHERE source_id = ?", (source_id,))
                    conn.execute(
                        "UPDATE sources SET kind = ?, title = ?, url = ?, published = ?, notes = ?, path = ?,"
                        " sha256 = ?, duration_s = ?, width = ?, height = ?, frame_count = ?, added_at = ?"
                        " WHERE id = ?",
                        (*values, source_id),
                    )
                else:
                    cursor = conn.execute(
                        "INSERT INTO sources (kind, title, url, published, notes, path, sha256, duration_s, width,"
                        " height, frame_count, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        values,
                    )
                    source_id = int(cursor.lastrowid or 0)
                for frame in frames:
                    cursor = conn.execute(
                        f"INSERT INTO frames (source_id, frame_number, time_s, {', '.join(names)}, pdq_quality)"
                        f" VALUES (?, ?, ?, {', '.join('?' for _ in names)}, ?)",
                        (source_id, frame.frame_number, frame.time_s, *(frame.hashes[n] for n in names),
                         frame.pdq_quality),
                    )
                    if frame.features is not None:
                        descriptor_blob, encoding = feature_rows.stored_descriptors(frame.features, codec)
                        static = frame.static if frame.static is not None else np.zeros(len(frame.features), bool)
                        conn.execute(
                            "INSERT INTO features (frame_id, width, height, keypoints, xy, descriptors, static,"
                            " encoding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (cursor.lastrowid, frame.features.width, frame.features.height, len(frame.features),
                             frame.features.xy.astype("<f4").tobytes(), descriptor_blob,
                             np.packbits(static).tobytes(), encoding),
                        )
                        if vocabulary is not None:
                            shortlist_tables.write_postings(conn, vocabulary, int(cursor.lastrowid or 0), seq,
                                                            shortlist_tables.usable(frame.features, static))
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot write to the index ({exc})") from exc
        return self.get_source(source_id)

    def find_by_sha256(self, sha256: str) -> SourceRecord | None:
        row = self._query_one(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE sha256 = ?", (sha256,))
        return None if row is None else _source_from_row(row)

    def get_source(self, source_id: int) -> SourceRecord:
        row = self._query_one(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE id = ?", (source_id,))
        if row is None:
            raise SourceNotFoundError(f"{self.path}: no source with id {source_id}")
        return _source_from_row(row)

    def list_sources(self) -> list[SourceRecord]:
        rows = self._query_all(f"SELECT {_SOURCE_COLUMNS} FROM sources ORDER BY id", ())
        return [_source_from_row(row) for row in rows]

    def remove_source(self, source_id: int) -> SourceRecord:
        record = self.get_source(source_id)
        try:
            with self._transaction() as conn:
                conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot write to the index ({exc})") from exc
        return record

    def edit_source(self, source_id: int, changes: Mapping[str, str | None]) -> SourceRecord:
        """Change a source's title, URL, date or notes in one transaction; its frames stay as they are."""
        unknown = set(changes) - set(EDITABLE_FIELDS)
        if unknown:
            raise ValueError(f"Not editable: {', '.join(sorted(unknown))}.")
        if changes:
            assignments = ", ".join(f"{field} = ?" for field in changes)
            try:
                with self._transaction() as conn:
                    updated = conn.execute(f"UPDATE sources SET {assignments} WHERE id = ?",
                                           (*changes.values(), source_id)).rowcount
            except sqlite3.DatabaseError as exc:
                raise IndexStoreError(f"{self.path}: cannot write to the index ({exc})") from exc
            if not updated:
                raise SourceNotFoundError(f"{self.path}: no source with id {source_id}")
        return self.get_source(source_id)

    def hash_table(self, hasher_name: str) -> HashTable:
        """One hasher's hashes with the frame table (both ordered by frame id)."""
        frames = self.frame_table()
        return HashTable(frames.frame_ids, frames.source_ids, frames.frame_numbers, frames.times_s,
                         self.hash_matrix(hasher_name))

    def frame_table(self) -> FrameTable:
        """Every frame's id, source, frame number and time, ordered by frame id."""
        rows = self._query_all("SELECT id, source_id, frame_number, time_s FROM frames ORDER BY id", ())
        count = len(rows)
        return FrameTable(
            frame_ids=np.fromiter((row[0] for row in rows), dtype=np.int64, count=count),
            source_ids=np.fromiter((row[1] for row in rows), dtype=np.int64, count=count),
            frame_numbers=np.fromiter((row[2] for row in rows), dtype=np.int64, count=count),
            times_s=np.fromiter((np.nan if row[3] is None else row[3] for row in rows), dtype=np.float64, count=count),
        )

    def hash_matrix(self, hasher_name: str) -> NDArray[np.uint8]:
        """One hasher's packed hashes, a row per frame ordered by frame id."""
        if hasher_name not in {hasher.name for hasher in HASHERS}:
            raise ValueError(f"Unknown hasher {hasher_name!r}.")
        bits = hasher_signature()[hasher_name]["bits"]
        rows = self._query_all(f"SELECT {hasher_name} FROM frames ORDER BY id", ())
        return np.frombuffer(b"".join(bytes(row[0]) for row in rows), dtype=np.uint8).reshape(len(rows), bits // 8)

    def frame_hashes(self) -> FrameHashes:
        """:meth:`frame_table` and every hasher's :meth:`hash_matrix` in one pass over the frames (what the
        matcher loads: reading them one by one scans the table once each, and at 10^5 frames building
        ``sqlite3.Row`` objects cost more than the scan).
        """
        names = [hasher.name for hasher in HASHERS]
        widths = [hasher_signature()[name]["bits"] // 8 for name in names]
        rows = self._query_tuples(f"SELECT id, source_id, frame_number, time_s, {', '.join(names)} FROM frames"
                                  " ORDER BY id", ())
        columns = [list(map(itemgetter(column), rows)) for column in range(4 + len(names))]  # (zip(*rows) is slower)
        frames = FrameTable(
            frame_ids=np.array(columns[0], dtype=np.int64),
            source_ids=np.array(columns[1], dtype=np.int64),
            frame_numbers=np.array(columns[2], dtype=np.int64),
            times_s=np.array([np.nan if time_s is None else time_s for time_s in columns[3]], dtype=np.float64),
        )
        hashes = {
            name: np.frombuffer(b"".join(bytes(value) for value in column), dtype=np.uint8).reshape(len(rows), width)
            for name, width, column in zip(names, widths, columns[4:], strict=True)
        }
        return FrameHashes(frames, hashes)

    def check(self) -> IntegrityReport:
        """Verify the file, the schema, row counts and that every fingerprint belongs to a source."""
        problems: list[str] = []
        integrity = [str(row[0]) for row in self._query_all("PRAGMA integrity_check", ())]
        if integrity != ["ok"]:
            problems.extend(f"sqlite integrity: {line}" for line in integrity[:10])
        tables = {str(row[0]) for row in self._query_all("SELECT name FROM sqlite_master WHERE type = 'table'", ())}
        for table in ("meta", "sources", "frames", "features", "vocabulary", "postings", "descriptor_codec"):
            if table not in tables:
                problems.append(f"missing table {table}")
        if problems:
            return IntegrityReport(self.location, 0, 0, 0, tuple(problems))
        meta = self._meta()
        for key in ("application", "schema_version", "hashers", "features", "created_at"):
            if key not in meta:
                problems.append(f"missing metadata {key!r}")
        for row in self._query_all("PRAGMA foreign_key_check", ()):
            problems.append(f"row {row[1]} of {row[0]} points to a missing {row[2]}")
        for row in self._query_all(
            "SELECT s.id, s.frame_count, count(f.id) FROM sources s LEFT JOIN frames f ON f.source_id = s.id"
            " GROUP BY s.id HAVING s.frame_count != count(f.id)", ()
        ):
            problems.append(f"source {row[0]} records {row[1]} frames but has {row[2]}")
        for row in self._query_all("SELECT id FROM sources WHERE frame_count = 0", ()):
            problems.append(f"source {row[0]} has no frames")
        widths = {hasher.name: hasher.bits // 8 for hasher in HASHERS}
        for name, size in widths.items():
            bad = self._query_one(f"SELECT count(*) FROM frames WHERE length({name}) != ?", (size,))
            if bad is not None and int(bad[0]):
                problems.append(f"{int(bad[0])} frames have a {name} hash of the wrong length")
        try:
            problems.extend(feature_rows.problems(self._conn))
        except sqlite3.DatabaseError as exc:
            problems.append(f"feature rows unreadable ({exc})")
        orphans = self._query_one("SELECT count(*) FROM features WHERE frame_id NOT IN (SELECT id FROM frames)", ())
        if orphans is not None and int(orphans[0]):
            problems.append(f"{int(orphans[0])} feature rows belong to no frame")
        try:
            problems.extend(shortlist_tables.problems(self._conn, self.word_file()))
        except sqlite3.DatabaseError as exc:
            problems.append(f"shortlist tables unreadable ({exc})")
        counts = [self._query_one(f"SELECT count(*) FROM {table}", ()) for table in ("sources", "frames", "features")]
        sources, frames, features = (int(row[0]) if row is not None else 0 for row in counts)
        return IntegrityReport(self.location, sources, frames, features, tuple(problems))

    def feature_table(self) -> list[StoredFeatures]:
        """Every stored frame's local features, by frame id."""
        rows = self._query_all(f"SELECT {feature_rows.FEATURE_COLUMNS} FROM features ORDER BY frame_id", ())
        return [StoredFeatures(int(row[0]), *self._decoded(row)) for row in rows]

    def features_of(self, frame_ids: Sequence[int]) -> dict[int, StoredFeatures]:
        """The local features of the given frames (those that have any), by frame id."""
        found: dict[int, StoredFeatures] = {}
        wanted = sorted(set(int(frame_id) for frame_id in frame_ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = self._query_all(f"SELECT {feature_rows.FEATURE_COLUMNS} FROM features WHERE frame_id IN"
                                   f" ({', '.join('?' for _ in chunk)})", tuple(chunk))
            for row in rows:
                found[int(row[0])] = StoredFeatures(int(row[0]), *self._decoded(row))
        return found

    def featured_frame_ids(self) -> NDArray[np.int64]:
        """Ids of the frames that have local features, ascending."""
        rows = self._query_tuples("SELECT frame_id FROM features ORDER BY frame_id", ())
        return np.fromiter(map(itemgetter(0), rows), dtype=np.int64, count=len(rows))

    def feature_coverage(self) -> FeatureCoverage:
        """Frames, and those with a features row, in one query: what ``match`` warns about when some have none,
        without :meth:`stats` (which counts and reads much more)."""
        row = self._query_one("SELECT (SELECT count(*) FROM frames),"
                              " (SELECT count(*) FROM frames WHERE id IN (SELECT frame_id FROM features))", ())
        if row is None:
            raise IndexStoreError(f"{self.path}: cannot read the index (no row counts)")
        return FeatureCoverage(frames=int(row[0]), frames_with_features=int(row[1]))

    def voting_descriptor_count(self) -> int:
        """Stored keypoints (static overlay ones included: an upper bound of those that vote)."""
        row = self._query_one("SELECT coalesce(sum(keypoints), 0) FROM features", ())
        return int(row[0]) if row is not None else 0

    def descriptor_sample(self, limit: int, seed: int = 0) -> NDArray[np.uint8]:
        """Up to ``limit`` voting descriptors from frames drawn at random (a vocabulary's training set)."""
        return sample_descriptors(self, limit, seed)

    def _decoded(self, row: sqlite3.Row) -> tuple[LocalFeatures, NDArray[np.bool_]]:
        """A features row read; the codec is looked up only for a row stored as codes (a raw index has none)."""
        try:
            codec = self.descriptor_codec() if int(row[7]) == feature_rows.CODES else None
            return feature_rows.decode_features(row, codec)
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise IndexStoreError(f"{self.path}: cannot read the index ({exc})") from exc

    def descriptor_codec(self) -> DescriptorCodec | None:
        """The codec the index stores descriptors with, once compacted."""
        try:
            return self._codec.current(self._conn)
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise IndexStoreError(f"{self.path}: cannot read the index's descriptor codec ({exc})") from exc

    def compact_descriptors(self, codec: DescriptorCodec, progress: Callable[[int], None] | None = None) -> int:
        """Store ``codec`` (unless the index has one) and every raw descriptor as its codes, a batch of frames a
        transaction (interrupted, the index is sound and the next call goes on); the frames encoded.

        Later adds store codes too. The file keeps its size until :meth:`vacuum`.
        ``progress`` is called with the frames encoded so far after each batch.
        """
        encoded = 0
        try:
            while True:
                with self._transaction() as conn:
                    batch = feature_rows.encode_batch(conn, codec, now_iso())
                if batch == 0:
                    return encoded
                encoded += batch
                if progress is not None:
                    progress(encoded)
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot write to the index ({exc})") from exc

    def vacuum(self) -> None:
        """Rewrite the file without its free pages (after a compaction; takes as long as copying the index)."""
        try:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot rewrite the index ({exc})") from exc

    def shortlist_vocabulary(self) -> Vocabulary | None:
        """The vocabulary the stored postings were made with, if one was trained."""
        try:
            return self._vocabulary.current(self._conn)
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot read the index ({exc})") from exc

    def install_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Store a vocabulary and re-quantise every stored frame with it, in one transaction."""
        try:
            with self._transaction() as conn:
                shortlist_tables.install(conn, vocabulary, now_iso(), self.descriptor_codec())
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot write to the index ({exc})") from exc

    def postings_count(self, after_seq: int = 0) -> int:
        """Postings (keypoints) written after sequence number ``after_seq``."""
        row = self._query_one("SELECT coalesce(sum(keypoints), 0) FROM postings WHERE seq > ?", (after_seq,))
        return int(row[0]) if row is not None else 0

    def unsealed_postings(self) -> int:
        """Postings (keypoints) still held in the index's own rows rather than in the word file only."""
        row = self._query_one("SELECT coalesce(sum(keypoints), 0) FROM postings WHERE length(words) > 0", ())
        return int(row[0]) if row is not None else 0

    def word_file(self) -> WordFile | None:
        """The postings sorted by word beside the index, if one is there for the current vocabulary."""
        vocabulary = self.shortlist_vocabulary()
        if vocabulary is None:
            return None
        generation = shortlist_tables.generation(self._conn)
        return WordFile.open(word_file_path(self.path), generation, vocabulary.size)

    def shortlist_postings(self) -> tuple[Vocabulary | None, WordFile | None, list[Postings]]:
        """The vocabulary, the word file and the postings rows newer than it, read as one snapshot (what a
        matcher opens); (None, None, []) when nothing is trained.

        Raises:
            IndexStoreError: rows are sealed but the word file holding their postings is
                missing, damaged or older than them.
        """
        try:
            self._conn.execute("BEGIN")
            try:
                # the snapshot starts with the first read; the file is opened after it, so a
                # file renamed in by a writer that commits later covers at least these rows
                vocabulary = self._vocabulary.current(self._conn)
                if vocabulary is None:
                    return None, None, []
                word_file = self._sealed_word_file(vocabulary)
                covered = word_file.header.covered_seq if word_file is not None else 0
                return vocabulary, word_file, list(shortlist_tables.iter_postings(self._conn, after_seq=covered))
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot read the index ({exc})") from exc

    def _sealed_word_file(self, vocabulary: Vocabulary) -> WordFile | None:
        """The word file for ``vocabulary`` (inside a transaction); an error if sealed rows need one it lacks."""
        word_file = WordFile.open(word_file_path(self.path), shortlist_tables.generation(self._conn), vocabulary.size)
        sealed = shortlist_tables.sealed_seq(self._conn)
        if sealed and (word_file is None or word_file.header.covered_seq < sealed):
            raise IndexStoreError(
                f"{word_file_path(self.path)}: the shortlist's word file is missing or damaged, and it holds the"
                " postings of most frames; `provcheck index train` rebuilds them from the stored descriptors")
        return word_file

    def write_word_file(self) -> WordFileHeader | None:
        """Sort every posting by word into the file beside the index, and seal the rows it covers
        (None: nothing trained, or another process wrote a newer file meanwhile).

        The file is built from the previous file and the newer rows, read as one snapshot
        (adds running meanwhile are simply newer than the file), then renamed into place
        and the rows sealed under the write lock, after checking that no other writer
        retrained or replaced the file since. Interrupted anywhere, the index keeps every
        posting: in the old file and the rows, or in the new file (rows sealed or not).
        """
        path = word_file_path(self.path)
        aside = aside_path(path)
        remove_abandoned(path)
        try:
            header, base = self._build_word_file(aside)
            if header is None:
                return None
            with self._transaction() as conn:
                vocabulary = self._vocabulary.current(conn)
                now = WordFile.open(path, shortlist_tables.generation(conn), header.words)
                if now is not None:
                    now.close()
                if (vocabulary is None or shortlist_tables.generation(conn) != header.generation
                        or (now.header if now is not None else None) != base):
                    return None
                os.replace(aside, path)
                _sync_folder(path.parent)
                shortlist_tables.seal(conn, header.covered_seq)
            return header
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot write to the index ({exc})") from exc
        except OSError as exc:
            raise IndexStoreError(f"{path}: cannot write the shortlist file ({exc})") from exc
        finally:
            aside.unlink(missing_ok=True)

    def _build_word_file(self, aside: Path) -> tuple[WordFileHeader | None, WordFileHeader | None]:
        """Build the next word file at ``aside`` from one snapshot: (its header, the header of the file it
        carries postings over from); (None, None) when nothing is trained."""
        base: WordFile | None = None
        self._conn.execute("BEGIN")
        try:
            vocabulary = self._vocabulary.current(self._conn)
            if vocabulary is None:
                return None, None
            base = self._sealed_word_file(vocabulary)
            generation = shortlist_tables.generation(self._conn)
            covered = shortlist_tables.last_seq(self._conn)
            after = base.header.covered_seq if base is not None else 0
            keep = shortlist_tables.current_up_to(self._conn, after) if base is not None else None
            header = build_word_file(
                aside,
                lambda total: WordFileHeader(generation, vocabulary.size, covered, total),
                lambda: shortlist_tables.iter_postings(self._conn, after_seq=after),
                vocabulary.size,
                (lambda: kept_postings(base, keep)) if base is not None and keep is not None else None,
            )
            return header, base.header if base is not None else None
        finally:
            self._conn.execute("COMMIT")
            if base is not None:
                base.close()

    def change_stamp(self) -> Hashable:
        """Modification time and size of the index file, its write-ahead log and its word file: any add,
        edit or remove by any process changes one of them."""
        stamps: list[tuple[int, int] | None] = []
        for file in (self.path, Path(f"{self.path}-wal"), word_file_path(self.path)):
            try:
                status = file.stat()
                stamps.append((status.st_mtime_ns, status.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def stats(self) -> IndexStats:
        counts = self._query_one(
            "SELECT count(*) AS n, coalesce(sum(kind = 'video'), 0) AS v, coalesce(sum(kind = 'image'), 0) AS i"
            " FROM sources",
            (),
        )
        frames = self._query_one("SELECT count(*) FROM frames", ())
        featured = self._query_one("SELECT count(*) FROM features", ())
        compact = self._query_one("SELECT count(*) FROM features WHERE encoding = ?", (feature_rows.CODES,))
        meta = self._meta()
        if counts is None or frames is None:
            raise IndexStoreError(f"{self.path}: cannot read the index (no row counts)")
        size = sum(
            os.path.getsize(p) for p in (self.path, Path(f"{self.path}-wal"), word_file_path(self.path))
            if os.path.exists(p)
        )
        vocabulary = self.shortlist_vocabulary()
        word_file = self.word_file()
        return IndexStats(
            location=self.location,
            schema_version=int(meta.get("schema_version", "0")),
            sources=int(counts["n"]),
            videos=int(counts["v"]),
            images=int(counts["i"]),
            frames=int(frames[0]),
            frames_with_features=int(featured[0]) if featured is not None else 0,
            size_bytes=size,
            hashers=json.loads(meta.get("hashers", "{}")),
            created_at=meta.get("created_at", ""),
            shortlist_words=vocabulary.size if vocabulary is not None else 0,
            shortlist_training_descriptors=vocabulary.training_descriptors if vocabulary is not None else 0,
            shortlist_postings=self.postings_count(),
            word_file_postings=word_file.header.postings if word_file is not None else 0,
            compact_frames=int(compact[0]) if compact is not None else 0,
        )

    def _query_one(self, sql: str, params: tuple[object, ...]) -> sqlite3.Row | None:
        try:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot read the index ({exc})") from exc

    def _query_all(self, sql: str, params: tuple[object, ...]) -> list[sqlite3.Row]:
        try:
            return list(self._conn.execute(sql, params).fetchall())
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot read the index ({exc})") from exc

    def _query_tuples(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """Rows as plain tuples: for reads of a row a frame, where making a ``sqlite3.Row`` each costs most."""
        try:
            cursor = self._conn.cursor()
            cursor.row_factory = None
            return list(cursor.execute(sql, params).fetchall())
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{self.path}: cannot read the index ({exc})") from exc

    def close(self) -> None:
        self._conn.close()
