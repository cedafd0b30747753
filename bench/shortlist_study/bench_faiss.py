"""Exact brute-force vote (provcheck.search's twin) and FAISS IVF-PQ shortlists on N frames.

usage: bench_faiss.py N_FRAMES [--exact] [--exact-claims area,...] [--configs IVF4096,PQ16:16 ...]
Each config is FACTORY:NPROBE[:KEEP] (KEEP = descriptors per frame kept for the shortlist).
Writes results/faiss_N.json.
"""
import argparse
import json

import faiss
import numpy as np
from common import *

from provcheck.features import rootsift
from provcheck.search import VOTE_NEIGHBOURS, tally_votes

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("--exact", action="store_true")
ap.add_argument("--exact-areas", default="0.1,0.35,0.6")
ap.add_argument("--configs", nargs="*", default=[])
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--train", type=int, default=200_000)
args = ap.parse_args()
faiss.omp_set_num_threads(args.threads)

rdesc, rxy, rowner, frames = load_real()
qdesc, qxy, qview, qclaim, cmeta = load_claims()
nreal = len(frames)
N = max(args.n, nreal)
sources = source_of_rows(frames, N)
chunks = list(distractor_chunks(rdesc, rxy, N - nreal, nreal))
all_desc = [rdesc] + [c[0] for c in chunks]
all_owner = np.concatenate([rowner] + [c[2] for c in chunks])
ndesc = sum(len(d) for d in all_desc)
print(f"N={N} frames, {ndesc} descriptors, {len(cmeta)} claims", flush=True)
out = {"n_frames": N, "n_desc": int(ndesc), "results": {}}


def evaluate(name, search_fn, areas=None, both_views=True, extra=None):
    rows = []
    for c, m in enumerate(cmeta):
        if areas and m["area"] not in areas:
            continue
        view = int(m["mirrored"])
        t_wall = t_cpu = 0.0
        votes = None
        for v in ((0, 1) if both_views else (view,)):
            sel = claim_view(qdesc, qview, qclaim, c, v)
            with Timer() as t:
                sims, ids = search_fn(rootsift(qdesc[sel]))
                vv = tally_votes(sims, ids, all_owner, N)
                sl = shortlist(vv, sources)
            t_wall += t.wall; t_cpu += t.cpu
            if v == view:
                votes, slist = vv, sl
        rows.append(dict(claim=c, area=m["area"], thumb=m["thumb"], mirrored=m["mirrored"],
                         hit=m["row"] in slist, rank=float(true_rank(votes, m["row"])),
                         src_hit=any(sources[r] == sources[m["row"]] for r in slist),
                         votes_true=float(votes[m["row"]]), wall=t_wall, cpu=t_cpu))
    res = dict(rows=rows, **(extra or {}))
    out["results"][name] = res
    hits = [r["hit"] for r in rows]
    t = np.array([r["cpu"] for r in rows])
    print(f"{name}: recall@12 {np.mean(hits):.3f} ({sum(hits)}/{len(hits)}), 10%: "
          f"{np.mean([r['hit'] for r in rows if r['area'] == 0.1]):.3f}, cpu/claim median {np.median(t):.3f}s "
          f"p95 {np.percentile(t, 95):.3f}s, rss {rss_mb():.0f} MB  {extra or ''}", flush=True)
    Path(f"results/faiss_{N}.json").write_text(json.dumps(out))


Path("results").mkdir(exist_ok=True)
if args.exact:
    with Timer() as tb:
        flat = faiss.IndexFlatIP(128)
        for d in all_desc:
            for i in range(0, len(d), 1_000_000):
                flat.add(rootsift(d[i:i + 1_000_000]))
    print(f"exact built {tb.wall:.0f}s rss {rss_mb():.0f} MB", flush=True)
    areas = [float(a) for a in args.exact_areas.split(",")]
    evaluate("exact", lambda q: flat.search(q, VOTE_NEIGHBOURS), areas=areas, both_views=False,
             extra=dict(ram_bytes_per_frame=512 * ndesc / N))
    del flat

rng = np.random.default_rng(5)
for cfg in args.configs:
    parts = cfg.split(":")
    factory, nprobe = parts[0], int(parts[1])
    keep = int(parts[2]) if len(parts) > 2 else None
    # training sample: half real, half distractor descriptors
    tr_real = rdesc[rng.choice(len(rdesc), min(len(rdesc), args.train // 2), replace=False)]
    dpool = all_desc[1] if len(all_desc) > 1 else rdesc
    tr_dis = dpool[rng.choice(len(dpool), min(len(dpool), args.train // 2), replace=False)]
    index = faiss.index_factory(128, factory)  # L2 on unit-norm RootSIFT = inner product ranking
    with Timer() as tt:
        index.train(rootsift(np.concatenate([tr_real, tr_dis])))
    with Timer() as ta:
        start = 0
        ids_all = []
        for d in all_desc:
            owners = all_owner[start:start + len(d)]
            if keep:  # an even spread of `keep` descriptors per frame
                pos = np.arange(len(d)) - np.searchsorted(owners, owners, side="left")
                cnt = np.bincount(owners - owners[0])[owners - owners[0]]
                step = np.maximum(1, -(-cnt // keep))
                m = (pos % step == 0)
                idx = np.flatnonzero(m)
            else:
                idx = np.arange(len(d))
            for i in range(0, len(idx), 1_000_000):
                part = idx[i:i + 1_000_000]
                index.add_with_ids(rootsift(d[part]), (start + part).astype(np.int64))
            start += len(d)
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = nprobe
    code = ivf.code_size
    stored = index.ntotal
    def search(q, index=index):
        D, I = index.search(q, VOTE_NEIGHBOURS)
        return (1 - D / 2).astype(np.float32), I
    evaluate(f"{factory} nprobe={nprobe}" + (f" keep={keep}" if keep else ""), search,
             extra=dict(train_s=tt.wall, train_cpu=tt.cpu, add_s=ta.wall, code_size=code,
                        bytes_per_frame=(code + 8) * stored / N, stored=int(stored)))
    del index
