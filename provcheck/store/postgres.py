"""The PostgreSQL backend: one index shared by many writers and readers, on a server people already run.

Selected by an index location of the form ``postgresql://user@host/db``. The tables live
in the database's ``provcheck`` schema, versioned in its ``meta`` table like the SQLite
index. Every source is added in one transaction (its frames, features and postings by
COPY), so a killed writer leaves nothing; writers run concurrently. Installing a
vocabulary or compacting descriptors takes an exclusive advisory lock that adds take
shared, so no add quantises with a vocabulary being replaced.

The schema is ready for Citus: ``sources``, ``meta``, ``vocabulary`` and
``descriptor_codec`` are small (reference tables); ``frames``, ``features`` and
``postings`` are keyed by ``(source_id, ...)`` and point to each other through it, so
distributed by ``source_id`` and co-located a source's rows sit on one shard and no
foreign key crosses shards. Frame ids come from one sequence, unique across shards.

Hash search runs in SQL by multi-index hashing (:mod:`.mih`): a B-tree expression
index on every 16-bit chunk of each hash. The shortlist's postings are kept as the
SQLite index keeps them: a row a frame, written with the frame, then sorted by word into
the ``word_lists`` table (a row a visual word) once enough have piled up, which seals the
rows it covers; a matcher reads the lists of a claim's words from it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
import tempfile
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from ..codec import CODE_BYTES, DescriptorCodec
from ..errors import DuplicateSourceError, IndexMismatchError, IndexStoreError, SourceNotFoundError
from ..features import DESCRIPTOR_BYTES
from ..hashing import HASHERS, hasher_signature
from ..shortlist.ondisk import (
    WordFile,
    WordFileHeader,
    WordLists,
    build_word_file,
    frame_counts,
    kept_postings,
    word_ranges,
)
from ..shortlist.words import Postings, Vocabulary
from . import feature_rows, mih
from .compat import APPLICATION_ID, initial_meta, now_iso, refuse_incompatible
from .locations import shown_location
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

try:
    import psycopg
except ImportError:  # the extra is optional; opening a PostgreSQL index says what to install
    psycopg = None  # type: ignore[assignment]

#: The driver's errors, for the modules beside this one that use its connections (empty without psycopg).
DRIVER_ERRORS: tuple[type[Exception], ...] = (psycopg.Error,) if psycopg is not None else ()

SCHEMA_VERSION = 1
#: The PostgreSQL schema (namespace) holding the index's tables.
NAMESPACE = "provcheck"
#: Advisory lock keys: creating the schema, and the shortlist (adds shared, retraining/compaction exclusive).
SCHEMA_LOCK, SHORTLIST_LOCK = 0x70726F76, 0x70726F77
#: Frames a batch when a vocabulary is installed or descriptors compacted.
BATCH = 500

_TABLES = ("meta", "sources", "frames", "features", "vocabulary", "descriptor_codec", "postings", "word_lists")
#: Meta keys: the word lists' header (JSON of a WordFileHeader), and the sequence number up to which
#: postings rows are sealed (their blobs emptied: the word lists hold their postings).
LISTS_KEY, SEALED_KEY = "word_lists", "postings_sealed_seq"
#: Words read a query when a claim's lists are fetched.
WORDS_A_QUERY = 128


def _chunk_expression(column: str, chunk: int) -> str:
    return f"(get_byte({column}, {2 * chunk}) * 256 + get_byte({column}, {2 * chunk + 1}))"


def _schema() -> str:
    chunk_indexes = "".join(
        f"CREATE INDEX frames_{hasher.name}_c{chunk} ON frames ({_chunk_expression(hasher.name, chunk)});\n"
        for hasher in HASHERS for chunk in range(mih.chunk_count(hasher.bits))
    )
    return f"""
CREATE TABLE meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE sources (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('image', 'video')),
    title text NOT NULL,
    url text,
    published text,
    notes text,
    path text NOT NULL,
    sha256 text NOT NULL UNIQUE,
    duration_s double precision,
    width integer NOT NULL,
    height integer NOT NULL,
    frame_count integer NOT NULL,
    added_at text NOT NULL
);
CREATE SEQUENCE frame_ids;
CREATE TABLE frames (
    source_id bigint NOT NULL REFERENCES sources (id),
    id bigint NOT NULL,
    frame_number integer NOT NULL,
    time_s double precision,
    phash bytea NOT NULL,
    pdq bytea NOT NULL,
    pdq_quality integer,
    PRIMARY KEY (source_id, id)
);
CREATE INDEX frames_by_id ON frames (id);
{chunk_indexes}
CREATE TABLE features (
    source_id bigint NOT NULL,
    frame_id bigint NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    keypoints integer NOT NULL,
    xy bytea NOT NULL,
    descriptors bytea NOT NULL,
    static bytea NOT NULL,
    encoding smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, frame_id),
    FOREIGN KEY (source_id, frame_id) REFERENCES frames (source_id, id)
);
CREATE INDEX features_by_frame ON features (frame_id);
CREATE INDEX features_raw ON features (frame_id) WHERE encoding = 0;
CREATE TABLE vocabulary (
    id integer PRIMARY KEY CHECK (id = 1),
    generation integer NOT NULL,
    words integer NOT NULL,
    training_descriptors bigint NOT NULL,
    trained_at text NOT NULL,
    data bytea NOT NULL
);
CREATE TABLE descriptor_codec (
    id integer PRIMARY KEY CHECK (id = 1),
    training_descriptors bigint NOT NULL,
    trained_at text NOT NULL,
    data bytea NOT NULL
);
CREATE SEQUENCE postings_seq;
CREATE TABLE postings (
    source_id bigint NOT NULL,
    frame_id bigint NOT NULL,
    seq bigint NOT NULL,
    keypoints integer NOT NULL,
    words bytea NOT NULL,
    signatures bytea NOT NULL,
    PRIMARY KEY (source_id, frame_id),
    FOREIGN KEY (source_id, frame_id) REFERENCES frames (source_id, id)
);
CREATE INDEX postings_by_frame ON postings (frame_id);
CREATE INDEX postings_by_seq ON postings (seq);
CREATE TABLE word_lists (
    word integer PRIMARY KEY,
    postings integer NOT NULL,
    frame_ids bytea NOT NULL,
    signatures bytea NOT NULL
);
"""


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _guarded(action: str) -> Callable[[_Method], _Method]:
    """The driver's errors (a lost connection, a missing privilege) and a damaged row's, raised by the method as
    one-line :class:`IndexStoreError` naming the index, as every other failure of the index is."""

    def wrap(method: _Method) -> _Method:
        @functools.wraps(method)
        def run(self: PostgresStore, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (psycopg.Error, sqlite3.DatabaseError) as exc:
                raise IndexStoreError(f"{self.location}: cannot {action} the index ({_first_line(exc)})") from exc

        return cast(_Method, run)

    return wrap


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_SOURCE_COLUMNS = (
    "id, kind, title, url, published, notes, path, sha256, duration_s, width, height, frame_count, added_at"
)


def _source_from_row(row: Sequence[Any]) -> SourceRecord:
    return SourceRecord(
        id=int(row[0]), kind=str(row[1]), title=str(row[2]), url=row[3], published=row[4], notes=row[5],
        path=str(row[6]), sha256=str(row[7]), duration_s=row[8], width=int(row[9]), height=int(row[10]),
        frame_count=int(row[11]), added_at=str(row[12]),
    )


class PostgresStore:
    """The PostgreSQL backend of :class:`~provcheck.store.IndexStore`.

    Args:
        url: ``postgresql://user[:password]@host[:port]/database`` (libpq's URL form).
        create: create the index's tables if the database has none (``index add`` does).

    Raises:
        IndexStoreError: psycopg missing, server unreachable, no index there (and ``create``
            is false), or tables that are not a provcheck index.
        IndexMismatchError: written by a newer schema or by other hasher versions.
    """

    def __init__(self, url: str, create: bool = False) -> None:
        self.location = shown_location(url)
        self._url = url
        self._vocabulary: tuple[int, Vocabulary | None] = (0, None)
        self._codec: DescriptorCodec | None = None
        if psycopg is None:
            raise IndexStoreError(f"{self.location}: a PostgreSQL index needs psycopg"
                                  " (pip install 'provcheck[postgresql]')")
        try:
            self._conn = _connect(url)
        except psycopg.Error as exc:
            raise IndexStoreError(f"{self.location}: cannot connect to the index ({_first_line(exc)})") from exc
        try:
            self._prepare(create)
        except psycopg.Error as exc:
            self._conn.close()
            raise IndexStoreError(f"{self.location}: cannot open the index ({_first_line(exc)})") from exc
        except IndexStoreError:
            self._conn.close()
            raise

    # -- opening ---------------------------------------------------------------------------------------------

    def _has_tables(self) -> set[str]:
        rows = self._conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (NAMESPACE,)).fetchall()
        return {str(row[0]) for row in rows}

    def _prepare(self, create: bool) -> None:
        tables = self._has_tables()
        if not tables:
            if not create:
                raise IndexStoreError(f"{self.location}: index not found (create one with"
                                      f" 'provcheck index add FILE --index {self.location}')")
            self._create_schema()
            tables = self._has_tables()
        if "meta" not in tables:
            raise IndexStoreError(f"{self.location}: a '{NAMESPACE}' schema that is not a provcheck index;"
                                  " refusing to touch it")
        meta = self._meta()
        if meta.get("application") != APPLICATION_ID:
            raise IndexStoreError(f"{self.location}: a '{NAMESPACE}' schema that is not a provcheck index;"
                                  " refusing to touch it")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise IndexMismatchError(f"{self.location}: index schema {version} is newer than this provcheck"
                                     f" understands ({SCHEMA_VERSION}); upgrade provcheck")
        if version < SCHEMA_VERSION:
            self._migrate(version)
        refuse_incompatible(self.location, meta)

    def _migrate(self, version: int) -> None:
        """Bring an older schema up to :data:`SCHEMA_VERSION` in one transaction (schema 1 is the first)."""
        raise IndexStoreError(f"{self.location}: index schema {version} is unknown to this provcheck")

    def _create_schema(self) -> None:
        with self._conn.transaction():
            # concurrent `index add`s: one creates the schema, the others wait and find it made
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            if self._has_tables():
                return
            self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {NAMESPACE}")
            self._conn.execute(f"SET LOCAL search_path = {NAMESPACE}")
            for statement in filter(str.strip, _schema().split(";")):
                self._conn.execute(statement)
            with self._conn.cursor() as cursor:
                cursor.executemany("INSERT INTO meta (key, value) VALUES (%s, %s)", initial_meta(SCHEMA_VERSION))

    def _meta(self) -> dict[str, str]:
        return {str(row[0]): str(row[1]) for row in self._conn.execute("SELECT key, value FROM meta")}

    # -- helpers ---------------------------------------------------------------------------------------------

    @contextmanager
    def _writing(self, exclusive: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """A write transaction holding the shortlist lock (shared by adds, exclusive for re-quantising)."""
        try:
            with self._conn.transaction():
                lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
                self._conn.execute(f"SELECT {lock}(%s)", (SHORTLIST_LOCK,))
                yield self._conn
        except psycopg.Error as exc:
            raise IndexStoreError(f"{self.location}: cannot write to the index ({_first_line(exc)})") from exc

    def _rows(self, sql: str, params: Sequence[Any] = (), binary: bool = False) -> list[tuple[Any, ...]]:
        try:
            with self._conn.cursor(binary=binary) as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        except psycopg.Error as exc:
            raise IndexStoreError(f"{self.location}: cannot read the index ({_first_line(exc)})") from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        rows = self._rows(sql, params)
        if not rows:
            raise IndexStoreError(f"{self.location}: cannot read the index (no row from {sql.split()[0]})")
        return rows[0]

    def _current_vocabulary(self) -> Vocabulary | None:
        row = self._conn.execute("SELECT generation FROM vocabulary WHERE id = 1").fetchone()
        if row is None:
            self._vocabulary = (0, None)
        elif int(row[0]) != self._vocabulary[0]:
            blob = self._conn.execute("SELECT data FROM vocabulary WHERE id = 1").fetchone()
            assert blob is not None
            self._vocabulary = (int(row[0]), Vocabulary.from_bytes(bytes(blob[0])))
        return self._vocabulary[1]

    def _current_codec(self) -> DescriptorCodec | None:
        if self._codec is None:
            row = self._conn.execute("SELECT data FROM descriptor_codec WHERE id = 1").fetchone()
            if row is not None:
                self._codec = DescriptorCodec.from_bytes(bytes(row[0]))
        return self._codec

    # -- sources ---------------------------------------------------------------------------------------------

    def add_source(self, source: NewSource, frames: Sequence[FrameRecord], replace: bool = False) -> SourceRecord:
        """Add a source and all its frames in one transaction (all or nothing); see :meth:`SQLiteStore.add_source`."""
        names = [hasher.name for hasher in HASHERS]
        with self._writing() as conn:
            vocabulary = self._current_vocabulary()
            codec = self._current_codec()
            existing = conn.execute("SELECT id, title FROM sources WHERE sha256 = %s FOR UPDATE",
                                    (source.sha256,)).fetchone()
            values = (source.kind, source.title, source.url, source.published, source.notes, source.path,
                      source.sha256, source.duration_s, source.width, source.height, len(frames), now_iso())
            if existing is not None:
                if not replace:
                    raise DuplicateSourceError(f"{source.path}: already indexed as source {existing[0]}"
                                               f" ({existing[1]!r}); use --replace to index it again", int(existing[0]))
                source_id = int(existing[0])
                self._delete_frames(source_id)
                conn.execute("UPDATE sources SET kind = %s, title = %s, url = %s, published = %s, notes = %s,"
                             " path = %s, sha256 = %s, duration_s = %s, width = %s, height = %s, frame_count = %s,"
                             " added_at = %s WHERE id = %s", (*values, source_id))
            else:
                row = conn.execute(
                    "INSERT INTO sources (kind, title, url, published, notes, path, sha256, duration_s, width,"
                    " height, frame_count, added_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (sha256) DO NOTHING RETURNING id", values).fetchone()
                if row is None:  # another writer added the same file since we looked
                    other = conn.execute("SELECT id, title FROM sources WHERE sha256 = %s", (source.sha256,)).fetchone()
                    assert other is not None
                    raise DuplicateSourceError(f"{source.path}: already indexed as source {other[0]}"
                                               f" ({other[1]!r}); use --replace to index it again", int(other[0]))
                source_id = int(row[0])
            ids = [int(row[0]) for row in conn.execute("SELECT nextval('frame_ids') FROM generate_series(1, %s)",
                                                       (len(frames),))]
            seq = _next_value(conn, "postings_seq") if vocabulary else 0
            with conn.cursor() as cursor:
                with cursor.copy(f"COPY frames (source_id, id, frame_number, time_s, {', '.join(names)}, pdq_quality)"
                                 " FROM STDIN") as copy:
                    for frame_id, frame in zip(ids, frames, strict=True):
                        copy.write_row((source_id, frame_id, frame.frame_number, frame.time_s,
                                        *(frame.hashes[name] for name in names), frame.pdq_quality))
                with cursor.copy("COPY features (source_id, frame_id, width, height, keypoints, xy, descriptors,"
                                 " static, encoding) FROM STDIN") as copy:
                    for frame_id, frame in zip(ids, frames, strict=True):
                        if frame.features is None:
                            continue
                        blob, encoding = feature_rows.stored_descriptors(frame.features, codec)
                        static = frame.static if frame.static is not None else np.zeros(len(frame.features), bool)
                        copy.write_row((source_id, frame_id, frame.features.width, frame.features.height,
                                        len(frame.features), frame.features.xy.astype("<f4").tobytes(), blob,
                                        np.packbits(static).tobytes(), encoding))
                if vocabulary is not None:
                    with cursor.copy("COPY postings (source_id, frame_id, seq, keypoints, words, signatures)"
                                     " FROM STDIN") as copy:
                        for frame_id, frame in zip(ids, frames, strict=True):
                            if frame.features is None:
                                continue
                            static = frame.static if frame.static is not None else np.zeros(len(frame.features), bool)
                            copy.write_row(_postings_row(vocabulary, source_id, frame_id, seq,
                                                         frame.features.descriptors[~static]))
        return self.get_source(source_id)

    def _delete_frames(self, source_id: int) -> None:
        for table in ("postings", "features", "frames"):
            self._conn.execute(f"DELETE FROM {table} WHERE source_id = %s", (source_id,))

    def find_by_sha256(self, sha256: str) -> SourceRecord | None:
        rows = self._rows(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE sha256 = %s", (sha256,))
        return _source_from_row(rows[0]) if rows else None

    def get_source(self, source_id: int) -> SourceRecord:
        rows = self._rows(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE id = %s", (source_id,))
        if not rows:
            raise SourceNotFoundError(f"{self.location}: no source with id {source_id}")
        return _source_from_row(rows[0])

    def list_sources(self) -> list[SourceRecord]:
        return [_source_from_row(row) for row in self._rows(f"SELECT {_SOURCE_COLUMNS} FROM sources ORDER BY id")]

    def remove_source(self, source_id: int) -> SourceRecord:
        record = self.get_source(source_id)
        with self._writing() as conn:
            # the source's row first, as a --replace add locks it before its frames: no deadlock between them
            if conn.execute("SELECT id FROM sources WHERE id = %s FOR UPDATE", (source_id,)).fetchone() is None:
                raise SourceNotFoundError(f"{self.location}: no source with id {source_id}")
            self._delete_frames(source_id)
            conn.execute("DELETE FROM sources WHERE id = %s", (source_id,))
        return record

    def edit_source(self, source_id: int, changes: Mapping[str, str | None]) -> SourceRecord:
        """Change a source's title, URL, date or notes in one transaction; its frames stay as they are."""
        unknown = set(changes) - set(EDITABLE_FIELDS)
        if unknown:
            raise ValueError(f"Not editable: {', '.join(sorted(unknown))}.")
        if changes:
            assignments = ", ".join(f"{field} = %s" for field in changes)
            with self._writing() as conn:
                cursor = conn.execute(f"UPDATE sources SET {assignments} WHERE id = %s",
                                      (*changes.values(), source_id))
                updated = cursor.rowcount
            if not updated:
                raise SourceNotFoundError(f"{self.location}: no source with id {source_id}")
        return self.get_source(source_id)

    # -- frames and hashes -----------------------------------------------------------------------------------

    def frame_table(self) -> FrameTable:
        rows = self._rows("SELECT id, source_id, frame_number, time_s FROM frames ORDER BY id", binary=True)
        return _frame_table(rows)

    def hash_matrix(self, hasher_name: str) -> NDArray[np.uint8]:
        bits = _hasher_bits(hasher_name)
        rows = self._rows(f"SELECT {hasher_name} FROM frames ORDER BY id", binary=True)
        return np.frombuffer(b"".join(bytes(row[0]) for row in rows), np.uint8).reshape(len(rows), bits // 8)

    def hash_table(self, hasher_name: str) -> HashTable:
        frames = self.frame_table()
        return HashTable(frames.frame_ids, frames.source_ids, frames.frame_numbers, frames.times_s,
                         self.hash_matrix(hasher_name))

    def frame_hashes(self) -> FrameHashes:
        names = [hasher.name for hasher in HASHERS]
        rows = self._rows(f"SELECT id, source_id, frame_number, time_s, {', '.join(names)} FROM frames ORDER BY id",
                          binary=True)
        frames = _frame_table(rows)
        hashes = {
            name: np.frombuffer(b"".join(bytes(row[4 + column]) for row in rows), np.uint8).reshape(
                len(rows), _hasher_bits(name) // 8)
            for column, name in enumerate(names)
        }
        return FrameHashes(frames, hashes)

    def frames_within(self, hasher_name: str, packed: bytes, radius: int) -> list[tuple[int, int]]:
        """(frame id, Hamming distance) of every frame whose hash is within ``radius`` bits, by frame id.

        Multi-index hashing in SQL (:mod:`.mih`); :func:`.mih.within_radius` on
        :meth:`hash_matrix` is its brute-force twin.
        """
        bits = _hasher_bits(hasher_name)
        if len(packed) * 8 != bits:
            raise ValueError(f"a {hasher_name} hash has {bits} bits, not {len(packed) * 8}")
        probes = mih.probe_values(packed, radius)
        where = " OR ".join(f"{_chunk_expression(hasher_name, chunk)} = ANY(%s)" for chunk in range(len(probes)))
        distance = f"bit_count(('x' || encode({hasher_name}, 'hex'))::bit({bits}) # %s::bit({bits}))"
        rows = self._rows(f"SELECT id, d FROM (SELECT id, {distance} AS d FROM frames WHERE {where}) AS near"
                          " WHERE d <= %s ORDER BY id", ("x" + packed.hex(), *probes, radius))
        return [(int(row[0]), int(row[1])) for row in rows]

    # -- local features --------------------------------------------------------------------------------------

    def _stored(self, row: Sequence[Any]) -> StoredFeatures:
        try:
            codec = self._current_codec() if int(row[7]) == feature_rows.CODES else None
            return StoredFeatures(int(row[0]), *feature_rows.decode_features(row, codec))
        except Exception as exc:  # a damaged row: sqlite3.DatabaseError or ValueError from the decoder
            raise IndexStoreError(f"{self.location}: cannot read the index ({_first_line(exc)})") from exc

    def feature_table(self) -> list[StoredFeatures]:
        rows = self._rows(f"SELECT {feature_rows.FEATURE_COLUMNS} FROM features ORDER BY frame_id", binary=True)
        return [self._stored(row) for row in rows]

    def features_of(self, frame_ids: Sequence[int]) -> dict[int, StoredFeatures]:
        wanted = sorted({int(frame_id) for frame_id in frame_ids})
        rows = self._rows(f"SELECT {feature_rows.FEATURE_COLUMNS} FROM features WHERE frame_id = ANY(%s)",
                          (wanted,), binary=True) if wanted else []
        return {int(row[0]): self._stored(row) for row in rows}

    def featured_frame_ids(self) -> NDArray[np.int64]:
        rows = self._rows("SELECT frame_id FROM features ORDER BY frame_id", binary=True)
        return np.array([row[0] for row in rows], np.int64)

    def feature_coverage(self) -> FeatureCoverage:
        row = self._one("SELECT (SELECT count(*) FROM frames), (SELECT count(*) FROM features)")
        return FeatureCoverage(frames=int(row[0]), frames_with_features=int(row[1]))

    def voting_descriptor_count(self) -> int:
        return int(self._one("SELECT coalesce(sum(keypoints), 0) FROM features")[0])

    def descriptor_sample(self, limit: int, seed: int = 0) -> NDArray[np.uint8]:
        return sample_descriptors(self, limit, seed)

    def descriptor_codec(self) -> DescriptorCodec | None:
        try:
            return self._current_codec()
        except (psycopg.Error, ValueError) as exc:
            raise IndexStoreError(f"{self.location}: cannot read the index's descriptor codec"
                                  f" ({_first_line(exc)})") from exc

    @_guarded("write")
    def compact_descriptors(self, codec: DescriptorCodec, progress: Callable[[int], None] | None = None) -> int:
        """Store ``codec`` (unless the index has one) and every raw descriptor as its codes, a batch a transaction."""
        encoded = 0
        while True:
            with self._writing(exclusive=True) as conn:
                row = conn.execute("SELECT data FROM descriptor_codec WHERE id = 1").fetchone()
                if row is None:
                    conn.execute("INSERT INTO descriptor_codec (id, training_descriptors, trained_at, data)"
                                 " VALUES (1, %s, %s, %s)", (codec.training_descriptors, now_iso(), codec.to_bytes()))
                    stored = codec
                else:
                    stored = DescriptorCodec.from_bytes(bytes(row[0]))
                rows = conn.execute("SELECT source_id, frame_id, keypoints, descriptors FROM features"
                                    " WHERE encoding = %s ORDER BY frame_id LIMIT %s",
                                    (feature_rows.RAW, BATCH)).fetchall()
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "UPDATE features SET descriptors = %s, encoding = %s WHERE source_id = %s AND frame_id = %s",
                        [(stored.encode(np.frombuffer(bytes(blob), np.uint8).reshape(int(count), DESCRIPTOR_BYTES))
                          .tobytes(), feature_rows.CODES, int(source_id), int(frame_id))
                         for source_id, frame_id, count, blob in rows])
            self._codec = None
            if not rows:
                return encoded
            encoded += len(rows)
            if progress is not None:
                progress(encoded)

    def vacuum(self) -> None:
        """Rewrite the index's tables without their free space (``VACUUM FULL``: after a compaction; each table
        is locked while it is rewritten, as SQLite's VACUUM locks the file)."""
        try:
            for table in _TABLES:
                self._conn.execute(f"VACUUM FULL {NAMESPACE}.{table}")
        except psycopg.Error as exc:
            raise IndexStoreError(f"{self.location}: cannot vacuum the index ({_first_line(exc)})") from exc

    # -- the crop-proof shortlist ----------------------------------------------------------------------------

    def shortlist_vocabulary(self) -> Vocabulary | None:
        try:
            return self._current_vocabulary()
        except (psycopg.Error, ValueError) as exc:
            raise IndexStoreError(f"{self.location}: cannot read the index ({_first_line(exc)})") from exc

    @_guarded("write")
    def install_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Store a vocabulary and re-quantise every stored frame with it, in one transaction (adds wait)."""
        with self._writing(exclusive=True) as conn:
            previous = conn.execute("SELECT generation FROM vocabulary WHERE id = 1").fetchone()
            generation = 1 if previous is None else int(previous[0]) + 1
            conn.execute("INSERT INTO vocabulary (id, generation, words, training_descriptors, trained_at, data)"
                         " VALUES (1, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET generation ="
                         " excluded.generation, words = excluded.words, training_descriptors ="
                         " excluded.training_descriptors, trained_at = excluded.trained_at, data = excluded.data",
                         (generation, vocabulary.size, vocabulary.training_descriptors, now_iso(),
                          vocabulary.to_bytes()))
            conn.execute("DELETE FROM postings")
            conn.execute("DELETE FROM word_lists")  # made with the old vocabulary
            conn.execute("DELETE FROM meta WHERE key IN (%s, %s)", (LISTS_KEY, SEALED_KEY))
            seq = _next_value(conn, "postings_seq")
            codec = self._current_codec()
            last = -1
            while True:
                rows = conn.execute(f"SELECT {feature_rows.FEATURE_COLUMNS}, source_id FROM features"
                                    " WHERE frame_id > %s ORDER BY frame_id LIMIT %s", (last, BATCH)).fetchall()
                if not rows:
                    break
                with conn.cursor() as cursor, cursor.copy(
                        "COPY postings (source_id, frame_id, seq, keypoints, words, signatures) FROM STDIN") as copy:
                    for row in rows:
                        features, static = feature_rows.decode_features(row, codec)
                        copy.write_row(_postings_row(vocabulary, int(row[8]), int(row[0]), seq,
                                                     features.descriptors[~static]))
                last = int(rows[-1][0])
        self._vocabulary = (generation, vocabulary)

    @_guarded("read")
    def postings_count(self, after_seq: int = 0) -> int:
        return int(self._one("SELECT coalesce(sum(keypoints), 0) FROM postings WHERE seq > %s", (after_seq,))[0])

    @_guarded("read")
    def unsealed_postings(self) -> int:
        """Postings still held in the rows rather than in the word lists only."""
        return int(self._one("SELECT coalesce(sum(keypoints), 0) FROM postings WHERE octet_length(words) > 0")[0])

    @contextmanager
    def _snapshot(self) -> Iterator[_Snapshot]:
        """A read-only, repeatable-read transaction on this store's connection: every read inside sees one
        moment. Short-lived: nothing is held open between calls (a held transaction stops VACUUM)."""
        with self._conn.transaction():
            self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield _Snapshot(self._conn, self.location)

    @_guarded("read")
    def word_file(self) -> WordLists | None:
        """The word lists, if made for the current vocabulary."""
        with self._snapshot() as snapshot:
            vocabulary = snapshot.vocabulary(self._vocabulary)
            return snapshot.word_lists(vocabulary.size) if vocabulary is not None else None

    @_guarded("read")
    def shortlist_postings(self) -> tuple[Vocabulary | None, WordLists | None, list[Postings]]:
        """The vocabulary, the word lists' offsets and the postings rows newer than them, read as one snapshot.

        The lists themselves are read later, claim by claim, as they are then: a rewrite since adds
        postings of frames the matcher holds in memory or does not know, and drops removed ones, which
        the inverted file skips alike; lists of another vocabulary are never read (see
        :class:`DatabaseWordLists`).

        Raises:
            IndexStoreError: rows are sealed but the word lists holding their postings are missing.
        """
        with self._snapshot() as snapshot:
            vocabulary = snapshot.vocabulary(self._vocabulary)
            if vocabulary is None:
                return None, None, []
            lists = snapshot.word_lists(vocabulary.size)
            covered = lists.header.covered_seq if lists is not None else 0
            if snapshot.sealed_seq() > covered:
                raise IndexStoreError(f"{self.location}: the shortlist's word lists are missing or damaged, and"
                                      " they hold the postings of most frames; `provcheck index train` rebuilds"
                                      " them from the stored descriptors")
            return vocabulary, lists, list(snapshot.postings(after_seq=covered))

    @_guarded("write")
    def write_word_file(self) -> WordFileHeader | None:
        """Sort every posting by word into the ``word_lists`` table, and seal the rows it covers (None: nothing
        trained, or another writer rewrote the lists or retrained meanwhile).

        As for the SQLite word file: the lists are built from the previous lists and the newer rows, read
        from one snapshot (in a local temporary file, 12 bytes a posting), then swapped in and the rows
        sealed in one transaction after checking nobody retrained or rewrote them since. The rows
        covered are those up to the highest sequence number given out while no add was running (adds
        hold the shortlist lock shared), so no add still in flight is sealed without being in the lists.
        """
        with self._writing(exclusive=True) as conn:
            row = conn.execute("SELECT coalesce(max(seq), 0) FROM postings").fetchone()
            covered = int(row[0]) if row is not None else 0
        try:
            with tempfile.TemporaryDirectory(prefix="provcheck-lists-") as folder:
                with self._snapshot() as snapshot:
                    built = snapshot.build_lists(Path(folder) / "lists", covered)
                if built is None:
                    return None
                header, base = built
                with self._writing(exclusive=True) as conn:
                    if _generation(conn) != header.generation or _lists_header(conn) != base:
                        return None
                    conn.execute("DELETE FROM word_lists")
                    _copy_lists(conn, Path(folder) / "lists", header)
                    _set_meta(conn, LISTS_KEY, _header_json(header))
                    conn.execute("UPDATE postings SET words = '', signatures = '' WHERE seq <= %s"
                                 " AND octet_length(words) > 0", (header.covered_seq,))
                    sealed = max(header.covered_seq, _sealed_seq(conn))
                    _set_meta(conn, SEALED_KEY, str(sealed))
                return header
        except OSError as exc:
            raise IndexStoreError(f"{self.location}: cannot build the shortlist's word lists ({exc})") from exc

    # -- checks and counts -----------------------------------------------------------------------------------

    @_guarded("read")
    def check(self) -> IntegrityReport:
        """Verify the schema, row counts, blob lengths and that every fingerprint belongs to a source, all read
        in one snapshot (a writer committing meanwhile is not mistaken for damage)."""
        with self._snapshot() as snapshot:
            return self._check(snapshot)

    def _check(self, snapshot: _Snapshot) -> IntegrityReport:
        problems = [f"missing table {table}" for table in _TABLES if table not in self._has_tables()]
        if problems:
            return IntegrityReport(self.location, 0, 0, 0, tuple(problems))
        meta = self._meta()
        problems.extend(f"missing metadata {key!r}" for key in ("application", "schema_version", "hashers",
                                                                  "features", "created_at") if key not in meta)
        for source_id, recorded, found in self._rows(
                "SELECT s.id, s.frame_count, count(f.id) FROM sources s LEFT JOIN frames f ON f.source_id = s.id"
                " GROUP BY s.id HAVING s.frame_count != count(f.id) ORDER BY s.id"):
            problems.append(f"source {source_id} records {recorded} frames but has {found}")
        problems.extend(f"source {row[0]} has no frames"
                        for row in self._rows("SELECT id FROM sources WHERE frame_count = 0 ORDER BY id"))
        for hasher in HASHERS:
            bad = int(self._one(f"SELECT count(*) FROM frames WHERE octet_length({hasher.name}) != %s",
                                (hasher.bits // 8,))[0])
            if bad:
                problems.append(f"{bad} frames have a {hasher.name} hash of the wrong length")
        bad = int(self._one(
            "SELECT count(*) FROM features WHERE octet_length(xy) != keypoints * 8"
            " OR octet_length(static) != (keypoints + 7) / 8 OR encoding NOT IN (%s, %s)"
            " OR octet_length(descriptors) != keypoints * (CASE encoding WHEN %s THEN %s ELSE %s END)",
            (feature_rows.RAW, feature_rows.CODES, feature_rows.CODES, CODE_BYTES, DESCRIPTOR_BYTES))[0])
        if bad:
            problems.append(f"{bad} feature rows have blobs that disagree with their keypoint count or encoding")
        coded = int(self._one("SELECT count(*) FROM features WHERE encoding = %s", (feature_rows.CODES,))[0])
        if coded and not self._rows("SELECT 1 FROM descriptor_codec WHERE id = 1"):
            problems.append(f"{coded} feature rows are stored as codes but the index has no descriptor codec")
        problems.extend(self._postings_problems(snapshot))
        counts = self._one("SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM frames),"
                           " (SELECT count(*) FROM features)")
        return IntegrityReport(self.location, int(counts[0]), int(counts[1]), int(counts[2]), tuple(problems))

    def _postings_problems(self, snapshot: _Snapshot) -> list[str]:
        found: list[str] = []
        words = self._rows("SELECT words FROM vocabulary WHERE id = 1")
        postings = int(self._one("SELECT count(*) FROM postings")[0])
        if not words:
            return [f"{postings} postings rows but no vocabulary"] if postings else []
        missing = int(self._one("SELECT count(*) FROM features f WHERE NOT EXISTS (SELECT 1 FROM postings p"
                                " WHERE p.source_id = f.source_id AND p.frame_id = f.frame_id)")[0])
        if missing:
            found.append(f"{missing} frames with local features have no shortlist postings")
        extra = int(self._one("SELECT count(*) FROM postings p WHERE NOT EXISTS (SELECT 1 FROM features f"
                              " WHERE p.source_id = f.source_id AND p.frame_id = f.frame_id)")[0])
        if extra:
            found.append(f"{extra} shortlist postings rows belong to no stored features")
        sealed = int(self._one("SELECT coalesce(max(value::bigint), 0) FROM meta WHERE key = %s", (SEALED_KEY,))[0])
        wrong = 0
        for seq, keypoints, blob, signatures, count, static in self._rows(
                "SELECT p.seq, p.keypoints, p.words, p.signatures, f.keypoints, f.static FROM postings p JOIN features f"
                " ON f.source_id = p.source_id AND f.frame_id = p.frame_id", binary=True):
            voting = int(np.count_nonzero(~np.unpackbits(np.frombuffer(static, np.uint8))[:int(count)].astype(bool)))
            in_lists = seq <= sealed and not blob and not signatures
            if ((not in_lists and (len(blob) != 4 * keypoints or len(signatures) != 8 * keypoints)) or keypoints != voting
                    or (blob and int(np.frombuffer(blob, "<u4").max()) >= int(words[0][0]))):
                wrong += 1
        if wrong:
            found.append(f"{wrong} shortlist postings rows disagree with their frame's features or the vocabulary")
        if sealed:
            found.extend(self._sealed_problems(snapshot, int(words[0][0]), sealed))
        return found

    def _sealed_problems(self, snapshot: _Snapshot, words: int, sealed: int) -> list[str]:
        """Whether the word lists hold exactly the postings of every sealed row."""
        rows = self._rows("SELECT frame_id, keypoints FROM postings WHERE seq <= %s AND octet_length(words) = 0",
                          (sealed,))
        lists = snapshot.word_lists(words)
        if lists is None or lists.header.covered_seq < sealed:
            return [f"the shortlist's word lists are missing or damaged and held the postings of {len(rows)} frames"
                    " (`provcheck index train` rebuilds them from the stored descriptors)"]
        ids = np.array([row[0] for row in rows], np.int64)
        expected = np.array([row[1] for row in rows], np.int64)
        counts = lists.frame_counts(int(ids.max()) + 1 if ids.size else 0)
        wrong = int(np.count_nonzero(counts[ids] != expected))
        return [f"the shortlist's word lists disagree with {wrong} sealed postings rows"] if wrong else []

    @_guarded("read")
    def change_stamp(self) -> Hashable:
        """The sources' count and newest row version, the vocabulary's generation and the word lists' header:
        an add, edit or remove, a retraining or a rewrite of the lists by any writer changes it."""
        return self._one("SELECT count(*), coalesce(max(xmin::text::bigint), 0), (SELECT coalesce(max(generation), 0)"
                         " FROM vocabulary), (SELECT value FROM meta WHERE key = %s) FROM sources", (LISTS_KEY,))

    @_guarded("read")
    def stats(self) -> IndexStats:
        counts = self._one("SELECT count(*), count(*) FILTER (WHERE kind = 'video'), count(*) FILTER"
                           " (WHERE kind = 'image') FROM sources")
        frames = self._one("SELECT (SELECT count(*) FROM frames), (SELECT count(*) FROM features),"
                           " (SELECT count(*) FROM features WHERE encoding = %s)", (feature_rows.CODES,))
        size = self._one("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n"
                         " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'", (NAMESPACE,))
        meta = self._meta()
        vocabulary = self.shortlist_vocabulary()
        lists = self.word_file()
        return IndexStats(
            location=self.location,
            schema_version=int(meta.get("schema_version", "0")),
            sources=int(counts[0]), videos=int(counts[1]), images=int(counts[2]),
            frames=int(frames[0]), frames_with_features=int(frames[1]),
            size_bytes=int(size[0]),
            hashers=json.loads(meta.get("hashers", "{}")),
            created_at=meta.get("created_at", ""),
            shortlist_words=vocabulary.size if vocabulary is not None else 0,
            shortlist_training_descriptors=vocabulary.training_descriptors if vocabulary is not None else 0,
            shortlist_postings=self.postings_count(),
            word_file_postings=lists.header.postings if lists is not None else 0,
            compact_frames=int(frames[2]),
        )

    def close(self) -> None:
        self._conn.close()


def _connect(url: str) -> psycopg.Connection[Any]:
    """A connection whose unqualified table names are the index's (set after connecting, so a URL's own
    ``options`` stay and a connection pooler that refuses start-up options is served)."""
    conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    try:
        conn.execute(f"SET search_path = {NAMESPACE}")
    except BaseException:
        conn.close()
        raise
    return conn


def _set_meta(conn: psycopg.Connection[Any], key: str, value: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (key, value))


def _meta_value(conn: psycopg.Connection[Any], key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    return None if row is None else str(row[0])


def _generation(conn: psycopg.Connection[Any]) -> int:
    """The stored vocabulary's generation (0: none trained)."""
    row = conn.execute("SELECT generation FROM vocabulary WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else 0


def _sealed_seq(conn: psycopg.Connection[Any]) -> int:
    value = _meta_value(conn, SEALED_KEY)
    return int(value) if value is not None else 0


def _header_json(header: WordFileHeader) -> str:
    return json.dumps(dataclasses.asdict(header), sort_keys=True)


def _lists_header(conn: psycopg.Connection[Any]) -> WordFileHeader | None:
    value = _meta_value(conn, LISTS_KEY)
    if value is None:
        return None
    try:
        fields = json.loads(value)
        return WordFileHeader(int(fields["generation"]), int(fields["words"]), int(fields["covered_seq"]),
                              int(fields["postings"]))
    except (ValueError, KeyError, TypeError):
        return None


def _copy_lists(conn: psycopg.Connection[Any], built: Path, header: WordFileHeader) -> None:
    """Every non-empty list of the word file at ``built`` into ``word_lists``, by binary COPY."""
    lists = WordFile.open(built, header.generation, header.words)
    if lists is None:
        raise OSError(f"{built}: the word lists just built cannot be read back")
    try:
        with conn.cursor() as cursor, cursor.copy("COPY word_lists (word, postings, frame_ids, signatures)"
                                                  " FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "int4", "bytea", "bytea"])
            for first, last in lists.word_ranges():
                ids, signatures = lists.read_words(first, last)
                base = int(lists.offsets[first])
                for word in range(first, last):
                    start, end = int(lists.offsets[word]) - base, int(lists.offsets[word + 1]) - base
                    if end > start:
                        copy.write_row((word, end - start, ids[start:end].tobytes(), signatures[start:end].tobytes()))
    finally:
        lists.close()


class _Snapshot:
    """Reads inside a repeatable-read transaction of ``conn`` (see :meth:`PostgresStore._snapshot`)."""

    _cursors = 0

    def __init__(self, conn: psycopg.Connection[Any], location: str) -> None:
        self.conn = conn
        self.location = location

    def vocabulary(self, known: tuple[int, Vocabulary | None] = (0, None)) -> Vocabulary | None:
        """The vocabulary (``known``, a (generation, vocabulary) already read, is kept if still current)."""
        generation = _generation(self.conn)
        if generation == 0:
            return None
        if generation == known[0]:
            return known[1]
        row = self.conn.execute("SELECT data FROM vocabulary WHERE id = 1").fetchone()
        assert row is not None
        return Vocabulary.from_bytes(bytes(row[0]))

    def sealed_seq(self) -> int:
        return _sealed_seq(self.conn)

    def word_lists(self, words: int) -> DatabaseWordLists | None:
        """The word lists, if made for the current vocabulary (of ``words`` words) and whole."""
        header = _lists_header(self.conn)
        if header is None or header.generation != _generation(self.conn) or header.words != words:
            return None
        counts = np.zeros(words, np.int64)
        with self.conn.cursor(binary=True) as cursor:
            cursor.execute("SELECT word, postings FROM word_lists")
            rows = cursor.fetchall()
        if rows:
            indexed = np.array(rows, np.int64)
            if indexed[:, 0].max() >= words or indexed[:, 0].min() < 0:
                return None
            counts[indexed[:, 0]] = indexed[:, 1]
        if int(counts.sum()) != header.postings:
            return None
        return DatabaseWordLists(self.conn, self.location, header,
                                 np.concatenate(([0], np.cumsum(counts))).astype(np.int64))

    def postings(self, after_seq: int, up_to_seq: int | None = None) -> Iterator[Postings]:
        """The postings rows with a sequence number in (after_seq, up_to_seq], by frame id, streamed."""
        _Snapshot._cursors += 1
        bound = "" if up_to_seq is None else " AND seq <= %s"
        params = (after_seq,) if up_to_seq is None else (after_seq, up_to_seq)
        with self.conn.cursor(name=f"postings_{_Snapshot._cursors}", binary=True) as cursor:
            cursor.itersize = 2_000
            cursor.execute(f"SELECT frame_id, words, signatures FROM postings WHERE seq > %s{bound}"
                           " AND octet_length(words) > 0 ORDER BY frame_id", params)
            for frame_id, words, signatures in cursor:
                yield Postings(int(frame_id), np.frombuffer(words, "<u4"), np.frombuffer(signatures, "<u8"))

    def build_lists(self, path: Path, covered: int) -> tuple[WordFileHeader, WordFileHeader | None] | None:
        """Build the next word lists at ``path`` (a word file) from this snapshot: the previous lists less
        postings no longer current, and the rows up to ``covered``; (their header, the previous lists' header),
        or None when nothing is trained."""
        row = self.conn.execute("SELECT generation, words FROM vocabulary WHERE id = 1").fetchone()
        if row is None:
            return None
        generation, words = int(row[0]), int(row[1])
        base = self.word_lists(words)
        if self.sealed_seq() > (base.header.covered_seq if base is not None else 0):
            raise IndexStoreError(f"{self.location}: the shortlist's word lists are missing or damaged;"
                                  " `provcheck index train` rebuilds them from the stored descriptors")
        after = base.header.covered_seq if base is not None else 0
        keep: NDArray[np.bool_] | None = None
        if base is not None:
            ids = np.array([r[0] for r in self.conn.execute("SELECT frame_id FROM postings WHERE seq <= %s",
                                                            (after,))], np.int64)
            keep = np.zeros(int(ids.max()) + 1 if ids.size else 0, bool)
            keep[ids] = True
        header = build_word_file(
            path, lambda total: WordFileHeader(generation, words, max(covered, after), total),
            lambda: self.postings(after, covered), words,
            (lambda: kept_postings(base, keep)) if base is not None and keep is not None else None)
        return header, base.header if base is not None else None


class DatabaseWordLists:
    """The ``word_lists`` table as a :class:`~provcheck.shortlist.ondisk.WordLists`, read on the store's connection.

    Lists are read as they are at the time (no transaction is held between claims); a list
    is only returned while the vocabulary it was made with is the stored one, so after a
    retraining an open matcher finds no lists rather than lists of other words.
    """

    def __init__(self, conn: psycopg.Connection[Any], location: str, header: WordFileHeader,
                 offsets: NDArray[np.int64]) -> None:
        self._conn = conn
        self._location = location
        self.header = header
        self.offsets = offsets

    def read_lists(self, words: Sequence[int]) -> Iterator[tuple[NDArray[np.uint32], NDArray[np.uint64]]]:
        """Each word's list, in the order asked, fetched :data:`WORDS_A_QUERY` words a query."""
        for start in range(0, len(words), WORDS_A_QUERY):
            chunk = words[start:start + WORDS_A_QUERY]
            found = {int(word): (np.frombuffer(ids, "<u4"), np.frombuffer(signatures, "<u8"))
                     for word, ids, signatures in self._fetch("word = ANY(%s)", (sorted(set(chunk)),))}
            for word in chunk:
                yield found.get(int(word), (np.zeros(0, np.uint32), np.zeros(0, np.uint64)))

    def read_words(self, first: int, last: int) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        rows = self._fetch("word >= %s AND word < %s ORDER BY word", (first, last))
        if not rows:
            return np.zeros(0, np.uint32), np.zeros(0, np.uint64)
        return (np.frombuffer(b"".join(row[1] for row in rows), "<u4"),
                np.frombuffer(b"".join(row[2] for row in rows), "<u8"))

    def _fetch(self, condition: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            with self._conn.cursor(binary=True) as cursor:
                cursor.execute("SELECT word, frame_ids, signatures FROM word_lists WHERE EXISTS (SELECT 1 FROM"
                               f" vocabulary WHERE id = 1 AND generation = %s) AND {condition}",
                               (self.header.generation, *params))
                return list(cursor.fetchall())
        except psycopg.Error as exc:
            raise IndexStoreError(f"{self._location}: cannot read the word lists ({_first_line(exc)})") from exc

    def word_ranges(self) -> Iterator[tuple[int, int]]:
        return word_ranges(self.offsets)

    def frame_counts(self, size: int) -> NDArray[np.int64]:
        return frame_counts(self.offsets, lambda first, last: self.read_words(first, last)[0], size)

    def close(self) -> None:
        """Nothing to release: the lists are read on the store's connection, closed with the store."""


def _next_value(conn: psycopg.Connection[Any], sequence: str) -> int:
    row = conn.execute("SELECT nextval(%s)", (sequence,)).fetchone()
    assert row is not None
    return int(row[0])


def _hasher_bits(hasher_name: str) -> int:
    if hasher_name not in {hasher.name for hasher in HASHERS}:
        raise ValueError(f"Unknown hasher {hasher_name!r}.")
    return int(hasher_signature()[hasher_name]["bits"])


def _frame_table(rows: list[tuple[Any, ...]]) -> FrameTable:
    count = len(rows)
    return FrameTable(
        frame_ids=np.fromiter((row[0] for row in rows), np.int64, count),
        source_ids=np.fromiter((row[1] for row in rows), np.int64, count),
        frame_numbers=np.fromiter((row[2] for row in rows), np.int64, count),
        times_s=np.fromiter((np.nan if row[3] is None else row[3] for row in rows), np.float64, count),
    )


def _postings_row(vocabulary: Vocabulary, source_id: int, frame_id: int, seq: int,
                  descriptors: NDArray[np.uint8]) -> tuple[int, int, int, int, bytes, bytes]:
    words, signatures = vocabulary.assign(descriptors)
    return (source_id, frame_id, seq, int(words.shape[0]), words.astype("<u4").tobytes(),
            signatures.astype("<u8").tobytes())


__all__ = ["PostgresStore", "SCHEMA_VERSION"]
