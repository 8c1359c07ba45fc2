"""The leaf of the house: what every layer may import, importing nothing of Credence.

``errors`` (the one exception hierarchy), ``checks`` (parameter validation),
``scale`` (the 350-950 score scale), ``times`` (epoch seconds as ISO-8601 text) and
``types`` (numpy array aliases).
"""
