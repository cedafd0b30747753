"""Copy a SQLite index into a PostgreSQL database as it is stored: the bench's way to measure both backends on
one archive without indexing it twice.

Rows are copied with their ids, descriptors stay as stored (raw or codes), postings rows
keep their sequence numbers and seals, and the word file beside the SQLite index becomes
the ``word_lists`` table; the result is what `index add` would have built in PostgreSQL
(the bench then checks it with `index check` and compares answers). ``--hashes-only``
copies sources and frames alone (for the hash-search rows at sizes whose features would
not fit on the disk twice).

    python bench/to_postgresql.py INDEX.sqlite postgresql://user@host/db [--hashes-only]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from provcheck.shortlist.ondisk import WordFile, word_file_path
from provcheck.store.postgres import LISTS_KEY, SEALED_KEY, PostgresStore, _copy_lists, _header_json, _set_meta

#: Rows read from SQLite a batch.
BATCH = 5_000

TABLES: dict[str, tuple[str, Sequence[str], Sequence[str]]] = {
    # PostgreSQL table: (SQLite query, PostgreSQL columns, binary COPY types)
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


def batches(conn: sqlite3.Connection, query: str) -> Iterator[list[tuple[Any, ...]]]:
    cursor = conn.execute(query)
    while rows := cursor.fetchmany(BATCH):
        yield rows


def copy_index(source: Path, url: str, hashes_only: bool = False) -> None:
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    store = PostgresStore(url, create=True)
    conn = store._conn
    if conn.execute("SELECT count(*) FROM sources").fetchone() != (0,):
        sys.exit(f"{url}: the index there is not empty")
    tables = ("sources", "frames") if hashes_only else tuple(TABLES)
    with conn.transaction():
        for table in tables:
            query, columns, types = TABLES[table]
            begin, count = time.perf_counter(), 0
            with conn.cursor() as cursor, cursor.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(list(types))
                for rows in batches(lite, query):
                    for row in rows:
                        copy.write_row(row)
                    count += len(rows)
            print(f"{table}: {count:,} rows in {time.perf_counter() - begin:.0f} s", file=sys.stderr, flush=True)
        meta = dict(lite.execute("SELECT key, value FROM meta").fetchall())
        for sequence, value in (("sources_id_seq", "SELECT max(id) FROM sources"),
                                ("frame_ids", "SELECT max(id) FROM frames")):
            conn.execute("SELECT setval(%s, %s)", (sequence, lite.execute(value).fetchone()[0] or 1))
        if not hashes_only and "postings_seq" in meta:
            conn.execute("SELECT setval('postings_seq', %s)", (int(meta["postings_seq"]),))
            if int(meta.get("postings_sealed_seq", "0")):
                _set_meta(conn, SEALED_KEY, meta["postings_sealed_seq"])
            generation, words = lite.execute("SELECT generation, words FROM vocabulary").fetchone()
            lists = WordFile.open(word_file_path(source), int(generation), int(words))
            if lists is not None:
                begin = time.perf_counter()
                lists.close()
                _copy_lists(conn, word_file_path(source), lists.header)
                _set_meta(conn, LISTS_KEY, _header_json(lists.header))
                print(f"word_lists: {lists.header.postings:,} postings in {time.perf_counter() - begin:.0f} s",
                      file=sys.stderr, flush=True)
    conn.execute("ANALYZE")
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("url")
    parser.add_argument("--hashes-only", action="store_true", help="copy sources and frames only")
    args = parser.parse_args()
    copy_index(args.index, args.url, args.hashes_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
