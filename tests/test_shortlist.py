"""The persisted shortlist: visual words, the inverted file against its brute-force twin, the stored postings."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import copy_index, texture
from numpy.typing import NDArray
from PIL import Image

from provcheck import Index, Verdict, shortlist_upkeep, synth
from provcheck.cli import cli
from provcheck.errors import IndexStoreError
from provcheck.features import INDEX_KEYPOINTS, INDEX_MAX_SIDE, extract
from provcheck.match import MatchSettings
from provcheck.search import DescriptorIndex
from provcheck.shortlist.inverted import InvertedFile, brute_force_votes
from provcheck.shortlist.ondisk import WordFile, WordFileHeader, word_file_path, write_word_file
from provcheck.shortlist.words import MAX_SPLIT, Postings, Vocabulary, split_for
from provcheck.store import SCHEMA_VERSION, SQLiteStore, shortlist_tables

EXACT = MatchSettings(shortlist_search="exact")


@pytest.fixture(scope="module")
def photos() -> list[NDArray[np.uint8]]:
    """Six unrelated synthetic press photos."""
    return [synth.press_photo(np.random.default_rng(400 + n), 720, 480) for n in range(6)]


@pytest.fixture(scope="module")
def stored_descriptors(photos: list[NDArray[np.uint8]]) -> dict[int, NDArray[np.uint8]]:
    return {row: extract(pixels, max_side=INDEX_MAX_SIDE, wanted=INDEX_KEYPOINTS).descriptors
            for row, pixels in enumerate(photos)}


@pytest.fixture(scope="module")
def vocabulary(stored_descriptors: dict[int, NDArray[np.uint8]]) -> Vocabulary:
    return Vocabulary.train(np.concatenate(list(stored_descriptors.values())))


def crop_claim(pixels: NDArray[np.uint8], share: float = 0.2) -> NDArray[np.uint8]:
    height, width = pixels.shape[:2]
    side = np.sqrt(share)
    top, left = int(height * 0.3), int(width * 0.4)
    return np.ascontiguousarray(pixels[top:top + int(height * side), left:left + int(width * side)])


def test_vocabulary_size_follows_the_training_sample() -> None:
    assert split_for(100) == 4
    assert split_for(16 * 64 * 64) == 64
    assert split_for(10 ** 9) == MAX_SPLIT
    sizes = [split_for(n) for n in (10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6, 10 ** 7)]
    assert sizes == sorted(sizes) and all(size & (size - 1) == 0 for size in sizes)


def test_vocabulary_round_trips_and_assigns_deterministically(vocabulary: Vocabulary,
                                                              stored_descriptors: dict[int, NDArray[np.uint8]]) -> None:
    descriptors = stored_descriptors[0]
    words, signatures = vocabulary.assign(descriptors)
    assert words.shape == signatures.shape == (descriptors.shape[0],)
    assert int(words.max()) < vocabulary.size
    again = Vocabulary.from_bytes(vocabulary.to_bytes())
    assert again.size == vocabulary.size and again.training_descriptors == vocabulary.training_descriptors
    words_again, signatures_again = again.assign(descriptors)
    np.testing.assert_array_equal(words, words_again)
    np.testing.assert_array_equal(signatures, signatures_again)
    # signature bits are balanced (residual signs), not all set or all clear
    bits = np.unpackbits(signatures.view(np.uint8)).mean()
    assert 0.3 < bits < 0.7
    # a slightly perturbed descriptor keeps its word far more often than chance and stays close in Hamming
    noisy = np.clip(descriptors.astype(np.int16) + np.random.default_rng(1).integers(-2, 3, descriptors.shape),
                    0, 255).astype(np.uint8)
    noisy_words, noisy_signatures = vocabulary.assign(noisy)
    same = noisy_words == words
    assert same.mean() > 0.6
    distance = np.bitwise_count(noisy_signatures[same] ^ signatures[same])
    assert np.median(distance) <= 8


def test_inverted_file_votes_equal_the_brute_force_twin(vocabulary: Vocabulary, photos: list[NDArray[np.uint8]],
                                                         stored_descriptors: dict[int, NDArray[np.uint8]]) -> None:
    frame_ids = np.array([100 + 7 * row for row in stored_descriptors])  # ids need not be rows
    postings = [Postings(int(frame_ids[row]), *vocabulary.assign(descriptors))
                for row, descriptors in stored_descriptors.items()]
    inverted = InvertedFile(vocabulary, postings, frame_ids)
    assert len(inverted) == sum(d.shape[0] for d in stored_descriptors.values())
    claim = extract(crop_claim(photos[3]), max_side=1024, wanted=1500, min_side=720).descriptors
    votes = inverted.votes(claim)
    reference = brute_force_votes(vocabulary, stored_descriptors, claim, len(stored_descriptors))
    np.testing.assert_allclose(votes, reference, rtol=1e-9, atol=1e-9)
    assert int(np.argmax(votes)) == 3
    assert votes[3] > 2 * np.delete(votes, 3).max()  # 256 words only: chance votes are many
    # the exact search (FAISS over every descriptor) ranks the same frame first
    exact = DescriptorIndex(np.concatenate(list(stored_descriptors.values())),
                            np.concatenate([np.full(d.shape[0], row) for row, d in stored_descriptors.items()]),
                            len(stored_descriptors))
    assert int(np.argmax(exact.votes(claim))) == 3


def test_frames_unknown_to_the_table_do_not_vote(vocabulary: Vocabulary,
                                                 stored_descriptors: dict[int, NDArray[np.uint8]]) -> None:
    postings = [Postings(row, *vocabulary.assign(d)) for row, d in stored_descriptors.items()]
    inverted = InvertedFile(vocabulary, postings, np.array([0, 1]))
    assert len(inverted) == stored_descriptors[0].shape[0] + stored_descriptors[1].shape[0]
    assert inverted.votes(stored_descriptors[4]).shape == (2,)


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory: pytest.TempPathFactory, photos: list[NDArray[np.uint8]]) -> list[Path]:
    folder = tmp_path_factory.mktemp("shortlist-photos")
    paths = []
    for number, pixels in enumerate(photos):
        paths.append(folder / f"photo_{number}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def trained_index(tmp_path_factory: pytest.TempPathFactory, photo_files: list[Path], pan_clip: Path) -> Path:
    """Five photos and a clip, added untrained and then trained explicitly."""
    path = tmp_path_factory.mktemp("trained") / "index.sqlite"
    with pytest.MonkeyPatch.context() as patch, Index(path) as index:
        patch.setattr(shortlist_upkeep, "TRAIN_AT", 10**9)  # built untrained: the fixture trains it explicitly
        for photo in photo_files[:5]:
            index.add(photo)
        index.add(pan_clip)
        assert index._open().shortlist_vocabulary() is None
        vocabulary = index.train_shortlist()
        assert vocabulary.training_descriptors > 1000
    return path


def stored_counts(path: Path) -> tuple[int, int, int, int]:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT (SELECT count(*) FROM features), (SELECT count(*) FROM postings),"
                           " (SELECT sum(keypoints) FROM postings), (SELECT count(*) FROM vocabulary)").fetchone()
        return int(row[0]), int(row[1]), int(row[2] or 0), int(row[3])
    finally:
        conn.close()


def test_training_quantises_every_stored_frame_and_check_agrees(trained_index: Path) -> None:
    features, postings, keypoints, vocabularies = stored_counts(trained_index)
    assert features == postings > 0 and vocabularies == 1 and keypoints > 0
    store = SQLiteStore(trained_index)
    try:
        assert store.check().ok, store.check().problems
        usable = sum(int(np.count_nonzero(~stored.static)) for stored in store.feature_table())
        assert usable == keypoints  # static overlay keypoints never get postings
    finally:
        store.close()


@pytest.mark.parametrize("claim_kind", ["crop", "whole", "mirrored crop"])
def test_inverted_and_exact_search_give_the_same_answer(trained_index: Path, photos: list[NDArray[np.uint8]],
                                                        claim_kind: str) -> None:
    pixels = photos[2]
    claim = {"crop": crop_claim(pixels, 0.15), "whole": pixels,
             "mirrored crop": np.ascontiguousarray(crop_claim(pixels, 0.3)[:, ::-1])}[claim_kind]
    with Index(trained_index) as fast, Index(trained_index, settings=EXACT) as exact:
        found, reference = fast.match(claim), exact.match(claim)
    assert [m.source.id for m in found] == [m.source.id for m in reference]
    assert found and found[0].verdict is Verdict.MATCH and found[0].source.title == "photo_2.png"
    assert found[0].derivation.mirrored == (claim_kind == "mirrored crop")
    assert found[0].derivation.crop == reference[0].derivation.crop


def test_unrelated_claim_stays_unmatched_with_the_inverted_file(trained_index: Path,
                                                                photos: list[NDArray[np.uint8]]) -> None:
    with Index(trained_index) as index:
        assert index.match(photos[5]) == []  # photo 5 was never indexed
        assert index.match(texture(901, 480, 720)) == []


def test_adds_and_removes_after_training_keep_postings_with_their_frames(tmp_path: Path, trained_index: Path,
                                                                         photo_files: list[Path]) -> None:
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    with Index(path) as index:
        before = stored_counts(path)
        added = index.add(photo_files[5])
        after = stored_counts(path)
        assert after[0] == after[1] == before[0] + added.frame_count
        assert index.match(crop_claim(np.asarray(Image.open(photo_files[5]).convert("RGB")), 0.15))[0].source.id \
            == added.id
        index.remove(added.id)
        assert stored_counts(path)[:2] == before[:2]
        assert index.verify_integrity().ok


def test_check_finds_postings_that_disagree(tmp_path: Path, trained_index: Path) -> None:
    path = copy_index(trained_index, tmp_path / "damaged.sqlite")
    target = sqlite3.connect(path)
    target.execute("DELETE FROM postings WHERE frame_id = (SELECT min(frame_id) FROM postings)")
    target.execute("UPDATE postings SET keypoints = keypoints + 1 WHERE frame_id = (SELECT max(frame_id) FROM postings)")
    target.commit()
    target.close()
    result = CliRunner().invoke(cli, ["index", "check", "--index", str(path)])
    assert result.exit_code == 3
    assert "no shortlist postings" in result.stdout and "disagree" in result.stdout


def test_index_train_command(tmp_path: Path, photo_files: list[Path]) -> None:
    path = tmp_path / "index.sqlite"
    runner = CliRunner()
    assert runner.invoke(cli, ["index", "add", str(photo_files[0]), str(photo_files[1]), "--index", str(path)]
                         ).exit_code == 0
    result = runner.invoke(cli, ["index", "train", "--index", str(path), "--json"])
    assert result.exit_code == 0, result.stderr


    document = json.loads(result.stdout)
    assert document["shortlist"]["words"] >= 16 and document["shortlist"]["training_descriptors"] > 256
    assert stored_counts(path)[1] == 2
    info = json.loads(runner.invoke(cli, ["index", "info", "--index", str(path), "--json"]).stdout)["shortlist"]
    assert info["words"] == document["shortlist"]["words"]
    assert info["postings"] == stored_counts(path)[2] and info["word_file_postings"] == 0  # too few for a file


def test_training_an_index_without_features_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    SQLiteStore(path, create=True).close()
    with Index(path) as index, pytest.raises(IndexStoreError, match="too few to train"):
        index.train_shortlist()
    result = CliRunner().invoke(cli, ["index", "train", "--index", str(path)])
    assert result.exit_code == 3 and "too few to train" in result.stderr and "Traceback" not in result.stderr


def test_word_file_with_newer_postings_in_memory_votes_as_all_in_memory(
        tmp_path: Path, vocabulary: Vocabulary, photos: list[NDArray[np.uint8]],
        stored_descriptors: dict[int, NDArray[np.uint8]]) -> None:
    postings = [Postings(10 + row, *vocabulary.assign(d)) for row, d in stored_descriptors.items()]
    frame_ids = np.array([p.frame_id for p in postings])
    path = tmp_path / "index.sqlite.words"
    header = write_word_file(path, lambda total: WordFileHeader(3, vocabulary.size, 41, total),
                             lambda: iter(postings[:4]), vocabulary.size)
    assert header.postings == sum(p.words.shape[0] for p in postings[:4])
    assert path.stat().st_size == header.file_size()
    assert WordFile.open(path, generation=4, words=vocabulary.size) is None  # another vocabulary: ignored
    word_file = WordFile.open(path, generation=3, words=vocabulary.size)
    assert word_file is not None and word_file.header.covered_seq == 41
    # frames 0-3 on disk, 4-5 newer (in memory), and frame 1 rewritten since (its newer copy is what counts)
    rewritten = Postings(postings[1].frame_id, *vocabulary.assign(stored_descriptors[5]))
    mixed = InvertedFile(vocabulary, [rewritten, *postings[4:]], frame_ids, word_file)
    reference = InvertedFile(vocabulary, [postings[0], rewritten, *postings[2:]], frame_ids)
    claim = extract(crop_claim(photos[3]), max_side=1024, wanted=1500, min_side=720).descriptors
    mixed_votes, reference_votes = mixed.votes(claim), reference.votes(claim)
    # the idf of the mixed index also counts the rewritten frame's old postings: compare the ranking and the
    # votes of the frames whose postings are in both, not the weights' last digits
    assert int(np.argmax(mixed_votes)) == int(np.argmax(reference_votes)) == 3
    np.testing.assert_allclose(mixed_votes, reference_votes, rtol=0.05)
    # a removed frame (id no longer in the frame table) gets no votes and breaks nothing
    fewer = InvertedFile(vocabulary, postings[4:], np.delete(frame_ids, 3), word_file)
    assert fewer.votes(claim).shape == (5,)
    word_file.close()


def test_damaged_word_file_is_ignored(tmp_path: Path, vocabulary: Vocabulary,
                                      stored_descriptors: dict[int, NDArray[np.uint8]]) -> None:
    postings = [Postings(row, *vocabulary.assign(d)) for row, d in stored_descriptors.items()]
    path = tmp_path / "w.words"
    write_word_file(path, lambda total: WordFileHeader(1, vocabulary.size, 1, total), lambda: iter(postings),
                    vocabulary.size)
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])
    assert WordFile.open(path, 1, vocabulary.size) is None
    path.write_bytes(b"garbage" + whole[7:])
    assert WordFile.open(path, 1, vocabulary.size) is None
    assert WordFile.open(tmp_path / "missing.words", 1, vocabulary.size) is None


def test_postings_after_a_sequence_number_equal_the_simple_query(tmp_path: Path, trained_index: Path,
                                                                 photo_files: list[Path]) -> None:
    """iter_postings starts at the first newer frame (found in the seq index) and yields what one query returns."""
    path = tmp_path / "copy.sqlite"
    source, target = sqlite3.connect(trained_index), sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    with Index(path) as index:
        index.add(photo_files[5])  # a newer sequence number, at the end of the frame ids
    conn = sqlite3.connect(path)
    try:
        middle = conn.execute("SELECT frame_id FROM postings ORDER BY frame_id LIMIT 1 OFFSET 3").fetchone()[0]
        conn.execute("UPDATE postings SET seq = (SELECT max(seq) FROM postings) + 1 WHERE frame_id = ?", (middle,))
        conn.commit()  # a newer row in the middle too: rows after the first newer one are still checked
        plan = " ".join(str(row[3]) for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT frame_id FROM postings WHERE seq > ? ORDER BY frame_id LIMIT 1", (0,)))
        assert "COVERING INDEX postings_by_seq" in plan
        sequences = [int(row[0]) for row in conn.execute("SELECT DISTINCT seq FROM postings ORDER BY seq")]
        assert len(sequences) >= 3
        for after in [0, *sequences]:
            for batch in (1, 2, 2_000):
                fast = list(shortlist_tables.iter_postings(conn, after, batch=batch))
                simple = shortlist_tables.all_postings_after(conn, after)
                assert [p.frame_id for p in fast] == [p.frame_id for p in simple], (after, batch)
                for mine, reference in zip(fast, simple, strict=True):
                    np.testing.assert_array_equal(mine.words, reference.words)
                    np.testing.assert_array_equal(mine.signatures, reference.signatures)
        assert shortlist_tables.all_postings_after(conn, sequences[-1]) == []
        assert len(shortlist_tables.all_postings_after(conn, sequences[-2])) == 1
    finally:
        conn.close()


def test_word_file_beside_the_index_serves_matches_and_newer_adds(tmp_path: Path, trained_index: Path,
                                                                  photos: list[NDArray[np.uint8]],
                                                                  photo_files: list[Path]) -> None:
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    store = SQLiteStore(path)
    header = store.write_word_file()
    assert header is not None and header.postings == stored_counts(path)[2]
    assert store.word_file() is not None
    store.close()
    with Index(path) as index:
        added = index.add(photo_files[5])  # newer than the word file: read from SQLite into memory
        for number, expected in ((2, "photo_2.png"), (5, "photo_5.png")):
            found = index.match(crop_claim(photos[number], 0.15))
            assert found and found[0].source.title == expected and found[0].verdict is Verdict.MATCH
        index.remove(added.id)
        assert index.match(crop_claim(photos[5], 0.15)) == []
        assert index.verify_integrity().ok


def test_a_schema_2_index_is_migrated_and_then_trains(tmp_path: Path, photo_files: list[Path]) -> None:
    path = tmp_path / "old.sqlite"
    with Index(path) as index:
        index.add(photo_files[0])
    conn = sqlite3.connect(path)  # as provcheck 0.2 left it: no shortlist tables
    conn.executescript("DROP TABLE postings; DROP TABLE vocabulary;"
                       " UPDATE meta SET value = '2' WHERE key = 'schema_version';")
    conn.close()
    with Index(path) as index:
        assert index.info().schema_version == SCHEMA_VERSION and index.info().shortlist_words == 0
        assert index.match(crop_claim(photos_of(photo_files[0]), 0.3))[0].verdict is Verdict.MATCH  # exact search
        index.train_shortlist()
        assert index.verify_integrity().ok
        assert index.match(crop_claim(photos_of(photo_files[0]), 0.3))[0].verdict is Verdict.MATCH


def photos_of(path: Path) -> NDArray[np.uint8]:
    return np.asarray(Image.open(path).convert("RGB"))


def test_index_add_trains_past_the_threshold_and_retrains_as_the_index_grows(
        tmp_path: Path, photo_files: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # the real thresholds need ~100 frames; scaled down so that stills of 3,000 keypoints cross them
    monkeypatch.setattr(shortlist_upkeep, "TRAIN_AT", 5_000)
    monkeypatch.setattr(shortlist_upkeep, "RETRAIN_GROWTH", 2)
    path = tmp_path / "index.sqlite"
    with Index(path) as index:
        index.add(photo_files[0])
        assert index.info().shortlist_words == 0
        index.add(photo_files[1])
        first = index.info()
        assert first.shortlist_words > 0 and first.shortlist_training_descriptors == first.shortlist_postings
        index.add_many(photo_files[2:4], jobs=1)
        second = index.info()
        assert second.shortlist_training_descriptors == second.shortlist_postings > 2 * first.shortlist_postings - 1
        assert index.verify_integrity().ok
        assert index.match(crop_claim(photos_of(photo_files[3]), 0.2))[0].source.title == "photo_3.png"


def test_index_add_says_on_stderr_when_it_trains_the_shortlist(
        tmp_path: Path, photo_files: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # training takes minutes on a large index: a silent pause after the last file looks like a hang
    monkeypatch.setattr(shortlist_upkeep, "TRAIN_AT", 5_000)
    said = []
    for name, quiet in (("loud", []), ("quiet", ["--quiet"])):
        result = CliRunner().invoke(cli, ["index", "add", str(photo_files[0]), str(photo_files[1]), "--jobs", "1",
                                          "--index", str(tmp_path / f"{name}.sqlite"), *quiet])
        assert result.exit_code == 0, result.stderr
        assert Index(tmp_path / f"{name}.sqlite").info().shortlist_words > 0
        said.append(result.stderr)
    assert "provcheck: training the crop-proof shortlist" in said[0]
    assert "training" not in said[1]


def test_a_word_file_that_cannot_be_written_is_not_an_error(tmp_path: Path, trained_index: Path,
                                                             photos: list[NDArray[np.uint8]],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    word_file_path(path).mkdir()  # a folder where the file should go: os.replace cannot put it there
    monkeypatch.setattr(shortlist_upkeep, "WORD_FILE_NEWER_MAX", 0)  # ask for a word file at once
    store = SQLiteStore(path)
    try:
        assert shortlist_upkeep.needs_word_file(store)
        assert shortlist_upkeep.keep_word_file(store) is False
        assert store.word_file() is None
    finally:
        store.close()
    with Index(path) as index:
        assert index.match(crop_claim(photos[2], 0.15))[0].source.title == "photo_2.png"


def _answers(path: Path, claims: list[NDArray[np.uint8]]) -> list[list[tuple[int, str, object]]]:
    with Index(path) as index:
        return [[(m.source.id, m.verdict.value, m.derivation.crop) for m in index.match(claim)] for claim in claims]


def _grouped(postings: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int], list[int]]:
    """(word, frame id, signature) triples as (word, frame id) -> sorted signatures."""
    found: dict[tuple[int, int], list[int]] = {}
    for word, frame_id, signature in postings:
        found.setdefault((word, frame_id), []).append(signature)
    return {key: sorted(value) for key, value in found.items()}


def _file_postings(path: Path) -> dict[tuple[int, int], list[int]]:
    """(word, frame id) -> sorted signatures, read from the word file beside the index."""
    store = SQLiteStore(path)
    try:
        word_file = store.word_file()
        assert word_file is not None
        triples = [(word, frame_id, signature) for word in range(word_file.header.words)
                   for frame_id, signature in zip(*(part.tolist() for part in word_file.read(word)), strict=True)]
        word_file.close()
        return _grouped(triples)
    finally:
        store.close()


def _quantised_again(path: Path) -> dict[tuple[int, int], list[int]]:
    """The same, brute force: every stored frame's usable descriptors quantised again with the stored vocabulary."""
    store = SQLiteStore(path)
    try:
        vocabulary = store.shortlist_vocabulary()
        assert vocabulary is not None
        triples = []
        for stored in store.feature_table():
            words, signatures = vocabulary.assign(stored.features.descriptors[~stored.static])
            triples += [(word, stored.frame_id, signature)
                        for word, signature in zip(words.tolist(), signatures.tolist(), strict=True)]
        return _grouped(triples)
    finally:
        store.close()


def _sealed_blob_bytes(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT coalesce(sum(length(words) + length(signatures)), 0) FROM postings")
                   .fetchone()[0])
    finally:
        conn.close()


def test_writing_the_word_file_moves_the_postings_out_of_the_index(tmp_path: Path, trained_index: Path,
                                                                   photos: list[NDArray[np.uint8]]) -> None:
    # postings are stored once: the rows the file covers keep only their keypoint counts
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    claims = [crop_claim(photos[2], 0.15), crop_claim(photos[4], 0.3), photos[5]]
    before = _answers(path, claims)
    assert _sealed_blob_bytes(path) > 0
    store = SQLiteStore(path)
    try:
        header = store.write_word_file()
        assert header is not None and header.postings == stored_counts(path)[2]
        assert store.unsealed_postings() == 0 and store.check().ok, store.check().problems
    finally:
        store.close()
    assert _sealed_blob_bytes(path) == 0
    assert _file_postings(path) == _quantised_again(path)
    assert _answers(path, claims) == before
    assert before[0][0][1] == "match" and before[2] == []


def test_rewriting_the_word_file_carries_over_current_postings_only(tmp_path: Path, trained_index: Path,
                                                                    photo_files: list[Path],
                                                                    photos: list[NDArray[np.uint8]]) -> None:
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    with Index(path) as index:
        index._open().write_word_file()
        added = index.add(photo_files[5])  # newer than the file: a full row
        removed = next(s for s in index.sources() if s.title == "photo_0.png")
        index.remove(removed.id)  # its postings stay in the file until the next rewrite
        assert 0 < index._open().unsealed_postings() <= 3_000 * added.frame_count  # the added still's keypoints
        assert index._open().write_word_file() is not None
        assert index._open().unsealed_postings() == 0 and index.verify_integrity().ok
        assert index.match(crop_claim(photos[5], 0.15))[0].source.id == added.id
        assert index.match(crop_claim(photos[2], 0.15))[0].source.title == "photo_2.png"
        assert index.match(crop_claim(photos[0], 0.15)) == []
    postings = _file_postings(path)
    assert postings == _quantised_again(path)  # the removed frame's postings are gone, the added one's are in


def test_a_lost_word_file_is_a_one_line_error_that_index_train_repairs(tmp_path: Path, trained_index: Path,
                                                                       photos: list[NDArray[np.uint8]]) -> None:
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    store = SQLiteStore(path)
    assert store.write_word_file() is not None
    store.close()
    word_file_path(path).unlink()
    claim = tmp_path / "claim.png"
    Image.fromarray(crop_claim(photos[2], 0.15)).save(claim)
    with Index(path) as index, pytest.raises(IndexStoreError, match="word file is missing or damaged"):
        index.match(claim)
    runner = CliRunner()
    result = runner.invoke(cli, ["match", str(claim), "--index", str(path), "--jobs", "1"])
    assert result.exit_code == 3 and str(word_file_path(path)) in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    checked = runner.invoke(cli, ["index", "check", "--index", str(path)])
    assert checked.exit_code == 3 and "missing or damaged" in checked.stdout
    assert runner.invoke(cli, ["index", "train", "--index", str(path)]).exit_code == 0
    assert runner.invoke(cli, ["index", "check", "--index", str(path)]).exit_code == 0
    with Index(path) as index:
        assert index.match(claim)[0].source.title == "photo_2.png"


def test_a_damaged_word_file_is_found_by_index_check(tmp_path: Path, trained_index: Path) -> None:
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    store = SQLiteStore(path)
    header = store.write_word_file()
    assert header is not None
    store.close()
    words = word_file_path(path)
    blob = bytearray(words.read_bytes())
    ids_start = 4096 + 8 * (header.words + 1)
    blob[ids_start:ids_start + 400] = bytes(400)  # 100 postings now name frame id 0
    words.write_bytes(bytes(blob))
    result = CliRunner().invoke(cli, ["index", "check", "--index", str(path)])
    assert result.exit_code == 3 and "word file disagrees" in result.stdout


def test_interrupted_after_the_rename_the_index_keeps_every_posting(tmp_path: Path, trained_index: Path,
                                                                    photos: list[NDArray[np.uint8]],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # the new file is in place but the rows are not sealed yet: both hold the postings
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    claims = [crop_claim(photos[2], 0.15), crop_claim(photos[3], 0.3)]
    before = _answers(path, claims)
    from provcheck.store import shortlist_tables

    def crash(*_: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(shortlist_tables, "seal", crash)
    store = SQLiteStore(path)
    with pytest.raises(IndexStoreError, match="cannot write"):
        store.write_word_file()
    assert store.word_file() is not None and store.unsealed_postings() == stored_counts(path)[2]
    assert store.check().ok, store.check().problems
    store.close()
    assert _answers(path, claims) == before
    monkeypatch.undo()
    store = SQLiteStore(path)
    assert store.write_word_file() is not None and store.unsealed_postings() == 0
    store.close()
    assert _answers(path, claims) == before


def test_a_word_file_replaced_meanwhile_is_kept(tmp_path: Path, trained_index: Path, photo_files: list[Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # two writers: the one that built from a file replaced since must not rename its own over it
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    first = SQLiteStore(path)
    assert first.write_word_file() is not None
    build = SQLiteStore._build_word_file

    def build_then_other_writer(self: SQLiteStore, aside: Path) -> object:
        built = build(self, aside)
        if self is first:
            with Index(path) as other:
                other.add(photo_files[5])
                assert other._open().write_word_file() is not None
        return built

    monkeypatch.setattr(SQLiteStore, "_build_word_file", build_then_other_writer)
    assert first.write_word_file() is None
    monkeypatch.undo()
    assert first.check().ok and first.unsealed_postings() == 0
    first.close()
    assert _file_postings(path) == _quantised_again(path)


def test_the_word_file_is_rewritten_once_removed_frames_fill_it(tmp_path: Path, trained_index: Path,
                                                                photos: list[NDArray[np.uint8]],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # a removed frame's postings stay in the file, read and skipped by every claim, until it is rewritten
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    monkeypatch.setattr(shortlist_upkeep, "WORD_FILE_NEWER_MAX", 0)
    with Index(path) as index:
        store = index._open()
        assert store.write_word_file() is not None and not shortlist_upkeep.needs_word_file(store)
        index.remove(next(s for s in index.sources() if s.title == "photo_0.png").id)
        assert not shortlist_upkeep.needs_word_file(store)  # one still of six sources: under a quarter
        for title in ("photo_1.png", "photo_3.png"):
            index.remove(next(s for s in index.sources() if s.title == title).id)
        word_file = store.word_file()
        assert word_file is not None and word_file.header.postings > store.postings_count(0)
        word_file.close()
        assert shortlist_upkeep.needs_word_file(store) and shortlist_upkeep.keep_word_file(store)
        word_file = store.word_file()
        assert word_file is not None and word_file.header.postings == store.postings_count(0)
        word_file.close()
        assert index.verify_integrity().ok
        assert index.match(crop_claim(photos[2], 0.15))[0].source.title == "photo_2.png"
        assert index.match(crop_claim(photos[1], 0.15)) == []
    assert _file_postings(path) == _quantised_again(path)


def test_a_word_file_left_half_built_by_a_killed_writer_is_removed(tmp_path: Path, trained_index: Path) -> None:
    path = copy_index(trained_index, tmp_path / "copy.sqlite")
    words = word_file_path(path)
    dead_pid = 2**22 + 12345  # above Linux's largest pid: no such process
    abandoned = words.with_name(f"{words.name}.tmp{dead_pid}")
    abandoned.write_bytes(b"half a word file")
    running = words.with_name(f"{words.name}.tmp{os.getppid()}")  # a live process's: still being written
    running.write_bytes(b"in progress")
    store = SQLiteStore(path)
    try:
        assert store.write_word_file() is not None
    finally:
        store.close()
    assert not abandoned.exists() and running.exists() and words.exists()
