"""Votes from an inverted file of visual words: frames that share words (and close signatures) with a claim.

Postings are held sorted by word: a claim descriptor reads the one list of its word,
keeps the postings whose signature is within :data:`HAMMING_MAX` bits of its own, and
each kept posting votes for its frame with weight ``idf(word) · exp(-h²/σ²)``; a claim
descriptor votes at most once for a frame (its strongest posting there).
:func:`brute_force_votes` computes the same votes without lists or sorting, pair by pair,
and is what tests compare the lists with.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from .ondisk import WordLists
from .words import Postings, Vocabulary

#: Signatures differing in more bits than this do not match (of 64; measured in
#: bench/shortlist_study: 20-28 all gave recall 1.000 at 10^4 frames, 24 the fastest).
HAMMING_MAX = 24
#: Width of the Gaussian weight on the Hamming distance, in bits.
HAMMING_SIGMA = 16.0
#: Claim descriptors that vote (an even spread of them), in this and in the exact search:
#: the shortlist needs only the true frame near the top, and search time grows with this.
VOTING_DESCRIPTORS = 600


class InvertedFile:
    """Postings sorted by word, each owned by a frame row: in memory, or mostly in a word file.

    Args:
        vocabulary: the vocabulary the postings were made with.
        postings: postings held in memory (all of them, or those newer than the word file).
        frame_ids: the frame id of each row (rows are what votes are counted in); postings
            of other frames (removed since) are ignored.
        word_file: the bulk of the postings, sorted by word (a file, or a database's table); a frame that also has
            postings in memory is read only from memory (its postings were rewritten).
    """

    def __init__(self, vocabulary: Vocabulary, postings: Iterable[Postings], frame_ids: NDArray[np.int64],
                 word_file: WordLists | None = None) -> None:
        self.vocabulary = vocabulary
        self.frame_count = int(frame_ids.shape[0])
        self._row_of_id = np.full(int(frame_ids.max()) + 2 if frame_ids.size else 1, -1, np.int64)
        self._row_of_id[frame_ids] = np.arange(frame_ids.shape[0])
        rows, words, signatures = [], [], []
        for frame in postings:
            row = self._row(frame.frame_id)
            if row < 0:
                continue
            rows.append(np.full(frame.words.shape[0], row, np.int64))
            words.append(frame.words)
            signatures.append(frame.signatures)
        all_words = np.concatenate(words).astype(np.int64) if words else np.zeros(0, np.int64)
        order = np.argsort(all_words, kind="stable")
        self._rows = np.concatenate(rows)[order] if rows else np.zeros(0, np.int64)
        self._signatures = np.concatenate(signatures)[order] if signatures else np.zeros(0, np.uint64)
        counts = np.bincount(all_words, minlength=vocabulary.size)
        self._offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._word_file = word_file
        self._in_memory = np.zeros(self.frame_count, bool)
        self._in_memory[np.unique(self._rows)] = True
        if word_file is not None:
            counts = counts + np.diff(word_file.offsets)
        self._idf = idf(counts)

    def _row(self, frame_id: int) -> int:
        return int(self._row_of_id[frame_id]) if 0 <= frame_id < self._row_of_id.shape[0] else -1

    def __len__(self) -> int:
        on_disk = self._word_file.header.postings if self._word_file is not None else 0
        return int(self._offsets[-1]) + on_disk

    def votes(self, query_descriptors: NDArray[np.uint8]) -> NDArray[np.float64]:
        """Weighted votes per frame row from an even spread of the claim's descriptors."""
        words, signatures = self.vocabulary.assign(voting_subset(query_descriptors))
        query, rows, distance = self._memory_lists(words, signatures)
        if self._word_file is not None:
            parts = [(query, rows, distance), self._file_lists(words, signatures)]
            query, rows, distance = (np.concatenate(p) for p in zip(*parts, strict=True))
        weights = self._idf[words[query]] * hamming_weight(distance)
        return one_vote_per_frame(query, rows, weights, self.frame_count)

    def _memory_lists(self, words: NDArray[np.uint32], signatures: NDArray[np.uint64]) -> tuple[
            NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(claim descriptor, frame row, Hamming distance) of every in-memory posting of the words within
        :data:`HAMMING_MAX` bits of its claim descriptor's signature."""
        starts, ends = self._offsets[words], self._offsets[words.astype(np.int64) + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        query = np.repeat(np.arange(words.shape[0]), lengths)
        first_of_query = np.cumsum(lengths) - lengths
        positions = starts[query] + (np.arange(total) - first_of_query[query])
        distance = np.bitwise_count(self._signatures[positions] ^ signatures[query]).astype(np.int64)
        near = distance <= HAMMING_MAX
        return query[near], self._rows[positions[near]], distance[near]

    def _file_lists(self, words: NDArray[np.uint32], signatures: NDArray[np.uint64]) -> tuple[
            NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """The same from the word file, without frames removed since or held in memory.

        At 10^6 frames a claim view reads ~12 M postings here and keeps under a tenth:
        each list is tested against its claim signature as it is read, so nothing after
        that handles the rest.
        """
        assert self._word_file is not None
        queries, id_parts, distances = [], [], []
        lists = self._word_file.read_lists(words.tolist())
        for query, ((ids, stored), signature) in enumerate(zip(lists, signatures, strict=True)):
            distance = np.bitwise_count(stored ^ signature)
            near = np.flatnonzero(distance <= HAMMING_MAX)
            queries.append(np.full(near.shape[0], query, np.int64))
            id_parts.append(ids[near])
            distances.append(distance[near])
        if not queries:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        query_of = np.concatenate(queries)
        ids_near = np.concatenate(id_parts).astype(np.int64)
        distance_of = np.concatenate(distances).astype(np.int64)
        rows = np.where(ids_near < self._row_of_id.shape[0],
                        self._row_of_id[np.minimum(ids_near, self._row_of_id.shape[0] - 1)], -1)
        keep = rows >= 0
        keep[keep] = ~self._in_memory[rows[keep]]
        return query_of[keep], rows[keep], distance_of[keep]


def voting_subset(descriptors: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """An even spread of at most :data:`VOTING_DESCRIPTORS` descriptors."""
    step = max(1, -(-descriptors.shape[0] // VOTING_DESCRIPTORS))
    return descriptors[::step]


def idf(list_lengths: NDArray[np.int64]) -> NDArray[np.float64]:
    """Inverse document frequency of each word from its list length (rare words weigh more)."""
    total = float(list_lengths.sum())
    return np.log((total + 1.0) / (list_lengths.astype(np.float64) + 1.0))


def hamming_weight(distance: NDArray[np.integer]) -> NDArray[np.float64]:
    return np.exp(-(distance.astype(np.float64) ** 2) / HAMMING_SIGMA ** 2)


def one_vote_per_frame(query: NDArray[np.int64], rows: NDArray[np.int64], weights: NDArray[np.float64],
                       frame_count: int) -> NDArray[np.float64]:
    """Sum, per frame row, each claim descriptor's strongest weight there."""
    if query.size == 0:
        return np.zeros(frame_count, np.float64)
    key = query * frame_count + rows
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    first = np.ones(ordered.shape[0], bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    strongest = np.maximum.reduceat(weights[order], starts)
    return np.bincount(rows[order[starts]], weights=strongest, minlength=frame_count).astype(np.float64)


def brute_force_votes(vocabulary: Vocabulary, stored: dict[int, NDArray[np.uint8]], query: NDArray[np.uint8],
                      frame_count: int) -> NDArray[np.float64]:
    """The reference: every voting claim descriptor against every stored descriptor of every frame row."""
    stored_words = {row: vocabulary.assign(descriptors) for row, descriptors in stored.items()}
    counts = np.zeros(vocabulary.size, np.int64)
    for words, _ in stored_words.values():
        np.add.at(counts, words.astype(np.int64), 1)
    weights_of_word = idf(counts)
    votes = np.zeros(frame_count, np.float64)
    claim_words, claim_signatures = vocabulary.assign(voting_subset(query))
    for word, signature in zip(claim_words, claim_signatures, strict=True):
        for row, (words, signatures) in stored_words.items():
            best = 0.0
            for other_word, other_signature in zip(words, signatures, strict=True):
                if other_word != word:
                    continue
                distance = int(np.bitwise_count(np.uint64(other_signature) ^ np.uint64(signature)))
                if distance <= HAMMING_MAX:
                    weight = float(weights_of_word[word]) * float(np.exp(-distance ** 2 / HAMMING_SIGMA ** 2))
                    best = max(best, weight)
            votes[row] += best
    return votes
