"""Ring inflation on unrounded points (credence.analysis.investigate.cluster_inflation)."""

from __future__ import annotations

import numpy as np
import pytest

from credence.analysis.investigate import INFLATION_THRESHOLD, cluster_inflation, suspicious_clusters
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.scoring import network_component
from credence.seeds.synthetic import generate_population


def test_raw_inflation_matches_a_fresh_diffusion_without_the_ring() -> None:
    population = generate_population(n_users=600, seed=4, sybils_per_region=30, rings=2)
    store = SQLiteStore(":memory:")
    store.load(population.dataset())
    engine = ScoringEngine(store, now=population.now)
    engine.recompute(write=False)
    # The planted rings prop nobody up under bonus_only; the largest dense group does.
    ring = list(max(suspicious_clusters(engine, k=4, inflation=False), key=lambda c: len(c.users)).users)
    found = cluster_inflation(engine, ring)

    # The oracle: solve the diffusion afresh with the ring not taking part, same prior.
    exported = store.export_graph()
    view = engine.view()
    policy = engine.policy
    settings = policy.diffusion
    participating = view.consent & ~view.quarantined

    def connections(mask: np.ndarray) -> np.ndarray:
        return network_component(
            exported.adjacency, view.base, damping=settings.damping, prior=view.prior,
            shrinkage=settings.shrinkage, sharing=settings.sharing, participating=mask, tol=1e-13,
        ).value  # fmt: skip

    without = participating.copy()
    without[exported.index_of(ring)] = False
    drop = 600 * policy.weights["connections"] * (connections(participating) - connections(without))
    counted = drop > INFLATION_THRESHOLD
    members = np.isin(exported.ids.astype(str), ring)
    tol = 600 * 0.05 * 4 * settings.tol * counted.sum() + 1e-6  # the engine's solver error, summed
    assert found.raw_member_points == pytest.approx(drop[counted & members].sum(), abs=tol)
    assert found.raw_outsider_points == pytest.approx(drop[counted & ~members].sum(), abs=tol)
    assert found.raw_points == pytest.approx(found.raw_member_points + found.raw_outsider_points)
    assert found.raw_users_raised == int(counted.sum()) > 0 and found.raw_points > 1.0
    # Rounded points can only hide inflation, never add much: each rounded drop is within half a point.
    assert found.points <= found.raw_points + 0.5 * found.users_raised + tol


def test_distrust_from_outside_raises_suspicion() -> None:
    import scipy.sparse as sp

    from credence.scoring.fraud import rank_clusters

    # Two triangles {0,1,2} and {3,4,5}, alike; 6 distrusts 0 and 1, 3 distrusts 4 (inside).
    A = np.zeros((7, 7))
    for u, v in [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 6), (5, 6)]:
        A[u, v] = A[v, u] = 1.0
    D = sp.csr_matrix(([4.0, 7.0, 2.0], ([6, 6, 3], [0, 1, 4])), shape=(7, 7))
    plain = rank_clusters(A, [[0, 1, 2], [3, 4, 5]])
    assert plain[0].suspicion == plain[1].suspicion and plain[0].distrusted_fraction is None
    ranked = rank_clusters(A, [[3, 4, 5], [0, 1, 2]], distrust=D)
    # By hand: {0,1,2} has 2 of 3 members distrusted from outside, {3,4,5} none (3 -> 4 is inside).
    assert [e.members.tolist() for e in ranked] == [[0, 1, 2], [3, 4, 5]]
    assert ranked[0].distrusted_fraction == pytest.approx(2 / 3) and ranked[1].distrusted_fraction == 0.0
    assert ranked[0].suspicion == pytest.approx(plain[0].suspicion * (1 + 2 / 3))
    assert ranked[1].suspicion == pytest.approx(plain[1].suspicion)
    no_distrust = rank_clusters(A, [[0, 1, 2], [3, 4, 5]], distrust=sp.csr_matrix((7, 7)))
    assert [e.suspicion for e in no_distrust] == [e.suspicion for e in plain]
