"""Tables for README.md from results/*.json; HE recall extrapolated to 1e5 / 1e6 frames from the
measured distractor score tail (exponential fit of the top 200 distractor scores)."""
import glob
import json
from pathlib import Path

import numpy as np


def summary(rows):
    r = lambda key, sub=None: np.mean([x[key] for x in rows if sub is None or sub(x)]) if rows else float("nan")
    cpu = np.array([x["cpu"] for x in rows])
    return dict(n=len(rows), frame=r("hit"), src=r("src_hit"), frame10=r("hit", lambda x: x["area"] == 0.1),
                src10=r("src_hit", lambda x: x["area"] == 0.1), thumb=r("hit", lambda x: x["thumb"]),
                cpu_med=float(np.median(cpu)), cpu_p95=float(np.percentile(cpu, 95)),
                wall_med=float(np.median([x["wall"] for x in rows])))

lines = []
for f in sorted(glob.glob("results/faiss_*.json")) + sorted(glob.glob("results/he_*.json")):
    d = json.loads(Path(f).read_text())
    n = d.get("n_frames") or d["info"]["n_frames"]
    for name, res in d["results"].items():
        s = summary(res["rows"])
        extra = {k: v for k, v in res.items() if k != "rows"}
        if "info" in d:
            extra = {k: d["info"][k] for k in ("disk_per_frame", "ram_fixed_bytes", "train_cpu", "build_cpu") if k in d["info"]}
        lines.append((n, name, s, extra))
        if name.startswith("HE"):
            s2 = summary([dict(x, hit=x["hit_geo"]) for x in res["rows"]])
            lines.append((n, name + " +geo rerank", s2, {}))
print("| frames | method | claims | frame recall@12 | source recall@12 | 10 % crops: frame / source | thumbs: frame | CPU s/claim median / p95 | wall median | notes |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n, name, s, extra in lines:
    notes = ", ".join(f"{k}={v:.0f}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items())
    print(f"| {n} | {name} | {s['n']} | {s['frame']:.3f} | {s['src']:.3f} | {s['frame10']:.3f} / {s['src10']:.3f} | {s['thumb']:.3f} |"
          f" {s['cpu_med']:.3f} / {s['cpu_p95']:.3f} | {s['wall_med']:.2f} | {notes} |")

# extrapolation of HE (votes) to larger archives
print()
print("| measured at | method | -> frames | claims with expected distractors above the true frame < 1 | < 9 | 10 % crops < 1 |")
print("|---|---|---|---|---|---|")
for f in sorted(glob.glob("results/he_*.json")):
    d = json.loads(Path(f).read_text())
    n = d["info"]["n_frames"]; nd = n - 260
    if nd < 5000:
        continue
    for name, res in d["results"].items():
        for target in (1e5, 1e6):
            exp_counts, areas = [], []
            for x in res["rows"]:
                top = np.array(x["distractor_scores"])
                s = x["score_true"]
                above = (top > s).sum()
                if above >= 20:
                    c = above * target / nd
                else:
                    tail = top[-200:]; s200 = tail[0]; beta = max(np.mean(tail - s200), 1e-6)
                    c = target * (len(tail) / nd) * np.exp(-(s - s200) / beta) if s > s200 else above * target / nd
                exp_counts.append(c); areas.append(x["area"])
            e = np.array(exp_counts); a = np.array(areas)
            print(f"| {n} | {name} | {target:.0e} | {np.mean(e < 1):.3f} | {np.mean(e < 9):.3f} | {np.mean(e[a == 0.1] < 1):.3f} |")
