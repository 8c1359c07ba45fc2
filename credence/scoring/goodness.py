"""Fairness and goodness on a signed rating graph: how reliable each rater is, how well rated each user is.

On a trade network a rating is a counterparty's verdict on a completed deal, but raters
differ: some rate everyone +10, some are fraudsters rating their accomplices. The
fairness/goodness iteration in the spirit of Kumar, Spezzano, Subrahmanian and Faloutsos
(ICDM 2016, "FxG"; REV2, WSDM 2018, extends it) weighs each rating by its rater's
reliability. With ratings ``W(u, v)`` in [-1, 1] from rater ``u`` to rated ``v``::

    goodness(v) = mean over raters u of v of   fairness(u) * W(u, v)          in [-1, 1]
    fairness(u) = 1 - mean over ratings u gave of |W(u, v) - goodness(v)| / 2  in [0, 1]

starting from fairness 1 and goodness 1 and alternating until neither moves by more than
``tol``. A rater whose ratings agree with what everyone else concludes about the rated
users stays fair; one who rates against the consensus loses fairness, and with it the
weight of their ratings. A user nobody rated has goodness 0 (no evidence either way); a
user who rated nobody keeps fairness 1 (never found wrong).

Each step is two passes over the ratings (``W^T f`` and the per-rater deviations),
``O(ratings)`` time and ``O(users)`` memory beyond the ratings. Both maps are
non-expansive in the max norm for the ratings' bounded range, and the iteration
converges (the authors prove it for FxG); ``max_iter`` bounds it anyway and
:class:`GoodnessResult` says whether it converged.

Examples
--------
Two raters agree that ``c`` is good and a third says it is bad: ``c``'s goodness is the
mean of the weighted verdicts, and the dissenter's fairness falls.

>>> import scipy.sparse as sp
>>> ratings = sp.csr_matrix(([1.0, 1.0, -1.0], ([0, 1, 3], [2, 2, 2])), shape=(4, 4))
>>> result = fairness_goodness(ratings)
>>> result.goodness.round(4).tolist(), result.fairness.round(4).tolist()
([0.0, 0.0, 0.3333, 0.0], [0.6667, 0.6667, 1.0, 0.3333])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

from credence.core.errors import ParameterError
from credence.core.types import FloatArray
from credence.scoring.validation import check_max_iter, check_tol

__all__ = ["GoodnessResult", "check_ratings", "fairness_goodness"]


@dataclass(frozen=True)
class GoodnessResult:
    """Fairness of every rater and goodness of every rated user (:func:`fairness_goodness`).

    Attributes
    ----------
    fairness : ndarray of float64, shape (n,)
        In [0, 1]; 1 for a user who rated nobody.
    goodness : ndarray of float64, shape (n,)
        In [-1, 1]; 0 for a user nobody rated.
    ratings_given, ratings_received : ndarray of int64, shape (n,)
        How many ratings each user gave and received.
    iterations : int
        Alternations run.
    converged : bool
        Whether the last one moved no value by more than ``tol``.
    """

    fairness: FloatArray
    goodness: FloatArray
    ratings_given: np.ndarray
    ratings_received: np.ndarray
    iterations: int
    converged: bool


def check_ratings(ratings: Any, name: str = "ratings") -> sp.csr_matrix:
    """A square CSR matrix of ratings in [-1, 1] with no self-ratings and no stored zeros.

    Raises
    ------
    ParameterError
        If ``ratings`` is not a square 2-D matrix, holds a non-finite value, a value
        outside [-1, 1], a zero entry (a rating of exactly 0 is neutral; leave it out or
        give it explicitly as a tiny value), or a rating of a user by themselves.
    """
    matrix: sp.csr_matrix
    if sp.issparse(ratings):
        matrix = sp.csr_matrix(cast(Any, ratings), dtype=np.float64, copy=True)  # never change the caller's
    else:
        array = np.asarray(ratings, dtype=np.float64)
        if array.ndim != 2:
            raise ParameterError(name, array.shape, "must be a 2-D matrix")
        matrix = sp.csr_matrix(array)
        matrix.eliminate_zeros()  # a dense matrix's zeros are the absent ratings
    if matrix.shape[0] != matrix.shape[1]:
        raise ParameterError(name, matrix.shape, "must be square (raters and rated are the same users)")
    matrix.sum_duplicates()
    data = matrix.data
    if not np.isfinite(data).all():
        raise ParameterError(name, "non-finite", "ratings must be finite")
    if data.size and (data.min() < -1.0 or data.max() > 1.0):
        raise ParameterError(name, (float(data.min()), float(data.max())), "ratings must lie in [-1, 1]")
    if np.any(data == 0.0):
        raise ParameterError(name, 0.0, "has stored zero ratings; leave absent ratings out")
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    if np.any(rows == matrix.indices):
        raise ParameterError(name, int(rows[rows == matrix.indices][0]), "a user cannot rate themselves")
    return matrix


def fairness_goodness(ratings: Any, *, tol: float = 1e-9, max_iter: int = 200) -> GoodnessResult:
    """Fairness of raters and goodness of rated users by alternating fixed-point iteration.

    Parameters
    ----------
    ratings : scipy sparse matrix or 2-D array, shape (n, n)
        ``ratings[u, v]`` is ``u``'s rating of ``v`` in [-1, 1] (absent: no rating).
    tol : float
        Stop when no fairness or goodness moves by more than this in an alternation.
    max_iter : int
        Most alternations.

    Returns
    -------
    GoodnessResult

    Raises
    ------
    ParameterError
        If the ratings or a parameter are invalid (:func:`check_ratings`).

    Examples
    --------
    A user rated +1 by one rater and -1 by another ends at goodness 0, and both raters
    are then wrong by the same amount.

    >>> result = fairness_goodness([[0, 0, 1.0], [0, 0, -1.0], [0, 0, 0]])
    >>> result.goodness.tolist(), result.fairness.tolist(), result.converged
    ([0.0, 0.0, 0.0], [0.5, 0.5, 1.0], True)
    """
    matrix = check_ratings(ratings)
    tol = check_tol(tol)
    max_iter = check_max_iter(max_iter)
    n = matrix.shape[0]
    given = np.diff(matrix.indptr).astype(np.int64)
    received = np.bincount(matrix.indices, minlength=n).astype(np.int64)
    rated = received > 0
    raters = given > 0
    transposed = matrix.T.tocsr()  # goodness sums over each user's raters: one transpose, reused
    owner = np.repeat(np.arange(n), given)  # the rater of each stored rating
    fairness = np.ones(n)
    goodness = np.where(rated, 1.0, 0.0)
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is the result)
        new_goodness = np.zeros(n)
        new_goodness[rated] = (transposed @ fairness)[rated] / received[rated]
        deviation = np.abs(matrix.data - new_goodness[matrix.indices])
        new_fairness = np.ones(n)
        new_fairness[raters] = 1.0 - (
            np.bincount(owner, weights=deviation, minlength=n)[raters] / (2.0 * given[raters])
        )
        change = max(float(np.max(np.abs(new_goodness - goodness), initial=0.0)),
                     float(np.max(np.abs(new_fairness - fairness), initial=0.0)))  # fmt: skip
        fairness, goodness = new_fairness, new_goodness
        if change <= tol:
            converged = True
            break
    return GoodnessResult(fairness=fairness, goodness=goodness, ratings_given=given, ratings_received=received,
                          iterations=iterations, converged=converged)  # fmt: skip
