"""Compact descriptors (provcheck.codec, ``index compact``): the quantiser, and an index that answers as before."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import copy_index, frame_at, texture, write_still

from provcheck import Index, Verdict
from provcheck.cli import cli
from provcheck.codec import CODE_BYTES, DescriptorCodec
from provcheck.errors import ExitCode, IndexStoreError
from provcheck.features import extract, rootsift
from provcheck.store import SCHEMA_VERSION, feature_rows


@pytest.fixture(scope="module")
def descriptors() -> np.ndarray:
    """Real SIFT descriptors of four textures (about 12,000)."""
    return np.concatenate([extract(texture(900 + n, 480, 720), wanted=3000).descriptors for n in range(4)])


@pytest.fixture(scope="module")
def codec(descriptors: np.ndarray) -> DescriptorCodec:
    return DescriptorCodec.train(descriptors)


def test_codes_are_each_subvectors_nearest_centroid(codec: DescriptorCodec, descriptors: np.ndarray) -> None:
    """The vectorised encoder against an exhaustive search written plainly."""
    sample = descriptors[::97]
    codes = codec.encode(sample)
    roots = rootsift(sample)
    parts, _, width = codec.centroids.shape
    for row in range(sample.shape[0]):
        for part in range(parts):
            piece = roots[row, part * width:(part + 1) * width]
            distances = [float(np.sum((piece - centroid) ** 2)) for centroid in codec.centroids[part]]
            assert distances[codes[row, part]] <= min(distances) + 1e-5


def test_decoded_descriptors_keep_their_rootsift(codec: DescriptorCodec, descriptors: np.ndarray) -> None:
    codes = codec.encode(descriptors)
    assert codes.shape == (descriptors.shape[0], CODE_BYTES) and codes.dtype == np.uint8
    decoded = codec.decode(codes)
    assert decoded.shape == descriptors.shape and decoded.dtype == np.uint8
    cosine = np.sum(rootsift(decoded) * rootsift(descriptors), axis=1)
    assert np.median(cosine) > 0.9
    # a descriptor's nearest neighbour among the others is mostly the same after decoding
    sample = slice(0, 400)
    before = np.argsort(-(rootsift(descriptors[sample]) @ rootsift(descriptors).T), axis=1)[:, 1]
    after = np.argsort(-(rootsift(decoded[sample]) @ rootsift(descriptors).T), axis=1)[:, 1]
    assert np.mean(before == after) > 0.5


def test_codec_bytes_round_trip_and_refuse_damage(codec: DescriptorCodec) -> None:
    again = DescriptorCodec.from_bytes(codec.to_bytes())
    assert np.array_equal(again.centroids, codec.centroids)
    assert again.training_descriptors == codec.training_descriptors
    with pytest.raises(ValueError):
        DescriptorCodec.from_bytes(codec.to_bytes()[:-4])
    with pytest.raises(ValueError):
        DescriptorCodec.from_bytes(b"XXXX" + codec.to_bytes()[4:])


def test_too_few_descriptors_to_train(descriptors: np.ndarray) -> None:
    with pytest.raises(ValueError):
        DescriptorCodec.train(descriptors[:500])


@pytest.fixture(scope="module")
def compactable(tmp_path_factory: pytest.TempPathFactory, built_index: Path) -> Path:
    """The shared test index plus three stills: enough descriptors (> 10,240) to train a codec on."""
    folder = tmp_path_factory.mktemp("compactable")
    path = copy_index(built_index, folder / "index.sqlite")
    with Index(path) as index:
        for number in range(3):
            index.add(write_still(folder / f"extra_{number}.png", texture(700 + number, 480, 720)))
    return path


def _encodings(index: Path) -> tuple[int, int, int]:
    """(raw rows, coded rows, coded rows whose blob is not 16 bytes a keypoint)."""
    conn = sqlite3.connect(index)
    try:
        row = conn.execute("SELECT sum(encoding = 0), sum(encoding = 1),"
                           " sum(encoding = 1 AND length(descriptors) != keypoints * 16) FROM features").fetchone()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory, pan_clip: Path, still_path: Path) -> list[Path]:
    folder = tmp_path_factory.mktemp("compact-claims")
    return [
        write_still(folder / "pan_crop.jpg", frame_at(pan_clip, 20)[30:220, 50:400], quality=90),
        write_still(folder / "pan_whole.png", frame_at(pan_clip, 70)),
        write_still(folder / "still_crop.png", np.asarray(texture(5, 480, 720))[100:300, 250:600]),
        write_still(folder / "unrelated.png", texture(4242, 300, 400)),
    ]


def test_a_compacted_index_answers_as_before(tmp_path: Path, compactable: Path, claims: list[Path]) -> None:
    path = copy_index(compactable, tmp_path / "compact.sqlite")
    before = [Index(path).match(claim) for claim in claims]
    with Index(path) as index:
        assert index.info().shortlist_words > 0 and index._open().unsealed_postings() > 0
        frames, size_before, size_after = index.compact()
        stats = index.info()
        assert index.verify_integrity().ok
        # the shortlist's postings moved to the word file: stored once
        assert index._open().unsealed_postings() == 0 and stats.word_file_postings == stats.shortlist_postings
    assert frames == stats.frames_with_features == stats.compact_frames > 0
    assert size_after < 0.6 * size_before
    assert _encodings(path) == (0, frames, 0)
    after = [Index(path).match(claim) for claim in claims]
    assert [len(found) for found in after] == [len(found) for found in before]
    assert not after[3]  # the unrelated picture stays unmatched
    for old, new in zip(before[:3], after[:3], strict=True):
        assert new[0].source.id == old[0].source.id and new[0].verdict is old[0].verdict is Verdict.MATCH
        if old[0].timestamp_s is not None:
            assert abs(new[0].timestamp_s - old[0].timestamp_s) <= 0.08
        old_crop, new_crop = old[0].derivation.crop, new[0].derivation.crop
        assert (old_crop is None) == (new_crop is None)
        if old_crop is not None and new_crop is not None:
            assert abs(new_crop.x - old_crop.x) < 0.02 and abs(new_crop.w - old_crop.w) < 0.02
        assert new[0].evidence.inliers >= 0.6 * old[0].evidence.inliers


def test_sources_added_after_compaction_are_stored_as_codes(tmp_path: Path, compactable: Path) -> None:
    path = copy_index(compactable, tmp_path / "compact.sqlite")
    with Index(path) as index:
        index.compact()
        picture = texture(31, 480, 720)
        added = index.add(write_still(tmp_path / "late.png", picture), title="Late still")
        raw, coded, wrong = _encodings(path)
        assert raw == 0 and wrong == 0 and coded == index.info().frames_with_features
        found = index.match(write_still(tmp_path / "late_crop.png", np.asarray(picture)[50:350, 100:500]))
        assert found and found[0].source.id == added.id and found[0].verdict is Verdict.MATCH
        assert index.verify_integrity().ok
        # retraining reads the decoded descriptors of every frame
        index.train_shortlist()
        assert index.verify_integrity().ok
        assert index.match(tmp_path / "late_crop.png")[0].source.id == added.id


def test_an_index_too_small_to_compact_says_so(tmp_path: Path, still_path: Path) -> None:
    path = tmp_path / "small.sqlite"
    with Index(path) as index:
        index.add(still_path)
        with pytest.raises(IndexStoreError, match="too few"):
            index.compact()
    result = CliRunner().invoke(cli, ["index", "compact", "--index", str(path)])
    assert result.exit_code == ExitCode.INDEX_ERROR
    error = result.stderr.splitlines()[-1]  # after the line saying what it starts
    assert error.startswith("provcheck: error:") and "too few" in error and str(path) in error
    assert "Traceback" not in result.stderr


def test_index_compact_json_and_info(tmp_path: Path, compactable: Path) -> None:
    path = copy_index(compactable, tmp_path / "compact.sqlite")
    result = CliRunner().invoke(cli, ["index", "compact", "--index", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    assert "compacting" in result.stderr
    document = json.loads(result.stdout)
    assert document["frames_encoded"] > 0 and document["size_bytes_after"] < document["size_bytes_before"]
    info = json.loads(CliRunner().invoke(cli, ["index", "info", "--index", str(path), "--json"]).stdout)
    assert info["compact_frames"] == info["frames_with_features"] and info["schema_version"] == SCHEMA_VERSION
    quiet = CliRunner().invoke(cli, ["index", "compact", "--index", str(path), "--json", "--quiet"])
    assert quiet.stderr == "" and json.loads(quiet.stdout)["frames_encoded"] == 0  # nothing raw is left


def test_a_schema_3_index_is_migrated_and_still_matches(tmp_path: Path, built_index: Path,
                                                        claims: list[Path]) -> None:
    path = copy_index(built_index, tmp_path / "old.sqlite")
    conn = sqlite3.connect(path)
    conn.executescript("ALTER TABLE features DROP COLUMN encoding; DROP TABLE descriptor_codec;"
                       " UPDATE meta SET value = '3' WHERE key = 'schema_version';")
    conn.close()
    with Index(path) as index:
        assert index.info().schema_version == SCHEMA_VERSION
        assert index.verify_integrity().ok
        assert index.match(claims[0])[0].verdict is Verdict.MATCH
    assert _encodings(path)[1] == 0


def test_check_finds_damaged_codes_and_a_missing_codec(tmp_path: Path, compactable: Path, claims: list[Path]) -> None:
    path = copy_index(compactable, tmp_path / "compact.sqlite")
    with Index(path) as index:
        index.compact()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE features SET descriptors = substr(descriptors, 1, 10)"
                 " WHERE frame_id = (SELECT min(frame_id) FROM features)")
    conn.commit()
    conn.close()
    problems = Index(path).verify_integrity().problems
    assert any("disagree with their keypoint count or encoding" in problem for problem in problems)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM descriptor_codec")
    conn.commit()
    conn.close()
    problems = Index(path).verify_integrity().problems
    assert any("no descriptor codec" in problem for problem in problems)
    result = CliRunner().invoke(cli, ["match", str(claims[0]), "--index", str(path), "--jobs", "1"])
    assert result.exit_code == ExitCode.INDEX_ERROR, result.stderr
    assert result.stderr.count("\n") == 1 and "codes but the index has no codec" in result.stderr


def test_an_interrupted_compaction_leaves_a_sound_mixed_index_and_goes_on(
        tmp_path: Path, compactable: Path, claims: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = copy_index(compactable, tmp_path / "compact.sqlite")
    monkeypatch.setattr(feature_rows, "COMPACT_BATCH", 3)
    seen: list[tuple[int, int]] = []

    def stop_after_two_batches(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with Index(path) as index, pytest.raises(KeyboardInterrupt):
        index.compact(stop_after_two_batches)
    raw, coded, wrong = _encodings(path)
    assert coded == 6 and raw > 0 and wrong == 0 and seen == [(3, raw + 6), (6, raw + 6)]
    with Index(path) as index:
        assert index.verify_integrity().ok
        assert index.match(claims[0])[0].verdict is Verdict.MATCH  # coded and raw frames side by side
        frames, _, _ = index.compact()
    assert frames == raw and _encodings(path) == (0, raw + 6, 0)
