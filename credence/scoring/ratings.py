"""Trade ratings as evidence of fulfilment: what counterparties said about a user's deals.

On a trade network (Bitcoin Alpha, OTC markets) a rating is a counterparty's verdict
on a completed deal: a positive rating says the user delivered, a negative one that
they did not. That is the same question credit history asks of repayments ("does this
user fulfil what they promise?"), so Credence reads ratings received as an input of the
``credit_history`` component, weighted by how reliable each rater is.

With ratings ``R(u, v)`` in [-1, 1] from rater ``u`` to rated ``v`` and each rater's
fairness ``f(u)`` in [0, 1] (:func:`credence.scoring.goodness.fairness_goodness`: a
rater whose ratings contradict the consensus loses weight), a user's reliability-weighted
positive and negative rating mass are::

    P(v) = sum_u f(u) * max(R(u, v), 0)        N(v) = sum_u f(u) * max(-R(u, v), 0)

The rating value is the mean of a Beta posterior, as the on-time rate of repayments,
and its weight a credibility ``E / (E + k)`` of the evidence ``E = P + N``::

    value(v)  = (a + P) / (a + b + P + N)          weight(v) = (P + N) / (P + N + k)

and the credit history component becomes ``(1 - weight) * c + weight * value``: a user
with no ratings keeps exactly the component their repayments give (weight 0), and many
reliable ratings come to outweigh the rest. The points the blend loses to the ratings,
``600 * w_credit_history * weight * (1 - value)``, are the reason ``CH_TRADE_RATINGS``;
the other credit-history reasons keep the share ``1 - weight`` of their points, so the
reasons still add up exactly to the points lost.

Under the ``bonus_only`` sharing rule the base a user shares with the network leaves out
adverse events (``credence.engine.model``): its rating part is
``shared_value = (a + P) / (a + b + P)`` with weight ``P / (P + k)``, so a negative
rating lowers the rated user's own score and nobody else's.

Which ratings exist is a policy choice (:class:`RatingParams`, the ``[ratings]`` table of
a policy file): distrust (negative ratings) always counts; friend links count as
positive ratings only with ``links = "ratings"`` (a graph loaded from a signed rating
file, where every link is made of positive ratings), never by default (a friend link of
a synthetic population or a social network is not a verdict on a trade). A population
without distrust therefore scores exactly as before under the default policy.

Examples
--------
User 2 is rated +1 by two raters and -0.5 by a third (whose dissent costs them
fairness); user 3 has no ratings and keeps weight 0.

>>> import scipy.sparse as sp
>>> R = sp.csr_matrix(([1.0, 1.0, -0.5], ([0, 1, 3], [2, 2, 2])), shape=(4, 4))
>>> evidence = rating_evidence(R, RatingParams())
>>> evidence.value.round(3).tolist(), evidence.weight.round(3).tolist()
([0.667, 0.667, 0.723, 0.667], [0.0, 0.0, 0.247, 0.0])
>>> blend(np.array([0.5, 0.5, 0.5, 0.5]), evidence.value, evidence.weight).round(3).tolist()
[0.5, 0.5, 0.555, 0.5]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from credence.core.checks import check_choice, check_real
from credence.core.errors import ParameterError
from credence.core.types import FloatArray
from credence.scoring.goodness import check_ratings, fairness_goodness

__all__ = [
    "LINK_READINGS",
    "RATING_REASON",
    "RatingEvidence",
    "RatingParams",
    "blend",
    "no_evidence",
    "rating_evidence",
    "signed_ratings",
]

#: What a friend link is read as: not a rating (``"friendship"``), or positive ratings (``"ratings"``).
LINK_READINGS: tuple[str, ...] = ("friendship", "ratings")

#: The reason code and text of the points lost to trade ratings (in ``credit_history``).
RATING_REASON = ("CH_TRADE_RATINGS", "Counterparties rated trades negatively, or few reliable ratings")


@dataclass(frozen=True, kw_only=True)
class RatingParams:
    """How ratings received become evidence (the ``[ratings]`` table of a policy).

    Parameters
    ----------
    links : {"friendship", "ratings"}
        Whether friend links are positive ratings (default ``"friendship"``: they are not,
        and only distrust counts).
    scale : float
        Magnitude of the strongest rating (> 0; default 10, SNAP's -10..10): a rating ``r``
        is read as ``r / scale``, clipped to [-1, 1].
    prior_good, prior_bad : float
        Beta prior pseudo-counts (> 0; defaults 2 and 1, those of the on-time rate: no
        ratings means 2/3, as no repayments does).
    evidence_half : float
        Reliability-weighted rating mass ``k`` at which ratings weigh as much as the rest
        of credit history (> 0; default 5: five fully reliable full-strength ratings).
    tol : float
        Convergence tolerance of the fairness iteration (in (0, 1); default 1e-9).

    Examples
    --------
    >>> RatingParams().links
    'friendship'
    >>> RatingParams(scale=0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'ratings.scale' = 0: must be > 0
    """

    links: str = "friendship"
    scale: float = 10.0
    prior_good: float = 2.0
    prior_bad: float = 1.0
    evidence_half: float = 5.0
    tol: float = 1e-9

    def __post_init__(self) -> None:
        check_choice(self.links, "ratings.links", LINK_READINGS)
        for name in ("scale", "prior_good", "prior_bad", "evidence_half"):
            check_real(getattr(self, name), f"ratings.{name}", lo=0.0, lo_open=True)
        check_real(self.tol, "ratings.tol", lo=0.0, hi=1.0, lo_open=True, hi_open=True)


@dataclass(frozen=True)
class RatingEvidence:
    """Every user's rating evidence (:func:`rating_evidence`); arrays of shape (n,).

    Attributes
    ----------
    value, weight : ndarray of float64
        The rating value in (0, 1) and its weight in [0, 1) in credit history.
    shared_value, shared_weight : ndarray of float64
        The same without negative ratings (the base shared under ``bonus_only``).
    positive, negative : ndarray of float64
        Reliability-weighted positive and negative rating mass received (``P``, ``N``).
    distrust_received : ndarray of int64
        How many negative ratings each user received (unweighted).
    fairness : ndarray of float64
        Each rater's fairness in [0, 1] (1 for a user who rated nobody).
    """

    value: FloatArray
    weight: FloatArray
    shared_value: FloatArray
    shared_weight: FloatArray
    positive: FloatArray
    negative: FloatArray
    distrust_received: np.ndarray
    fairness: FloatArray

    def __len__(self) -> int:
        return int(self.value.size)

    def take(self, rows: Any) -> RatingEvidence:
        """The evidence of ``rows``; a row at or past ``len(self)`` (a user added since) has none.

        Examples
        --------
        >>> no_evidence(2).take(np.array([1, 5])).weight.tolist()
        [0.0, 0.0]
        """
        rows = np.asarray(rows, dtype=np.int64)
        known = (rows >= 0) & (rows < len(self))
        out = no_evidence(rows.size)
        for name in ("value", "weight", "shared_value", "shared_weight", "positive", "negative",
                     "distrust_received", "fairness"):  # fmt: skip
            getattr(out, name)[known] = getattr(self, name)[rows[known]]
        return out


def no_evidence(n: int, params: RatingParams | None = None) -> RatingEvidence:
    """Evidence of ``n`` users nobody rated: weight 0 (the component stays as it was).

    Examples
    --------
    >>> e = no_evidence(1)
    >>> round(float(e.value[0]), 4), float(e.weight[0])
    (0.6667, 0.0)
    """
    p = RatingParams() if params is None else params
    prior = p.prior_good / (p.prior_good + p.prior_bad)
    return RatingEvidence(
        value=np.full(n, prior),
        weight=np.zeros(n),
        shared_value=np.full(n, prior),
        shared_weight=np.zeros(n),
        positive=np.zeros(n),
        negative=np.zeros(n),
        distrust_received=np.zeros(n, dtype=np.int64),
        fairness=np.ones(n),
    )


def signed_ratings(adjacency: Any, distrust: Any, params: RatingParams) -> sp.csr_matrix:
    """The signed rating matrix of a graph: ``-distrust / scale``, and links per ``params.links``.

    Parameters
    ----------
    adjacency : scipy sparse matrix, shape (n, n)
        Symmetric friend links (weights > 0).
    distrust : scipy sparse matrix, shape (n, n)
        Directed distrust ``rater -> rated``, weights > 0 (the magnitude of a negative rating).
    params : RatingParams
        ``links`` and ``scale``.

    Returns
    -------
    scipy.sparse.csr_matrix
        Ratings in [-1, 1]. With ``links="ratings"`` a link of weight ``w`` rates each end
        ``min(w / scale, 1)`` (a link merges a pair's positive ratings and keeps no direction);
        a distrust entry replaces the link's rating in its direction (a rater's latest rating
        of the rated user was negative).

    Examples
    --------
    >>> A = sp.csr_matrix(([8.0, 8.0], ([0, 1], [1, 0])), shape=(3, 3))
    >>> D = sp.csr_matrix(([5.0], ([0], [1])), shape=(3, 3))
    >>> signed_ratings(A, D, RatingParams(links="ratings")).toarray().tolist()
    [[0.0, -0.5, 0.0], [0.8, 0.0, 0.0], [0.0, 0.0, 0.0]]
    >>> signed_ratings(A, D, RatingParams()).toarray().tolist()
    [[0.0, -0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    if not isinstance(params, RatingParams):
        raise ParameterError("params", type(params).__name__, "must be a RatingParams")
    links = sp.csr_matrix(adjacency, dtype=np.float64)
    negative = sp.csr_matrix(distrust, dtype=np.float64)
    if links.shape != negative.shape:
        raise ParameterError("distrust", negative.shape, f"must have the adjacency's shape {links.shape}")
    if (links.data < 0).any() or (negative.data < 0).any():
        raise ParameterError("adjacency", "negative weight", "link and distrust weights must be >= 0")
    negative = negative.copy()
    negative.data = np.minimum(negative.data / params.scale, 1.0)
    negative.eliminate_zeros()
    if params.links == "friendship":
        out = -negative
    else:
        positive = links.copy()
        positive.data = np.minimum(positive.data / params.scale, 1.0)
        positive.setdiag(0.0)
        positive.eliminate_zeros()
        # Where a rater distrusts the rated user, the negative rating replaces the positive one.
        mask = negative.copy()
        mask.data = np.ones_like(mask.data)
        out = positive - positive.multiply(mask) - negative
    result = sp.csr_matrix(out)
    result.eliminate_zeros()
    result.sort_indices()
    return result


def rating_evidence(ratings: Any, params: RatingParams, *, max_iter: int = 200) -> RatingEvidence:
    """Each user's reliability-weighted rating evidence (formulas in the module docstring).

    Parameters
    ----------
    ratings : scipy sparse matrix or 2-D array, shape (n, n)
        ``ratings[u, v]`` is ``u``'s rating of ``v`` in [-1, 1] (absent: no rating), as
        :func:`credence.scoring.goodness.check_ratings` accepts.
    params : RatingParams
        The prior and the credibility constant.
    max_iter : int
        Most alternations of the fairness iteration.

    Returns
    -------
    RatingEvidence

    Raises
    ------
    ParameterError
        On invalid ratings or parameters.

    Examples
    --------
    One full-strength negative rating from a rater nobody contradicts:

    >>> e = rating_evidence([[0, -1.0], [0, 0]], RatingParams(evidence_half=1.0))
    >>> float(e.negative[1]), float(e.value[1]), float(e.weight[1]), int(e.distrust_received[1])
    (1.0, 0.5, 0.5, 1)
    """
    if not isinstance(params, RatingParams):
        raise ParameterError("params", type(params).__name__, "must be a RatingParams")
    matrix = check_ratings(ratings)
    n = matrix.shape[0]
    fairness = fairness_goodness(matrix, tol=params.tol, max_iter=max_iter).fairness
    coo = matrix.tocoo()
    reliable = fairness[coo.row] * coo.data
    positive: FloatArray = np.bincount(coo.col, weights=np.maximum(reliable, 0.0), minlength=n).astype(
        np.float64
    )
    negative: FloatArray = np.bincount(coo.col, weights=np.maximum(-reliable, 0.0), minlength=n).astype(
        np.float64
    )
    a, b, k = params.prior_good, params.prior_bad, params.evidence_half
    evidence = positive + negative
    return RatingEvidence(
        value=(a + positive) / (a + b + evidence),
        weight=evidence / (evidence + k),
        shared_value=(a + positive) / (a + b + positive),
        shared_weight=positive / (positive + k),
        positive=positive,
        negative=negative,
        distrust_received=np.bincount(coo.col[coo.data < 0], minlength=n).astype(np.int64),
        fairness=fairness,
    )


def blend(component: FloatArray, value: FloatArray, weight: FloatArray) -> FloatArray:
    """``(1 - weight) * component + weight * value``: a component with the rating evidence in it."""
    c = np.asarray(component, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    out: FloatArray = np.clip((1.0 - w) * c + w * np.asarray(value, dtype=np.float64), 0.0, 1.0)
    return out
