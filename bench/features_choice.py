"""SIFT (RootSIFT) against ORB as the local feature of the verification stage.

For every claim of the generated demo corpus, each detector's keypoints are matched
(ratio test, one-to-one) against every indexed frame and verified with the same RANSAC
similarity fit. Reported per claim: inliers on the true frame, the best inlier count
on any frame of another source (chance agreement), and extraction time per frame.
The decision rule is the gap: true inliers must stay far above the chance maximum.

    python bench/features_choice.py [--seed 2017] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from provcheck import __version__
from provcheck.features import QUERY_KEYPOINTS, LocalFeatures, extract
from provcheck.media import RGBArray, image_frame, sample_video
from provcheck.synth import build_demo_corpus
from provcheck.verify import MAX_SCALE, MIN_SCALE, RANSAC_THRESHOLD_SHARE, RATIO_TEST

Extractor = Callable[[RGBArray, int], LocalFeatures]


def sift(pixels: RGBArray, wanted: int) -> LocalFeatures:
    return extract(pixels, wanted=wanted, max_side=1024)


def orb(pixels: RGBArray, wanted: int) -> LocalFeatures:
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    keypoints, descriptors = cv2.ORB_create(nfeatures=wanted, fastThreshold=5).detectAndCompute(grey, None)
    if descriptors is None:
        descriptors = np.zeros((0, 32), np.uint8)
    xy = np.float32([kp.pt for kp in keypoints]).reshape(-1, 2)
    return LocalFeatures(xy, descriptors, pixels.shape[1], pixels.shape[0])


def inliers(claim: LocalFeatures, frame: LocalFeatures, norm: int) -> int:
    if len(claim) < 4 or len(frame) < 4:
        return 0
    if norm == cv2.NORM_L2:
        from provcheck.features import rootsift

        a, b = rootsift(claim.descriptors), rootsift(frame.descriptors)
    else:
        a, b = claim.descriptors, frame.descriptors
    pairs = cv2.BFMatcher(norm).knnMatch(a, b, k=2)
    best: dict[int, cv2.DMatch] = {}
    for pair in pairs:
        if len(pair) == 2 and pair[0].distance < RATIO_TEST * pair[1].distance:
            if pair[0].trainIdx not in best or pair[0].distance < best[pair[0].trainIdx].distance:
                best[pair[0].trainIdx] = pair[0]
    if len(best) < 4:
        return 0
    src = np.float32([claim.xy[m.queryIdx] for m in best.values()])
    dst = np.float32([frame.xy[m.trainIdx] for m in best.values()])
    threshold = RANSAC_THRESHOLD_SHARE * float(np.hypot(frame.width, frame.height))
    matrix, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold)
    if matrix is None or not MIN_SCALE <= float(np.hypot(matrix[0, 0], matrix[1, 0])) <= MAX_SCALE:
        return 0
    return int(mask.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"# provcheck {__version__} feature choice  seed={args.seed} quick={args.quick}")
    print(f"# machine: {platform.machine()} cores={os.cpu_count()} python={platform.python_version()} "
          f"opencv={cv2.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = build_demo_corpus(Path(tmp), seed=args.seed, small=args.quick)
        frames = []
        for source in corpus.sources:
            sampled = list(sample_video(source.path)) if source.kind == "video" else [image_frame(source.path)]
            frames.extend((source.path, frame) for frame in sampled)
        systems: dict[str, tuple[Extractor, int]] = {"SIFT (RootSIFT)": (sift, cv2.NORM_L2),
                                                     "ORB": (orb, cv2.NORM_HAMMING)}
        rows = []
        for name, (extractor, norm) in systems.items():
            start = time.perf_counter()
            indexed = [(path, frame.time_s, extractor(frame.pixels, 1000)) for path, frame in frames]
            per_frame_ms = (time.perf_counter() - start) / len(frames) * 1000
            for claim in corpus.claims:
                query = extractor(image_frame(claim.path).pixels, QUERY_KEYPOINTS)
                mirrored = extractor(np.ascontiguousarray(image_frame(claim.path).pixels[:, ::-1]), QUERY_KEYPOINTS)
                true_best, other_best = 0, 0
                for path, time_s, features in indexed:
                    count = max(inliers(query, features, norm), inliers(mirrored, features, norm))
                    is_true = claim.source_path is not None and path == claim.source_path and (
                        claim.time_s is None or time_s is None or abs(time_s - claim.time_s) < 0.6)
                    if is_true:
                        true_best = max(true_best, count)
                    elif claim.source_path is None or path != claim.source_path:
                        other_best = max(other_best, count)
                rows.append((name, claim.path.name, claim.source_path is not None, true_best, other_best))
            print(f"# {name}: {per_frame_ms:.0f} ms per indexed frame")
    print("\n| claim | SIFT true | SIFT other max | ORB true | ORB other max |")
    print("|---|---|---|---|---|")
    names = sorted({row[1] for row in rows})
    table = {(row[0], row[1]): row for row in rows}
    for claim_name in names:
        s, o = table[("SIFT (RootSIFT)", claim_name)], table[("ORB", claim_name)]
        true_s = s[3] if s[2] else "-"
        true_o = o[3] if o[2] else "-"
        print(f"| {claim_name} | {true_s} | {s[4]} | {true_o} | {o[4]} |")
    for name in systems:
        related = [row[3] for row in rows if row[0] == name and row[2]]
        chance = [row[4] for row in rows if row[0] == name]
        print(f"\n{name}: weakest true claim {min(related)} inliers, strongest chance agreement {max(chance)}, "
              f"gap x{min(related) / max(1, max(chance)):.1f}")


if __name__ == "__main__":
    main()
