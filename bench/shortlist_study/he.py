"""Bag of visual words inverted file with Hamming embedding (Jegou, Douze, Schmid 2008).

Vocabulary: two-level hierarchical k-means over RootSIFT (K1 x K2 words; assignment costs
K1 + K2 dot products). Signature: 64 bits, sign of a fixed random orthogonal projection of the
descriptor's residual to its word centroid (the residual is zero-mean in a k-means cell, so this
is HE's per-word median threshold without a per-word table). Postings, sorted by word and stored
as .npy files opened with mmap: frame id (uint32), signature (uint64), keypoint x, y (uint16).
"""
from pathlib import Path

import faiss
import numpy as np

BITS = 64


class Vocab:
    def __init__(self, k1, k2, seed=11):
        self.k1, self.k2 = k1, k2
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.standard_normal((128, 128)))
        self.proj = np.ascontiguousarray(q[:BITS].T.astype(np.float32))  # 128 x 64

    @property
    def words(self):
        return self.k1 * self.k2

    def train(self, x, niter=15):
        km = faiss.Kmeans(128, self.k1, niter=niter, seed=1, verbose=False)
        km.train(x)
        self.c1 = km.centroids.copy()
        self.l1 = faiss.IndexFlatL2(128); self.l1.add(self.c1)
        _, a = self.l1.search(x, 1); a = a[:, 0]
        self.c2 = np.zeros((self.k1, self.k2, 128), np.float32)
        for c in range(self.k1):
            m = x[a == c]
            if len(m) >= self.k2 * 2:
                k = faiss.Kmeans(128, self.k2, niter=niter, seed=2, verbose=False,
                                 max_points_per_centroid=100000); k.train(m)
                self.c2[c] = k.centroids
            else:  # too few points: fill with jittered members / the centroid
                pts = m if len(m) else self.c1[c:c + 1]
                self.c2[c] = pts[np.arange(self.k2) % len(pts)] + 1e-3 * np.random.default_rng(c).standard_normal((self.k2, 128))
        self.c2n = (self.c2 ** 2).sum(-1)

    def save(self, path):
        np.savez(path, c1=self.c1, c2=self.c2, proj=self.proj)

    def assign(self, x, ma=1, l1_probe=1):
        """Words (n, ma) by distance, and their signatures (n, ma) uint64."""
        n = len(x)
        _, a1 = self.l1.search(x, l1_probe)
        cand_w = np.zeros((n, l1_probe * self.k2), np.int64)
        cand_d = np.zeros((n, l1_probe * self.k2), np.float32)
        xn = (x ** 2).sum(1)
        for p in range(l1_probe):
            cells = a1[:, p]
            for c in np.unique(cells):
                idx = np.flatnonzero(cells == c)
                d = xn[idx, None] - 2 * x[idx] @ self.c2[c].T + self.c2n[c][None]
                cand_d[idx, p * self.k2:(p + 1) * self.k2] = d
                cand_w[idx, p * self.k2:(p + 1) * self.k2] = c * self.k2 + np.arange(self.k2)
        if ma == 1:
            best = np.argmin(cand_d, 1)[:, None]
        else:
            best = np.argsort(cand_d, 1)[:, :ma]
        words = np.take_along_axis(cand_w, best, 1)
        cent = self.c2.reshape(-1, 128)[words]               # n, ma, 128
        bits = ((x[:, None, :] - cent) @ self.proj) > 0        # n, ma, 64
        sig = np.packbits(bits, axis=-1, bitorder="little").view(np.uint64)[..., 0]
        return words, sig, np.take_along_axis(cand_d, best, 1)


class Postings:
    def __init__(self, folder, mmap=True):
        folder = Path(folder)
        mode = "r" if mmap else None
        self.off = np.load(folder / "offsets.npy")
        self.fid = np.load(folder / "fid.npy", mmap_mode=mode)
        self.sig = np.load(folder / "sig.npy", mmap_mode=mode)
        self.xy = np.load(folder / "xy.npy", mmap_mode=mode)
        self.total = int(self.off[-1])
        lens = np.diff(self.off)
        self.idf = np.log((self.total + 1) / (lens + 1)).astype(np.float32)

    @staticmethod
    def write(folder, words, fid, sig, xy, nwords):
        folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
        order = np.argsort(words, kind="stable")
        np.save(folder / "fid.npy", fid[order].astype(np.uint32))
        np.save(folder / "sig.npy", sig[order])
        np.save(folder / "xy.npy", np.clip(np.rint(xy[order]), 0, 65535).astype(np.uint16))
        np.save(folder / "offsets.npy", np.concatenate([[0], np.cumsum(np.bincount(words, minlength=nwords))]).astype(np.int64))

    def gather(self, words, sigs, ht):
        """Postings within Hamming distance ht of each (query, word): (query idx, frame, h, word, posting idx)."""
        nq, ma = words.shape
        w = words.ravel(); s = sigs.ravel(); q = np.repeat(np.arange(nq), ma)
        starts, ends = self.off[w], self.off[w + 1]
        lens = ends - starts
        tot = int(lens.sum())
        if tot == 0:
            e = np.zeros(0, np.int64); return e, e, e, e, e, 0
        rep = np.repeat(np.arange(len(w)), lens)
        pidx = starts[rep] + (np.arange(tot) - np.repeat(np.cumsum(lens) - lens, lens))
        h = np.bitwise_count(self.sig[pidx] ^ s[rep]).astype(np.int64)
        keep = h <= ht
        return q[rep[keep]], self.fid[pidx[keep]].astype(np.int64), h[keep], w[rep[keep]], pidx[keep], tot


def he_scores(post, words, sigs, ht, n_frames, sigma=16.0):
    q, f, h, w, p, scanned = post.gather(words, sigs, ht)
    weight = post.idf[w] * np.exp(-(h.astype(np.float32) ** 2) / sigma ** 2)
    # one vote per (query descriptor, frame): the strongest
    key = q * n_frames + f
    order = np.lexsort((-weight, key))
    ks = key[order]
    first = np.ones(len(ks), bool); first[1:] = ks[1:] != ks[:-1]
    sel = order[first]
    scores = np.bincount(f[sel], weights=weight[sel], minlength=n_frames)
    return scores, (q, f, h, p, sel), scanned
