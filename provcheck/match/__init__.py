"""Matching a claimed photo against the index: shortlist, verify, locate, measure, decide.

Two stages, as the field does it: a cheap shortlist (perceptual hashes of every frame
and votes of the claim's local descriptors), then geometric verification of the
shortlisted frames, which also yields the crop box, the exact frame and the pixels
that must reproduce the claim. The pipeline reads top to bottom in :mod:`.engine`;
the thresholds are :class:`.settings.MatchSettings`; the verdict rules are the pure
functions of :mod:`.policy`.
"""

from ..results import Box, ClaimResult, Derivation, Match, Verdict
from .engine import Assessment, MatchEngine
from .hashes import claim_variants
from .policy import agreed_verdict, feature_verdict, hash_evidence
from .settings import DEFAULT_SETTINGS, MatchSettings

__all__ = [
    "DEFAULT_SETTINGS", "Assessment", "Box", "ClaimResult", "Derivation", "Match", "MatchEngine", "MatchSettings",
    "Verdict", "agreed_verdict", "claim_variants", "feature_verdict", "hash_evidence",
]
