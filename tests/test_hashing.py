"""Perceptual hashers: pinned outputs, distance properties, vectorised distance = brute force."""

from __future__ import annotations

import cv2
import imagehash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image

from provcheck.hashing import HASHERS, HashValue, PDQHasher, PHasher, hamming_distance, hamming_distances

#: Hashes of :func:`golden_image`; a change here means bumping that hasher's version.
GOLDEN = {
    "phash": "8a354b4ab54ab74b",
    "pdq": "22a9755470f95d16a2a915545d56aaa95d5632e95d74aaa95d56a2a9b2c95d56",
}


def golden_image() -> NDArray[np.uint8]:
    """A fixed image built from integer arithmetic only (no codec, no resampling)."""
    y, x = np.mgrid[0:240, 0:320]
    image = np.stack([x * 255 // 319, y * 255 // 239, (x + y) * 255 // 558], axis=-1).astype(np.uint8)
    image[60:120, 80:200] = (250, 30, 30)
    image[150:220, 200:300] = (20, 20, 200)
    return image


@pytest.mark.parametrize("hasher", HASHERS, ids=lambda h: h.name)
def test_golden_hash_is_pinned(hasher: PHasher | PDQHasher) -> None:
    assert hasher.compute(golden_image()).hex() == GOLDEN[hasher.name]


@pytest.mark.parametrize("hasher", HASHERS, ids=lambda h: h.name)
def test_hasher_conformance(hasher: PHasher | PDQHasher) -> None:
    image = golden_image()
    value = hasher.compute(image)
    assert len(value.packed) * 8 == hasher.bits
    assert hasher.version >= 1 and hasher.name
    # a small brightness change keeps the hash close, an unrelated image does not
    brighter = np.clip(image.astype(int) + 12, 0, 255).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    near = hamming_distance(value.packed, hasher.compute(brighter).packed)
    far = hamming_distance(value.packed, hasher.compute(noise).packed)
    assert near <= hasher.bits * 0.1 < hasher.bits * 0.3 <= far


def test_pdq_reports_low_quality_for_flat_images() -> None:
    flat = np.full((200, 200, 3), 128, dtype=np.uint8)
    assert (PDQHasher().compute(flat).quality or 0) < 50
    assert (PDQHasher().compute(golden_image()).quality or 0) >= 50


def test_large_frames_are_hashed_like_their_downscale() -> None:
    image = np.kron(golden_image(), np.ones((5, 5, 1), dtype=np.uint8))  # 1200x1600
    small = PDQHasher().compute(golden_image()).packed
    assert hamming_distance(PDQHasher().compute(image).packed, small) <= 31  # Meta's published PDQ match distance


hashes = st.binary(min_size=32, max_size=32)


@given(st.lists(hashes, min_size=1, max_size=40), hashes)
@settings(max_examples=100, deadline=None)
def test_vectorised_distances_equal_brute_force(rows: list[bytes], query: bytes) -> None:
    matrix = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), 32)
    assert hamming_distances(query, matrix).tolist() == [hamming_distance(query, row) for row in rows]
    # the byte-wise path (a matrix that cannot be read eight bytes at a time) gives the same
    assert hamming_distances(query, np.asfortranarray(matrix)).tolist() == hamming_distances(query, matrix).tolist()


@given(hashes, hashes)
def test_distance_properties(a: bytes, b: bytes) -> None:
    assert hamming_distance(a, a) == 0
    assert hamming_distance(a, b) == hamming_distance(b, a)
    assert 0 <= hamming_distance(a, b) <= 256


@given(st.binary(min_size=1, max_size=32))
def test_hash_value_hex_round_trips(packed: bytes) -> None:
    text = HashValue(packed).hex()
    assert len(text) == 2 * len(packed) and text == text.lower()
    assert bytes.fromhex(text) == packed


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_phash_hex_is_imagehash_hex(seed: int) -> None:
    """Our pHash hex, read back by ImageHash's own parser, is ImageHash's hash: same bits, same order."""
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (64, 48), interpolation=cv2.INTER_CUBIC)
    ours = PHasher().compute(image).hex()
    reference = imagehash.phash(Image.fromarray(image), hash_size=8)
    assert ours == str(reference)
    assert imagehash.hex_to_hash(ours) == reference


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        hamming_distance(b"\x00" * 8, b"\x00" * 32)
    with pytest.raises(ValueError):
        hamming_distances(b"\x00" * 8, np.zeros((3, 32), dtype=np.uint8))
