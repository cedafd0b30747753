"""Indexing and query speed on the generated demo corpus, against a decode-only baseline.

Indexing baseline: decoding every frame of each video with PyAV and doing nothing
else, in the same run, so the ratio says what sampling + hashing + features + storing
cost on top of the unavoidable decode. Query baseline: the brute-force pHash lookup
(load the claim, hash it, Hamming distance to every indexed frame), in the same run,
so the ratio says what the two-stage match (trimming, mirror, local features, FAISS
voting, RANSAC, derivation, exact-frame refinement) costs on top of a global hash.

    python bench/speed.py [--seed 2017] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from provcheck import Index, __version__
from provcheck.hashing import PHasher, hamming_distances
from provcheck.media import load_image
from provcheck.store import SQLiteStore
from provcheck.synth import build_demo_corpus


def decode_only(path: Path) -> tuple[int, float]:
    """Decode every frame and convert it to RGB (what any indexer must at least do)."""
    frames = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            frames += 1
    return frames, 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--quick", action="store_true", help="small corpus (CI)")
    args = parser.parse_args()
    print(f"# provcheck {__version__} speed bench  seed={args.seed} quick={args.quick}")
    print(f"# machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()} "
          f"python={platform.python_version()} av={av.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = build_demo_corpus(root / "corpus", seed=args.seed, small=args.quick)
        videos = [s for s in corpus.sources if s.kind == "video"]
        rows = []
        with Index(root / "index.sqlite") as index:
            for source in videos:
                start = time.perf_counter()
                decoded, _ = decode_only(source.path)
                decode_s = time.perf_counter() - start
                start = time.perf_counter()
                record = index.add(source.path, title=source.title)
                index_s = time.perf_counter() - start
                duration = record.duration_s or 0.0
                rows.append((source.path.name, duration, decoded, record.frame_count, decode_s, index_s))
            for source in corpus.sources:
                if source.kind == "image":
                    index.add(source.path, title=source.title)
            query_times = []
            index.match(corpus.claims[0].path)  # load the hash tables once
            for claim in corpus.claims:
                start = time.perf_counter()
                index.match(claim.path)
                query_times.append(time.perf_counter() - start)
            frames_total = index.info().frames
        store = SQLiteStore(root / "index.sqlite")
        table = store.hash_table("phash")
        store.close()
        hasher = PHasher()
        baseline_times = []
        for claim in corpus.claims:
            start = time.perf_counter()
            pixels = np.asarray(load_image(claim.path), dtype=np.uint8)
            int(np.argmin(hamming_distances(hasher.compute(pixels).packed, table.hashes)))
            baseline_times.append(time.perf_counter() - start)
        header = ("video", "length s", "decoded", "kept", "decode-only s", "index s", "x realtime", "decoded fr/s",
                  "vs decode-only")
        print("\n| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for name, duration, decoded, kept, decode_s, index_s in rows:
            print(f"| {name} | {duration:.1f} | {decoded} | {kept} | {decode_s:.2f} | {index_s:.2f} | "
                  f"{duration / index_s:.1f} | {decoded / index_s:.0f} | {index_s / decode_s:.2f}x |")
        total_duration = sum(r[1] for r in rows)
        total_decoded = sum(r[2] for r in rows)
        total_decode_s = sum(r[4] for r in rows)
        total_index_s = sum(r[5] for r in rows)
        print(f"| **all** | {total_duration:.1f} | {total_decoded} | {sum(r[3] for r in rows)} | {total_decode_s:.2f} | "
              f"{total_index_s:.2f} | {total_duration / total_index_s:.1f} | {total_decoded / total_index_s:.0f} | "
              f"{total_index_s / total_decode_s:.2f}x |")
        print(f"\nquery: {len(query_times)} claims against {frames_total} indexed frames\n")
        print("| system | median ms | max ms | median vs pHash brute force |")
        print("|---|---|---|---|")
        baseline_median = statistics.median(baseline_times)
        for name, times in (("provcheck match", query_times), ("pHash brute force (baseline)", baseline_times)):
            median = statistics.median(times)
            print(f"| {name} | {median * 1000:.1f} | {max(times) * 1000:.1f} | {median / baseline_median:.0f}x |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
