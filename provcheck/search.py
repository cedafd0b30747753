"""The shortlist: which indexed frames share the most local descriptors with a claim.

Every stored descriptor (RootSIFT, so a dot product is the Hellinger kernel) sits in
one FAISS inner-product index. Each claim descriptor looks up its nearest stored
descriptors and votes for the frames they belong to; frames with the most votes go
on to geometric verification. :func:`brute_force_neighbours` is the plain NumPy
reference the FAISS path is tested against.
"""

from __future__ import annotations

import faiss
import numpy as np
from numpy.typing import NDArray

from .features import rootsift
from .shortlist.inverted import voting_subset

#: Stored descriptors each claim descriptor looks up.
VOTE_NEIGHBOURS = 8
#: A neighbour votes only when at least this similar (RootSIFT dot product). On the
#: demo corpus true correspondences score 0.96-1.0 after recompression, while the
#: best match of a descriptor in an unrelated frame stays under 0.93 for 95 % of them.
VOTE_MIN_SIMILARITY = 0.9


#: Up to this many stored descriptors (~100 indexed frames) the search is exact
#: (FAISS flat inner product, which tests compare with :func:`brute_force_neighbours`).
#: Past it the inverted file below is cheaper even counting its build: building costs
#: about what one exact search of 256 queries does, and each claim then scans ~1/10.
EXACT_SEARCH_MAX = 100_000
#: Beyond it, an inverted-file index: descriptors are bucketed by their nearest of
#: IVF_LISTS centroids (trained on a sample) and a query scans IVF_PROBES buckets.
#: Few lists keep the per-invocation build cheap; probes trade speed for recall.
IVF_LISTS = 256
IVF_PROBES = 24
IVF_TRAINING_SAMPLE = 65_536
IVF_SEED = 1234


class DescriptorIndex:
    """All stored descriptors in one FAISS index, each owned by a frame (by row number)."""

    def __init__(self, descriptors: NDArray[np.uint8], owners: NDArray[np.int64], frame_count: int,
                 exact_max: int = EXACT_SEARCH_MAX) -> None:
        if descriptors.shape[0] != owners.shape[0]:
            raise ValueError("Every descriptor needs exactly one owning frame.")
        self.frame_count = frame_count
        self.owners = owners
        dimension = descriptors.shape[1] if descriptors.ndim == 2 else 128
        vectors = rootsift(descriptors) if descriptors.shape[0] else np.zeros((0, dimension), np.float32)
        self.exact = vectors.shape[0] <= exact_max
        if self.exact:
            self._index: faiss.Index = faiss.IndexFlatIP(dimension)
        else:
            quantizer = faiss.IndexFlatIP(dimension)
            ivf = faiss.IndexIVFFlat(quantizer, dimension, IVF_LISTS, faiss.METRIC_INNER_PRODUCT)
            size = min(vectors.shape[0], IVF_TRAINING_SAMPLE)
            sample = np.random.default_rng(IVF_SEED).choice(vectors.shape[0], size, replace=False)
            ivf.train(vectors[np.sort(sample)])
            ivf.nprobe = IVF_PROBES
            self._index = ivf
        if vectors.shape[0]:
            self._index.add(vectors)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def neighbours(self, query: NDArray[np.float32], k: int = VOTE_NEIGHBOURS) -> tuple[
        NDArray[np.float32], NDArray[np.int64]
    ]:
        """Similarities and descriptor rows of each query's ``k`` nearest stored descriptors."""
        k = min(k, len(self))
        if k == 0 or query.shape[0] == 0:
            return np.zeros((query.shape[0], 0), np.float32), np.zeros((query.shape[0], 0), np.int64)
        similarities, rows = self._index.search(np.ascontiguousarray(query, dtype=np.float32), k)
        return similarities, rows.astype(np.int64)

    def votes(self, query_descriptors: NDArray[np.uint8]) -> NDArray[np.float64]:
        """Weighted votes per frame row: each claim descriptor votes once per frame."""
        similarities, rows = self.neighbours(rootsift(voting_subset(query_descriptors)))
        return tally_votes(similarities, rows, self.owners, self.frame_count)


def tally_votes(
    similarities: NDArray[np.float32], rows: NDArray[np.int64], owners: NDArray[np.int64], frame_count: int
) -> NDArray[np.float64]:
    """Sum votes per frame, vectorised: weight grows from 0 at the threshold to 1 at identity."""
    if rows.size == 0:
        return np.zeros(frame_count, dtype=np.float64)
    valid = (rows >= 0) & (similarities >= VOTE_MIN_SIMILARITY)
    frames = np.where(valid, owners[np.clip(rows, 0, None)], -1)
    weights = np.where(valid, (similarities - VOTE_MIN_SIMILARITY) / (1 - VOTE_MIN_SIMILARITY), 0.0)
    # one vote per (query descriptor, frame): keep the strongest neighbour of each frame
    order = np.lexsort((-weights, frames), axis=-1)
    frames_sorted = np.take_along_axis(frames, order, axis=1)
    weights_sorted = np.take_along_axis(weights, order, axis=1)
    first = np.ones_like(frames_sorted, dtype=bool)
    first[:, 1:] = frames_sorted[:, 1:] != frames_sorted[:, :-1]
    keep = first & (frames_sorted >= 0)
    return np.bincount(frames_sorted[keep], weights=weights_sorted[keep], minlength=frame_count).astype(np.float64)


def brute_force_neighbours(
    stored: NDArray[np.uint8], query: NDArray[np.uint8], k: int = VOTE_NEIGHBOURS
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Reference nearest neighbours by a full similarity matrix (what FAISS must reproduce)."""
    similarity = rootsift(query) @ rootsift(stored).T
    k = min(k, stored.shape[0])
    rows = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(similarity, rows, axis=1).astype(np.float32), rows.astype(np.int64)
