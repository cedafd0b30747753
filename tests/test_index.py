"""The SQLite index: round trip, atomic adds, duplicates, refusing foreign or damaged files."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import texture, write_still
from PIL import Image

from provcheck import DuplicateSourceError, Index, IndexMismatchError, IndexStoreError, SourceNotFoundError, Verdict
from provcheck.cli import cli
from provcheck.hashing import HASHERS
from provcheck.match import MatchEngine
from provcheck.store import SCHEMA_VERSION, FrameRecord, NewSource, SQLiteStore

#: An index written by provcheck 0.1 (see tests/data/README.md).
SCHEMA_1_INDEX = Path(__file__).parent / "data" / "schema1.sqlite"


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
    reopened.close()
    # WAL mode is recorded in the file itself: any connection sees it.
    conn = sqlite3.connect(index_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


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


def assert_frame_hashes_equal_the_simple_reads(store: SQLiteStore) -> None:
    """The one-pass read equals the frame table and each hasher's hash matrix read one by one."""
    loaded, table = store.frame_hashes(), store.frame_table()
    for field in ("frame_ids", "source_ids", "frame_numbers", "times_s"):
        fast, simple = getattr(loaded.frames, field), getattr(table, field)
        assert fast.dtype == simple.dtype and fast.shape == simple.shape, field
        np.testing.assert_array_equal(fast, simple, err_msg=field)  # NaN (a still's time) equals NaN
    assert sorted(loaded.hashes) == sorted(hasher.name for hasher in HASHERS)
    for name, hashes in loaded.hashes.items():
        simple_hashes = store.hash_matrix(name)
        assert hashes.dtype == simple_hashes.dtype and hashes.shape == simple_hashes.shape, name
        np.testing.assert_array_equal(hashes, simple_hashes, err_msg=name)


def test_frame_hashes_read_in_one_pass_equal_the_table_and_every_hash_matrix(index_path: Path,
                                                                             built_index: Path) -> None:
    store = SQLiteStore(index_path, create=True)
    assert_frame_hashes_equal_the_simple_reads(store)  # empty
    store.add_source(new_source("a" * 64), [frame_record(n) for n in range(5)])
    still = FrameRecord(0, None, {"phash": bytes(range(8)), "pdq": bytes(range(32))}, None)
    store.add_source(new_source("b" * 64, kind="image"), [still])
    removed = store.add_source(new_source("c" * 64), [frame_record(n) for n in range(3)])
    store.add_source(new_source("d" * 64), [frame_record(n) for n in range(7, 9)])
    store.remove_source(removed.id)  # a gap in the frame ids
    assert len(store.frame_hashes().frames) == 8
    assert_frame_hashes_equal_the_simple_reads(store)
    store.close()
    real = SQLiteStore(built_index)  # frames of real clips and a still
    try:
        assert_frame_hashes_equal_the_simple_reads(real)
    finally:
        real.close()


def test_featured_frame_ids_are_the_frames_of_the_feature_table(index_path: Path, built_index: Path) -> None:
    empty = SQLiteStore(index_path, create=True)
    try:
        assert empty.featured_frame_ids().dtype == np.int64 and empty.featured_frame_ids().shape == (0,)
    finally:
        empty.close()
    store = SQLiteStore(built_index)
    try:
        ids = store.featured_frame_ids()
        assert ids.dtype == np.int64 and ids.size > 0
        assert ids.tolist() == [stored.frame_id for stored in store.feature_table()]
    finally:
        store.close()


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


def test_schema_1_index_made_by_provcheck_0_1_migrates_and_matches(tmp_path: Path) -> None:
    """A real index written by provcheck 0.1 (schema 1, hashes only) opens, migrates and still matches by hash.

    The file was made by the old code itself; ``tests/data/README.md`` says how.
    """
    index_path = tmp_path / "old.sqlite"
    shutil.copyfile(SCHEMA_1_INDEX, index_path)
    harbour, market, unrelated = (texture(seed, 240, 320) for seed in (9101, 9102, 9103))
    claim = write_still(tmp_path / "claim.jpg", np.asarray(Image.fromarray(harbour).resize((240, 180))), quality=70)

    with Index(index_path) as index:
        assert index.info().schema_version == SCHEMA_VERSION
        sources = index.sources()
        assert [(s.id, s.title, s.url, s.published, s.notes, s.frame_count) for s in sources] == [
            (1, "Harbour at dawn", "https://photos.example.org/harbour", "2015-03-14", None, 1),
            (2, "Market street", None, "2016-08-01", "second source", 1),
        ]
        report = index.verify_integrity()
        assert report.ok, report.problems
        assert (report.sources, report.frames, report.features) == (2, 2, 0)
        (found,) = index.match(claim)  # a downscaled JPEG of the harbour photo
        assert found.verdict is Verdict.MATCH and found.source.title == "Harbour at dawn" and found.earliest
        assert index.match(market)[0].source.title == "Market street"
        assert index.match(unrelated) == []
    # the migration was written to the file, not only done in memory
    conn = sqlite3.connect(index_path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        assert conn.execute("SELECT count(*) FROM features").fetchone()[0] == 0
    finally:
        conn.close()
    result = CliRunner().invoke(cli, ["match", str(claim), "--index", str(index_path), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["matches"][0]["source"]["title"] == "Harbour at dawn"
    assert "2 of 2 indexed frames have no local features" in result.stderr  # the migration kept the old frames


def test_feature_coverage_is_counted_alike_by_the_store_the_matcher_and_the_statistics(tmp_path: Path,
                                                                                      still_path: Path) -> None:
    """Frames without local features are counted the same however they are counted (``match`` warns of them)."""
    index_path = tmp_path / "old.sqlite"
    shutil.copyfile(SCHEMA_1_INDEX, index_path)
    with Index(index_path) as index:
        index.add(still_path, title="Added with local features")  # half old, half new
        counted = index.feature_coverage()  # no matcher loaded: the store counts
        stats = index.info()
        assert (counted.frames, counted.frames_with_features, counted.frames_without_features) == (3, 1, 2)
        assert (stats.frames, stats.frames_with_features) == (counted.frames, counted.frames_with_features)
        assert index.feature_coverage(load_matcher=True) == counted  # from the matcher, now loaded
        # what the CLI asks to know whether the matcher it would load is the one that matches
        assert index.matches_in_process(1, 4) and index.matches_in_process(3, 1) and index.matches_in_process(0, 2)
        assert not index.matches_in_process(2, 2)
    store = SQLiteStore(index_path)
    try:
        assert MatchEngine(store).feature_coverage == store.feature_coverage() == counted
        assert MatchEngine(store).frames_without_features == 2
    finally:
        store.close()


def test_match_warns_of_frames_without_features_when_claims_are_matched_in_workers(tmp_path: Path) -> None:
    """With --jobs the parent does not load the matcher; the warning is said once all the same."""
    index_path = tmp_path / "old.sqlite"
    shutil.copyfile(SCHEMA_1_INDEX, index_path)
    harbour, market = (texture(seed, 240, 320) for seed in (9101, 9102))
    claims = [str(write_still(tmp_path / f"claim_{n}.jpg", np.asarray(Image.fromarray(picture).resize((240, 180))),
                              quality=70)) for n, picture in enumerate((harbour, market))]
    runner = CliRunner()
    result = runner.invoke(cli, ["match", *claims, "--index", str(index_path), "--json", "--jobs", "2"])
    assert result.exit_code == 0, result.stderr
    titles = [found["matches"][0]["source"]["title"] for found in json.loads(result.stdout)["results"]]
    assert titles == ["Harbour at dawn", "Market street"]
    assert result.stderr.count("2 of 2 indexed frames have no local features") == 1
    quiet = runner.invoke(cli, ["match", *claims, "--index", str(index_path), "--json", "--jobs", "2", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout == result.stdout and "no local features" not in quiet.stderr
