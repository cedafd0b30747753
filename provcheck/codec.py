"""Compact descriptors: a product quantiser in RootSIFT space, 16 bytes a keypoint instead of 128.

Verification reads the full descriptors of the few dozen shortlisted frames a claim
(:mod:`provcheck.match.stored`), but an archive stores every frame's: 128 bytes a
keypoint is ~130 KB a frame, 130 GB at 10^6 frames. An index compacted with
``index compact`` stores each descriptor as 16 one-byte codes instead: the RootSIFT
vector is cut into 16 sub-vectors of 8 values, and each is replaced by the nearest of
256 centroids learnt on the index's own descriptors (Jégou, Douze, Schmid 2011). A
stored descriptor is decoded back to a ``uint8`` SIFT-like vector whose RootSIFT is
the quantised one, so verification, the exact search and retraining read it as they
read any descriptor. Measured on the accuracy bench (bench README, "compact
descriptors"): every verdict and source kept, inliers on the true frame ~0.93 of before.

This module owns the quantiser; the index decides which rows hold codes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import faiss
import numpy as np
from numpy.typing import NDArray

from .features import DESCRIPTOR_BYTES, rootsift

#: Sub-vectors a descriptor is cut into, and centroids per sub-vector (one byte a code).
SUBVECTORS = 16
CENTROIDS = 256
CODE_BYTES = SUBVECTORS
SUBVECTOR_DIMENSIONS = DESCRIPTOR_BYTES // SUBVECTORS
#: Descriptors the quantiser is trained on at most: FAISS's k-means uses at most 256 a
#: centroid (it would subsample more), and at least 39 (it warns on stderr below that).
TRAINING_DESCRIPTORS = 256 * CENTROIDS
MIN_TRAINING_DESCRIPTORS = 40 * CENTROIDS
#: Largest decoded value: the decoded vector is scaled so that its largest squared value is this.
DECODED_MAX = 255.0

_HEADER = struct.Struct("<4sIIII")
_MAGIC = b"PQR1"


@dataclass(frozen=True)
class DescriptorCodec:
    """Centroids of each sub-vector (SUBVECTORS x CENTROIDS x SUBVECTOR_DIMENSIONS), in RootSIFT space."""

    centroids: NDArray[np.float32]
    training_descriptors: int

    @classmethod
    def train(cls, descriptors: NDArray[np.uint8]) -> DescriptorCodec:
        """Learn the centroids from stored SIFT descriptors (k-means per sub-vector, FAISS)."""
        if descriptors.shape[0] < MIN_TRAINING_DESCRIPTORS:
            raise ValueError(f"{descriptors.shape[0]} descriptors are too few to train the codec"
                             f" (at least {MIN_TRAINING_DESCRIPTORS}).")
        vectors = np.ascontiguousarray(rootsift(descriptors))
        quantizer = faiss.ProductQuantizer(DESCRIPTOR_BYTES, SUBVECTORS, 8)
        quantizer.train(vectors)
        centroids = faiss.vector_to_array(quantizer.centroids).astype(np.float32)
        return cls(centroids.reshape(SUBVECTORS, CENTROIDS, SUBVECTOR_DIMENSIONS), int(descriptors.shape[0]))

    def encode(self, descriptors: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Codes (n x CODE_BYTES): the nearest centroid of each sub-vector of each descriptor's RootSIFT."""
        vectors = rootsift(descriptors).reshape(-1, SUBVECTORS, SUBVECTOR_DIMENSIONS)
        codes = np.empty((vectors.shape[0], SUBVECTORS), dtype=np.uint8)
        for part in range(SUBVECTORS):
            centroids = self.centroids[part]
            # |x - c|^2 up to |x|^2, which does not change the nearest
            distances = (centroids * centroids).sum(axis=1)[None, :] - 2.0 * vectors[:, part, :] @ centroids.T
            codes[:, part] = np.argmin(distances, axis=1)
        return codes

    def decode(self, codes: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """SIFT-like ``uint8`` descriptors whose RootSIFT is the quantised vector (up to rounding)."""
        if codes.shape[0] == 0:
            return np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
        parts = [self.centroids[part][codes[:, part].astype(np.intp)] for part in range(SUBVECTORS)]
        roots = np.maximum(np.concatenate(parts, axis=1), 0.0)
        squares = roots * roots  # RootSIFT is the square root of the L1-normalised descriptor
        peak = np.maximum(squares.max(axis=1, keepdims=True), 1e-12)
        decoded: NDArray[np.uint8] = np.clip(np.rint(squares * (DECODED_MAX / peak)), 0, 255).astype(np.uint8)
        return decoded

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(_MAGIC, SUBVECTORS, CENTROIDS, SUBVECTOR_DIMENSIONS, self.training_descriptors)
        return header + self.centroids.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> DescriptorCodec:
        magic, subvectors, centroids, dimensions, trained_on = _HEADER.unpack_from(blob)
        if magic != _MAGIC or (subvectors, centroids, dimensions) != (SUBVECTORS, CENTROIDS, SUBVECTOR_DIMENSIONS):
            raise ValueError("not a descriptor codec this provcheck reads")
        values = np.frombuffer(blob, dtype="<f4", offset=_HEADER.size)
        if values.size != SUBVECTORS * CENTROIDS * SUBVECTOR_DIMENSIONS:
            raise ValueError("a truncated descriptor codec")
        return cls(values.astype(np.float32).reshape(SUBVECTORS, CENTROIDS, SUBVECTOR_DIMENSIONS), int(trained_on))
