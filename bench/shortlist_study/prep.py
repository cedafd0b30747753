"""Load real stored descriptors from the two indexes, make crop claims, extract claim features.

Writes data/real.npz (descriptors, xy, owners, frame meta) and data/claims.npz.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from provcheck import synth
from provcheck.features import QUERY_KEYPOINTS, QUERY_MAX_SIDE, QUERY_MIN_SIDE, extract
from provcheck.store import SQLiteStore

SEEDS = [int(s) for s in sys.argv[1:]] or [2017, 2031]
PER_SEED_FRAMES = 16
rng = np.random.default_rng(7)
desc, xy, owner, fmeta = [], [], [], []
claims = []  # dicts
row = 0
for seed in SEEDS:
    store = SQLiteStore(Path(f"data/seed{seed}/index.sqlite"))
    frames = store.frame_table()
    sources = {s.id: s for s in store.list_sources()}
    feats = {f.frame_id: f for f in store.feature_table()}
    rows_of_seed = []
    for i, fid in enumerate(frames.frame_ids):
        f = feats.get(int(fid))
        if f is None:
            continue
        usable = f.features.subset(~f.static)
        desc.append(usable.descriptors); xy.append(usable.xy)
        owner.append(np.full(len(usable), row, np.int32))
        src = sources[int(frames.source_ids[i])]
        fmeta.append(dict(row=row, seed=seed, source=f"{seed}:{src.id}", kind=src.kind, path=src.path,
                          time=float(frames.times_s[i]), n=len(usable), w=f.features.width, h=f.features.height))
        rows_of_seed.append(row)
        row += 1
    # claims: random frames of this seed (videos and stills)
    picks = rng.choice(rows_of_seed, size=min(PER_SEED_FRAMES, len(rows_of_seed)), replace=False)
    by_path = {}
    for r in picks:
        by_path.setdefault(fmeta[r]["path"], []).append(r)
    for path, rs in by_path.items():
        if fmeta[rs[0]]["kind"] == "video":
            grabs = synth.extract_frames(Path(path), [fmeta[r]["time"] for r in rs])
            imgs = [g[0] for g in grabs]
        else:
            imgs = [Image.open(path).convert("RGB") for _ in rs]
        for r, img in zip(rs, imgs):
            for area in (0.10, 0.35, 0.60):
                side = np.sqrt(area) * rng.uniform(0.9, 1.1)
                w = min(1.0, side); h = min(1.0, area / w)
                x = rng.uniform(0, 1 - w); y = rng.uniform(0, 1 - h)
                im = synth.crop(img, (x, y, w, h))
                mirrored = bool(rng.random() < 0.3)
                thumb = bool(rng.random() < 0.25)
                if mirrored:
                    im = synth.mirror(im)
                im = synth.add_caption_bar(im, "BREAKING: convoy leaves Al-Bukamal", tag="LIVE")
                if thumb:
                    im = synth.downscale(im, 160)
                im = synth.jpeg(im, int(rng.integers(60, 85)))
                claims.append(dict(row=int(r), area=area, mirrored=mirrored, thumb=thumb,
                                   pixels=np.asarray(im)))
    store.close()

print(f"{row} real frames, {sum(len(d) for d in desc)} descriptors, {len(claims)} claims", flush=True)
np.savez("data/real.npz", desc=np.concatenate(desc), xy=np.concatenate(xy), owner=np.concatenate(owner))
Path("data/frames.json").write_text(json.dumps(fmeta))
qd, qxy, qview, qclaim, meta = [], [], [], [], []
t0 = time.time()
for c, cl in enumerate(claims):
    for mirrored in (False, True):
        view = np.ascontiguousarray(cl["pixels"][:, ::-1]) if mirrored else cl["pixels"]
        t = time.perf_counter()
        lf = extract(view, max_side=QUERY_MAX_SIDE, wanted=QUERY_KEYPOINTS, min_side=QUERY_MIN_SIDE)
        dt = time.perf_counter() - t
        qd.append(lf.descriptors); qxy.append(lf.xy)
        qview.append(np.full(len(lf), int(mirrored), np.int8)); qclaim.append(np.full(len(lf), c, np.int32))
        if not mirrored:
            meta.append(dict(claim=c, row=cl["row"], area=cl["area"], mirrored=cl["mirrored"], thumb=cl["thumb"],
                             n=len(lf), h=int(cl["pixels"].shape[0]), w=int(cl["pixels"].shape[1]), extract_s=dt))
        else:
            meta[-1]["extract_mirror_s"] = dt
print(f"claim features in {time.time()-t0:.0f}s", flush=True)
np.savez("data/claims.npz", desc=np.concatenate(qd), xy=np.concatenate(qxy), view=np.concatenate(qview),
         claim=np.concatenate(qclaim))
Path("data/claims.json").write_text(json.dumps(meta))
