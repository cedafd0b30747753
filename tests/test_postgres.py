"""The PostgreSQL backend against a real server: the same answers as SQLite, concurrent writers, crashes.

The server is the one `.ci/run` starts (``bash .ci/postgres start`` prints the variable to
export): ``PROVCHECK_TEST_POSTGRESQL=postgresql://user@127.0.0.1:port/db``. Each test gets
a database of its own, dropped afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import encode_clip, pan_frames, valid_document

from provcheck import Index
from provcheck.errors import ExitCode, IndexMismatchError, IndexStoreError
from provcheck.store import mih
from provcheck.store.locations import open_store, shown_location

psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL backend needs psycopg (pip install '.[test]')")

SERVER = os.environ.get("PROVCHECK_TEST_POSTGRESQL")
pytestmark = pytest.mark.skipif(
    not SERVER, reason="no PostgreSQL server configured: `eval \"$(bash .ci/postgres start)\"` sets"
                       " PROVCHECK_TEST_POSTGRESQL (CI always does)")
BENCH = Path(__file__).resolve().parents[1] / "bench"


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provcheck", *args], capture_output=True, text=True, input=stdin,
                          timeout=600)


def _without_location(document: Any) -> Any:
    """A JSON document less what differs by backend or run: where the index is, when sources were added, timings."""
    if isinstance(document, dict):
        return {key: _without_location(value) for key, value in document.items()
                if key not in ("index", "elapsed_s", "added_at")}
    if isinstance(document, list):
        return [_without_location(value) for value in document]
    return document


@pytest.fixture(scope="module")
def quick_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    """The accuracy bench's quick corpus (generated from its seed): indexed sources and the 27 claims."""
    sys.path.insert(0, str(BENCH))
    try:
        import accuracy
    finally:
        sys.path.remove(str(BENCH))
    root = tmp_path_factory.mktemp("quick")
    settings = accuracy.QUICK
    sources = accuracy.generate_sources(root / "sources", 2024, settings)
    claims = accuracy.make_claims(sources, root / "claims", 2024, settings, settings.positives_per_row,
                                  settings.negatives_per_row)
    return [source.path for source in sources if source.indexed], sorted(claim.path for claim in claims)


def test_same_json_from_sqlite_and_postgresql(pg_url: str, quick_corpus: tuple[list[Path], list[Path]],
                                              tmp_path: Path) -> None:
    """The bench's quick corpus through both backends: the same sources, the same answers to every claim."""
    sources, claims = quick_corpus
    sqlite = str(tmp_path / "index.sqlite")
    outputs: dict[str, dict[str, Any]] = {}
    for name, index in (("sqlite", sqlite), ("postgresql", pg_url)):
        added = _cli("index", "add", *map(str, sources), "--index", index, "--jobs", "2", "--json", "-q")
        assert added.returncode == 0, added.stderr
        listed = _cli("index", "list", "--index", index, "--json")
        matched = _cli("match", *map(str, claims), "--index", index, "--json", "-q")
        assert matched.returncode == 0, matched.stderr
        outputs[name] = {"added": _without_location(valid_document(added.stdout)),
                         "list": _without_location(valid_document(listed.stdout)),
                         "match": _without_location(valid_document(matched.stdout))}
    assert outputs["postgresql"]["list"] == outputs["sqlite"]["list"]
    assert [r["title"] for r in outputs["postgresql"]["added"]["added"]] == [
        r["title"] for r in outputs["sqlite"]["added"]["added"]]
    assert outputs["postgresql"]["match"] == outputs["sqlite"]["match"]
    found = [result for result in outputs["sqlite"]["match"]["results"] if result["matches"]]
    assert len(found) >= 15, "the corpus's derived claims should mostly be found (else the comparison says little)"
    info = valid_document(_cli("index", "info", "--index", pg_url, "--json").stdout)
    assert info["shortlist"]["words"] > 0, "the quick corpus is large enough to train the shortlist on PostgreSQL too"
    checked = _cli("index", "check", "--index", pg_url, "--json")
    assert checked.returncode == 0 and valid_document(checked.stdout)["ok"] is True


def test_compacted_and_sealed_postgresql_answers_as_sqlite(pg_url: str,
                                                            quick_corpus: tuple[list[Path], list[Path]],
                                                            tmp_path: Path) -> None:
    """`index compact` (descriptors as codes, postings sealed into the word lists), adds after it (postings
    both in the lists and in rows), a removal and a rewrite of the lists: after each, both backends give
    the same answers, and the index checks clean."""
    sources, claims = quick_corpus
    answers: dict[str, list[Any]] = {}
    for index in (str(tmp_path / "index.sqlite"), pg_url):
        seen = answers.setdefault(index, [])
        assert _cli("index", "add", *map(str, sources[:6]), "--index", index, "-q").returncode == 0
        compacted = _cli("index", "compact", "--index", index, "--json", "-q")
        assert compacted.returncode == 0, compacted.stderr
        sizes = valid_document(compacted.stdout)
        assert sizes["size_bytes_after"] < sizes["size_bytes_before"], "compaction gives the space back"
        info = valid_document(_cli("index", "info", "--index", index, "--json").stdout)
        assert info["compact_frames"] == info["frames_with_features"] > 0
        assert info["shortlist"]["word_file_postings"] == info["shortlist"]["postings"] > 0
        assert _cli("index", "add", *map(str, sources[6:10]), "--index", index, "-q").returncode == 0
        info = valid_document(_cli("index", "info", "--index", index, "--json").stdout)
        assert 0 < info["shortlist"]["word_file_postings"] < info["shortlist"]["postings"]
        seen.append(_without_location(valid_document(_cli("match", *map(str, claims[::2]), "--index", index, "--json",
                                                           "-q").stdout)))
        assert _cli("index", "remove", "2", "--index", index, "-q").returncode == 0
        with Index(index) as opened:
            header = opened._open().write_word_file()
            assert header is not None and header.postings == opened.info().shortlist_postings
            assert opened.verify_integrity().ok, opened.verify_integrity().problems
        seen.append(_without_location(valid_document(_cli("match", *map(str, claims[::2]), "--index", index, "--json",
                                                           "-q").stdout)))
    sqlite_answers, pg_answers = answers.values()
    assert pg_answers == sqlite_answers
    assert sum(1 for result in pg_answers[1]["results"] if result["matches"]) >= 4, "too few found to compare"


def test_edit_remove_and_replace(pg_url: str, tmp_path: Path) -> None:
    clip = encode_clip(tmp_path / "clip.mp4", pan_frames(seed=3, count=30))
    assert _cli("index", "add", str(clip), "--index", pg_url, "--title", "First", "-q").returncode == 0
    with Index(pg_url) as index:
        stamp = index.change_stamp()
        (source,) = index.sources()
        with Index(pg_url) as other:  # another handle, as another process would be
            other.edit(source.id, title="Edited", published="2016-06-30")
        assert index.change_stamp() != stamp
        assert index.sources()[0].title == "Edited" and index.sources()[0].published == "2016-06-30"
    again = _cli("index", "add", str(clip), "--index", pg_url)
    assert again.returncode == ExitCode.OK and "already indexed" in again.stderr
    replaced = _cli("index", "add", str(clip), "--index", pg_url, "--replace", "--title", "Again", "--json", "-q")
    assert replaced.returncode == 0, replaced.stderr
    with Index(pg_url) as index:
        (source,) = index.sources()
        assert (source.id, source.title) == (1, "Again")
        removed = index.remove(source.id)
        assert removed.title == "Again" and index.sources() == []
        report = index.verify_integrity()
        assert report.ok and report.frames == 0


def test_concurrent_writers_lose_nothing(pg_url: str, tmp_path: Path) -> None:
    """Four processes add at once (two of them the same file): every file is stored whole, once."""
    clips = [encode_clip(tmp_path / f"clip{n}.mp4", pan_frames(seed=10 + n, count=25)) for n in range(3)]
    plan = [[clips[0]], [clips[1]], [clips[2]], [clips[0]]]
    writers = [subprocess.Popen([sys.executable, "-m", "provcheck", "index", "add", *map(str, files), "--index",
                                 pg_url, "--json", "-q", "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for files in plan]
    outputs = [writer.communicate(timeout=300) for writer in writers]
    assert all(writer.returncode == 0 for writer in writers), [err for _, err in outputs]
    added = [record["sha256"] for out, _ in outputs for record in valid_document(out)["added"]]
    skipped = [entry for out, _ in outputs for entry in valid_document(out)["skipped"]]
    assert len(added) == 3 and len(set(added)) == 3 and len(skipped) == 1
    with Index(pg_url) as index:
        sources = index.sources()
        assert len(sources) == 3 and {source.sha256 for source in sources} == set(added)
        report = index.verify_integrity()
        assert report.ok, report.problems
        assert report.frames == sum(source.frame_count for source in sources) > 0


_BLOCKING_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from provcheck.api import Index
    from provcheck.ingest import read_content

    url, clip, ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    content = read_content(clip, "video", 5.0)
    frames = list(content.frames)

    class Stalling(list):
        # hands the writer's COPY half the frames, then stalls: killed inside the transaction
        def __iter__(self):
            for number, frame in enumerate(list.__iter__(self)):
                if number == len(self) // 2:
                    ready.write_text("copying")
                    time.sleep(600)
                yield frame

    index = Index(url)
    store = index._open(create=True)
    from provcheck.store import NewSource
    source = NewSource("video", "Killed", None, None, None, str(clip), "f" * 64, 4.0, 320, 240)
    store.add_source(source, Stalling(frames))
""")


def test_a_killed_writer_leaves_nothing(pg_url: str, tmp_path: Path) -> None:
    clip = encode_clip(tmp_path / "clip.mp4", pan_frames(seed=21, count=50))
    assert _cli("index", "add", str(encode_clip(tmp_path / "kept.mp4", pan_frames(seed=22, count=25))),
                "--index", pg_url, "-q").returncode == 0
    ready = tmp_path / "ready"
    writer = subprocess.Popen([sys.executable, "-c", _BLOCKING_WRITER, pg_url, str(clip), str(ready)])
    deadline = time.monotonic() + 120
    while not ready.exists() and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), "the writer never reached its COPY"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    with Index(pg_url) as index:
        assert [source.title for source in index.sources()] == ["kept.mp4"]
        report = index.verify_integrity()
        assert report.ok, report.problems
        assert report.frames == index.sources()[0].frame_count


def test_multi_index_hashing_in_sql_equals_brute_force(pg_url: str, tmp_path: Path) -> None:
    """The SQL radius search returns exactly what comparing every stored hash returns."""
    clips = [encode_clip(tmp_path / f"clip{n}.mp4", pan_frames(seed=30 + n, count=40)) for n in range(2)]
    assert _cli("index", "add", *map(str, clips), "--index", pg_url, "--fps", "10", "-q").returncode == 0
    store = open_store(pg_url)
    try:
        rng = np.random.default_rng(5)
        for hasher, radii in (("phash", (0, 3, 7, 12)), ("pdq", (0, 16, 31, 45))):
            table = store.hash_table(hasher)
            assert len(table) >= 30
            for radius in radii:
                for row in rng.choice(len(table), 4, replace=False):
                    bits = np.unpackbits(table.hashes[row])
                    flips = rng.choice(bits.shape[0], radius // 2, replace=False)
                    bits[flips] ^= 1
                    query = np.packbits(bits).tobytes()
                    expected = mih.within_radius(table.hashes, table.frame_ids, query, radius)
                    found = store.frames_within(hasher, query, radius)  # type: ignore[attr-defined]
                    assert found == expected
                    assert (int(table.frame_ids[row]), radius // 2) in found
    finally:
        store.close()


def test_chunk_candidates_are_every_value_within_the_flips() -> None:
    values = mih.chunk_candidates(0b1010_0000_1111_0001, 2)
    assert len(values) == len(set(values)) == 1 + 16 + 120
    assert all(bin(value ^ 0b1010_0000_1111_0001).count("1") <= 2 for value in values)


def test_refusals_are_one_line_errors(pg_url: str, tmp_path: Path) -> None:
    missing = _cli("index", "info", "--index", pg_url)
    assert missing.returncode == ExitCode.INDEX_ERROR and "index not found" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA provcheck")
        conn.execute("CREATE TABLE provcheck.stuff (x int)")
    foreign = _cli("index", "add", str(encode_clip(tmp_path / "c.mp4", pan_frames(seed=2, count=20))),
                   "--index", pg_url, "--json")
    assert foreign.returncode == ExitCode.INDEX_ERROR and "not a provcheck index" in foreign.stderr
    assert valid_document(foreign.stdout)["exit_code"] == ExitCode.INDEX_ERROR
    unreachable = _cli("index", "info", "--index", "postgresql://someone:secret@127.0.0.1:9/nowhere")
    assert unreachable.returncode == ExitCode.INDEX_ERROR and "cannot connect" in unreachable.stderr
    assert "secret" not in unreachable.stderr and "someone@127.0.0.1:9" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1


def test_a_newer_schema_is_refused(pg_url: str, tmp_path: Path) -> None:
    assert _cli("index", "add", str(encode_clip(tmp_path / "c.mp4", pan_frames(seed=4, count=20))),
                "--index", pg_url, "-q").returncode == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE provcheck.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(IndexMismatchError, match="newer"):
        open_store(pg_url)
    with pytest.raises(IndexStoreError):
        Index(pg_url).sources()


def test_password_is_never_shown() -> None:
    assert shown_location("postgresql://ann:pw@db.example.org:5433/archive") == "postgresql://ann@db.example.org:5433/archive"
    assert shown_location("postgresql://ann@db/archive") == "postgresql://ann@db/archive"
    assert shown_location("/tmp/index.sqlite") == "/tmp/index.sqlite"
    assert shown_location("postgresql://ann@db/archive?password=pw&sslmode=require") == (
        "postgresql://ann@db/archive?sslmode=require")
    assert shown_location("postgresql://ann:p%40w@h1:5432,h2:x/archive") == "postgresql://ann@h1:5432,h2:x/archive"
    assert shown_location("postgres://ann:pw@[::1]:5432/archive") == "postgres://ann@[::1]:5432/archive"
    assert json.dumps(Index("postgresql://ann:pw@db/archive").location) == '"postgresql://ann@db/archive"'


def _stored_rows(location: str) -> dict[str, Any]:
    """What a store holds, read through the store interface (backend-neutral): sources less clock readings,
    every frame's hashes, and every frame's features."""
    store = open_store(location)
    try:
        frames = store.frame_hashes()
        features = store.feature_table()
        return {
            "sources": [dataclasses.replace(record, added_at="") for record in store.list_sources()],
            "frames": [frames.frames.frame_ids.tolist(), frames.frames.source_ids.tolist(),
                       frames.frames.frame_numbers.tolist(), np.nan_to_num(frames.frames.times_s, nan=-1).tolist()],
            "hashes": {name: matrix.tobytes() for name, matrix in frames.hashes.items()},
            "features": [(stored.frame_id, stored.features.xy.tobytes(), stored.features.descriptors.tobytes(),
                          stored.static.tobytes()) for stored in features],
        }
    finally:
        store.close()


def _rows_by_file(location: str) -> dict[str, Any]:
    """:func:`_stored_rows` with every id replaced by what it stands for (a source by its file's sha256, a frame
    by its source's and its number): the same files written in another order compare equal."""
    rows = _stored_rows(location)
    files = {record.id: record.sha256 for record in rows["sources"]}
    frame_ids, source_ids, numbers, times = rows["frames"]
    frame_of = {frame_id: (files[source_id], number) for frame_id, source_id, number in
                zip(frame_ids, source_ids, numbers, strict=True)}
    store = open_store(location)
    try:
        hashes = store.frame_hashes().hashes
    finally:
        store.close()
    return {
        "sources": sorted((dataclasses.replace(record, id=0) for record in rows["sources"]), key=lambda r: r.sha256),
        "frames": sorted(zip((frame_of[f] for f in frame_ids), times, strict=True)),
        "hashes": {name: sorted(zip((frame_of[f] for f in frame_ids), map(bytes, matrix), strict=True))
                   for name, matrix in hashes.items()},
        "features": sorted((frame_of[frame_id], *blobs) for frame_id, *blobs in rows["features"]),
    }


def _without_ids(document: Any) -> Any:
    """An `index add --json` document less what differs by backend, and the ids (PostgreSQL through Dask numbers
    sources in the order workers finish)."""
    document = _without_location(document)
    for source in document["added"]:
        source.pop("id")
    return document


def test_dask_ingest_writes_postgresql_as_a_local_ingest_writes_sqlite(pg_url: str, tmp_path: Path) -> None:
    """`index add --dask local --jobs 2` into PostgreSQL stores the rows `--jobs 1` stores in SQLite (workers
    write them, so ids follow the order they finish in: rows are compared by file)."""
    pytest.importorskip("distributed", reason="the Dask ingest needs provcheck[dask]")
    clips = [encode_clip(tmp_path / f"clip{n}.mp4", pan_frames(seed=40 + n, count=30)) for n in range(3)]
    sqlite = str(tmp_path / "index.sqlite")
    local = _cli("index", "add", *map(str, clips), "--index", sqlite, "--jobs", "1", "--json", "-q")
    on_dask = _cli("index", "add", *map(str, clips), "--index", pg_url, "--dask", "local", "--jobs", "2", "--json",
                   "-q")
    assert local.returncode == 0 and on_dask.returncode == 0, on_dask.stderr
    assert _without_ids(valid_document(on_dask.stdout)) == _without_ids(valid_document(local.stdout))
    assert _rows_by_file(pg_url) == _rows_by_file(sqlite)
    assert sorted(source["id"] for source in json.loads(on_dask.stdout)["added"]) == [1, 2, 3]


def test_dask_workers_write_a_database_index_themselves(pg_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Into PostgreSQL, the workers add the files they read whole: this process writes none (its own writer
    is made to fail), yet every file is stored whole, and a file already indexed is skipped unread."""
    distributed = pytest.importorskip("distributed", reason="the Dask ingest needs provcheck[dask]")
    clips = [encode_clip(tmp_path / f"clip{n}.mp4", pan_frames(seed=50 + n, count=30)) for n in range(3)]
    sqlite = tmp_path / "index.sqlite"
    with Index(sqlite) as index:
        index.add_many(clips, jobs=1)

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("the calling process wrote a source the workers should have written")

    monkeypatch.setattr(Index, "_store_source", not_here)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                  silence_logs=50) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        with Index(pg_url) as index:
            outcomes = index.add_many(clips, dask=client)
            again = index.add_many(clips[:1], dask=client)  # already indexed: refused before any worker reads it
    assert [Path(outcome.path).name for outcome in outcomes] == [clip.name for clip in clips]
    assert [type(outcome).__name__ for outcome in again] == ["SkippedFile"]
    assert _rows_by_file(pg_url) == _rows_by_file(str(sqlite))
    with Index(pg_url) as index:
        assert index.verify_integrity().ok


def _thread_cluster() -> Any:
    """A LocalCluster whose one worker is a thread of this process: a test's monkeypatch reaches its tasks."""
    import distributed

    return distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=50)


def test_a_worker_that_fails_after_its_commit_has_its_file_reported_added(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker whose transaction committed but whose answer never came (killed, or the error after the commit):
    the file is in the index whole, so it is reported added, not failed."""
    distributed = pytest.importorskip("distributed", reason="the Dask ingest needs provcheck[dask]")
    from provcheck import dask_pool
    from provcheck.errors import MediaError
    from provcheck.store import SourceRecord

    clip = encode_clip(tmp_path / "clip.mp4", pan_frames(seed=61, count=30))

    def commit_then_fail(location: str) -> Any:
        store = open_store(location)
        real_add = store.add_source

        def add_source(*args: Any, **kwargs: Any) -> Any:
            real_add(*args, **kwargs)
            raise MediaError(f"{clip}: the worker died after writing this file")

        store.add_source = add_source  # type: ignore[method-assign]
        return store

    monkeypatch.setattr(dask_pool, "open_store", commit_then_fail)
    with _thread_cluster() as cluster, distributed.Client(cluster, set_as_default=False) as client:
        with Index(pg_url) as index:
            outcomes = index.add_many([clip], dask=client)
    assert [type(outcome) for outcome in outcomes] == [SourceRecord]
    with Index(pg_url) as index:
        assert [(source.id, source.frame_count) for source in index.sources()] == [
            (outcomes[0].id, outcomes[0].frame_count)] and index.verify_integrity().ok  # type: ignore[union-attr]


def test_replace_twice_in_one_dask_batch_keeps_the_last_file_given(pg_url: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Two copies of one file with --replace: workers would finish in any order, so the second copy waits for the
    first to be written, and the source ends with the last copy's path, as `--jobs 1` leaves it."""
    distributed = pytest.importorskip("distributed", reason="the Dask ingest needs provcheck[dask]")
    from provcheck.store import SourceRecord

    first = encode_clip(tmp_path / "first.mp4", pan_frames(seed=62, count=30))
    second = tmp_path / "second.mp4"
    second.write_bytes(first.read_bytes())
    written_here = []
    store_source = Index._store_source
    monkeypatch.setattr(Index, "_store_source", lambda self, prepared, content: written_here.append(
        prepared.path.name) or store_source(self, prepared, content))
    with _thread_cluster() as cluster, distributed.Client(cluster, set_as_default=False) as client:
        with Index(pg_url) as index:
            outcomes = index.add_many([first, second], dask=client, replace=True)
    assert [type(outcome) for outcome in outcomes] == [SourceRecord, SourceRecord]
    assert written_here == ["second.mp4"]  # the first by a worker, the copy here once the first was written
    with Index(pg_url) as index:
        assert [Path(source.path).name for source in index.sources()] == ["second.mp4"]


def test_a_store_given_with_dask_is_the_one_written(pg_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`Index(store=...)`: workers write into the store given, not into $PROVCHECK_INDEX's database."""
    distributed = pytest.importorskip("distributed", reason="the Dask ingest needs provcheck[dask]")
    other = f"{pg_url}_env"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {other.rpartition('/')[2]}")
    try:
        open_store(other, create=True).close()  # an index of its own, which workers could write into
        monkeypatch.setenv("PROVCHECK_INDEX", other)
        clip = encode_clip(tmp_path / "clip.mp4", pan_frames(seed=63, count=30))
        with _thread_cluster() as cluster, distributed.Client(cluster, set_as_default=False) as client:
            with Index(store=open_store(pg_url, create=True)) as index:
                index.add_many([clip], dask=client)
        with Index(pg_url) as index:
            assert [Path(source.path).name for source in index.sources()] == ["clip.mp4"]
        with Index(other) as index:
            assert index.sources() == []
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {other.rpartition('/')[2]} WITH (FORCE)")


def test_a_worker_that_cannot_reach_the_database_returns_the_fingerprints(tmp_path: Path) -> None:
    """The worker's task reads the file, then hands the fingerprints back when the database refuses it."""
    pytest.importorskip("distributed", reason="the Dask ingest needs provcheck[dask]")
    from provcheck.dask_pool import _add_on_worker, _stamp
    from provcheck.ingest import Prepared, SourceContent, SourceDetails
    from provcheck.store import SourceRecord

    clip = encode_clip(tmp_path / "clip.mp4", pan_frames(seed=60, count=20))
    prepared = Prepared(path=clip, kind="video", digest="0" * 64, downloaded=False,
                        details=SourceDetails(title=None, url=None, published=None, notes=None, fps=2.0, replace=False))
    refused = _add_on_worker(_stamp(), "postgresql://provcheck@127.0.0.1:1/nowhere", prepared)
    assert isinstance(refused, SourceContent) and not isinstance(refused, SourceRecord) and len(refused.frames) > 1


def test_the_index_variable_may_name_a_database(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$PROVCHECK_INDEX holding a URL reaches the store as written (a path would collapse its '//')."""
    clip = encode_clip(tmp_path / "clip.mp4", pan_frames(seed=5, count=20))
    monkeypatch.setenv("PROVCHECK_INDEX", pg_url)
    added = _cli("index", "add", str(clip), "--json", "-q")
    assert added.returncode == 0, added.stderr
    assert valid_document(added.stdout)["index"] == shown_location(pg_url)
    with Index() as index:
        assert index.path is None and index.location == shown_location(pg_url)
        assert [source.title for source in index.sources()] == ["clip.mp4"]


def test_a_lost_connection_is_an_index_error_and_the_page_reconnects(pg_url: str, tmp_path: Path) -> None:
    from provcheck.serve import _CurrentIndex

    clip = encode_clip(tmp_path / "clip.mp4", pan_frames(seed=6, count=20))
    assert _cli("index", "add", str(clip), "--index", pg_url, "-q").returncode == 0
    current = _CurrentIndex(pg_url)
    index = current.get()
    assert len(index.sources()) == 1
    database = pg_url.rpartition("/")[2]
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
    with pytest.raises(IndexStoreError) as raised:
        index.info()
    assert "\n" not in str(raised.value) and shown_location(pg_url) in str(raised.value)
    reopened = current.get()
    try:
        assert reopened is not index and len(reopened.sources()) == 1  # opened again
    finally:
        reopened.close()


def test_a_role_without_rights_gets_a_one_line_index_error(pg_url: str, tmp_path: Path) -> None:
    clip = encode_clip(tmp_path / "clip.mp4", pan_frames(seed=7, count=20))
    assert _cli("index", "add", str(clip), "--index", pg_url, "-q").returncode == 0
    role = f"stranger_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        base = pg_url.rpartition("@")[2]
        refused = _cli("index", "info", "--index", f"postgresql://{role}@{base}", "--json")
        assert refused.returncode == ExitCode.INDEX_ERROR, refused.stderr
        assert "cannot open the index" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        assert valid_document(refused.stdout)["exit_code"] == ExitCode.INDEX_ERROR
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")


def test_writers_retraining_and_sealing_at_once_keep_the_shortlist_whole(pg_url: str, tmp_path: Path) -> None:
    """On a trained index, three writers, a retraining and a rewrite of the word lists started together (how they
    interleave is up to the machine): the result checks clean, every frame's postings present, made with the
    stored vocabulary, and the sealed ones in the lists."""
    first = [encode_clip(tmp_path / f"base{n}.mp4", pan_frames(seed=60 + n, count=25)) for n in range(2)]
    assert _cli("index", "add", *map(str, first), "--index", pg_url, "-q").returncode == 0
    assert _cli("index", "train", "--index", pg_url, "-q").returncode == 0
    sealer = "from provcheck import Index; import sys; Index(sys.argv[1])._open().write_word_file()"
    assert subprocess.run([sys.executable, "-c", sealer, pg_url], timeout=300).returncode == 0
    clips = [encode_clip(tmp_path / f"clip{n}.mp4", pan_frames(seed=70 + n, count=25)) for n in range(3)]
    commands = [[sys.executable, "-m", "provcheck", "index", "add", str(clip), "--index", pg_url, "-q", "--jobs", "1"]
                for clip in clips]
    commands += [[sys.executable, "-m", "provcheck", "index", "train", "--index", pg_url, "-q"],
                 [sys.executable, "-c", sealer, pg_url]]
    running = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for command in commands]
    errors = [process.communicate(timeout=300)[1] for process in running]
    assert all(process.returncode == 0 for process in running), errors
    with Index(pg_url) as index:
        assert len(index.sources()) == 5
        report = index.verify_integrity()
        assert report.ok, report.problems
        info = index.info()
        assert info.shortlist_words > 0 and info.shortlist_postings > 0


def test_a_sqlite_index_migrates_into_postgresql_and_answers_the_same(
        pg_url: str, quick_corpus: tuple[list[Path], list[Path]], tmp_path: Path) -> None:
    """`index migrate` of a compacted, sealed SQLite index (then more adds): the same ids, a clean check and the
    same answers, without indexing anything again; a second migration into it is refused, the file untouched."""
    sources, claims = quick_corpus
    sqlite = str(tmp_path / "index.sqlite")
    assert _cli("index", "add", *map(str, sources[:5]), "--index", sqlite, "-q").returncode == 0
    assert _cli("index", "compact", "--index", sqlite, "-q").returncode == 0
    assert _cli("index", "add", *map(str, sources[5:8]), "--index", sqlite, "-q").returncode == 0
    before = Path(sqlite).read_bytes()
    migrated = _cli("index", "migrate", "--index", sqlite, "--to", pg_url, "--json")
    assert migrated.returncode == 0, migrated.stderr
    document = valid_document(migrated.stdout)
    assert document["rows"]["sources"] == 8 and document["word_list_postings"] > 0
    assert _cli("index", "check", "--index", pg_url).returncode == 0
    listed = [_without_location(valid_document(_cli("index", "list", "--index", index, "--json").stdout))
              for index in (sqlite, pg_url)]
    assert listed[0] == listed[1]
    answers = [_without_location(valid_document(_cli("match", *map(str, claims[1::2]), "--index", index, "--json",
                                                     "-q").stdout)) for index in (sqlite, pg_url)]
    assert answers[0] == answers[1]
    again = _cli("index", "migrate", "--index", sqlite, "--to", pg_url)
    assert again.returncode == ExitCode.INDEX_ERROR and "already holds 8 sources" in again.stderr
    assert Path(sqlite).read_bytes() == before
    missing = _cli("index", "migrate", "--index", str(tmp_path / "none.sqlite"), "--to", pg_url)
    assert missing.returncode == ExitCode.INDEX_ERROR and "index not found" in missing.stderr
    wrong = _cli("index", "migrate", "--index", sqlite, "--to", str(tmp_path / "other.sqlite"))
    assert wrong.returncode == ExitCode.USAGE
