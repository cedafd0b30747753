"""Shared credits: false matches when unrelated photos carry the same agency credit as indexed ones.

Agency and broadcaster photos carry the same credit line or logo in the same place.
An unrelated claim carrying that credit shares dozens of keypoints with every indexed
photo of the agency, all on the credit. This bench indexes credit-stamped stills,
then asks about unrelated photos stamped with the same credit (the right answer is
"none") and about crops of the indexed photos (the right answer is their own source,
and no other). pHash and PDQ run in the same run, brute force, with thresholds set to
one bit under the closest negative (zero false matches on these negatives by
construction, as in ``bench/accuracy.py``).

    python bench/credits.py [--seed N] [--quick]

Not collected by pytest. Prints a table; every number is measured in the run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from search_mode import add_search_option, prepare_search, search_settings

from provcheck import Index, Match, Verdict, __version__, synth
from provcheck.hashing import PDQHasher, PHasher, hamming_distances

CREDITS = ("© REUTERS / Photo Agency 2016", "AFP PHOTO / STR", "MoD TV")


def photo(seed: int) -> np.ndarray:
    if seed % 2:
        return synth.terrain_texture(np.random.default_rng(seed), 640, 960, "color")
    return synth.press_photo(np.random.default_rng(seed), 960, 640)


VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "whole": lambda p: p,
    "corner crop (credit inside)": lambda p: p[320:, 480:],
    "bottom strip": lambda p: p[400:, 100:],
    "480 px, JPEG q60": lambda p: np.asarray(synth.jpeg(synth.downscale(p, 480), 60)),
}


def claim_record(name: str, matches: list[Match]) -> dict[str, object]:
    """One claim's answer, reduced to what a verdict diff compares."""
    return {"claim": name, "matches": [{"source": m.source.title, "verdict": m.verdict.value,
                                        "confidence": round(m.confidence, 3)} for m in matches]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--quick", action="store_true", help="2 indexed photos per credit, 2 negatives per view")
    parser.add_argument("--out", type=Path, default=None,
                        help="write every claim's verdicts here as JSON (to diff two commits claim for claim)")
    add_search_option(parser)
    args = parser.parse_args(argv)
    records: list[dict[str, object]] = []
    per_credit, negatives = (2, 2) if args.quick else (4, 6)
    started = time.perf_counter()
    print(f"**provcheck shared-credit bench** (provcheck {__version__})\n")
    print(f"- command: `python bench/credits.py {' '.join(sys.argv[1:])}`".rstrip())
    print(f"- machine: {platform.machine()}, python {platform.python_version()}")
    print(f"- settings: search={args.search}, seed={args.seed}, credits={len(CREDITS)}, "
          f"indexed photos per credit={per_credit}, negatives per credit and view={negatives}\n")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        index = Index(root / "index.sqlite", settings=search_settings(args.search))
        indexed: list[tuple[str, np.ndarray]] = []
        for c, credit in enumerate(CREDITS):
            corner = "bottom-left" if c == 2 else "bottom-right"
            for k in range(per_credit):
                pixels = np.asarray(synth.stamp_credit(photo(args.seed + 100 * c + k), credit, corner))
                path = root / f"indexed_{c}_{k}.png"
                Image.fromarray(pixels).save(path)
                index.add(path, title=path.stem)
                indexed.append((path.stem, pixels))
        prepare_search(index, args.search)
        hashers = {"phash": PHasher(), "pdq": PDQHasher()}
        stored = {name: np.stack([np.frombuffer(h.compute(p).packed, dtype=np.uint8) for _, p in indexed])
                  for name, h in hashers.items()}

        def nearest(name: str, pixels: np.ndarray) -> tuple[int, int]:
            distances = hamming_distances(hashers[name].compute(pixels).packed, stored[name])
            row = int(np.argmin(distances))
            return row, int(distances[row])

        rows: list[tuple[str, int, int, int]] = []
        closest_negative = {name: 10_000 for name in hashers}
        for view, make in VIEWS.items():
            false_match = possible = 0
            n = 0
            for c, credit in enumerate(CREDITS):
                corner = "bottom-left" if c == 2 else "bottom-right"
                for k in range(negatives):
                    claim = make(np.asarray(synth.stamp_credit(photo(args.seed + 5000 + 100 * c + k), credit, corner)))
                    n += 1
                    matches = index.match(np.ascontiguousarray(claim))
                    records.append(claim_record(f"negative {view} {c}/{k}", matches))
                    false_match += any(m.verdict is Verdict.MATCH for m in matches)
                    possible += not any(m.verdict is Verdict.MATCH for m in matches) and bool(matches)
                    for name in hashers:
                        _, distance = nearest(name, claim)
                        closest_negative[name] = min(closest_negative[name], distance)
            rows.append((view, n, false_match, possible))
        hits = wrong = total = 0
        positive_distances: dict[str, list[tuple[int, int]]] = {name: [] for name in hashers}
        for row, (title, pixels) in enumerate(indexed):
            for make in (lambda p: p[320:, 480:], lambda p: np.asarray(synth.jpeg(p[100:500, 200:800], 60))):
                claim = np.ascontiguousarray(make(pixels))
                total += 1
                matches = index.match(claim)
                records.append(claim_record(f"crop {title} {total}", matches))
                named = [m.source.title for m in matches if m.verdict is Verdict.MATCH]
                hits += title in named
                wrong += any(other != title for other in named)
                for name in hashers:
                    found, distance = nearest(name, claim)
                    positive_distances[name].append((found == row, distance))
    print("| claims (right answer: none) | n | provcheck: some source `match` | provcheck: only `possible` |")
    print("|---|---|---|---|")
    for view, n, false_match, possible in rows:
        print(f"| unrelated photo + same credit: {view} | {n} | {false_match} | {possible} |")
    print("\n| system | recall on crops of the indexed photos | claims with a wrong source matched | threshold |")
    print("|---|---|---|---|")
    print(f"| provcheck | {hits}/{total} | {wrong} | verdict `match` |")
    for name in hashers:
        threshold = closest_negative[name] - 1
        found = sum(right and distance <= threshold for right, distance in positive_distances[name])
        wrong_found = sum(not right and distance <= threshold for right, distance in positive_distances[name])
        print(f"| {name} (brute force) | {found}/{total} | {wrong_found} | <= {threshold} bits |")
    print(f"\nwall time: {time.perf_counter() - started:.1f} s")
    if args.out is not None:
        args.out.write_text(json.dumps({"seed": args.seed, "claims": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
