"""Data to score: synthetic populations with planted fraud, and real trust graphs.

``graphs`` (the one random friend-graph generator), ``synthetic`` (populations with
ground truth, for tests, demos and benchmarks), ``sybil`` (the graphs of the
sybil-resistance experiment) and ``snap`` (SNAP-style signed trust graphs read as
Credence frames).

Importing this package imports none of them.
"""
