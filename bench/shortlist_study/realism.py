"""Are recombined distractor descriptors as confusable as real unrelated frames?
For claim descriptors of seed-2017 claims: nearest-neighbour similarity among (a) the real frames of
seed 2031 (unrelated content) and (b) the same number of recombined distractor descriptors."""
import json

import numpy as np
from common import *

from provcheck.features import rootsift

rdesc, rxy, rowner, frames = load_real()
qdesc, qxy, qview, qclaim, cmeta = load_claims()
seed_of_row = np.array([f["seed"] for f in frames])
claims2017 = [c for c, m in enumerate(cmeta) if seed_of_row[m["row"]] == 2017]
sel = np.flatnonzero(np.isin(qclaim, claims2017) & (qview == 0))
sel = np.random.default_rng(0).choice(sel, 4000, replace=False)
q = rootsift(qdesc[sel])
other = rdesc[seed_of_row[rowner] == 2031]
dis, _ = recombine(rdesc, len(other), np.random.default_rng(99))
same = rdesc[seed_of_row[rowner] == 2017]
out = {}
for name, pool in (("real unrelated (seed 2031 frames)", other), ("recombined distractors", dis), ("real same-seed (contains true)", same)):
    best = np.full(len(q), -1.0, np.float32)
    for i in range(0, len(pool), 50000):
        best = np.maximum(best, (q @ rootsift(pool[i:i + 50000]).T).max(1))
    out[name] = dict(n=len(pool), q50=float(np.median(best)), q90=float(np.quantile(best, .9)),
                     ge09=float((best >= 0.9).mean()), ge095=float((best >= 0.95).mean()))
    print(name, out[name], flush=True)
Path("results/realism.json").write_text(json.dumps(out, indent=1))
