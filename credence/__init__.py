"""Credence: open, explainable graph-based credit scores from 350 to 950.

The package is a house of layers; each imports only the ones below it (an
import contract in the test suite enforces the arrows, see ``docs/design.md``):

=================  ==========================================================
``cli``            the ``credence`` command
``api``            the GraphQL server
``analysis``       investigations, data-science access, fairness, plots
``engine`` |       the scoring engine (store <-> numerics) | synthetic and
``seeds``          real data sets
``graph`` |        the stores (SQLite, Neo4j) | the pure numerics
``scoring``
``core``           errors, parameter checks, the score scale, array types
=================  ==========================================================

This module imports nothing, so importing any layer costs only that layer.

Examples
--------
>>> import credence
>>> credence.__version__.count(".")
2
"""

__all__ = ["__version__"]

__version__ = "0.2.0"
