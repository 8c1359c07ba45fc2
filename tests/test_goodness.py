"""The fairness/goodness kernel: hand-computed answers, an independent loop oracle, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from credence.core.errors import ParameterError
from credence.scoring.goodness import fairness_goodness


def _ratings(triples: list[tuple[int, int, float]], n: int) -> sp.csr_matrix:
    rows, cols, values = zip(*triples, strict=True)
    return sp.csr_matrix((values, (rows, cols)), shape=(n, n))


def _loop_oracle(
    triples: list[tuple[int, int, float]], n: int, tol: float
) -> tuple[list[float], list[float]]:
    """The definition, one rating at a time with dicts (no numpy, no sparse algebra)."""
    fairness = [1.0] * n
    raters_of: dict[int, list[tuple[int, float]]] = {}
    rated_by: dict[int, list[tuple[int, float]]] = {}
    for u, v, w in triples:
        raters_of.setdefault(v, []).append((u, w))
        rated_by.setdefault(u, []).append((v, w))
    goodness = [1.0 if v in raters_of else 0.0 for v in range(n)]
    for _ in range(10_000):
        new_goodness = [sum(fairness[u] * w for u, w in raters_of[v]) / len(raters_of[v]) if v in raters_of else 0.0
                        for v in range(n)]  # fmt: skip
        new_fairness = [1.0 - sum(abs(w - new_goodness[v]) for v, w in rated_by[u]) / (2 * len(rated_by[u]))
                        if u in rated_by else 1.0 for u in range(n)]  # fmt: skip
        change = max(max(abs(a - b) for a, b in zip(new_goodness, goodness, strict=True)),
                     max(abs(a - b) for a, b in zip(new_fairness, fairness, strict=True)))  # fmt: skip
        fairness, goodness = new_fairness, new_goodness
        if change <= tol:
            break
    return fairness, goodness


def test_a_dissenting_rater_loses_fairness() -> None:
    # a and b rate c +1, d rates c -1: c = (1 + 1 - 1) / 3; a, b are off by 2/3, d by 4/3.
    result = fairness_goodness(_ratings([(0, 2, 1.0), (1, 2, 1.0), (3, 2, -1.0)], 4))
    assert result.goodness == pytest.approx([0.0, 0.0, 1 / 3, 0.0], abs=1e-12)
    assert result.fairness == pytest.approx([2 / 3, 2 / 3, 1.0, 1 / 3], abs=1e-12)
    assert result.ratings_given.tolist() == [1, 1, 0, 1] and result.ratings_received.tolist() == [0, 0, 3, 0]
    assert result.converged


def test_a_consistent_cycle_keeps_every_rater_fair() -> None:
    # a -> b +1, b -> c -1, c -> a +0.5: the fixed point has every fairness 1 (worked by hand).
    result = fairness_goodness(_ratings([(0, 1, 1.0), (1, 2, -1.0), (2, 0, 0.5)], 3))
    assert result.goodness == pytest.approx([0.5, 1.0, -1.0], abs=1e-12)
    assert result.fairness == pytest.approx([1.0, 1.0, 1.0], abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_a_loop_over_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    pairs = {(int(u), int(v)) for u, v in rng.integers(0, n, size=(400, 2)) if u != v}
    triples = [(u, v, float(rng.choice([-1.0, -0.5, 0.2, 0.6, 1.0]))) for u, v in sorted(pairs)]
    result = fairness_goodness(_ratings(triples, n), tol=1e-13, max_iter=10_000)
    fairness, goodness = _loop_oracle(triples, n, 1e-13)
    assert result.converged
    assert result.fairness == pytest.approx(fairness, abs=1e-9)
    assert result.goodness == pytest.approx(goodness, abs=1e-9)
    assert np.all((result.fairness >= 0) & (result.fairness <= 1))
    assert np.all((result.goodness >= -1) & (result.goodness <= 1))
    # Relabelling the users relabels the answer.
    order = rng.permutation(n)
    place = np.empty(n, dtype=int)
    place[order] = np.arange(n)
    moved = fairness_goodness(_ratings([(int(place[u]), int(place[v]), w) for u, v, w in triples], n),
                              tol=1e-13, max_iter=10_000)  # fmt: skip
    assert moved.fairness[place] == pytest.approx(result.fairness, abs=1e-9)
    assert moved.goodness[place] == pytest.approx(result.goodness, abs=1e-9)


def test_the_callers_matrix_is_left_as_it_was() -> None:
    matrix = sp.csr_matrix(([0.25, 0.25], ([0, 0], [1, 1])), shape=(2, 2))  # a duplicate entry
    before = (matrix.data.copy(), matrix.indices.copy())
    assert fairness_goodness(matrix).goodness[1] == pytest.approx(0.5)  # duplicates add up
    assert np.array_equal(matrix.data, before[0]) and np.array_equal(matrix.indices, before[1])


@pytest.mark.parametrize(
    ("ratings", "says"),
    [
        (np.zeros((2, 3)), "square"),
        (np.zeros(3), "2-D"),
        (np.array([[0.0, 1.5], [0.0, 0.0]]), "[-1, 1]"),
        (np.array([[0.0, np.nan], [0.0, 0.0]]), "finite"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), "themselves"),
        (sp.csr_matrix((np.array([0.0]), (np.array([0]), np.array([1]))), shape=(2, 2)), "zero"),
    ],
)
def test_bad_ratings_are_refused(ratings: object, says: str) -> None:
    with pytest.raises(ParameterError, match=says.replace("[", r"\[").replace("]", r"\]")):
        fairness_goodness(ratings)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ParameterError):
        fairness_goodness(np.zeros((2, 2)), tol=-1.0)
    with pytest.raises(ParameterError):
        fairness_goodness(np.zeros((2, 2)), max_iter=0)
