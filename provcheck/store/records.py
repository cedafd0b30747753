"""What the index stores and the protocol every storage backend implements.

The matcher and the API see storage only through :class:`IndexStore` and these frozen
records, so another backend (PostgreSQL for archives beyond one machine) can be added
without touching them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from ..codec import DescriptorCodec
from ..features import DESCRIPTOR_BYTES, LocalFeatures
from ..shortlist.ondisk import WordFileHeader, WordLists
from ..shortlist.words import Postings, Vocabulary


@dataclass(frozen=True)
class NewSource:
    """Metadata of a source about to be added (no id yet)."""

    kind: str
    title: str
    url: str | None
    published: str | None
    notes: str | None
    path: str
    sha256: str
    duration_s: float | None
    width: int
    height: int


@dataclass(frozen=True, kw_only=True)
class SourceRecord(NewSource):
    """Metadata of one indexed source (a video or a still image): what was added, with its id and frame count."""

    id: int
    frame_count: int
    added_at: str


@dataclass(frozen=True)
class FrameRecord:
    """One fingerprinted frame: hashes keyed by hasher name, and its local features.

    ``static`` flags keypoints on overlays burned into every frame of the source
    (a HUD, a channel logo); they are stored but never used as evidence.
    """

    frame_number: int
    time_s: float | None
    hashes: dict[str, bytes]
    pdq_quality: int | None
    features: LocalFeatures | None = None
    static: NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class StoredFeatures:
    """The local features of one stored frame, aligned with :class:`HashTable` rows by ``frame_id``."""

    frame_id: int
    features: LocalFeatures
    static: NDArray[np.bool_]


@dataclass(frozen=True)
class FrameTable:
    """Every indexed frame, as arrays aligned row by row (ordered by frame id)."""

    frame_ids: NDArray[np.int64]
    source_ids: NDArray[np.int64]
    frame_numbers: NDArray[np.int64]
    times_s: NDArray[np.float64]  # NaN for stills

    def __len__(self) -> int:
        return int(self.frame_ids.shape[0])


@dataclass(frozen=True)
class HashTable(FrameTable):
    """All frames' hashes of one hasher, row by row with the frame table."""

    hashes: NDArray[np.uint8]


@dataclass(frozen=True)
class FrameHashes:
    """The frame table and every hasher's packed hashes (hasher name -> a row per frame), row by row."""

    frames: FrameTable
    hashes: dict[str, NDArray[np.uint8]]


@dataclass(frozen=True)
class FeatureCoverage:
    """How many indexed frames have local features (those without were indexed by provcheck 0.1)."""

    frames: int
    frames_with_features: int

    @property
    def frames_without_features(self) -> int:
        return self.frames - self.frames_with_features


@dataclass(frozen=True)
class IntegrityReport:
    """What ``index check`` found: counts, and problems (empty when the index is sound)."""

    location: str
    sources: int
    frames: int
    features: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class IndexStats:
    """Counts and metadata describing an index."""

    location: str
    schema_version: int
    sources: int
    videos: int
    images: int
    frames: int
    frames_with_features: int
    size_bytes: int
    hashers: dict[str, dict[str, int]]
    created_at: str
    #: The crop-proof shortlist: words of its vocabulary (0: not trained, the exact search
    #: serves), descriptors it was trained on, postings stored, and those in the word file.
    shortlist_words: int = 0
    shortlist_training_descriptors: int = 0
    shortlist_postings: int = 0
    word_file_postings: int = 0
    #: Frames whose descriptors are stored as codes (``index compact``; 16 bytes a keypoint, not 128).
    compact_frames: int = 0


def sample_descriptors(store: IndexStore, limit: int, seed: int = 0) -> NDArray[np.uint8]:
    """Up to ``limit`` voting descriptors from frames drawn at random (a vocabulary's training set)."""
    ids = store.featured_frame_ids()
    order = np.random.default_rng(seed).permutation(ids.shape[0])
    chunks: list[NDArray[np.uint8]] = []
    total = 0
    for start in range(0, order.shape[0], 500):
        batch = store.features_of(ids[order[start:start + 500]].tolist())
        for stored in batch.values():
            chunks.append(stored.features.descriptors[~stored.static])
            total += chunks[-1].shape[0]
        if total >= limit:
            break
    sample = np.concatenate(chunks) if chunks else np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
    return sample[:limit]


#: Metadata of a source that can be edited after indexing (its fingerprints are not touched).
EDITABLE_FIELDS = ("title", "url", "published", "notes")


class IndexStore(Protocol):
    """What the matcher and API need from a storage backend."""

    location: str

    def add_source(self, source: NewSource, frames: Sequence[FrameRecord], replace: bool = False) -> SourceRecord: ...

    def find_by_sha256(self, sha256: str) -> SourceRecord | None: ...

    def get_source(self, source_id: int) -> SourceRecord: ...

    def list_sources(self) -> list[SourceRecord]: ...

    def remove_source(self, source_id: int) -> SourceRecord: ...

    def edit_source(self, source_id: int, changes: Mapping[str, str | None]) -> SourceRecord: ...

    def hash_table(self, hasher_name: str) -> HashTable: ...

    def frame_table(self) -> FrameTable: ...

    def hash_matrix(self, hasher_name: str) -> NDArray[np.uint8]: ...

    def frame_hashes(self) -> FrameHashes: ...

    def feature_table(self) -> list[StoredFeatures]: ...

    def features_of(self, frame_ids: Sequence[int]) -> dict[int, StoredFeatures]: ...

    def featured_frame_ids(self) -> NDArray[np.int64]: ...

    def feature_coverage(self) -> FeatureCoverage: ...

    def voting_descriptor_count(self) -> int: ...

    def descriptor_sample(self, limit: int, seed: int = 0) -> NDArray[np.uint8]: ...

    def shortlist_vocabulary(self) -> Vocabulary | None: ...

    def install_vocabulary(self, vocabulary: Vocabulary) -> None: ...

    def descriptor_codec(self) -> DescriptorCodec | None: ...

    def compact_descriptors(self, codec: DescriptorCodec, progress: Callable[[int], None] | None = None) -> int: ...

    def vacuum(self) -> None: ...

    def postings_count(self, after_seq: int = 0) -> int: ...

    def unsealed_postings(self) -> int: ...

    def word_file(self) -> WordLists | None: ...

    def shortlist_postings(self) -> tuple[Vocabulary | None, WordLists | None, list[Postings]]: ...

    def write_word_file(self) -> WordFileHeader | None: ...

    def check(self) -> IntegrityReport: ...

    def change_stamp(self) -> Hashable: ...

    def stats(self) -> IndexStats: ...

    def close(self) -> None: ...
