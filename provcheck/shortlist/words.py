"""A visual-word vocabulary with Hamming embedding (Jégou, Douze and Schmid, 2008).

Every RootSIFT descriptor becomes a *word* (its nearest centroid of a two-level k-means:
``coarse`` centroids, each split into ``fine`` ones, so assigning costs coarse + fine dot
products instead of coarse × fine) and a 64-bit *signature*: the signs of a fixed random
orthogonal projection of the descriptor's residual to its word's centroid. Two
descriptors match when they share a word and their signatures differ in few bits.
A k-means cell's residuals are centred on zero, so the sign is HE's per-word median
threshold without a per-word table, and nothing needs refitting as words fill up.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..features import DESCRIPTOR_BYTES, rootsift

#: Signature length in bits (one uint64 a posting).
SIGNATURE_BITS = 64
#: The largest vocabulary: 256 × 256 = 65,536 words (lists of ~15 postings a word and
#: 1,000 frames; measured recall 1.000 at 10^4 frames in bench/shortlist_study).
MAX_SPLIT = 256
#: Training descriptors a word should have on average; the vocabulary is sized to the
#: sample so that small indexes get fewer, well-trained words.
DESCRIPTORS_PER_WORD = 16
#: At most this many descriptors train a vocabulary (k-means cost grows with it): enough
#: for the largest vocabulary at DESCRIPTORS_PER_WORD.
MAX_TRAINING_DESCRIPTORS = MAX_SPLIT * MAX_SPLIT * DESCRIPTORS_PER_WORD
KMEANS_ITERATIONS = 15
#: Seed of the k-means runs and of the signature projection (a vocabulary is reproducible).
SEED = 11
#: Descriptors assigned per batch (bounds the temporary residual matrix).
ASSIGN_BATCH = 65_536


@dataclass(frozen=True)
class Postings:
    """One frame's quantised descriptors (static overlay keypoints already left out)."""

    frame_id: int
    words: NDArray[np.uint32]
    signatures: NDArray[np.uint64]


def split_for(training_descriptors: int) -> int:
    """Centroids per level for a sample this size: a power of two, at most :data:`MAX_SPLIT`."""
    per_level = math.sqrt(max(training_descriptors, 1) / DESCRIPTORS_PER_WORD)
    return int(min(MAX_SPLIT, max(4, 2 ** math.floor(math.log2(max(per_level, 1.0))))))


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Coarse centroids (coarse × 128), fine centroids (coarse × fine × 128), the signature projection (128 × 64)."""

    coarse: NDArray[np.float32]
    fine: NDArray[np.float32]
    projection: NDArray[np.float32]
    training_descriptors: int

    @property
    def size(self) -> int:
        """Number of words."""
        return int(self.fine.shape[0] * self.fine.shape[1])

    @classmethod
    def train(cls, descriptors: NDArray[np.uint8]) -> Vocabulary:
        """Train on a sample of stored SIFT descriptors (uint8, n × 128)."""
        import faiss

        vectors = rootsift(descriptors)
        count = vectors.shape[0]
        if count < 4:
            raise ValueError(f"a vocabulary needs at least 4 descriptors, not {count}")
        split = split_for(count)
        # small cells are expected in small indexes: no warning for fewer than 39 points a centroid
        coarse_km = faiss.Kmeans(DESCRIPTOR_BYTES, split, niter=KMEANS_ITERATIONS, seed=SEED, verbose=False,
                                 min_points_per_centroid=1)
        coarse_km.train(vectors)
        coarse = np.ascontiguousarray(coarse_km.centroids, dtype=np.float32)
        cells = _nearest(vectors, coarse)
        fine = np.empty((split, split, DESCRIPTOR_BYTES), np.float32)
        rng = np.random.default_rng(SEED)
        for cell in range(split):
            members = vectors[cells == cell]
            if members.shape[0] >= 2 * split:
                fine_km = faiss.Kmeans(DESCRIPTOR_BYTES, split, niter=KMEANS_ITERATIONS, seed=SEED + 1 + cell,
                                       verbose=False, min_points_per_centroid=1)
                fine_km.train(members)
                fine[cell] = fine_km.centroids
            else:
                # Too few members to split: repeat them (or the coarse centroid) with a little
                # jitter; the duplicates stay empty words, which costs nothing.
                base = members if members.shape[0] else coarse[cell:cell + 1]
                fine[cell] = base[np.arange(split) % base.shape[0]]
                fine[cell] += 1e-4 * rng.standard_normal((split, DESCRIPTOR_BYTES)).astype(np.float32)
        orthogonal, _ = np.linalg.qr(np.random.default_rng(SEED).standard_normal((DESCRIPTOR_BYTES, DESCRIPTOR_BYTES)))
        projection = np.ascontiguousarray(orthogonal[:, :SIGNATURE_BITS], dtype=np.float32)
        return cls(coarse, fine, projection, count)

    def assign(self, descriptors: NDArray[np.uint8]) -> tuple[NDArray[np.uint32], NDArray[np.uint64]]:
        """Word and signature of each SIFT descriptor (uint8, n × 128)."""
        count = descriptors.shape[0]
        words = np.empty(count, np.uint32)
        signatures = np.empty(count, np.uint64)
        split = self.fine.shape[1]
        flat = self.fine.reshape(-1, DESCRIPTOR_BYTES)
        fine_norms = (self.fine ** 2).sum(axis=2)
        for start in range(0, count, ASSIGN_BATCH):
            vectors = rootsift(descriptors[start:start + ASSIGN_BATCH])
            cells = _nearest(vectors, self.coarse)
            chosen = np.empty(vectors.shape[0], np.int64)
            for cell in np.unique(cells):
                members = np.flatnonzero(cells == cell)
                distances = fine_norms[cell][None, :] - 2.0 * (vectors[members] @ self.fine[cell].T)
                chosen[members] = int(cell) * split + np.argmin(distances, axis=1)
            bits = ((vectors - flat[chosen]) @ self.projection) > 0
            words[start:start + vectors.shape[0]] = chosen
            signatures[start:start + vectors.shape[0]] = np.packbits(bits, axis=1, bitorder="little").view(np.uint64)[:, 0]
        return words, signatures

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, coarse=self.coarse, fine=self.fine, projection=self.projection,
                 training=np.array([self.training_descriptors], np.int64))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Vocabulary:
        with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
            return cls(arrays["coarse"], arrays["fine"], arrays["projection"], int(arrays["training"][0]))


def _nearest(vectors: NDArray[np.float32], centroids: NDArray[np.float32]) -> NDArray[np.int64]:
    """Row of the nearest centroid (L2) of each vector."""
    norms = (centroids ** 2).sum(axis=1)
    nearest: NDArray[np.int64] = np.argmin(norms[None, :] - 2.0 * (vectors @ centroids.T), axis=1)
    return nearest
