"""Moving a SQLite index into PostgreSQL as it is stored, without reading a single video again.

Rows keep their ids (so source ids in reports stay the same), descriptors stay as stored
(raw or compact codes), postings rows keep their sequence numbers and seals, and the word
file beside the SQLite index becomes the ``word_lists`` table. Everything is written in
one transaction: an interrupted migration leaves the database as it was. The SQLite file
is only read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IndexStoreError
from ..shortlist.ondisk import WordFile, word_file_path
from .postgres import (
    DRIVER_ERRORS,
    LISTS_KEY,
    SEALED_KEY,
    PostgresStore,
    _copy_lists,
    _first_line,
    _header_json,
    _set_meta,
)
from .sqlite import SQLiteStore

#: Rows read from SQLite a batch.
BATCH = 5_000

#: PostgreSQL table -> (the SQLite query giving its rows, its columns, their binary COPY types).
TABLES: dict[str, tuple[str, Sequence[str], Sequence[str]]] = {
    "sources": ("SELECT id, kind, title, url, published, notes, path, sha256, duration_s, width, height, frame_count,"
                " added_at FROM sources ORDER BY id",
                ("id", "kind", "title", "url", "published", "notes", "path", "sha256", "duration_s", "width",
                 "height", "frame_count", "added_at"),
                ("int8", "text", "text", "text", "text", "text", "text", "text", "float8", "int4", "int4", "int4",
                 "text")),
    "frames": ("SELECT source_id, id, frame_number, time_s, phash, pdq, pdq_quality FROM frames ORDER BY id",
               ("source_id", "id", "frame_number", "time_s", "phash", "pdq", "pdq_quality"),
               ("int8", "int8", "int4", "float8", "bytea", "bytea", "int4")),
    "features": ("SELECT f.source_id, x.frame_id, x.width, x.height, x.keypoints, x.xy, x.descriptors, x.static,"
                 " x.encoding FROM features x JOIN frames f ON f.id = x.frame_id ORDER BY x.frame_id",
                 ("source_id", "frame_id", "width", "height", "keypoints", "xy", "descriptors", "static", "encoding"),
                 ("int8", "int8", "int4", "int4", "int4", "bytea", "bytea", "bytea", "int2")),
    "vocabulary": ("SELECT id, generation, words, training_descriptors, trained_at, data FROM vocabulary",
                   ("id", "generation", "words", "training_descriptors", "trained_at", "data"),
                   ("int4", "int4", "int4", "int8", "text", "bytea")),
    "descriptor_codec": ("SELECT id, training_descriptors, trained_at, data FROM descriptor_codec",
                         ("id", "training_descriptors", "trained_at", "data"), ("int4", "int8", "text", "bytea")),
    "postings": ("SELECT f.source_id, p.frame_id, p.seq, p.keypoints, p.words, p.signatures FROM postings p"
                 " JOIN frames f ON f.id = p.frame_id ORDER BY p.frame_id",
                 ("source_id", "frame_id", "seq", "keypoints", "words", "signatures"),
                 ("int8", "int8", "int8", "int4", "bytea", "bytea")),
}


@dataclass(frozen=True)
class Migrated:
    """What was copied: rows a table, and the postings moved from the word file into the word lists."""

    rows: dict[str, int]
    word_list_postings: int


#: Told each table's name and rows as it is copied (a progress line for the user).
Progress = Callable[[str, int], None]


def sqlite_to_postgresql(source: Path, url: str, progress: Progress | None = None,
                         hashes_only: bool = False) -> Migrated:
    """Copy the SQLite index at ``source`` into the empty PostgreSQL index at ``url`` (created if missing).

    Args:
        hashes_only: copy sources and frames only (the benches' hash-search rows at sizes whose
            features would not fit on the disk twice); the result then has no local features.

    Raises:
        IndexStoreError: the source is not a readable provcheck index (or its word file is missing
            while rows rely on it), or the database already holds sources, or cannot be written.
    """
    checked = SQLiteStore(source)  # a provcheck index, at this schema (migrated on open), made by these hashers
    try:
        checked.shortlist_postings()  # refuses sealed rows whose word file is missing or damaged
    finally:
        checked.close()
    store = PostgresStore(url, create=True)
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        conn = store._conn
        held = store.stats().sources
        if held:
            raise IndexStoreError(f"{store.location}: the index there already holds {held} sources; migrate into an"
                                  " empty database")
        rows: dict[str, int] = {}
        listed = 0
        with conn.transaction():
            for table in ("sources", "frames") if hashes_only else tuple(TABLES):
                rows[table] = _copy_table(lite, conn, table)
                if progress is not None:
                    progress(table, rows[table])
            meta = {str(key): str(value) for key, value in lite.execute("SELECT key, value FROM meta")}
            for sequence, query in (("sources_id_seq", "SELECT max(id) FROM sources"),
                                    ("frame_ids", "SELECT max(id) FROM frames")):
                conn.execute("SELECT setval(%s, %s)", (sequence, lite.execute(query).fetchone()[0] or 1))
            if not hashes_only and "postings_seq" in meta:
                conn.execute("SELECT setval('postings_seq', %s)", (int(meta["postings_seq"]),))
                if int(meta.get("postings_sealed_seq", "0")):
                    _set_meta(conn, SEALED_KEY, meta["postings_sealed_seq"])
                vocabulary = lite.execute("SELECT generation, words FROM vocabulary").fetchone()
                lists = WordFile.open(word_file_path(source), int(vocabulary[0]), int(vocabulary[1])) if (
                    vocabulary is not None) else None
                if lists is not None:
                    lists.close()
                    _copy_lists(conn, word_file_path(source), lists.header)
                    _set_meta(conn, LISTS_KEY, _header_json(lists.header))
                    listed = lists.header.postings
                    if progress is not None:
                        progress("word_lists", listed)
        conn.execute("ANALYZE")
        return Migrated(rows, listed)
    except sqlite3.DatabaseError as exc:
        raise IndexStoreError(f"{source}: cannot read the index ({exc})") from exc
    except OSError as exc:
        raise IndexStoreError(f"{word_file_path(source)}: cannot read the word file ({exc})") from exc
    except DRIVER_ERRORS as exc:
        raise IndexStoreError(f"{store.location}: cannot write the index ({_first_line(exc)})") from exc
    finally:
        lite.close()
        store.close()


def _copy_table(lite: sqlite3.Connection, conn: Any, table: str) -> int:
    """One table's rows from SQLite into PostgreSQL by binary COPY; how many."""
    query, columns, types = TABLES[table]
    count = 0
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types))
        selected = lite.execute(query)
        while batch := selected.fetchmany(BATCH):
            for row in batch:
                copy.write_row(row)
            count += len(batch)
    return count
