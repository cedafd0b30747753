"""What verification reads, and what it costs per shortlisted frame.
(i) full stored descriptors read from SQLite (today's format, 128 B + 8 B a keypoint);
(ii) re-extraction from the source file: seek + decode the frame with PyAV, then SIFT (1,000 keypoints);
(iii) inliers of provcheck.verify.verify (ratio test on full descriptors) on the true frame, to compare
     with RANSAC on matches taken straight from the HE postings (bench_he.py: inliers_true).
"""
import json
import sqlite3
import time

import av
import numpy as np
from common import *

from provcheck.features import INDEX_KEYPOINTS, INDEX_MAX_SIDE, LocalFeatures, extract
from provcheck.verify import verify

rdesc, rxy, rowner, frames = load_real()
qdesc, qxy, qview, qclaim, cmeta = load_claims()
out = {}
# (i) SQLite reads of 12 frames' features (warm and as-is)
times = []
for seed in (2017, 2031):
    con = sqlite3.connect(f"data/seed{seed}/index.sqlite")
    ids = [r[0] for r in con.execute("SELECT frame_id FROM features")]
    rng = np.random.default_rng(seed)
    for _ in range(10):
        pick = [int(x) for x in rng.choice(ids, 12, replace=False)]
        t = time.perf_counter()
        rows = con.execute(f"SELECT xy, descriptors FROM features WHERE frame_id IN ({','.join('?' * 12)})", pick).fetchall()
        arrs = [np.frombuffer(r[1], np.uint8) for r in rows]
        times.append(time.perf_counter() - t)
    con.close()
out["sqlite_read_12_frames_s"] = dict(median=float(np.median(times)), p95=float(np.percentile(times, 95)))
print("sqlite read 12 frames", out["sqlite_read_12_frames_s"], flush=True)

# (ii) re-extraction from the source video
vids = [f for f in frames if f["kind"] == "video"]
rng = np.random.default_rng(3)
dec, ext = [], []
for f in [vids[i] for i in rng.choice(len(vids), 24, replace=False)]:
    t0 = time.perf_counter()
    with av.open(f["path"]) as c:
        s = c.streams.video[0]
        c.seek(int(f["time"] / s.time_base), stream=s, backward=True, any_frame=False)
        img = None
        for fr in c.decode(s):
            if fr.time is not None and fr.time >= f["time"] - 1e-3:
                img = fr.to_ndarray(format="rgb24"); break
    t1 = time.perf_counter()
    lf = extract(img, max_side=INDEX_MAX_SIDE, wanted=INDEX_KEYPOINTS)
    t2 = time.perf_counter()
    dec.append(t1 - t0); ext.append(t2 - t1)
out["reextract_per_frame_s"] = dict(decode_median=float(np.median(dec)), extract_median=float(np.median(ext)),
                                   total_median=float(np.median(np.array(dec) + np.array(ext))))
print("re-extract", out["reextract_per_frame_s"], flush=True)

# (iii) full-descriptor verification inliers on the true frame
starts = np.searchsorted(rowner, np.arange(len(frames)))
ends = np.searchsorted(rowner, np.arange(len(frames)), side="right")
rows = []
for c, m in enumerate(cmeta):
    v = int(m["mirrored"])
    sel = claim_view(qdesc, qview, qclaim, c, v, voting=False)
    claim = LocalFeatures(qxy[sel], qdesc[sel], m["w"], m["h"])
    f = frames[m["row"]]
    a, b = starts[m["row"]], ends[m["row"]]
    fr = LocalFeatures(rxy[a:b], rdesc[a:b], f["w"], f["h"])
    t = time.perf_counter()
    ver = verify(claim, fr)
    rows.append(dict(claim=c, area=m["area"], thumb=m["thumb"], inliers=0 if ver is None else int(ver.inliers),
                     verify_s=time.perf_counter() - t))
out["full_verify"] = rows
print("full verify inliers by area:", {a: np.median([r["inliers"] for r in rows if r["area"] == a]) for a in (0.1, 0.35, 0.6)},
      "time/frame median", np.median([r["verify_s"] for r in rows]), flush=True)
Path("results/verify_cost.json").write_text(json.dumps(out))
