"""The stored local features of frame rows, read from the index when first needed.

With the exact search every frame's features are in memory anyway; with the inverted
file only the shortlisted frames' features are read (a few dozen a claim), and a
bounded cache keeps the most recent so a batch of claims against one source does not
read them again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
from numpy.typing import NDArray

from ..features import LocalFeatures
from ..store import FrameTable, IndexStore

#: Frames whose features stay cached (~140 KB each at 1,000 keypoints).
CACHED_FRAMES = 512


class FeatureRows(Mapping[int, LocalFeatures]):
    """Frame row -> the frame's usable local features (static overlay keypoints left out)."""

    def __init__(self, store: IndexStore, frames: FrameTable, load_all: bool = False) -> None:
        self._store = store
        self._frame_ids = frames.frame_ids
        featured = store.featured_frame_ids()
        self._has = np.isin(frames.frame_ids, featured)
        self._rows = np.flatnonzero(self._has)
        self._limit: int | None = None if load_all else CACHED_FRAMES
        self._cache: OrderedDict[int, LocalFeatures] = OrderedDict()
        if load_all:
            self.prefetch(self._rows.tolist())

    def __getitem__(self, row: int) -> LocalFeatures:
        if row not in self:
            raise KeyError(row)
        if row not in self._cache:
            self.prefetch([row])
        self._cache.move_to_end(row)
        return self._cache[row]

    def __contains__(self, row: object) -> bool:
        return isinstance(row, (int, np.integer)) and 0 <= int(row) < self._has.shape[0] and bool(self._has[int(row)])

    def __iter__(self) -> Iterator[int]:
        return iter(int(row) for row in self._rows)

    def __len__(self) -> int:
        return int(self._rows.shape[0])

    def prefetch(self, rows: Iterable[int]) -> None:
        """Read the features of these rows in one query (those not cached yet)."""
        wanted = [int(row) for row in rows if row in self and int(row) not in self._cache]
        if not wanted:
            return
        row_of_id = {int(self._frame_ids[row]): row for row in wanted}
        for frame_id, stored in self._store.features_of(list(row_of_id)).items():
            self._cache[row_of_id[frame_id]] = stored.features.subset(~stored.static)
        while self._limit is not None and len(self._cache) > max(self._limit, len(wanted)):
            self._cache.popitem(last=False)

    def descriptors(self) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
        """Every cached frame's descriptors and the row owning each (for the exact search)."""
        rows = sorted(self._cache)
        if not rows:
            return np.zeros((0, 128), np.uint8), np.zeros(0, np.int64)
        return (np.concatenate([self._cache[row].descriptors for row in rows]),
                np.concatenate([np.full(len(self._cache[row]), row, np.int64) for row in rows]))
