"""Stage 1a: the claim's perceptual hashes against every indexed frame, in one vectorised pass.

The claim is hashed as given, trimmed of the bands it seems to have had added
(caption bars, borders), and mirrored; each frame keeps the best variant's evidence.
Any number of hashers take part: each declares its bit width, and its distance is
turned into evidence (standard deviations beyond chance) from that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..hashing import Hasher, hamming_distances, trusted
from ..media import RGBArray
from ..normalize import Trim, find_trim
from .policy import HashReading, hash_evidence


@dataclass(frozen=True)
class ClaimVariant:
    """One way of looking at the claim: as given or trimmed, mirrored or not."""

    pixels: RGBArray
    mirrored: bool
    trim: Trim


def claim_variants(pixels: RGBArray) -> list[ClaimVariant]:
    """The claim as given, trimmed of added bands (if any), and the mirror of each."""
    trim = find_trim(pixels)
    bases = [(pixels, Trim(0, 0, 0, 0, ()))]
    if not trim.is_empty:
        bases.append((trim.apply(pixels), trim))
    variants = []
    for base, base_trim in bases:
        variants.append(ClaimVariant(np.ascontiguousarray(base), False, base_trim))
        variants.append(ClaimVariant(np.ascontiguousarray(base[:, ::-1]), True, base_trim))
    return variants


@dataclass(frozen=True)
class VariantDistances:
    """One claim variant's Hamming distance to every frame, per hasher, and which hashes are trusted."""

    distances: dict[str, NDArray[np.int32]]
    trusted: dict[str, bool]


@dataclass(frozen=True)
class HashStage:
    """Hash evidence of every frame row (best over the claim's variants) and what it rests on."""

    evidence: NDArray[np.float64]
    variant_of: NDArray[np.int64]
    per_variant: tuple[VariantDistances, ...]
    variants: tuple[ClaimVariant, ...]
    bits: dict[str, int]

    def readings(self, row: int) -> dict[str, HashReading]:
        """Each hasher's reading at a frame row, for the variant that scored best there."""
        variant = self.per_variant[int(self.variant_of[row])]
        return {name: HashReading(int(distances[row]), self.bits[name], variant.trusted[name])
                for name, distances in variant.distances.items()}

    def distances(self, row: int) -> dict[str, int]:
        """Hamming distance per hasher at a frame row (best variant)."""
        variant = self.per_variant[int(self.variant_of[row])]
        return {name: int(distances[row]) for name, distances in variant.distances.items()}

    def variant(self, row: int) -> ClaimVariant:
        return self.variants[int(self.variant_of[row])]


def hash_stage(pixels: RGBArray, hashers: tuple[Hasher, ...], matrices: dict[str, NDArray[np.uint8]]) -> HashStage:
    """Compare every variant of the claim with every frame's hashes.

    Args:
        pixels: the claim.
        hashers: the hashers the index stores.
        matrices: each hasher's packed hashes, a row per indexed frame.
    """
    variants = claim_variants(pixels)
    rows = next(iter(matrices.values())).shape[0] if matrices else 0
    best: NDArray[np.float64] | None = None
    variant_of = np.zeros(rows, dtype=np.int64)
    per_variant: list[VariantDistances] = []
    for number, variant in enumerate(variants):
        distances: dict[str, NDArray[np.int32]] = {}
        trust: dict[str, bool] = {}
        evidence: NDArray[np.float64] = np.zeros(rows, dtype=np.float64)
        for hasher in hashers:
            value = hasher.compute(variant.pixels)
            distances[hasher.name] = hamming_distances(value.packed, matrices[hasher.name])
            trust[hasher.name] = trusted(hasher, value)
            if trust[hasher.name]:
                evidence = evidence + hash_evidence(distances[hasher.name], hasher.bits)
        per_variant.append(VariantDistances(distances, trust))
        if best is None:
            best = evidence
        else:
            better = evidence > best
            best = np.where(better, evidence, best)
            variant_of = np.where(better, number, variant_of)
    if best is None:  # pragma: no cover - claim_variants always returns variants
        raise RuntimeError("no claim variant")
    return HashStage(best, variant_of, tuple(per_variant), tuple(variants),
                     {hasher.name: hasher.bits for hasher in hashers})
