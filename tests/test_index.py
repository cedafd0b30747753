"""The SQLite index: round trip, atomic adds, duplicates, refusing foreign or damaged files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from provcheck import DuplicateSourceError, Index, IndexMismatchError, IndexStoreError, SourceNotFoundError
from provcheck.store import FrameRecord, NewSource, SQLiteStore


def new_source(sha: str = "a" * 64, kind: str = "video") -> NewSource:
    return NewSource(kind=kind, title="T", url="https://x.example/1", published="2016-06-30", notes=None,
                     path="/data/t.mp4", sha256=sha, duration_s=4.0, width=320, height=176)


def frame_record(number: int) -> FrameRecord:
    return FrameRecord(number, number / 25, {"phash": bytes([number % 256]) * 8, "pdq": bytes([number % 256]) * 32}, 80)


def test_round_trip(index_path: Path) -> None:
    store = SQLiteStore(index_path, create=True)
    record = store.add_source(new_source(), [frame_record(n) for n in range(5)])
    store.close()
    reopened = SQLiteStore(index_path)
    assert reopened.list_sources() == [record]
    assert record.frame_count == 5 and record.published == "2016-06-30" and record.kind == "video"
    table = reopened.hash_table("pdq")
    assert table.frame_numbers.tolist() == [0, 1, 2, 3, 4]
    assert table.times_s.tolist() == pytest.approx([0, 0.04, 0.08, 0.12, 0.16])
    assert table.hashes.shape == (5, 32) and bytes(table.hashes[3]) == bytes([3]) * 32
    assert reopened.stats().frames == 5
    assert reopened._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


class ExplodingFrames(Sequence[FrameRecord]):
    """Frames whose iteration fails half-way, as a crash during the insert would."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, number: int) -> FrameRecord:  # type: ignore[override]
        return frame_record(number)

    def __iter__(self) -> Iterator[FrameRecord]:
        for number in range(self.count):
            if number == self.count // 2:
                raise RuntimeError("disk pulled out")
            yield frame_record(number)


def test_failure_half_way_leaves_no_partial_source(index_path: Path) -> None:
    store = SQLiteStore(index_path, create=True)
    store.add_source(new_source("b" * 64), [frame_record(1)])
    with pytest.raises(RuntimeError):
        store.add_source(new_source(), ExplodingFrames(10))
    store.close()
    reopened = SQLiteStore(index_path)
    assert [s.sha256 for s in reopened.list_sources()] == ["b" * 64]
    assert reopened.stats().frames == 1


def test_duplicate_is_refused_unless_replace(index_path: Path) -> None:
    store = SQLiteStore(index_path, create=True)
    first = store.add_source(new_source(), [frame_record(1)])
    with pytest.raises(DuplicateSourceError) as caught:
        store.add_source(new_source(), [frame_record(1), frame_record(2)])
    assert caught.value.source_id == first.id
    assert store.stats().frames == 1
    replaced = store.add_source(new_source(), [frame_record(1), frame_record(2)], replace=True)
    assert [s.id for s in store.list_sources()] == [replaced.id]
    assert store.stats().frames == 2


def test_remove_deletes_frames(index_path: Path) -> None:
    store = SQLiteStore(index_path, create=True)
    record = store.add_source(new_source(), [frame_record(n) for n in range(3)])
    store.remove_source(record.id)
    assert store.list_sources() == [] and store.stats().frames == 0
    with pytest.raises(SourceNotFoundError):
        store.remove_source(record.id)


def test_missing_index_is_not_created_by_readers(index_path: Path) -> None:
    with pytest.raises(IndexStoreError, match="index not found"):
        SQLiteStore(index_path)
    assert not index_path.exists()


@pytest.mark.parametrize("content", [b"this is a text file, not SQLite\n" * 50, b"\x00" * 4096])
def test_foreign_file_is_refused_and_not_overwritten(index_path: Path, content: bytes) -> None:
    index_path.write_bytes(content)
    with pytest.raises(IndexStoreError, match=str(index_path)):
        SQLiteStore(index_path, create=True)
    assert index_path.read_bytes() == content


def test_other_sqlite_database_is_refused(index_path: Path) -> None:
    conn = sqlite3.connect(index_path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(IndexStoreError, match="not a provcheck index"):
        SQLiteStore(index_path, create=True)


def test_newer_schema_or_other_hashers_are_refused(index_path: Path) -> None:
    SQLiteStore(index_path, create=True).close()
    conn = sqlite3.connect(index_path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(IndexMismatchError, match="newer"):
        SQLiteStore(index_path)
    conn = sqlite3.connect(index_path)
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.execute("""UPDATE meta SET value = '{"pdq": {"bits": 256, "version": 0}}' WHERE key = 'hashers'""")
    conn.commit()
    conn.close()
    with pytest.raises(IndexMismatchError, match="re-index"):
        SQLiteStore(index_path)


@pytest.mark.parametrize(("features", "readable"), [
    ('{"name": "sift", "version": 1, "max_side": 960, "keypoints": 1000, "descriptor": "uint8x128"}', True),
    ('{"name": "orb", "version": 1, "descriptor": "bits256"}', False),
])
def test_older_extractor_is_read_other_descriptors_are_refused(index_path: Path, features: str,
                                                               readable: bool) -> None:
    store = SQLiteStore(index_path, create=True)
    record = store.add_source(new_source(), [frame_record(n) for n in range(3)])
    store.close()
    conn = sqlite3.connect(index_path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'features'", (features,))
    conn.commit()
    conn.close()
    if readable:
        assert SQLiteStore(index_path).list_sources() == [record]
    else:
        with pytest.raises(IndexMismatchError, match="re-index"):
            SQLiteStore(index_path)


def test_api_add_list_remove(index_path: Path, pan_clip: Path, still_path: Path) -> None:
    with Index(index_path) as index:
        video = index.add(pan_clip, title="Pan", url="https://v.example/1", published="2016-06-30", notes="n")
        still = index.add(still_path)
        assert [s.id for s in index.sources()] == [video.id, still.id]
        assert video.kind == "video" and video.duration_s == pytest.approx(4.0, abs=0.1)
        assert video.frame_count == 9 and (video.width, video.height) == (320, 176)
        assert still.kind == "image" and still.title == "still.png" and still.frame_count == 1
        with pytest.raises(DuplicateSourceError):
            index.add(pan_clip)
        index.remove(still.id)
        assert [s.id for s in index.sources()] == [video.id]


def test_api_rejects_bad_dates(index_path: Path, still_path: Path) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Index(index_path).add(still_path, published="30/06/2016")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Index(index_path).add(still_path, published="2016-02-30")
    assert not index_path.exists()


def test_schema_1_index_is_migrated_and_keeps_its_sources(index_path: Path) -> None:
    """An index written by provcheck 0.1 (hashes only, schema 1) opens, migrates and still matches by hash."""
    import json

    from provcheck.hashing import hasher_signature
    from provcheck.store import _SCHEMA

    conn = sqlite3.connect(index_path)
    for statement in filter(str.strip, _SCHEMA.split(";")):
        conn.execute(statement)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("application", "provcheck"), ("schema_version", "1"),
        ("hashers", json.dumps(hasher_signature(), sort_keys=True)), ("created_at", "2026-11-25T00:00:00+00:00"),
    ])
    conn.execute("INSERT INTO sources (kind, title, path, sha256, width, height, frame_count, added_at)"
                 " VALUES ('image', 'old', '/x.png', ?, 10, 10, 1, 'then')", ("c" * 64,))
    conn.execute("INSERT INTO frames (source_id, frame_number, phash, pdq) VALUES (1, 0, ?, ?)",
                 (b"\x01" * 8, b"\x02" * 32))
    conn.commit()
    conn.close()
    store = SQLiteStore(index_path)
    assert store.stats().schema_version == 2
    assert [s.title for s in store.list_sources()] == ["old"]
    assert store.feature_table() == [] and store.hash_table("pdq").hashes.shape == (1, 32)
