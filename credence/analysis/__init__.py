"""Tools on top of the engine for fraud analysts and data scientists.

``investigate`` (suspicious clusters and their inflation, blast radius, SybilRank
suspects, communities), ``data`` (numpy / pandas / networkx access and table
export), ``fairness`` (the 80% rule and the network's share of a gap), ``plots``
and ``sybil_resistance`` (the honest-side gain of a sybil region).
"""
