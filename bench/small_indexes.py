"""The crop-proof shortlist on small indexes: does a vocabulary trained on a few frames answer as the exact search does?

Below ``shortlist_upkeep.TRAIN_AT`` stored keypoints an index is matched with the exact
search (every stored descriptor in one FAISS index); past it with a trained vocabulary.
This bench builds small indexes from subsets of the quick accuracy corpus (generated
from the seed, as ``bench/accuracy.py --quick`` does), matches every quick claim (all 27,
positives of the other sources and negatives included) with the exact search, trains the
shortlist, matches them again, and prints per index: descriptors, words, seconds a claim
both ways, and the claims whose answer (best source, verdict, time, window, crop,
mirroring) differs.

    python bench/small_indexes.py [--seed 2024] [--out DIR]

Timings are wall seconds of one process on a shared machine: compare rows of one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402

from provcheck import Index, shortlist_upkeep  # noqa: E402
from provcheck.match import MatchSettings  # noqa: E402
from provcheck.results import Match  # noqa: E402

#: Indexed sources (names without the idx_ prefix) of each small index: hard cases (the two
#: videos with the identical HUD, low texture) and the smallest possible (one still).
SUBSETS = (("gunship_a", "gunship_b"), ("press", "skyphoto"), ("colour_pan_zoom", "fog", "smoke"),
           ("thermal_pod", "sky", "terrain"), ("blur",), ("colour_cuts", "gunship_a"), ("press",))


def answer(matches: list[Match]) -> tuple[Any, ...] | None:
    """What a verdict diff compares, rounded as the accuracy bench rounds it."""
    if not matches:
        return None
    best = matches[0]
    crop = best.derivation.crop
    box = None if crop is None else (round(crop.x, 3), round(crop.y, 3), round(crop.w, 3), round(crop.h, 3))
    return best.source.title, best.verdict.value, best.timestamp_s, best.window_s, box, best.derivation.mirrored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=None, help="keep the corpus and indexes here")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="provcheck-small-"))
    settings = accuracy.QUICK
    sources = accuracy.generate_sources(root / "sources", args.seed, settings)
    claims = accuracy.make_claims(sources, root / "claims", args.seed, settings, settings.positives_per_row,
                                  settings.negatives_per_row)
    by_name = {source.name: source for source in sources if source.indexed}
    shortlist_upkeep.TRAIN_AT = 10**12  # indexes are built untrained and trained below, on purpose
    print(f"# small indexes: quick corpus seed {args.seed}, {len(claims)} claims against each index")
    print("| indexed sources | frames | descriptors | words | exact s/claim | inverted s/claim | answers | differ |")
    print("|---|---|---|---|---|---|---|---|")
    differing_total = 0
    for subset in SUBSETS:
        path = root / f"{'_'.join(subset)}.sqlite"
        path.unlink(missing_ok=True)
        with Index(path) as index:
            index.add_many([str(by_name[f"idx_{name}"].path) for name in subset], jobs=1)
        timed: list[float] = []
        answers: list[list[tuple[Any, ...] | None]] = []
        for search in ("exact", "inverted"):
            if search == "inverted":
                with Index(path) as index:
                    vocabulary = index.train_shortlist()
            with Index(path, settings=MatchSettings(shortlist_search="exact" if search == "exact" else "auto")) as index:
                start = time.perf_counter()
                answers.append([answer(index.match(str(claim.path))) for claim in claims])
                timed.append((time.perf_counter() - start) / len(claims))
                frames = index.info().frames
        differing = [(claim.name, a, b) for claim, a, b in zip(claims, *answers, strict=True) if a != b]
        differing_total += len(differing)
        print(f"| {' + '.join(subset)} | {frames} | {vocabulary.training_descriptors:,} | {vocabulary.size:,} "
              f"| {timed[0]:.2f} | {timed[1]:.2f} | {sum(a is not None for a in answers[0])} | {len(differing)} |")
        for name, a, b in differing:
            print(f"    {name}: exact {a} / inverted {b}")
    print(f"\nclaims answered differently, all indexes: {differing_total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
