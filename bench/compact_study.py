"""What compact descriptor storage would cost in accuracy: an end-to-end simulation on kept accuracy-bench runs.

The index stores 128 bytes of SIFT descriptor per keypoint, which verification reads
back (``FeatureRows.prefetch`` -> ``store.features_of``). This study replaces, inside
the unchanged engine, every stored descriptor the verifier sees by its
compressed-then-decoded version and answers every claim of a kept
``bench/accuracy.py --out`` run again, then compares with that run's results.json.
Nothing is written to the index: the store object of the engine's ``FeatureRows`` is
wrapped by :class:`DecodedStore`, whose ``features_of`` decodes what the SQLite store
read. The shortlist (postings) is untouched, so the same frames are verified.

Variants (codebooks are trained on descriptors sampled from the OTHER seed's index):

* ``baseline``: no change (must reproduce results.json answer for answer);
* ``pq32`` / ``pq16``: faiss ProductQuantizer, m=32 / 16 sub-vectors of 8 bits, trained
  on raw SIFT, decoded and rounded to uint8 (32 / 16 bytes a keypoint);
* ``rpq32`` / ``rpq16``: the same trained on RootSIFT vectors; the decoded vector v is
  handed to the verifier as the float descriptor v**2, whose ``rootsift()`` is exactly
  v / |v| (so verify.py needs no bypass);
* ``opq16`` / ``ropq16``: faiss ``OPQ16,PQ16`` (a learnt rotation before PQ), raw SIFT / RootSIFT;
* ``sq4``: 4-bit uniform scalar quantisation of sqrt(descriptor) over [0, sqrt(255)]
  (64 bytes a keypoint, no training).

Per-claim answers are the accuracy bench's own (``accuracy.run_provcheck``), written to
``OUT/seedN/answers.jsonl`` as they come (a run can be resumed) and assembled into
``OUT/seedN/results_VARIANT.json`` in results.json's format (and ``OUT/tables.md``), which
``bench/verdict_diff.py --answers-only`` diffs against the kept results.json. To save
time, the variants of one claim run back to back and share the claim's SIFT extraction
and shortlist votes (pure functions of the same pixels, memoised by content); the
per-claim seconds are therefore not query times.

    PYTHONPATH=.:bench python bench/compact_study.py run --seeds 2024 2027 \
        --variants baseline pq32 pq16 sq4 rpq16 --runs RUNS --out OUT
    PYTHONPATH=.:bench python bench/compact_study.py run --variants ropq16 --runs RUNS --out OUT  # adds a variant
    PYTHONPATH=.:bench python bench/compact_study.py report --runs RUNS --out OUT
    OMP_NUM_THREADS=1 PYTHONPATH=.:bench python bench/compact_study.py micro --seeds 2024 \
        --variants baseline sq4 pq32 pq16 rpq16 ropq16 --runs RUNS --out OUT   # verify / decode timings
    PYTHONPATH=.:bench python bench/compact_study.py bytes --runs RUNS --out OUT   # on-disk breakdown
    PYTHONPATH=.:bench python bench/compact_study.py words --runs RUNS --out OUT   # inliers sharing a visual word

Timings: on a shared machine faiss's OpenMP threads made decoding a 1,000-keypoint frame
~40x slower than with ``OMP_NUM_THREADS=1`` (contention, not work); measure with one thread.

Runs are read from ``--runs`` (``RUNS/aN/seedN/{index.sqlite,results.json}``, as
``bench/accuracy.py --seed N --out RUNS/aN`` keeps them); each index is copied under OUT
first (opening an index may switch its journal mode).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from accuracy import FPS, ROTATION_TOLERANCE_DEG, iou, run_provcheck
from numpy.typing import NDArray

import provcheck.match.engine as engine_module
import provcheck.match.locate as locate_module
from provcheck import Index
from provcheck.features import QUERY_KEYPOINTS, QUERY_MAX_SIDE, QUERY_MIN_SIDE, LocalFeatures, extract, rootsift
from provcheck.match import MatchSettings
from provcheck.media import load_image
from provcheck.shortlist.inverted import InvertedFile
from provcheck.store import SQLiteStore, StoredFeatures
from provcheck.verify import putative_matches, verify

SEEDS = (2024, 2027)
OTHER_SEED = {2024: 2027, 2027: 2024}
TRAINING_DESCRIPTORS = 200_000
TRAINING_SAMPLE_SEED = 7
SETTINGS = MatchSettings()
LOWEST = 5
BYTES_OF = {"baseline": 128, "sq4": 64, "pq32": 32, "rpq32": 32, "pq16": 16, "rpq16": 16, "opq16": 16, "ropq16": 16}
ANSWER_FIELDS = ("verdict", "matched", "source", "time_s", "window_s", "crop", "mirrored", "rotation_deg")


def run_dir(runs: Path, seed: int) -> Path:
    return runs / f"a{seed}" / f"seed{seed}"


def local_index(runs: Path, out: Path, seed: int) -> Path:
    """A copy of a kept run's index under OUT (the kept one is never opened by SQLiteStore)."""
    copy = out / f"seed{seed}" / "index.sqlite"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir(runs, seed) / "index.sqlite", copy)
    return copy


# --------------------------------------------------------------------------- codecs


class Codec:
    """Compress a frame's uint8 SIFT descriptors to codes and decode them for the verifier."""

    name = "baseline"
    bytes_per_keypoint = 128

    def encode(self, descriptors: NDArray[np.uint8]) -> NDArray[Any]:
        return descriptors

    def decode(self, codes: NDArray[Any]) -> NDArray[Any]:
        return codes

    def roundtrip(self, descriptors: NDArray[np.uint8]) -> NDArray[Any]:
        if descriptors.shape[0] == 0:
            return descriptors
        return self.decode(self.encode(descriptors))


class PQCodec(Codec):
    """Product quantisation (faiss), m sub-vectors of 8 bits, in raw SIFT or RootSIFT space."""

    def __init__(self, m: int, training: NDArray[np.uint8], root: bool) -> None:
        import faiss

        self.name = f"{'r' if root else ''}pq{m}"
        self.bytes_per_keypoint = m
        self.root = root
        self.pq = faiss.ProductQuantizer(128, m, 8)
        self.pq.train(np.ascontiguousarray(self._space(training)))

    def _space(self, descriptors: NDArray[np.uint8]) -> NDArray[np.float32]:
        return rootsift(descriptors) if self.root else descriptors.astype(np.float32)

    def encode(self, descriptors: NDArray[np.uint8]) -> NDArray[np.uint8]:
        return self.pq.compute_codes(np.ascontiguousarray(self._space(descriptors)))

    def decode(self, codes: NDArray[np.uint8]) -> NDArray[Any]:
        vectors = self.pq.decode(codes)
        if self.root:
            # rootsift(v**2) = |v| / ||v||: the verifier sees the decoded RootSIFT vector, L2-normalised
            return np.square(np.maximum(vectors, 0.0)).astype(np.float32)
        return np.clip(np.rint(vectors), 0, 255).astype(np.uint8)


class OPQCodec(PQCodec):
    """OPQ (a learnt rotation, faiss ``OPQm,PQm``) then product quantisation; same spaces as :class:`PQCodec`."""

    def __init__(self, m: int, training: NDArray[np.uint8], root: bool) -> None:
        import faiss

        self.name = f"{'r' if root else ''}opq{m}"
        self.bytes_per_keypoint = m
        self.root = root
        self.index = faiss.index_factory(128, f"OPQ{m},PQ{m}")
        self.index.train(np.ascontiguousarray(self._space(training)))

    def encode(self, descriptors: NDArray[np.uint8]) -> NDArray[np.uint8]:
        return self.index.sa_encode(np.ascontiguousarray(self._space(descriptors)))

    def decode(self, codes: NDArray[np.uint8]) -> NDArray[Any]:
        vectors = self.index.sa_decode(codes)
        if self.root:
            return np.square(np.maximum(vectors, 0.0)).astype(np.float32)
        return np.clip(np.rint(vectors), 0, 255).astype(np.uint8)


class SQ4Codec(Codec):
    """4-bit uniform quantisation of sqrt(descriptor) over [0, sqrt(255)], two values a byte."""

    name = "sq4"
    bytes_per_keypoint = 64
    STEP = math.sqrt(255.0) / 15.0
    TABLE = np.clip(np.rint((np.arange(16) * STEP) ** 2), 0, 255).astype(np.uint8)

    def encode(self, descriptors: NDArray[np.uint8]) -> NDArray[np.uint8]:
        levels = np.clip(np.rint(np.sqrt(descriptors.astype(np.float32)) / self.STEP), 0, 15).astype(np.uint8)
        return (levels[:, 0::2] << 4) | levels[:, 1::2]

    def decode(self, codes: NDArray[np.uint8]) -> NDArray[np.uint8]:
        levels = np.empty((codes.shape[0], 128), np.uint8)
        levels[:, 0::2], levels[:, 1::2] = codes >> 4, codes & 15
        return self.TABLE[levels]


def training_sample(runs: Path, out: Path, seed: int) -> NDArray[np.uint8]:
    """Voting (non-overlay) descriptors sampled from the other seed's index."""
    store = SQLiteStore(local_index(runs, out, OTHER_SEED[seed]))
    try:
        return store.descriptor_sample(TRAINING_DESCRIPTORS, seed=TRAINING_SAMPLE_SEED)
    finally:
        store.close()


def make_codecs(names: Sequence[str], runs: Path, out: Path, seed: int) -> dict[str, Codec]:
    codecs: dict[str, Codec] = {}
    training: NDArray[np.uint8] | None = None
    for name in names:
        if name == "baseline":
            codecs[name] = Codec()
        elif name == "sq4":
            codecs[name] = SQ4Codec()
        elif name.startswith(("pq", "rpq", "opq", "ropq")):
            if training is None:
                training = training_sample(runs, out, seed)
            kind = OPQCodec if "opq" in name else PQCodec
            codecs[name] = kind(int(name.lstrip("ropq")), training, root=name.startswith("r"))
        else:
            raise ValueError(f"unknown variant {name!r}")
    return codecs


# --------------------------------------------------------------------------- the simulation


@dataclasses.dataclass
class DecodeStats:
    frames: int = 0
    keypoints: int = 0
    seconds: float = 0.0


class DecodedStore:
    """An IndexStore whose ``features_of`` hands out compressed-then-decoded descriptors (all else delegated)."""

    def __init__(self, store: Any, codec: Codec) -> None:
        self._inner = store
        self._codec = codec
        self.stats = DecodeStats()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def features_of(self, frame_ids: Sequence[int]) -> dict[int, StoredFeatures]:
        found = self._inner.features_of(frame_ids)
        start = time.perf_counter()
        decoded = {}
        for frame_id, stored in found.items():
            features = dataclasses.replace(stored.features, descriptors=self._codec.roundtrip(stored.features.descriptors))
            decoded[frame_id] = dataclasses.replace(stored, features=features)
            self.stats.keypoints += len(features)
        self.stats.frames += len(found)
        self.stats.seconds += time.perf_counter() - start
        return decoded


def open_variant(index_path: Path, codec: Codec) -> tuple[Index, DecodedStore]:
    """An Index whose engine verifies against decoded descriptors (the engine is built here, nothing prefetched yet)."""
    index = Index(index_path, settings=SETTINGS)
    engine = index._matcher()
    rows = engine._features  # FeatureRows: the only reader of stored descriptors with the inverted-file shortlist
    wrapped = DecodedStore(rows._store, codec)
    rows._store = wrapped
    return index, wrapped


class Memo:
    """Content-keyed memo of the claim-side pure functions shared by the variants of one claim."""

    def __init__(self) -> None:
        self.extract: dict[Any, LocalFeatures] = {}
        self.votes: dict[bytes, NDArray[np.float64]] = {}
        self.hits = 0

    def clear(self) -> None:
        self.extract.clear()
        self.votes.clear()

    def install(self) -> None:
        original_extract = extract
        original_votes = InvertedFile.votes
        memo = self

        def memo_extract(pixels: NDArray[np.uint8], **kwargs: Any) -> LocalFeatures:
            array = np.ascontiguousarray(pixels)
            key = (array.shape, hashlib.blake2b(array.tobytes(), digest_size=16).digest(), tuple(sorted(kwargs.items())))
            if key not in memo.extract:
                memo.extract[key] = original_extract(pixels, **kwargs)
            else:
                memo.hits += 1
            return memo.extract[key]

        def memo_votes(self: InvertedFile, query: NDArray[np.uint8]) -> NDArray[np.float64]:
            key = hashlib.blake2b(np.ascontiguousarray(query).tobytes(), digest_size=16).digest() + bytes(
                str(query.shape), "ascii")
            if key not in memo.votes:
                memo.votes[key] = original_votes(self, query)
            else:
                memo.hits += 1
            return memo.votes[key].copy()

        engine_module.extract = memo_extract  # type: ignore[assignment]
        locate_module.extract = memo_extract  # type: ignore[assignment]
        InvertedFile.votes = memo_votes  # type: ignore[method-assign]


def claims_of(results: dict[str, Any]) -> list[SimpleNamespace]:
    """What run_provcheck reads of a claim (path and true source), from a kept results.json."""
    return [SimpleNamespace(name=c["claim"], path=Path(c["path"]), source=c["truth"]["source"])
            for c in results["claims"]]


def run_seed(runs: Path, out: Path, seed: int, variants: Sequence[str], limit: int | None,
             log: Callable[[str], None]) -> None:
    folder = out / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    index_path = local_index(runs, out, seed)
    results = json.loads((run_dir(runs, seed) / "results.json").read_text())
    claims = claims_of(results)[:limit]
    done: set[tuple[str, str]] = set()
    answers_path = folder / "answers.jsonl"
    if answers_path.exists():
        for line in answers_path.read_text().splitlines():
            record = json.loads(line)
            done.add((record["variant"], record["claim"]))
    start = time.perf_counter()
    codecs = make_codecs(variants, runs, out, seed)
    log(f"[seed {seed}] codecs trained in {time.perf_counter() - start:.1f} s: {', '.join(codecs)}")
    store = SQLiteStore(index_path)
    records = store.list_sources()
    source_of_row_ids = store.hash_table("pdq").source_ids
    store.close()
    name_of_source = {r.id: r.title for r in records}
    name_of_path = {r.path: r.title for r in records}
    source_of_row = [name_of_source[int(i)] for i in source_of_row_ids]
    opened = {name: open_variant(index_path, codec) for name, codec in codecs.items()}
    memo = Memo()
    memo.install()
    seconds = {name: 0.0 for name in variants}
    with answers_path.open("a") as sink:
        for k, claim in enumerate(claims):
            memo.clear()
            for name in variants:
                if (name, claim.name) in done:
                    continue
                t0 = time.perf_counter()
                answers, probes = run_provcheck(opened[name][0], [claim], name_of_path, source_of_row,
                                                name_of_source, lambda message: None)
                seconds[name] += time.perf_counter() - t0
                sink.write(json.dumps({"variant": name, "claim": claim.name,
                                       "provcheck": dataclasses.asdict(answers[0]),
                                       "probe": None if probes[0] is None else dataclasses.asdict(probes[0])}) + "\n")
                sink.flush()
            if (k + 1) % 10 == 0:
                log(f"[seed {seed}] {k + 1}/{len(claims)} claims; seconds per variant so far: "
                    + ", ".join(f"{n} {s:.0f}" for n, s in seconds.items()))
    stats = {name: dataclasses.asdict(wrapped.stats) for name, (_, wrapped) in opened.items()}
    (folder / f"decode_stats_{int(time.time())}.json").write_text(json.dumps({"decode": stats, "seconds": seconds},
                                                                             indent=1))
    for index, _ in opened.values():
        index.close()
    log(f"[seed {seed}] done in {time.perf_counter() - start:.0f} s ({memo.hits} memo hits)")


def assemble(runs: Path, out: Path, seed: int) -> dict[str, dict[str, Any]]:
    """results_VARIANT.json per variant (results.json's format; claims not answered yet left out)."""
    folder = out / f"seed{seed}"
    kept = json.loads((run_dir(runs, seed) / "results.json").read_text())
    by_variant: dict[str, dict[str, dict[str, Any]]] = {}
    for line in (folder / "answers.jsonl").read_text().splitlines():
        record = json.loads(line)
        by_variant.setdefault(record["variant"], {})[record["claim"]] = record
    assembled = {}
    for variant, found in by_variant.items():
        claims = []
        for claim in kept["claims"]:
            if claim["claim"] in found:
                record = {k: v for k, v in claim.items() if k not in ("phash", "pdq")}
                record["provcheck"] = found[claim["claim"]]["provcheck"]
                record["probe"] = found[claim["claim"]]["probe"]
                claims.append(record)
        data = {"seed": seed, "variant": variant, "claims": claims}
        (folder / f"results_{variant}.json").write_text(json.dumps(data, indent=1))
        assembled[variant] = data
    return assembled


# --------------------------------------------------------------------------- report


def _answer(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record["provcheck"].items() if k != "seconds"}


def _fmt_answer(a: dict[str, Any]) -> str:
    crop = "-" if a["crop"] is None else "(" + ",".join(f"{v:.3f}" for v in a["crop"]) + ")"
    t = "-" if a["time_s"] is None else f"{a['time_s']:.2f}"
    window = "-" if a["window_s"] is None else f"[{a['window_s'][0]:.2f},{a['window_s'][1]:.2f}]"
    rotation = "-" if a["rotation_deg"] is None else f"{a['rotation_deg']:.2f}"
    return (f"{a['verdict']} {a['source'] or '-'} t={t} win={window} crop={crop} rot={rotation}"
            f"{' mirrored' if a['mirrored'] else ''} inl={a['inliers']}")


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, np.float64), q, method="lower"))


def truth_quality(claim: dict[str, Any]) -> dict[str, float | bool | None]:
    """The accuracy bench's per-claim derivation checks (time within a frame, crop IoU, rotation) of a hit."""
    truth, answer = claim["truth"], claim["provcheck"]
    if truth["source"] is None or truth["source"] not in answer["matched"]:
        return {}
    quality: dict[str, float | bool | None] = {}
    if truth["time_s"] is not None and answer["time_s"] is not None:
        quality["frame_ok"] = abs(answer["time_s"] - truth["time_s"]) <= 1.0 / FPS + 1e-6
    if truth["crop"] is not None:
        quality["iou"] = iou(tuple(answer["crop"]) if answer["crop"] else None, tuple(truth["crop"]))
    quality["rotation_ok"] = abs((answer["rotation_deg"] or 0.0) - truth["rotation_deg"]) <= ROTATION_TOLERANCE_DEG
    quality["mirror_ok"] = answer["mirrored"] == truth["mirrored"]
    return quality


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Differences, recall, false matches and inlier ratios of one variant against the kept answers."""
    old = {c["claim"]: c for c in before["claims"]}
    rows: list[str] = []
    any_field = 0
    kinds = {"decision": 0, "time": 0, "window": 0, "crop": 0, "rotation": 0, "mirror": 0}
    worst = {"dt": 0.0, "iou": 1.0, "drot": 0.0}
    positives = hits = negatives = false_matches = possibles_neg = 0
    reported, stored_true = [], []
    low: list[tuple[int, int, str]] = []
    negative_max, negative_gated_max, wrong_max = 0, 0, 0
    quality: dict[str, list[Any]] = {"frame_ok": [], "iou": [], "rotation_ok": [], "mirror_ok": []}
    for claim in after["claims"]:
        name, truth = claim["claim"], claim["truth"]["source"]
        was, now = _answer(old[name]), _answer(claim)
        if was != now:
            any_field += 1
        changed = [f for f in ANSWER_FIELDS if was[f] != now[f]]
        if changed:
            notes = []
            if {"verdict", "matched", "source"} & set(changed):
                kinds["decision"] += 1
                notes.append("DECISION")
            if "time_s" in changed:
                kinds["time"] += 1
                if was["time_s"] is not None and now["time_s"] is not None:
                    worst["dt"] = max(worst["dt"], abs(now["time_s"] - was["time_s"]))
                    notes.append(f"dt {now['time_s'] - was['time_s']:+.2f} s")
            if "window_s" in changed:
                kinds["window"] += 1
            if "crop" in changed:
                kinds["crop"] += 1
                value = iou(tuple(was["crop"]) if was["crop"] else None, tuple(now["crop"]) if now["crop"] else None)
                worst["iou"] = min(worst["iou"], value)
                notes.append(f"crop IoU {value:.3f}")
            if "rotation_deg" in changed:
                kinds["rotation"] += 1
                if was["rotation_deg"] is not None and now["rotation_deg"] is not None:
                    worst["drot"] = max(worst["drot"], abs(now["rotation_deg"] - was["rotation_deg"]))
                    notes.append(f"drot {now['rotation_deg'] - was['rotation_deg']:+.2f} deg")
            if "mirrored" in changed:
                kinds["mirror"] += 1
            rows.append(f"| {name} | {'pos' if truth else 'neg'} | {', '.join(changed)} | {_fmt_answer(was)} | "
                        f"{_fmt_answer(now)} | {'; '.join(notes)} |")
        for key, value in truth_quality(claim).items():
            quality[key].append(value)
        probe = claim["probe"] or {"inliers": {}, "inliers_gated": {}}
        if truth:
            positives += 1
            hit = truth in now["matched"]
            hits += hit
            if hit and truth in was["matched"] and was["inliers"] and now["inliers"] is not None:
                reported.append(now["inliers"] / was["inliers"])
            before_true = (old[name]["probe"] or {"inliers": {}})["inliers"].get(truth, 0)
            after_true = probe["inliers"].get(truth, 0)
            if before_true and truth in was["matched"]:
                stored_true.append(after_true / before_true)
            low.append((before_true, after_true, name))
            wrong_max = max([wrong_max] + [v for s, v in probe["inliers"].items() if s != truth])
        else:
            negatives += 1
            false_matches += now["verdict"] == "match"
            possibles_neg += now["verdict"] == "possible"
            negative_max = max([negative_max] + list(probe["inliers"].values()))
            negative_gated_max = max([negative_gated_max] + list(probe["inliers_gated"].values()))
    return {"claims": len(after["claims"]), "any_field": any_field, "changed": len(rows), "kinds": kinds,
            "worst": worst, "rows": rows, "quality": quality,
            "positives": positives, "hits": hits, "negatives": negatives, "false_matches": false_matches,
            "possible_neg": possibles_neg, "reported_ratio": reported, "stored_true_ratio": stored_true,
            "low": sorted(low)[:LOWEST], "all_low": low, "negative_max": negative_max,
            "negative_gated_max": negative_gated_max, "wrong_source_max": wrong_max}


def _ratios(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.3f} / {_pct(values, 10):.3f} / {min(values):.3f}"


def report(runs: Path, out: Path, seeds: Sequence[int]) -> str:
    """Tables of every variant answered so far against the kept results.json (writes OUT/tables.md)."""
    main = ["| seed | variant | bytes/kp | claims | differing answers, any field (verdict_diff --answers-only)"
            " | differing verdict/source/time/window/crop/mirror/rotation | recall (pos) | false match (neg)"
            " | possible (neg) | max inliers on a negative (any frame / hull-gated) | max inliers, wrong source"
            " of a positive |", "|" + "---|" * 11]
    kinds = ["| seed | variant | decision (verdict/matched/source) | time | max abs dt s | window | crop | min crop IoU"
             " vs before | rotation | max abs drot deg | mirror | time within 1 frame of truth | crop IoU vs truth"
             " median / min | rotation ok | mirror ok |", "|" + "---|" * 15]
    inliers = ["| seed | variant | reported inliers after/before, med / p10 / min (hits) | true source's best stored"
               " frame inliers after/before, med / p10 / min (positives hit before) | positives under 20 stored-frame"
               " inliers before / after | the 5 weakest positives: stored-frame inliers before -> after |",
               "|---|---|---|---|---|---|"]
    details = []
    for seed in seeds:
        if not (out / f"seed{seed}" / "answers.jsonl").exists():
            continue
        kept = json.loads((run_dir(runs, seed) / "results.json").read_text())
        assembled = assemble(runs, out, seed)
        for variant in sorted(assembled, key=lambda v: (v != "baseline", -BYTES_OF.get(v, 0), v)):
            c = compare(kept, assembled[variant])
            q = c["quality"]
            main.append(
                f"| {seed} | {variant} | {BYTES_OF.get(variant, '?')} | {c['claims']} | {c['any_field']} | "
                f"{c['changed']} | {c['hits']}/{c['positives']} | {c['false_matches']}/{c['negatives']} | "
                f"{c['possible_neg']}/{c['negatives']} | {c['negative_max']} / {c['negative_gated_max']} | "
                f"{c['wrong_source_max']} |")
            k, w = c["kinds"], c["worst"]
            kinds.append(
                f"| {seed} | {variant} | {k['decision']} | {k['time']} | {w['dt']:.2f} | {k['window']} | {k['crop']} | "
                f"{w['iou']:.3f} | {k['rotation']} | {w['drot']:.2f} | {k['mirror']} | "
                f"{sum(q['frame_ok'])}/{len(q['frame_ok'])} | "
                f"{(statistics.median(q['iou']) if q['iou'] else float('nan')):.3f} / "
                f"{(min(q['iou']) if q['iou'] else float('nan')):.3f} | "
                f"{sum(q['rotation_ok'])}/{len(q['rotation_ok'])} | {sum(q['mirror_ok'])}/{len(q['mirror_ok'])} |")
            weakest = ", ".join(f"{b}->{a}" for b, a, _ in c["low"])
            under = (sum(b < SETTINGS.match_inliers for b, _, _ in c["all_low"]),
                     sum(a < SETTINGS.match_inliers for _, a, _ in c["all_low"]))
            inliers.append(f"| {seed} | {variant} | {_ratios(c['reported_ratio'])} | {_ratios(c['stored_true_ratio'])} | "
                           f"{under[0]} / {under[1]} | {weakest} |")
            if c["rows"]:
                details.append(f"\n#### seed {seed}, {variant}: answers that differ in verdict/source/time/window/"
                               f"crop/mirroring/rotation ({len(c['rows'])})\n")
                details.append("| claim | truth | fields | before | after | change |\n|---|---|---|---|---|---|")
                details.extend(c["rows"])
    header = (f"Match threshold: {SETTINGS.match_inliers} inliers (possible {SETTINGS.possible_inliers}, weak "
              f"{SETTINGS.weak_inliers} with pixel agreement), hull share >= {SETTINGS.min_hull_share}.")
    text = "\n".join([header, "", *main, "", *kinds, "", *inliers, *details])
    (out / "tables.md").write_text(text + "\n")
    return text


# --------------------------------------------------------------------------- micro benchmarks


def load_features(index_path: Path) -> dict[int, StoredFeatures]:
    store = SQLiteStore(index_path)
    try:
        return store.features_of(store.featured_frame_ids().tolist())
    finally:
        store.close()


def claim_features(path: Path, mirrored: bool = False) -> LocalFeatures:
    pixels = np.asarray(load_image(path), dtype=np.uint8)
    if mirrored:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    return extract(pixels, max_side=QUERY_MAX_SIDE, wanted=QUERY_KEYPOINTS, min_side=QUERY_MIN_SIDE)


def micro(runs: Path, out: Path, variants: Sequence[str], seed: int = 2024, pairs: int = 24, repeat: int = 5) -> str:
    """Wall time of verify() with kept vs decoded frame descriptors, and decode time per frame."""
    index_path = local_index(runs, out, seed)
    stored = load_features(index_path)
    store = SQLiteStore(index_path)
    table = store.frame_table()
    sources = {r.id: r.title for r in store.list_sources()}
    store.close()
    results = json.loads((run_dir(runs, seed) / "results.json").read_text())
    rng = np.random.default_rng(1)
    chosen = [results["claims"][int(i)] for i in rng.choice(len(results["claims"]), pairs, replace=False)]
    frame_ids = list(stored)
    codecs = make_codecs(variants, runs, out, seed)
    lines = [f"seed {seed}: {len(stored)} frames, {sum(len(s.features) for s in stored.values())} keypoints;"
             f" {pairs} claims, each verified against its true source's frame nearest the true time (positives)"
             f" or a random frame (negatives); median of {repeat} runs per pair",
             "", "| variant | bytes/kp | verify ms (median over pairs) | verify ms p90 | same inliers as kept |"
             " decode ms / 1000-keypoint frame (median) | encode ms / frame |", "|---|---|---|---|---|---|---|"]
    work = []
    for claim in chosen:
        truth = claim["truth"]["source"]
        if truth:
            rows = [r for r in range(len(table)) if sources[int(table.source_ids[r])] == truth]
            t = claim["truth"]["time_s"]
            row = min(rows, key=lambda r: 0.0 if t is None else abs(float(table.times_s[r]) - t))
            frame_id = int(table.frame_ids[row])
        else:
            frame_id = int(frame_ids[int(rng.integers(len(frame_ids)))])
        work.append((claim_features(Path(claim["path"]), bool(claim["truth"]["mirrored"])), stored[frame_id]))
    kept_inliers = []
    for name, codec in codecs.items():
        verify_ms, same = [], 0
        for k, (claim, frame) in enumerate(work):
            usable = frame.features.subset(~frame.static)
            decoded = dataclasses.replace(usable, descriptors=codec.roundtrip(usable.descriptors))
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                found = verify(claim, decoded)
                times.append(time.perf_counter() - t0)
            verify_ms.append(1000 * statistics.median(times))
            inliers = 0 if found is None else found.inliers
            if name == "baseline":
                kept_inliers.append(inliers)
            same += inliers == kept_inliers[k]
        decode_ms, encode_ms = [], []
        for frame in list(stored.values())[:60]:
            descriptors = frame.features.descriptors
            t0 = time.perf_counter()
            codes = codec.encode(descriptors)
            t1 = time.perf_counter()
            for _ in range(repeat):
                codec.decode(codes)
            t2 = time.perf_counter()
            encode_ms.append(1000 * (t1 - t0) * 1000 / max(1, len(descriptors)))
            decode_ms.append(1000 * (t2 - t1) / repeat * 1000 / max(1, len(descriptors)))
        lines.append(f"| {name} | {codec.bytes_per_keypoint} | {statistics.median(verify_ms):.2f} | "
                     f"{_pct(verify_ms, 90):.2f} | {same}/{len(work)} | {statistics.median(decode_ms):.3f} | "
                     f"{statistics.median(encode_ms):.3f} |")
    text = "\n".join(lines)
    (out / "micro.md").write_text(text + "\n")
    return text


# --------------------------------------------------------------------------- bytes on disk


def byte_breakdown(runs: Path, out: Path, seed: int = 2024) -> str:
    path = run_dir(runs, seed) / "index.sqlite"
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)  # the kept file, read as it is
    q = lambda sql: conn.execute(sql).fetchone()  # noqa: E731
    frames = q("SELECT count(*) FROM frames")[0]
    featured, keypoints = q("SELECT count(*), sum(keypoints) FROM features")
    file_size = path.stat().st_size
    page_size = q("PRAGMA page_size")[0]
    freelist = q("PRAGMA freelist_count")[0]
    payload = {
        "features.xy": q("SELECT sum(length(xy)) FROM features")[0],
        "features.descriptors": q("SELECT sum(length(descriptors)) FROM features")[0],
        "features.static": q("SELECT sum(length(static)) FROM features")[0],
        "features other columns (id, size, count; approx. 4 x 2-3 B)": None,
        "postings.words": q("SELECT sum(length(words)) FROM postings")[0],
        "postings.signatures": q("SELECT sum(length(signatures)) FROM postings")[0],
        "frames.phash": q("SELECT sum(length(phash)) FROM frames")[0],
        "frames.pdq": q("SELECT sum(length(pdq)) FROM frames")[0],
        "vocabulary.data (fixed, not per frame)": q("SELECT sum(length(data)) FROM vocabulary")[0],
    }
    try:
        per_table = conn.execute("SELECT name, sum(pgsize), sum(payload), sum(unused), count(*) FROM dbstat "
                                 "GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.OperationalError:
        per_table = []
    conn.close()
    lines = [f"`{path}`: {file_size} bytes, page size {page_size}, {freelist} free pages; {frames} frames, "
             f"{featured} with features, {keypoints} keypoints ({keypoints / max(featured, 1):.0f} per frame)",
             f"file bytes per frame: {file_size / frames:.0f}",
             "", "| column | bytes | bytes per frame | bytes per keypoint |", "|---|---|---|---|"]
    for name, value in payload.items():
        if value is None:
            continue
        lines.append(f"| {name} | {value} | {value / frames:.0f} | {value / keypoints:.2f} |")
    if per_table:
        lines += ["", "dbstat (pages incl. B-tree and overflow pages):", "",
                  "| table/index | bytes on pages | payload | unused | pages | bytes per frame |",
                  "|---|---|---|---|---|---|"]
        for name, pgsize, load, unused, pages in per_table:
            lines.append(f"| {name} | {pgsize} | {load} | {unused} | {pages} | {pgsize / frames:.0f} |")
        total_pages = sum(r[1] for r in per_table)
        total_payload = sum(r[2] for r in per_table)
        lines.append(f"| **all** | {total_pages} | {total_payload} | | | {total_pages / frames:.0f} |")
        lines.append(f"\nSQLite overhead (page bytes minus payload, all tables): {total_pages - total_payload} bytes "
                     f"({(total_pages - total_payload) / frames:.0f} per frame)")
    # the word file: written for a copy of the index (none is kept beside the bench's index)
    words_path = out / f"seed{seed}" / "wordfile" / "index.sqlite"
    words_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, words_path)
    store = SQLiteStore(words_path)
    header = store.write_word_file()
    store.close()
    word_file = words_path.with_name(words_path.name + ".words")
    if header is not None and word_file.exists():
        size = word_file.stat().st_size
        lines.append(f"\nWord file: none beside the bench's index; written for a copy with SQLiteStore.write_word_file():"
                     f" {size} bytes for {header.postings} postings ({size / frames:.0f} per frame, "
                     f"{size / max(header.postings, 1):.2f} per posting)")
    text = "\n".join(lines)
    (out / "bytes.md").write_text(text + "\n")
    return text


# --------------------------------------------------------------------------- postings vs inliers


def inlier_words(runs: Path, out: Path, seeds: Sequence[int]) -> str:
    """For each positive claim's best kept-descriptor frame of its true source: do RANSAC inliers share a word?"""
    from provcheck.verify import RANSAC_THRESHOLD_SHARE  # noqa: F401  (documents what verify() used)

    lines = ["| seed | positives | positives whose true source verified | RANSAC inliers (verify) | inlier correspondences"
             " recovered | same word | share | Hamming (same word) p50 / p90 / p99 / max | same word: <= 24 bits"
             " (HAMMING_MAX) | positives keeping >= 20 inliers with same word and <= 24 bits | positives with >= 20"
             " inliers |", "|" + "---|" * 11]
    for seed in seeds:
        index_path = local_index(runs, out, seed)
        stored = load_features(index_path)
        store = SQLiteStore(index_path)
        vocabulary = store.shortlist_vocabulary()
        table = store.frame_table()
        sources = {r.id: r.title for r in store.list_sources()}
        store.close()
        assert vocabulary is not None
        results = json.loads((run_dir(runs, seed) / "results.json").read_text())
        total = same = pairs = enough = enough_base = ransac = 0
        distances: list[int] = []
        positives = 0
        for claim in results["claims"]:
            truth = claim["truth"]["source"]
            if not truth:
                continue
            positives += 1
            rows = [r for r in range(len(table)) if sources[int(table.source_ids[r])] == truth
                    and int(table.frame_ids[r]) in stored]
            best = None
            for mirrored in (False, True):
                features = claim_features(Path(claim["path"]), mirrored)
                for r in rows:
                    s = stored[int(table.frame_ids[r])]
                    frame = s.features.subset(~s.static)
                    found = verify(features, frame)
                    if found is not None and (best is None or found.inliers > best[0].inliers):
                        best = (found, features, frame)
            if best is None:
                continue
            found, features, frame = best
            ci, fi = putative_matches(features, frame)
            inlier_set = {tuple(p) for p in np.asarray(found.claim_inliers_xy, np.float32).tolist()}
            keep = np.array([tuple(p) in inlier_set for p in features.xy[ci].astype(np.float32).tolist()], bool)
            ci, fi = ci[keep], fi[keep]
            cw, cs = vocabulary.assign(features.descriptors[ci])
            fw, fs = vocabulary.assign(frame.descriptors[fi])
            match = cw == fw
            bits = np.array([bin(int(a) ^ int(b)).count("1") for a, b in zip(cs[match], fs[match], strict=True)],
                            np.int64)
            pairs += 1
            ransac += found.inliers
            total += int(ci.size)
            same += int(match.sum())
            distances += bits.tolist()
            if found.inliers >= SETTINGS.match_inliers:
                enough_base += 1
                enough += int((bits <= 24).sum()) >= SETTINGS.match_inliers
        d = np.asarray(distances)
        lines.append(f"| {seed} | {positives} | {pairs} | {ransac} | {total} | {same} | {same / max(total, 1):.3f} | "
                     f"{_pct(d, 50):.0f} / {_pct(d, 90):.0f} / {_pct(d, 99):.0f} / {d.max()} | "
                     f"{(d <= 24).mean():.3f} | {enough} | {enough_base} |")
    text = "\n".join(lines)
    (out / "words.md").write_text(text + "\n")
    return text


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("run", "report", "micro", "bytes", "words"))
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--variants", nargs="+", default=["baseline", "pq32", "pq16", "sq4", "rpq16"])
    parser.add_argument("--limit", type=int, default=None, help="only the first N claims of each seed")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    wall = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - wall:7.1f}s] {message}", file=sys.stderr, flush=True)

    if args.what == "run":
        for seed in args.seeds:
            run_seed(args.runs, args.out, seed, args.variants, args.limit, log)
        print(report(args.runs, args.out, args.seeds))
    elif args.what == "report":
        print(report(args.runs, args.out, args.seeds))
    elif args.what == "micro":
        print(micro(args.runs, args.out, args.variants, seed=args.seeds[0]))
    elif args.what == "bytes":
        print(byte_breakdown(args.runs, args.out, seed=args.seeds[0]))
    else:
        print(inlier_words(args.runs, args.out, args.seeds))
    log(f"{args.what}: wall time {time.perf_counter() - wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
