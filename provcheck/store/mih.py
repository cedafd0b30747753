"""Multi-index hashing: exact Hamming-radius search through B-tree lookups of 16-bit chunks.

A hash of ``b`` bits is cut into ``m = b / 16`` chunks. Two hashes within ``r`` bits of
each other agree within ``floor(r / m)`` bits on at least one chunk (pigeonhole), so the
frames to test are those with some chunk among the few values that close to the
query's chunk: each an index lookup. Only those candidates get their full distance
computed. :func:`within_radius` is the brute-force twin the SQL search is tested against.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from ..hashing import hamming_distances

#: Bits a chunk: one B-tree a chunk, keyed by an integer below 2**16.
CHUNK_BITS = 16


def chunk_count(bits: int) -> int:
    if bits % CHUNK_BITS:
        raise ValueError(f"a {bits}-bit hash does not split into {CHUNK_BITS}-bit chunks")
    return bits // CHUNK_BITS


def chunks(packed: bytes) -> list[int]:
    """The hash's 16-bit chunks, big-endian, in byte order (what the chunk indexes are keyed by)."""
    return [packed[i] << 8 | packed[i + 1] for i in range(0, len(packed), 2)]


def chunk_candidates(value: int, flips: int) -> list[int]:
    """Every 16-bit value within ``flips`` bits of ``value``."""
    found = [value]
    for count in range(1, flips + 1):
        for bits in combinations(range(CHUNK_BITS), count):
            flipped = value
            for bit in bits:
                flipped ^= 1 << bit
            found.append(flipped)
    return found


def probe_values(packed: bytes, radius: int) -> list[list[int]]:
    """For each chunk, the values a stored hash within ``radius`` bits may have there (pigeonhole)."""
    parts = chunks(packed)
    flips = radius // len(parts)
    return [chunk_candidates(value, flips) for value in parts]


def within_radius(matrix: NDArray[np.uint8], frame_ids: NDArray[np.int64], packed: bytes,
                  radius: int) -> list[tuple[int, int]]:
    """(frame id, distance) of every row of ``matrix`` within ``radius`` bits of ``packed``, by frame id: every
    row compared, as the matcher's hash stage compares them."""
    distance = hamming_distances(packed, matrix)
    near = np.flatnonzero(distance <= radius)
    order = near[np.argsort(frame_ids[near], kind="stable")]
    return [(int(frame_ids[row]), int(distance[row])) for row in order]
