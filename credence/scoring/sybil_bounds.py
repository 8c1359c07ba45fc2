"""How much a sybil region can add to honest users' network values: the region's part and its bounds.

A sybil region ``S`` is a set of fabricated accounts joined to the honest users
``H`` by a few *attack links*. Every function takes a symmetric adjacency over
``H`` and ``S`` and the boolean sybil mask, and is pure numerics (arrays in, arrays
out); the experiment that plants regions and measures them is
:mod:`credence.analysis.sybil_resistance`.

Why personalized PageRank bounds the honest side
------------------------------------------------
With ``pi_u`` the walk distribution of docs/design.md, the network component of ``u``
is ``n_u - mu = sum_v pi_u(v) (b_v - mu)``, so the part the region ``S`` adds is
``sum_{v in S} pi_u(v) (b_v - mu) <= (1 - mu) pi_u(S)`` (:func:`region_contribution`).
The walk behind ``pi_u`` takes one step from ``u`` and then continues with
probability ``a`` per step. It can be in ``S`` at its end only if it crossed an
attack link, and whether it crosses one before its first crossing depends on the
honest graph and the honest ends of the attack links only. Hence
``pi_u(S) <= X_u``, the probability that the walk from ``u`` crosses an attack link
at all: ``X_u = c_u + sum_h Q_uh x_h`` with ``x = a (c + Q x)``, where
``c_h = att_h / d_h`` is the share of ``h``'s link weight on attack links and
``Q = D^-1 A_HH`` the walk among honest users (:func:`crossing_bound`). ``X`` does
not depend on the region, so neither does the bound on the points the honest side
gains, ``B = 600 w sum_u d_u / (d_u + k) (b_S - mu) X_u``, however large the region is.

Conversely, once the walk has entered ``S`` it expects ``a / (1 - a)`` more steps,
each taken from a sybil ``s`` crosses back with probability ``att_s / d_s``, so it
returns to the honest side with probability at most
``rho = a / (1 - a) * max_s att_s / d_s`` (:func:`escape_bound`). Hence
``(1 - rho) B <= gain(m) <= B`` for every region, and between two region sizes
``gain(m2) / gain(m1) <= 1 / (1 - rho(m1))``: the curve is flat up to a factor
fixed by the region's internal degree. With ``a = 0.5`` and one attack link per
sybil end, ``rho = 1 / (1 + internal degree of the least-linked sybil end)``: about
1/11 for ten internal links, measured 1/8 to 1/7 for the random regions of
:func:`credence.seeds.sybil.attach_region` (internal degree 10 on average), so the
ratio is at most about 1.14 -- whatever the sizes.

Examples
--------
Honest path 0 - 1, sybil 2 behind the attack link 1 - 2, a = 0.5:

>>> import numpy as np
>>> A = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
>>> sybil = [False, False, True]
>>> part = region_contribution(A, [0.5, 0.5, 1.0], sybil, damping=0.5, prior=0.5)
>>> bool(np.all(part[:2] <= 0.5 * crossing_bound(A, sybil, damping=0.5)[:2] + 1e-12))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from credence.core.types import FloatArray
from credence.scoring.diffusion import check_damping, check_prior, diffuse

__all__ = ["crossing_bound", "escape_bound", "region_contribution"]


def _degree(adjacency: sp.csr_matrix) -> np.ndarray:
    return np.asarray(adjacency.sum(axis=1)).ravel()


def region_contribution(
    adjacency: Any, base: Any, sybil: Any, *, damping: float, prior: float, tol: float = 1e-12
) -> np.ndarray:
    """The part of every user's ``n_u - mu`` that comes from the sybil region.

    ``sum_{v in S} pi_u(v) (b_v - mu)``, by linearity the network value ``(P y)_u``
    of a diffusion whose base is ``b_v - mu`` on the sybils and 0 elsewhere (0 for
    isolated users).

    Parameters
    ----------
    adjacency : array_like or sparse matrix, shape (n, n)
        Symmetric link weights of honest users and sybils.
    base : array_like, shape (n,)
        Every user's base ``b``.
    sybil : array_like of bool, shape (n,)
        The sybil mask.
    damping : float
        The diffusion's continue probability ``a``.
    prior : float
        The neutral prior ``mu``, in [0, 1].
    tol : float
        Guaranteed accuracy of the diffusion solve.

    Returns
    -------
    ndarray of float64, shape (n,)

    Examples
    --------
    Path 0 - 1 with sybil 1 (base 1), mu = 0.5, a = 0.5: the walk from 0 ends at
    1 with probability ``1 / (1 + a) = 2/3``, so 0 gets ``2/3 * 0.5``:

    >>> A = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> (region_contribution(A, [0.5, 1.0], [False, True], damping=0.5, prior=0.5) * 3).round(9).tolist()
    [1.0, 0.5]
    """
    matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    mask = np.asarray(sybil, dtype=bool)
    mu = check_prior(prior)
    e = np.where(mask, b - mu, 0.0)
    y = diffuse(matrix, e, damping=damping, tol=tol)
    d = _degree(matrix)
    contribution: FloatArray = np.divide(matrix @ y, d, out=np.zeros_like(d), where=d > 0)
    return contribution


def crossing_bound(adjacency: Any, sybil: Any, *, damping: float) -> np.ndarray:
    """``X_u``: probability that the walk behind ``n_u`` ever crosses an attack link.

    Solves ``x = a (c + Q x)`` on the honest users (``c_h`` their share of link
    weight on attack links, ``Q = D^-1 A_HH``) and returns ``X = c + Q x`` for
    honest users, ``nan`` for sybils. It bounds ``pi_u(S)`` for every region
    behind the same attack links.

    Parameters
    ----------
    adjacency : array_like or sparse matrix, shape (n, n)
        Symmetric link weights of honest users and sybils.
    sybil : array_like of bool, shape (n,)
        The sybil mask.
    damping : float
        The diffusion's continue probability ``a``.

    Returns
    -------
    ndarray of float64, shape (n,)

    Examples
    --------
    Honest 0 - 1, attack link 1 - 2 (sybil); a = 0.5: ``x_0 = x_1 / 2``,
    ``x_1 = (1/2 + x_0 / 2) / 2``, so ``x_1 = 2/7``, ``X_0 = x_1 = 2/7``,
    ``X_1 = 1/2 + x_0 / 2 = 4/7``:

    >>> A = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    >>> (crossing_bound(A, [False, False, True], damping=0.5)[:2] * 7).round(9).tolist()
    [2.0, 4.0]
    """
    matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    mask = np.asarray(sybil, dtype=bool)
    a = check_damping(damping)
    honest = np.flatnonzero(~mask)
    d = _degree(matrix)[honest]
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    a_hh = sp.csr_matrix(matrix[honest][:, honest])
    att = np.asarray(matrix[honest][:, np.flatnonzero(mask)].sum(axis=1)).ravel()
    c = att * inv
    q = sp.csr_matrix(sp.diags(inv) @ a_hh)
    x = a * c  # fixed point of x = a (c + Q x); Q is substochastic, so it contracts by a per step
    for _ in range(10_000):
        nxt = a * (c + q @ x)
        done = float(np.abs(nxt - x).max()) <= 1e-15
        x = nxt
        if done:
            break
    out = np.full(matrix.shape[0], np.nan)
    out[honest] = c + q @ x
    return out


def escape_bound(adjacency: Any, sybil: Any, *, damping: float) -> float:
    """``rho = a / (1 - a) * max_s att_s / d_s``: chance a walk inside the region leaves it.

    Parameters
    ----------
    adjacency : array_like or sparse matrix, shape (n, n)
        Symmetric link weights of honest users and sybils.
    sybil : array_like of bool, shape (n,)
        The sybil mask (no sybil: 0).
    damping : float
        The diffusion's continue probability ``a``.

    Returns
    -------
    float

    Examples
    --------
    >>> A = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    >>> escape_bound(A, [False, True, True], damping=0.5)
    0.5
    """
    matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    mask = np.asarray(sybil, dtype=bool)
    a = check_damping(damping)
    sybils = np.flatnonzero(mask)
    if sybils.size == 0:
        return 0.0
    d = _degree(matrix)[sybils]
    att = np.asarray(matrix[sybils][:, np.flatnonzero(~mask)].sum(axis=1)).ravel()
    share = np.divide(att, d, out=np.zeros_like(d), where=d > 0)
    return float(a / (1.0 - a) * share.max())
