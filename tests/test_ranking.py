"""The partial rankings the matcher reads scores with, against the full stable sort they replace."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from provcheck.match.ranking import FIRST_BATCH, Groups, descending


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("size", [0, 1, 5, FIRST_BATCH, FIRST_BATCH + 1, 5_000])
def test_descending_is_the_stable_sort(seed: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    # few distinct values (ties at every batch boundary), zeros and negatives, as votes and evidence have
    values = rng.integers(-3, 6, size).astype(np.float64) * (1.0 if seed % 2 else 0.25)
    full = np.argsort(-values, kind="stable").tolist()
    assert list(descending(values)) == full
    assert list(islice(descending(values), 7)) == full[:7]


@pytest.mark.parametrize("seed", range(6))
def test_best_row_of_every_group_is_the_lexsort_answer(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = 3_000
    keys = rng.integers(0, 40, rows).astype(np.int64)
    values = rng.integers(0, 8, rows).astype(np.float64)  # many ties inside a group
    order = np.lexsort((np.arange(rows), -values, keys))
    _, first = np.unique(keys[order], return_index=True)
    assert Groups(keys).best_rows(values).tolist() == order[first].tolist()
    assert Groups(np.zeros(0, np.int64)).best_rows(np.zeros(0)).tolist() == []
