"""Shared pieces: data loading, distractor generation, vote ranking and recall."""
import json
import resource
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
VOTING_DESCRIPTORS = 600          # as provcheck.search
SHORTLIST = 12                    # MatchSettings.shortlist_frames
PER_SOURCE = 3                    # MatchSettings.shortlist_per_source
DISTRACTOR_KP = 1000              # INDEX_KEYPOINTS
FRAMES_PER_FAKE_SOURCE = 200      # distractor frames grouped into fake sources (per-source cap applies)


def load_real():
    z = np.load(DATA / "real.npz")
    frames = json.loads((DATA / "frames.json").read_text())
    return z["desc"], z["xy"], z["owner"].astype(np.int64), frames


def load_claims():
    z = np.load(DATA / "claims.npz")
    meta = json.loads((DATA / "claims.json").read_text())
    return z["desc"], z["xy"], z["view"], z["claim"], meta


def claim_view(qdesc, qview, qclaim, c, view, voting=True):
    sel = np.flatnonzero((qclaim == c) & (qview == view))
    if voting:  # an even spread, as DescriptorIndex.votes
        step = max(1, -(-len(sel) // VOTING_DESCRIPTORS))
        sel = sel[::step]
    return sel


def recombine(pool, n, rng):
    """n synthetic SIFT descriptors: a real pool descriptor with 1 or 2 of its four 2x2-cell
    quadrants (32 values each) replaced by the same quadrant of other random pool descriptors,
    then SIFT-normalised again (L2, clip 0.2, L2, x512). Realistic statistics, no true owner."""
    base_idx = rng.integers(0, len(pool), n)
    out = pool[base_idx].astype(np.float32).reshape(n, 4, 4, 8)  # rows, cols, orientations
    swaps = rng.integers(1, 3, n)
    quads = [(slice(0, 2), slice(0, 2)), (slice(0, 2), slice(2, 4)), (slice(2, 4), slice(0, 2)), (slice(2, 4), slice(2, 4))]
    order = np.argsort(rng.random((n, 4)), axis=1)
    for s in range(2):
        active = swaps > s
        for qi, (rs, cs) in enumerate(quads):
            m = active & (order[:, s] == qi)
            idx = np.flatnonzero(m)
            if idx.size:
                donor = pool[rng.integers(0, len(pool), idx.size)].astype(np.float32).reshape(-1, 4, 4, 8)
                out[idx, rs, cs, :] = donor[:, rs, cs, :]
    out = out.reshape(n, 128)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    np.minimum(out, 0.2, out=out)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    return np.clip(np.rint(out * 512), 0, 255).astype(np.uint8), base_idx


def distractor_chunks(pool, pool_xy, n_frames, first_row, chunk_frames=2000, seed=99):
    """Yield (descriptors, xy, owners) for n_frames distractor frames of DISTRACTOR_KP descriptors."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_frames:
        f = min(chunk_frames, n_frames - done)
        d, base = recombine(pool, f * DISTRACTOR_KP, rng)
        owners = np.repeat(np.arange(first_row + done, first_row + done + f, dtype=np.int64), DISTRACTOR_KP)
        yield d, pool_xy[base], owners
        done += f


def source_of_rows(frames, n_total):
    """Source label per frame row: real sources by name, distractors in groups."""
    names = {}
    out = np.empty(n_total, np.int64)
    for f in frames:
        out[f["row"]] = names.setdefault(f["source"], len(names))
    nr = len(frames)
    out[nr:] = len(names) + (np.arange(n_total - nr) // FRAMES_PER_FAKE_SOURCE)
    return out


def shortlist(scores, sources, k=SHORTLIST, per_source=PER_SOURCE):
    chosen, per = [], {}
    cand = np.argpartition(-scores, min(len(scores) - 1, 400))[:400] if len(scores) > 400 else np.arange(len(scores))
    for r in cand[np.argsort(-scores[cand], kind="stable")]:
        if scores[r] <= 0 or len(chosen) >= k:
            break
        s = int(sources[r])
        if per.get(s, 0) >= per_source:
            continue
        per[s] = per.get(s, 0) + 1
        chosen.append(int(r))
    return chosen


def true_rank(scores, row):
    """1-based rank of the true frame by score (ties counted against it); inf if no score."""
    if scores[row] <= 0:
        return np.inf
    return int((scores > scores[row]).sum() + (scores[np.arange(len(scores)) != row] == scores[row]).sum() + 1)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


class Timer:
    def __enter__(self):
        self.t = time.perf_counter(); self.c = time.process_time(); return self
    def __exit__(self, *a):
        self.wall = time.perf_counter() - self.t; self.cpu = time.process_time() - self.c
