"""When an index trains (or retrains) the vocabulary of its crop-proof shortlist.

Below :data:`TRAIN_AT` stored keypoints (a few frames) the exact search is cheap and
needs nothing trained. Past it, the first ``index add`` trains a vocabulary on
a sample of the index's own descriptors and quantises every stored frame; later adds
quantise only their own frames. A vocabulary trained on a small index is small (about
16 training descriptors a word); it is retrained once the index holds
:data:`RETRAIN_GROWTH` times the descriptors it was trained on, until it reaches the
largest vocabulary trained on the largest sample, which is never retrained. Once the
postings are many, they are also kept sorted by word in a file beside the index
(:mod:`provcheck.shortlist.ondisk`), rewritten when enough newer ones have piled up or
enough of its postings belong to frames removed since.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import IndexStoreError
from .shortlist.words import MAX_SPLIT, MAX_TRAINING_DESCRIPTORS, Vocabulary
from .store import IndexStore

#: Stored keypoints from which an index has a trained shortlist. Measured on the quick
#: accuracy corpus (``bench/small_indexes.py``): indexes of 2,442 to 22,473 descriptors
#: gave the same answers to all 27 claims with a vocabulary as with the exact search,
#: which cost 0.04-0.43 s more a claim; the whole corpus (66,922) differed in one window.
TRAIN_AT = 4_000
#: Growth in stored keypoints (over the training sample) that triggers a retraining.
RETRAIN_GROWTH = 8
#: Postings newer than the word file are read into memory when a matcher opens (12 bytes
#: each): the file is rewritten once they pass this many (~4,000 frames, ~50 MB) or
#: 1/WORD_FILE_NEWER_SHARE of the file, whichever is more (each rewrite reads every
#: posting twice, so a fixed bound alone would make a large archive's adds quadratic).
WORD_FILE_NEWER_MAX = 4_000_000
WORD_FILE_NEWER_SHARE = 16
#: Postings of removed frames stay in the word file (read and skipped by every claim)
#: until it is rewritten: it is, once they pass WORD_FILE_NEWER_MAX or this share of it.
WORD_FILE_DEAD_SHARE = 4
#: A vocabulary is not trained on fewer descriptors than this (16 words of 16 each).
MIN_TRAINING_DESCRIPTORS = 256
#: Seed of the training sample (a vocabulary is reproducible from the same index).
SAMPLE_SEED = 7


def needs_training(store: IndexStore) -> bool:
    """Whether the index should (re)train its vocabulary now."""
    vocabulary = store.shortlist_vocabulary()
    if vocabulary is not None and (vocabulary.size >= MAX_SPLIT * MAX_SPLIT
                                   or vocabulary.training_descriptors >= MAX_TRAINING_DESCRIPTORS):
        return False  # decided before counting: counting reads every features row of a large index
    stored = store.voting_descriptor_count()
    if vocabulary is None:
        return stored >= TRAIN_AT
    return stored >= RETRAIN_GROWTH * vocabulary.training_descriptors


def train(store: IndexStore) -> Vocabulary:
    """Train a vocabulary on a sample of the stored descriptors and re-quantise every frame with it."""
    sample = store.descriptor_sample(MAX_TRAINING_DESCRIPTORS, seed=SAMPLE_SEED)
    if sample.shape[0] < MIN_TRAINING_DESCRIPTORS:
        raise IndexStoreError(f"{store.location}: {sample.shape[0]} stored descriptors are too few to train a shortlist"
                              f" (at least {MIN_TRAINING_DESCRIPTORS})")
    vocabulary = Vocabulary.train(sample)
    store.install_vocabulary(vocabulary)
    return vocabulary


#: Told what long upkeep step starts now (a line for the user: training at 10^4 frames takes minutes).
Announce = Callable[[str], None]


def keep_trained(store: IndexStore, announce: Announce | None = None) -> Vocabulary | None:
    """Train when :func:`needs_training` says so; the vocabulary trained, or None."""
    if not needs_training(store):
        return None
    if announce is not None:
        announce(f"training the crop-proof shortlist on up to {MAX_TRAINING_DESCRIPTORS:,} stored descriptors"
                 " and re-quantising every frame")
    return train(store)


def needs_word_file(store: IndexStore) -> bool:
    """Whether the postings held in memory at query time (those newer than the word file) are too many,
    or the file holds too many postings of frames removed since."""
    if store.shortlist_vocabulary() is None:
        return False
    covered, newer, removed = _word_file_state(store)
    if newer > max(WORD_FILE_NEWER_MAX, covered // WORD_FILE_NEWER_SHARE):
        return True
    return removed > max(WORD_FILE_NEWER_MAX, covered // WORD_FILE_DEAD_SHARE)


def _word_file_state(store: IndexStore) -> tuple[int, int, int]:
    """(postings in the word file, postings newer than it, postings in it whose frames are gone)."""
    word_file = store.word_file()
    if word_file is None:
        return 0, store.postings_count(0), 0
    covered = word_file.header.postings
    newer = store.postings_count(word_file.header.covered_seq)
    word_file.close()
    # every row the file covers is still counted in the index: what the file holds beyond them is removed frames'
    return covered, newer, covered - (store.postings_count(0) - newer)


def keep_word_file(store: IndexStore, announce: Announce | None = None) -> bool:
    """Rewrite the word file when :func:`needs_word_file` says so; whether it was rewritten.

    The file is a cache: when it cannot be written (a read-only folder, a full disk) the
    matcher reads the postings from the index itself, so the failure is not an error.
    """
    if not needs_word_file(store):
        return False
    if announce is not None:
        announce("sorting the shortlist's postings into its word lists")
    try:
        store.write_word_file()
    except IndexStoreError:
        return False
    return True


def seal_postings(store: IndexStore) -> bool:
    """Write the word file now if any posting is still held in the index itself, or the file still holds
    postings of removed frames; whether it was written.

    For ``index compact``: the index is to be made small, so a failure is an error here.
    """
    if store.shortlist_vocabulary() is None:
        return False
    if store.unsealed_postings() == 0 and _word_file_state(store)[2] == 0:
        return False
    return store.write_word_file() is not None
