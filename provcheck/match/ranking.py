"""The few best rows of a per-frame score without sorting every frame.

A claim's votes and hash evidence have a value for every indexed frame, but the
pipeline reads only the best few dozen; at 10^6 frames sorting them all was a quarter
of a second a claim. Both helpers give exactly what the full stable sort gives (the
tests compare them with it).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

#: Rows taken in the first batch; each further batch takes four times as many.
FIRST_BATCH = 64


def descending(values: NDArray[np.float64]) -> Iterator[int]:
    """Row indices by decreasing value, ties by increasing row: ``np.argsort(-values, kind="stable")``, lazily.

    Rows come in growing batches: every row at least as large as the batch's k-th largest
    value (ties included, so each batch is a prefix of the full order), sorted.
    """
    count = values.shape[0]
    batch, given = FIRST_BATCH, 0
    while given < count:
        if batch >= count:
            yield from (int(row) for row in np.argsort(-values, kind="stable")[given:])
            return
        threshold = np.partition(values, count - batch)[count - batch]
        candidates = np.flatnonzero(values >= threshold)
        ordered = candidates[np.lexsort((candidates, -values[candidates]))]
        yield from (int(row) for row in ordered[given:])
        given = ordered.shape[0]
        batch *= 4


class Groups:
    """Rows grouped by a key (a frame's source), for the best row of every group."""

    def __init__(self, keys: NDArray[np.int64]) -> None:
        self._order = np.argsort(keys, kind="stable")
        ordered = keys[self._order]
        self._starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1]))) if keys.size else (
            np.zeros(0, np.int64))
        sizes = np.diff(np.append(self._starts, keys.shape[0])).astype(np.int64)
        self._group_at = np.repeat(np.arange(self._starts.shape[0]), sizes)

    def best_rows(self, values: NDArray[np.float64]) -> NDArray[np.int64]:
        """For every key in increasing order, its row of the largest value (the lowest row among ties).

        The same rows as ``np.lexsort((rows, -values, keys))`` followed by the first row of each key.
        """
        if not self._starts.size:
            return np.zeros(0, np.int64)
        grouped = values[self._order]
        largest = np.maximum.reduceat(grouped, self._starts)
        hits = np.flatnonzero(grouped == largest[self._group_at])
        first = np.concatenate(([True], self._group_at[hits[1:]] != self._group_at[hits[:-1]]))
        return self._order[hits[first]].astype(np.int64)
