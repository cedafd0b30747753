"""Build demo corpora and index them (provcheck imported from the checkout, read only)."""
import sys
import time
from pathlib import Path

import provcheck
from provcheck.synth import build_demo_corpus

seed = int(sys.argv[1])
out = Path(__file__).resolve().parent / "data" / f"seed{seed}"
t0 = time.time()
corpus = build_demo_corpus(out / "corpus", seed=seed, workers=2)
t1 = time.time()
print(f"corpus seed {seed}: {len(corpus.sources)} sources, {len(corpus.claims)} claims, {t1-t0:.0f}s", flush=True)
with provcheck.Index(str(out / "index.sqlite")) as index:
    for src in corpus.sources:
        index.add(src.path, title=src.title, url=src.url, published=src.published)
print(f"indexed in {time.time()-t1:.0f}s", flush=True)
