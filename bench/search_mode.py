"""The descriptor search a bench runs with: the trained inverted file (what an archive uses), the same on a
compacted index (descriptors stored as codes, ``index compact``), or the exact twin."""

from __future__ import annotations

import argparse

from provcheck import Index
from provcheck.match import MatchSettings

SEARCHES = ("inverted", "exact", "compact")


def add_search_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--search", choices=SEARCHES, default="inverted",
                        help="inverted: train the shortlist after indexing, whatever the corpus's size (default);"
                             " exact: every stored descriptor in one FAISS index, the reference;"
                             " compact: inverted, on the index compacted after indexing (16-byte descriptor codes)")


def search_settings(search: str) -> MatchSettings:
    return MatchSettings(shortlist_search="exact" if search == "exact" else "auto")


def prepare_search(index: Index, search: str) -> None:
    """Train the shortlist when the bench runs the inverted file, and compact the index when asked."""
    if search in ("inverted", "compact"):
        index.train_shortlist()
    if search == "compact":
        index.compact()
