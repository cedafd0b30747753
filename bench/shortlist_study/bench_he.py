"""BoW + Hamming embedding shortlist on N frames (real frames + recombined distractors).

usage: bench_he.py N --k1 256 --k2 256 [--ht 20,24,28] [--ma 1,2] [--replicate R]
Builds (or reuses) the vocabulary (trained once on 1M descriptors: all real + recombined ones drawn
with another seed) and the postings; then for every claim: HE votes, shortlist, and a geometric
re-rank of the top frames with RANSAC on matches taken straight from the postings (stored x, y).
--replicate R: timing only, postings duplicated R times (frame ids shifted) to emulate R x N frames.
"""
import argparse
import json

import cv2
import faiss
import numpy as np
from common import *
from he import Postings, Vocab, he_scores

from provcheck.features import rootsift

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("--k1", type=int, default=256)
ap.add_argument("--k2", type=int, default=256)
ap.add_argument("--ht", default="24")
ap.add_argument("--ma", default="1")
ap.add_argument("--rerank", type=int, default=100)
ap.add_argument("--replicate", type=int, default=1)
ap.add_argument("--views", type=int, default=2)
args = ap.parse_args()
faiss.omp_set_num_threads(1)

rdesc, rxy, rowner, frames = load_real()
qdesc, qxy, qview, qclaim, cmeta = load_claims()
nreal = len(frames)
N = max(args.n, nreal)
tag = f"{args.k1}x{args.k2}"
vfile = Path(f"results/vocab_{tag}.npz")
voc = Vocab(args.k1, args.k2)
info = {}
if vfile.exists():
    z = np.load(vfile); voc.c1, voc.c2 = z["c1"], z["c2"]; voc.c2n = (voc.c2 ** 2).sum(-1)
    voc.l1 = faiss.IndexFlatL2(128); voc.l1.add(voc.c1)
else:
    rng = np.random.default_rng(123)
    extra, _ = recombine(rdesc, 750_000, rng)
    with Timer() as tt:
        voc.train(rootsift(np.concatenate([rdesc, extra])))
    voc.save(vfile)
    info["train_s"], info["train_cpu"] = tt.wall, tt.cpu
    print(f"vocab {tag} trained {tt.wall:.0f}s wall {tt.cpu:.0f}s cpu", flush=True)

pdir = Path(f"results/post_{tag}_{N}")
if not (pdir / "offsets.npy").exists():
    W, F, S, XY = [], [], [], []
    with Timer() as tb:
        for d, xy, own in [(rdesc, rxy, rowner)] + list(distractor_chunks(rdesc, rxy, N - nreal, nreal)):
            for i in range(0, len(d), 500_000):
                w, s, _ = voc.assign(rootsift(d[i:i + 500_000]))
                W.append(w[:, 0].astype(np.int32)); S.append(s[:, 0]); F.append(own[i:i + 500_000]); XY.append(xy[i:i + 500_000])
    Postings.write(pdir, np.concatenate(W), np.concatenate(F), np.concatenate(S), np.concatenate(XY), voc.words)
    del W, F, S, XY
    info["build_s"], info["build_cpu"] = tb.wall, tb.cpu
    print(f"postings built {tb.wall:.0f}s wall {tb.cpu:.0f}s cpu", flush=True)
if args.replicate > 1:  # timing-only copy with R x the postings per word
    rdir = Path(f"results/post_{tag}_{N}x{args.replicate}")
    if not (rdir / "offsets.npy").exists():
        p = Postings(pdir, mmap=False); rdir.mkdir(exist_ok=True)
        lens = np.diff(p.off); R = args.replicate
        w = np.repeat(np.arange(len(lens)), lens)
        np.save(rdir / "offsets.npy", np.concatenate([[0], np.cumsum(lens * R)]).astype(np.int64))
        for name, arr in (("fid", p.fid), ("sig", p.sig), ("xy", p.xy)):
            out = np.lib.format.open_memmap(rdir / f"{name}.npy", mode="w+", dtype=arr.dtype, shape=(len(arr) * R,) + arr.shape[1:])
            for word in range(len(lens)):  # word-major: the word's postings R times
                a, b = p.off[word], p.off[word + 1]
                if b > a:
                    blk = arr[a:b]
                    if name == "fid":
                        blk = np.concatenate([blk + np.uint32(k * N) for k in range(R)])
                    else:
                        blk = np.concatenate([blk] * R)
                    out[p.off[word] * R:p.off[word + 1] * R] = blk
            out.flush(); del out
    pdir = rdir
    N = N * args.replicate
post = Postings(pdir)
disk = sum(f.stat().st_size for f in pdir.iterdir())
info.update(n_frames=N, postings=post.total, disk_bytes=disk, disk_per_frame=disk / N,
            ram_fixed_bytes=voc.c1.nbytes + voc.c2.nbytes + post.off.nbytes + post.idf.nbytes)
print(f"N={N}: {post.total} postings, {disk/N:.0f} B/frame on disk, fixed RAM {info['ram_fixed_bytes']/1e6:.1f} MB, rss {rss_mb():.0f} MB", flush=True)
sources = source_of_rows(frames, N)
claim_lf = {}
out = {"info": info, "results": {}}
for ma in [int(x) for x in args.ma.split(",")]:
    for ht in [int(x) for x in args.ht.split(",")]:
        rows = []
        for c, m in enumerate(cmeta):
            view_true = int(m["mirrored"])
            res = {}
            tw = tc = 0.0; scanned_total = 0
            for v in ((0, 1) if args.views == 2 else (view_true,)):
                sel = claim_view(qdesc, qview, qclaim, c, v, voting=False)
                with Timer() as t:
                    x = rootsift(qdesc[sel])
                    words, sigs, _ = voc.assign(x, ma=ma, l1_probe=2 if ma > 1 else 1)
                    scores, (q, f, h, p, first), scanned = he_scores(post, words, sigs, ht, N)
                    sl_votes = shortlist(scores, sources)
                    # geometric re-rank of the top frames: RANSAC on matches from the postings
                    top = np.argsort(-scores)[:args.rerank]
                    top = top[scores[top] > 0]
                    inl = np.zeros(N, np.float64)
                    fq, ff = q[first], f[first]
                    pxy = post.xy[p[first]].astype(np.float32)
                    cxy = qxy[sel][fq].astype(np.float32)
                    ordf = np.argsort(ff, kind="stable"); ffs = ff[ordf]
                    for r in top:
                        a, b = np.searchsorted(ffs, r), np.searchsorted(ffs, r, side="right")
                        if b - a < 6:
                            continue
                        ii = ordf[a:b]
                        T, mask = cv2.estimateAffinePartial2D(cxy[ii], pxy[ii], method=cv2.RANSAC,
                                                              ransacReprojThreshold=4.4, maxIters=500, confidence=0.99)
                        if mask is not None:
                            inl[r] = mask.sum() + scores[r] * 1e-3
                    sl_geo = shortlist(inl, sources)
                tw += t.wall; tc += t.cpu; scanned_total += scanned
                if v == view_true:
                    res = dict(hit=m["row"] in sl_votes, rank=float(true_rank(scores, m["row"])),
                               hit_geo=m["row"] in sl_geo, rank_geo=float(true_rank(inl, m["row"])),
                               inliers_true=float(np.floor(inl[m["row"]])),
                               inliers_best_other=float(max([np.floor(inl[r]) for r in top if sources[r] != sources[m["row"]]] or [0])),
                               score_true=float(scores[m["row"]]),
                               distractor_scores=np.sort(scores[nreal:])[-200:].tolist(),
                               real_above=int((scores[:nreal] > scores[m["row"]]).sum()),
                               src_hit=any(sources[r] == sources[m["row"]] for r in sl_votes))
            rows.append(dict(claim=c, area=m["area"], thumb=m["thumb"], mirrored=m["mirrored"], wall=tw, cpu=tc,
                             scanned=scanned_total, **res))
        name = f"HE {tag} ma={ma} ht={ht}"
        out["results"][name] = dict(rows=rows)
        t = np.array([r["cpu"] for r in rows])
        f10 = [r for r in rows if r["area"] == 0.1]
        print(f"{name}: recall@12 votes {np.mean([r['hit'] for r in rows]):.3f} geo {np.mean([r['hit_geo'] for r in rows]):.3f}"
              f" | 10%: votes {np.mean([r['hit'] for r in f10]):.3f} geo {np.mean([r['hit_geo'] for r in f10]):.3f}"
              f" | cpu/claim median {np.median(t):.3f}s p95 {np.percentile(t,95):.3f}s, scanned/claim {np.median([r['scanned'] for r in rows]):.0f}, rss {rss_mb():.0f} MB peak {peak_rss_mb():.0f} MB", flush=True)
        Path(f"results/he_{tag}_{N}.json").write_text(json.dumps(out))
