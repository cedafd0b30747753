"""Grow a query-scale index to 10^6 frames by repeating its distractor frames under new ids.

`query_scale.py --grow-to` writes new distractors through `SQLiteStore.add_source`
(recombined descriptors, quantised and encoded like any added frame) at about 38
frames a second: 10^6 frames would take 7 hours. This tool instead copies every
distractor source with its frames, features and postings rows (SQL ``INSERT ...
SELECT`` inside the index, ids shifted by a fixed offset a copy), and writes the word
file again with each copied frame's postings under its new id (the library's own
writer, :func:`provcheck.shortlist.ondisk.build_word_file`). The index it leaves is
sound by ``provcheck index check``.

What a copy changes: a claim's lists are as long as with as many distinct distractors,
so its reading and voting cost is that of 10^6 frames, and so are the disk and the
memory of opening the index. Recall is measured against a distractor population in
which every distractor appears that many times: as many distractors compete with the
true frame as with distinct ones, but their votes are not independent.

The index must be compacted (codes) and sealed (``provcheck index compact``), as a
query-scale run leaves it after ``index compact``.

``--postgresql URL`` grows a PostgreSQL index the same way instead (a copy made by
``provcheck index migrate``, or a database created from one with ``CREATE DATABASE ...
TEMPLATE``): the rows are copied by ``INSERT ... SELECT`` in the database, one transaction
a copy, and the ``word_lists`` rows are rewritten with each copied frame's postings under
its new ids, in one transaction, with no word file on the disk (a 10^6-frame archive fits
on a disk that cannot hold it in both backends).

    python bench/replicate.py INDEX.sqlite [--frames 1000000]
    python bench/replicate.py --postgresql postgresql://user@host/db [--frames 1000000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from provcheck.shortlist.ondisk import (
    PostingArrays,
    WordFileHeader,
    build_word_file,
    kept_postings,
    word_file_path,
)
from provcheck.store import SQLiteStore, shortlist_tables

SOURCE_COLUMNS = "kind, title, url, published, notes, path, sha256, duration_s, width, height, frame_count, added_at"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def replicate(index_path: Path, target_frames: int) -> int:
    """Copy distractor sources until the index holds ``target_frames`` frames (or just over); copies made."""
    conn = sqlite3.connect(index_path, isolation_level=None)
    try:
        frames = int(conn.execute("SELECT count(*) FROM frames").fetchone()[0])
        sealed = shortlist_tables.sealed_seq(conn)
        unsealed = int(conn.execute("SELECT count(*) FROM postings WHERE length(words) > 0").fetchone()[0])
        if not sealed or unsealed:
            raise SystemExit(f"{index_path}: run `provcheck index compact` first (postings must be in the word file)")
        distractors = [int(row[0]) for row in conn.execute("SELECT id FROM sources WHERE title LIKE 'distractor %'")]
        per_copy = int(conn.execute(f"SELECT count(*) FROM frames WHERE source_id IN ({','.join(map(str, distractors))})")
                       .fetchone()[0])
        copies = -(-(target_frames - frames) // per_copy)
        if copies < 1:
            return 0
        frame_offset = int(conn.execute("SELECT max(id) FROM frames").fetchone()[0]) + 1
        source_offset = int(conn.execute("SELECT max(id) FROM sources").fetchone()[0]) + 1
        conn.execute("CREATE TEMP TABLE copied AS SELECT id FROM frames WHERE source_id IN"
                     f" ({','.join(map(str, distractors))})")
        for copy in range(1, copies + 1):
            begin = time.perf_counter()
            shift_f, shift_s = copy * frame_offset, copy * source_offset
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"INSERT INTO sources (id, {SOURCE_COLUMNS}) SELECT id + ?, kind, title || ' copy ' || ?, url,"
                         " published, notes, path || '#' || ?, printf('ffff%060x', id + ?), duration_s, width, height,"
                         " frame_count, added_at FROM sources WHERE title LIKE 'distractor %' AND title NOT LIKE '% copy %'",
                         (shift_s, copy, copy, shift_s))
            conn.execute("INSERT INTO frames SELECT id + ?, source_id + ?, frame_number, time_s, phash, pdq, pdq_quality"
                         " FROM frames WHERE id IN (SELECT id FROM copied)", (shift_f, shift_s))
            conn.execute("INSERT INTO features SELECT frame_id + ?, width, height, keypoints, xy, descriptors, static,"
                         " encoding FROM features WHERE frame_id IN (SELECT id FROM copied)", (shift_f,))
            conn.execute("INSERT INTO postings SELECT frame_id + ?, seq, keypoints, words, signatures FROM postings"
                         " WHERE frame_id IN (SELECT id FROM copied)", (shift_f,))
            conn.execute("COMMIT")
            log(f"copy {copy}/{copies}: {per_copy:,} frames in {time.perf_counter() - begin:.0f} s")
        copied = np.array([int(row[0]) for row in conn.execute("SELECT id FROM copied")], np.int64)
    finally:
        conn.close()
    begin = time.perf_counter()
    _write_word_file(index_path, copied, frame_offset, copies)
    log(f"word file written in {time.perf_counter() - begin:.0f} s")
    return copies


def _write_word_file(index_path: Path, copied: np.ndarray, frame_offset: int, copies: int) -> None:
    """The word file again, every copied frame's postings repeated under each copy's id."""
    store = SQLiteStore(index_path)
    try:
        vocabulary = store.shortlist_vocabulary()
        base = store.word_file()
        assert vocabulary is not None and base is not None
        ids = store.frame_table().frame_ids
        live = np.zeros(frame_offset, bool)
        live[ids[ids < frame_offset]] = True
        is_copied = np.zeros(frame_offset, bool)
        is_copied[copied] = True

        def batches() -> Iterator[PostingArrays]:
            for words, ids, signatures in kept_postings(base, live):
                yield words, ids, signatures
                mask = is_copied[ids]
                for copy in range(1, copies + 1):
                    yield words[mask], ids[mask] + copy * frame_offset, signatures[mask]

        path = word_file_path(index_path)
        aside = path.with_name(path.name + ".replica")
        header = base.header
        build_word_file(aside, lambda total: WordFileHeader(header.generation, header.words, header.covered_seq, total),
                        lambda: iter(()), vocabulary.size, batches)
        base.close()
        aside.replace(path)
    finally:
        store.close()


def replicate_postgresql(url: str, target_frames: int) -> int:
    """:func:`replicate` on a PostgreSQL index; copies made."""
    import psycopg

    from provcheck.store.postgres import NAMESPACE

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {NAMESPACE}")
        frames = int(_one(conn, "SELECT count(*) FROM frames"))
        if int(_one(conn, "SELECT count(*) FROM postings WHERE octet_length(words) > 0")):
            raise SystemExit(f"{url}: run `provcheck index compact` first (postings must be in the word lists)")
        distractors = [int(row[0]) for row in conn.execute("SELECT id FROM sources WHERE title LIKE 'distractor %'")]
        copied = np.array([int(row[0]) for row in conn.execute(
            "SELECT id FROM frames WHERE source_id = ANY(%s) ORDER BY id", (distractors,))], np.int64)
        copies = -(-(target_frames - frames) // copied.shape[0])
        if copies < 1:
            return 0
        frame_offset = int(_one(conn, "SELECT max(id) FROM frames")) + 1
        source_offset = int(_one(conn, "SELECT max(id) FROM sources")) + 1
        conn.execute("CREATE TEMP TABLE copied AS SELECT id FROM frames WHERE source_id = ANY(%s)", (distractors,))
        for copy in range(1, copies + 1):
            begin = time.perf_counter()
            shift_f, shift_s = copy * frame_offset, copy * source_offset
            with conn.transaction():
                conn.execute(f"INSERT INTO sources (id, {SOURCE_COLUMNS}) SELECT id + %s, kind, title || ' copy ' || %s,"
                             " url, published, notes, path || '#' || %s, 'ffff' || lpad(to_hex(id + %s), 60, '0'),"
                             " duration_s, width, height, frame_count, added_at FROM sources"
                             " WHERE title LIKE 'distractor %%' AND title NOT LIKE '%% copy %%'",
                             (shift_s, copy, copy, shift_s))
                conn.execute("INSERT INTO frames SELECT source_id + %s, id + %s, frame_number, time_s, phash, pdq,"
                             " pdq_quality FROM frames WHERE id IN (SELECT id FROM copied)", (shift_s, shift_f))
                conn.execute("INSERT INTO features SELECT source_id + %s, frame_id + %s, width, height, keypoints, xy,"
                             " descriptors, static, encoding FROM features WHERE frame_id IN (SELECT id FROM copied)",
                             (shift_s, shift_f))
                conn.execute("INSERT INTO postings SELECT source_id + %s, frame_id + %s, seq, keypoints, words,"
                             " signatures FROM postings WHERE frame_id IN (SELECT id FROM copied)", (shift_s, shift_f))
            log(f"copy {copy}/{copies}: {copied.shape[0]:,} frames in {time.perf_counter() - begin:.0f} s")
        begin = time.perf_counter()
        _rewrite_word_lists(conn, copied, frame_offset, copies)
        log(f"word lists rewritten in {time.perf_counter() - begin:.0f} s")
        conn.execute("SELECT setval('sources_id_seq', (SELECT max(id) FROM sources))")
        conn.execute("SELECT setval('frame_ids', (SELECT max(id) FROM frames))")
        conn.execute("ANALYZE")
    return copies


def _rewrite_word_lists(conn: Any, copied: np.ndarray, frame_offset: int, copies: int) -> None:
    """Each word's list again, with the postings of the copied frames repeated under each copy's ids (after the
    list's own, so ids stay ascending within a word), and the lists' header counting them."""
    from provcheck.store.postgres import LISTS_KEY

    is_copied = np.zeros(frame_offset, bool)
    is_copied[copied] = True
    with conn.cursor(binary=True) as cursor:
        cursor.execute("SELECT word, frame_ids, signatures FROM word_lists ORDER BY word")
        lists = cursor.fetchall()  # the 10^5-frame lists: about 12 bytes a posting
    header = json.loads(_one(conn, "SELECT value FROM meta WHERE key = %s", (LISTS_KEY,)))
    total = 0
    with conn.transaction():
        conn.execute("DELETE FROM word_lists")
        with conn.cursor() as cursor, cursor.copy("COPY word_lists (word, postings, frame_ids, signatures)"
                                                  " FROM STDIN (FORMAT BINARY)") as out:
            out.set_types(["int4", "int4", "bytea", "bytea"])
            for word, ids_blob, signatures_blob in lists:
                ids, signatures = np.frombuffer(ids_blob, "<u4"), np.frombuffer(signatures_blob, "<u8")
                mask = is_copied[ids]
                ids = np.concatenate([ids, *((ids[mask] + copy * frame_offset).astype("<u4")
                                             for copy in range(1, copies + 1))])
                signatures = np.concatenate([signatures, *(signatures[mask] for _ in range(copies))])
                out.write_row((word, ids.shape[0], ids.tobytes(), signatures.tobytes()))
                total += ids.shape[0]
        header["postings"] = total
        conn.execute("UPDATE meta SET value = %s WHERE key = %s", (json.dumps(header, sort_keys=True), LISTS_KEY))


def _one(conn: Any, query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, nargs="?", help="a compacted query-scale index (it is grown in place)")
    parser.add_argument("--postgresql", metavar="URL", help="grow this PostgreSQL index instead")
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames to grow the index to")
    args = parser.parse_args(argv)
    if (args.index is None) == (args.postgresql is None):
        parser.error("give either a SQLite index or --postgresql URL")
    copies = (replicate(args.index, args.frames) if args.index is not None
              else replicate_postgresql(args.postgresql, args.frames))
    log(f"{copies} copies of the distractors added")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
