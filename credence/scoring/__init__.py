"""Pure numerics of Credence: arrays in, arrays out (imports numpy, scipy, numba and credence.core only).

Examples
--------
>>> import numpy as np
>>> from credence.scoring import diffuse
>>> diffuse(np.array([[0.0, 1.0], [1.0, 0.0]]), [1.0, 0.0], damping=0.5).round(4).tolist()
[0.6667, 0.3333]
"""

from __future__ import annotations

from credence.scoring.communities import CommunityStats, community_table, louvain, modularity
from credence.scoring.diffusion import (
    SHARING_MODES,
    Diffusion,
    NetworkComponent,
    check_adjacency,
    check_damping,
    check_max_iter,
    check_node,
    check_participating,
    check_prior,
    check_sharing,
    check_shrinkage,
    check_tol,
    check_vector,
    diffuse,
    network_component,
)
from credence.scoring.fraud import ClusterEvidence, DenseBlock, block_density, dense_subgraphs, rank_clusters
from credence.scoring.push import (
    Contributions,
    DiffusionState,
    Influence,
    component_value,
    contributors,
    influence,
)
from credence.scoring.sybil_bounds import crossing_bound, escape_bound, region_contribution
from credence.scoring.trust import TrustResult, check_seeds, default_iterations, sybil_trust

__all__ = [
    "SHARING_MODES",
    "ClusterEvidence",
    "CommunityStats",
    "Contributions",
    "DenseBlock",
    "Diffusion",
    "DiffusionState",
    "Influence",
    "NetworkComponent",
    "TrustResult",
    "block_density",
    "check_adjacency",
    "check_damping",
    "check_max_iter",
    "check_node",
    "check_participating",
    "check_sharing",
    "check_prior",
    "check_seeds",
    "check_shrinkage",
    "check_tol",
    "check_vector",
    "community_table",
    "component_value",
    "contributors",
    "crossing_bound",
    "default_iterations",
    "dense_subgraphs",
    "diffuse",
    "escape_bound",
    "influence",
    "louvain",
    "modularity",
    "network_component",
    "rank_clusters",
    "region_contribution",
    "sybil_trust",
]
