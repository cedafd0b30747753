"""The persisted crop-proof shortlist: visual words with Hamming embedding in an inverted file.

:mod:`.words` quantises RootSIFT descriptors (a two-level k-means vocabulary and a 64-bit
signature of each descriptor's residual); the store keeps one postings row a frame;
:mod:`.inverted` answers "which frames share the most descriptors with this claim" from
those postings without loading any full descriptor. The exact FAISS search in
:mod:`provcheck.search` stays as its tested twin.
"""
