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
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, help="a compacted query-scale index (it is grown in place)")
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames to grow the index to")
    args = parser.parse_args(argv)
    copies = replicate(args.index, args.frames)
    log(f"{copies} copies of the distractors added")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
