"""Sybil resistance of the network component: how much a fabricated region can buy.

An attacker creates ``m`` fake accounts (a *sybil region*), gives them the best
records they can fabricate (base ``b = 1``), links them densely among themselves
and persuades ``g`` real users to befriend them (the *attack links*). Two
questions (DESIGN.md, "The network component"):

* **what the sybils gain**: the network points of the sybil accounts themselves.
  They vouch for each other, so each sybil's component is high whatever ``m`` is;
  this is why sybils must be caught by other means (trust mode, verification).
* **what the honest side gains**: the points honest users (the accomplices at the
  honest ends of the attack links, and everyone behind them) get *from* the sybil
  region. This is what the attacker can sell, and it must be bounded by the attack
  links, not grow with ``m``.

Why personalized PageRank bounds the honest side
------------------------------------------------
With ``pi_u`` the walk distribution of DESIGN.md, the network component of ``u``
is ``n_u - mu = sum_v pi_u(v) (b_v - mu)``, so the part the region ``S`` adds is
``sum_{v in S} pi_u(v) (b_v - mu) <= (1 - mu) pi_u(S)``. The walk behind ``pi_u``
takes one step from ``u`` and then continues with probability ``a`` per step. It
can be in ``S`` at its end only if it crossed an attack link, and whether it crosses
one before its first crossing depends on the honest graph and the honest ends of
the attack links only. Hence ``pi_u(S) <= X_u``, the probability that the walk from
``u`` crosses an attack link at all: ``X_u = c_u + sum_h Q_uh x_h`` with
``x = a (c + Q x)``, where ``c_h = att_h / d_h`` is the share of ``h``'s link
weight on attack links and ``Q = D^-1 A_HH`` the walk among honest users. ``X`` does
not depend on the region, so neither does the bound
``B = 600 w sum_u d_u / (d_u + k) (b_S - mu) X_u`` (:func:`crossing_bound`),
however large ``m`` is.

Conversely, once the walk has entered ``S`` it expects ``a / (1 - a)`` more steps,
each taken from a sybil ``s`` crosses back with probability ``att_s / d_s``, so it
returns to the honest side with probability at most
``rho = a / (1 - a) * max_s att_s / d_s`` (:func:`escape_bound`). Hence
``(1 - rho) B <= gain(m) <= B`` for every region, and between two region sizes
``gain(m2) / gain(m1) <= 1 / (1 - rho(m1))``: the curve is flat up to a factor
fixed by the region's internal degree. With ``a = 0.5`` and one attack link per
sybil end, ``rho = 1 / (1 + internal degree of the least-linked sybil end)``: about
1/11 for ten internal links, measured 1/8 to 1/7 for the random regions of
:func:`attach_region` (internal degree 10 on average), so the ratio is at most
about 1.14 -- whatever the sizes.

The pure computations (:func:`honest_graph`, :func:`attach_region`,
:func:`region_contribution`, :func:`crossing_bound`, :func:`escape_bound`,
:func:`measure_region`, :func:`sybil_curve`) are separate from the I/O
(:func:`plot_sybil_curve`, the ``sybil-resistance`` click command).

Examples
--------
>>> curve = sybil_curve(honest_users=2000, region_sizes=(10, 100, 1000), attack_links=5)
>>> [p.region_size for p in curve.points]
[10, 100, 1000]
>>> bool(curve.flattening(1000, 100) <= 1.0 / (1.0 - curve.point(100).escape))
True
>>> all(p.honest_gain <= curve.bound * (1 + 1e-6) for p in curve.points)
True
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import scipy.sparse as sp

from credence.core.errors import CredenceError, InputError, ParameterError
from credence.scoring.diffusion import (
    check_damping,
    check_policy,
    check_prior,
    check_shrinkage,
    diffuse,
    network_component,
)
from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy

__all__ = [
    "DEFAULT_SIZES",
    "POINTS_SCALE",
    "SybilCurve",
    "SybilPoint",
    "attach_region",
    "connections_weight",
    "crossing_bound",
    "escape_bound",
    "honest_graph",
    "measure_region",
    "plot_sybil_curve",
    "region_contribution",
    "sybil_curve",
    "sybil_resistance",
]

#: Score points per unit of weighted component (``score = 350 + 600 * sum w_k c_k``).
POINTS_SCALE = 600.0

DEFAULT_SIZES: tuple[int, ...] = (10, 30, 100, 300, 1000, 3000, 10000)


def _int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or int(value) < lo:
        raise ParameterError(name, value, f"must be an integer >= {lo}")
    return int(value)


def _unit(name: str, value: Any) -> float:
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ParameterError(name, value, "must be a real number in [0, 1]")
    return float(value)


def connections_weight() -> float:
    """Weight of the ``connections`` component in the default policy.

    Examples
    --------
    >>> connections_weight()
    0.05
    """
    return float(read_policy(DEFAULT_POLICY_PATH).weights["connections"])


# --------------------------------------------------------------------------- graphs


def honest_graph(
    n: int, *, avg_degree: float = 10.0, exponent: float = 2.5, seed: int = 0
) -> tuple[sp.csr_matrix, np.ndarray]:
    """A random honest population: a Chung-Lu power-law graph and Beta-distributed bases.

    Each user has a Pareto propensity (density exponent ``exponent``, capped at
    ``sqrt(n) * avg_degree``); ``round(n * avg_degree / 2)`` link ends are drawn in
    proportion to propensity; self links and repeats are dropped (unit weights).
    Bases are ``Beta(5, 3)`` (mean 0.625), nudged towards the mean of their
    neighbours once so they are homophilous, as real credit records are.

    Returns
    -------
    adjacency : scipy.sparse.csr_matrix, shape (n, n)
    base : ndarray of float64, shape (n,), in [0, 1]

    Examples
    --------
    >>> A, b = honest_graph(1000, seed=1)
    >>> A.shape, bool((A != A.T).nnz == 0), bool(0.0 <= b.min() and b.max() <= 1.0)
    ((1000, 1000), True, True)
    """
    n = _int("honest_users", n, 2)
    if not (isinstance(avg_degree, numbers.Real) and 0.0 < avg_degree < n - 1):
        raise ParameterError("avg_degree", avg_degree, f"must be in (0, {n - 1})")
    if not (isinstance(exponent, numbers.Real) and exponent > 2.0):
        raise ParameterError("exponent", exponent, "must be > 2")
    rng = np.random.default_rng(seed)
    theta = np.minimum(rng.pareto(exponent - 1.0, n) + 1.0, math.sqrt(n) * avg_degree)
    p = theta / theta.sum()
    m = round(n * avg_degree / 2)
    src = rng.choice(n, size=m, p=p)
    dst = rng.choice(n, size=m, p=p)
    keep = src != dst
    lo, hi = np.minimum(src, dst)[keep], np.maximum(src, dst)[keep]
    pairs = np.unique(lo.astype(np.int64) * n + hi)
    i, j = pairs // n, pairs % n
    adjacency = sp.csr_matrix((np.ones(2 * i.size), (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    raw = rng.beta(5.0, 3.0, n)
    deg = np.asarray(adjacency.sum(axis=1)).ravel()
    neighbours = np.divide(adjacency @ raw, deg, out=raw.copy(), where=deg > 0)
    base = np.clip(0.5 * raw + 0.5 * neighbours, 0.0, 1.0)
    return adjacency, base


def attach_region(
    adjacency: sp.csr_matrix,
    base: np.ndarray,
    size: int,
    *,
    attack_links: int,
    internal_degree: int = 10,
    sybil_base: float = 1.0,
    seed: int = 0,
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Append a sybil region of ``size`` accounts to an honest graph.

    Sybils link to ``internal_degree`` other sybils on average (a ring, which
    keeps the region connected, plus random chords; every other sybil when the
    region is that small), and exactly ``attack_links``
    links join distinct sybils to distinct random honest users. The honest ends
    depend on ``seed`` only, not on ``size``, so curves compare like with like.

    Returns
    -------
    adjacency : csr_matrix, shape (n + size, n + size)
    base : ndarray, the honest bases followed by ``sybil_base``
    sybil : ndarray of bool, the sybil mask

    Examples
    --------
    >>> A = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> B, b, s = attach_region(A, np.array([0.5, 0.5]), 3, attack_links=1)
    >>> B.shape, int(B.nnz // 2), b.tolist(), s.tolist()
    ((5, 5), 5, [0.5, 0.5, 1.0, 1.0, 1.0], [False, False, True, True, True])
    """
    n = adjacency.shape[0]
    size = _int("size", size, 1)
    g = _int("attack_links", attack_links, 0)
    internal = _int("internal_degree", internal_degree, 1)
    value = _unit("sybil_base", sybil_base)
    if g > n:
        raise ParameterError("attack_links", attack_links, f"must be <= the number of honest users ({n})")
    if g > size:
        raise ParameterError("attack_links", attack_links, f"must be <= the region size ({size})")
    honest_rng = np.random.default_rng([seed, 1])
    region_rng = np.random.default_rng([seed, 2, size])
    if size - 1 <= internal:
        iu, ju = np.triu_indices(size, 1)
        si, sj = iu.astype(np.int64), ju.astype(np.int64)
    else:
        ring = np.arange(size)
        chords = max(0, round(size * internal / 2) - size)
        ci = region_rng.integers(0, size, chords)
        cj = region_rng.integers(0, size, chords)
        a = np.r_[ring, ci]
        b = np.r_[(ring + 1) % size, cj]
        ok = a != b
        lo, hi = np.minimum(a, b)[ok], np.maximum(a, b)[ok]
        pairs = np.unique(lo.astype(np.int64) * size + hi)
        si, sj = pairs // size, pairs % size
    victims = honest_rng.choice(n, size=g, replace=False)
    ends = region_rng.choice(size, size=g, replace=False)
    rows = np.r_[si + n, victims, ends + n]
    cols = np.r_[sj + n, ends + n, victims]
    links = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n + size, n + size))
    total = (
        sp.block_diag([adjacency, sp.csr_matrix((size, size))], format="csr")
        + links
        + sp.coo_matrix((np.ones(si.size), (sj + n, si + n)), shape=(n + size, n + size))
    )
    total = sp.csr_matrix(total)
    total.sum_duplicates()
    sybil = np.r_[np.zeros(n, dtype=bool), np.ones(size, dtype=bool)]
    return total, np.r_[np.asarray(base, dtype=np.float64), np.full(size, value)], sybil


# --------------------------------------------------------------------------- the measures


def _degree(adjacency: sp.csr_matrix) -> np.ndarray:
    return np.asarray(adjacency.sum(axis=1)).ravel()


def region_contribution(
    adjacency: Any, base: Any, sybil: Any, *, damping: float, prior: float, tol: float = 1e-12
) -> np.ndarray:
    """The part of every user's ``n_u - mu`` that comes from the sybil region.

    ``sum_{v in S} pi_u(v) (b_v - mu)``, by linearity the network value ``(P y)_u``
    of a diffusion whose base is ``b_v - mu`` on the sybils and 0 elsewhere (0 for
    isolated users).

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
    return np.divide(matrix @ y, d, out=np.zeros_like(d), where=d > 0)


def crossing_bound(adjacency: Any, sybil: Any, *, damping: float) -> np.ndarray:
    """``X_u``: probability that the walk behind ``n_u`` ever crosses an attack link.

    Solves ``x = a (c + Q x)`` on the honest users (``c_h`` their share of link
    weight on attack links, ``Q = D^-1 A_HH``) and returns ``X = c + Q x`` for
    honest users, ``nan`` for sybils. It bounds ``pi_u(S)`` for every region
    behind the same attack links.

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


@dataclass(frozen=True)
class SybilPoint:
    """The measures for one region size (points are score points, 350-950 scale).

    Attributes
    ----------
    region_size : int
    sybil_points : float
        Sum over sybils of ``600 w (c_u - mu)``, their own network points.
    per_sybil : float
        ``sybil_points / region_size``.
    honest_gain : float
        Sum over honest users of ``600 w d_u / (d_u + k) * (region's part of n_u - mu)``:
        the points the region adds to the honest side (before the policy's clipping).
    endpoint_gain : float
        The same, over the honest ends of the attack links only.
    honest_change : float
        Sum over honest users of the actual change of their points (policy applied)
        against the honest graph without the region and its attack links.
    escape : float
        ``rho`` of :func:`escape_bound`.
    """

    region_size: int
    sybil_points: float
    per_sybil: float
    honest_gain: float
    endpoint_gain: float
    honest_change: float
    escape: float


def measure_region(
    adjacency: Any,
    base: Any,
    sybil: Any,
    *,
    damping: float,
    shrinkage: float,
    policy: str,
    prior: float,
    weight: float,
    baseline: np.ndarray | None = None,
) -> SybilPoint:
    """Measure one graph with a planted region (see :class:`SybilPoint`).

    ``baseline`` is the honest users' component without the region (default: not
    compared, ``honest_change = nan``).

    Examples
    --------
    >>> A = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> p = measure_region(A, [0.5, 1.0], [False, True], damping=0.5, shrinkage=0.0,
    ...                    policy="bonus_only", prior=0.5, weight=0.05)
    >>> round(p.honest_gain, 9), round(p.sybil_points, 9)  # 30 * (n_0 - mu) = 30/3, 30 * (2/3 - 1/2)
    (10.0, 5.0)
    """
    matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    mask = np.asarray(sybil, dtype=bool)
    k = check_shrinkage(shrinkage)
    scale = POINTS_SCALE * float(weight)
    nc = network_component(matrix, b, damping=damping, shrinkage=k, policy=policy, prior=prior, tol=1e-12)
    d = nc.degree
    part = region_contribution(matrix, b, mask, damping=damping, prior=prior)
    shrink = np.divide(d, d + k, out=np.zeros_like(d), where=d + k > 0)
    gain = scale * shrink * part
    ends = ~mask & (np.asarray(matrix[:, np.flatnonzero(mask)].sum(axis=1)).ravel() > 0)
    size = int(mask.sum())
    sybil_points = float(scale * (nc.value[mask] - prior).sum())
    change = math.nan
    if baseline is not None:
        change = float(scale * (nc.value[~mask] - baseline).sum())
    return SybilPoint(
        region_size=size,
        sybil_points=sybil_points,
        per_sybil=sybil_points / size if size else 0.0,
        honest_gain=float(gain[~mask].sum()),
        endpoint_gain=float(gain[ends].sum()),
        honest_change=change,
        escape=escape_bound(matrix, mask, damping=damping),
    )


@dataclass(frozen=True)
class SybilCurve:
    """Measures over region sizes, with the size-independent bound of the honest gain.

    Attributes
    ----------
    points : tuple of SybilPoint
    bound : float
        ``B`` of the module docstring: ``honest_gain <= B`` for every region size.
    honest_users, attack_links : int
    damping, shrinkage, prior, weight, sybil_base : float
    policy : str
    """

    points: tuple[SybilPoint, ...]
    bound: float
    honest_users: int
    attack_links: int
    damping: float
    shrinkage: float
    prior: float
    weight: float
    sybil_base: float
    policy: str

    def point(self, size: int) -> SybilPoint:
        """The point measured at region size ``size`` (ParameterError if not measured)."""
        for p in self.points:
            if p.region_size == size:
                return p
        raise ParameterError("size", size, f"not measured (sizes: {[p.region_size for p in self.points]})")

    def flattening(self, large: int | None = None, reference: int = 1000) -> float:
        """``honest_gain(large) / honest_gain(reference)``; ``large`` defaults to the largest size."""
        top = self.point(large if large is not None else max(p.region_size for p in self.points))
        ref = self.point(reference)
        return top.honest_gain / ref.honest_gain if ref.honest_gain else math.nan

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["points"] = [asdict(p) for p in self.points]
        return out

    def text(self) -> str:
        """A fixed-width table."""
        head = (
            f"honest users {self.honest_users}, attack links {self.attack_links}, a={self.damping}, "
            f"k={self.shrinkage}, policy {self.policy}, mu={self.prior:.4f}, w={self.weight}\n"
            f"bound on honest gain (any size): {self.bound:.3f} points\n"
        )
        rows = [
            f"{'size':>7} {'sybil pts':>11} {'per sybil':>10} {'honest gain':>12} "
            f"{'at ends':>9} {'honest chg':>11} {'rho':>6}"
        ]
        for p in self.points:
            rows.append(
                f"{p.region_size:>7} {p.sybil_points:>11.2f} {p.per_sybil:>10.3f} {p.honest_gain:>12.4f} "
                f"{p.endpoint_gain:>9.4f} {p.honest_change:>11.4f} {p.escape:>6.3f}"
            )
        return head + "\n".join(rows)


def sybil_curve(
    *,
    honest_users: int = 20_000,
    region_sizes: Sequence[int] = DEFAULT_SIZES,
    attack_links: int = 10,
    damping: float = 0.5,
    shrinkage: float = 2.0,
    policy: str = "bonus_only",
    sybil_base: float = 1.0,
    internal_degree: int = 10,
    weight: float | None = None,
    seed: int = 0,
) -> SybilCurve:
    """Plant sybil regions of growing size behind the same attack links and measure them.

    One honest graph (:func:`honest_graph`, ``seed``), the same ``attack_links``
    honest victims for every size; the prior ``mu`` is the honest users' mean base
    (the attacker must not move it by adding accounts); ``weight`` defaults to the
    default policy's ``connections`` weight.

    Raises
    ------
    ParameterError
        Bad sizes, counts, damping, shrinkage, policy or ``sybil_base``.

    Examples
    --------
    >>> c = sybil_curve(honest_users=500, region_sizes=(20,), attack_links=2)
    >>> c.points[0].region_size, c.attack_links
    (20, 2)
    """
    n = _int("honest_users", honest_users, 2)
    g = _int("attack_links", attack_links, 1)
    a = check_damping(damping)
    k = check_shrinkage(shrinkage)
    rule = check_policy(policy)
    value = _unit("sybil_base", sybil_base)
    if isinstance(region_sizes, str | bytes) or not isinstance(region_sizes, Sequence) or not region_sizes:
        raise ParameterError("region_sizes", region_sizes, "must be a non-empty sequence of integers")
    sizes = [_int("region_sizes", s, 1) for s in region_sizes]
    if g > n or g > min(sizes):
        raise ParameterError(
            "attack_links",
            attack_links,
            f"must be <= honest_users ({n}) and the smallest region ({min(sizes)})",
        )
    w = connections_weight() if weight is None else _unit("weight", weight)
    honest, base = honest_graph(n, seed=seed)
    mu = float(base.mean())
    baseline = network_component(honest, base, damping=a, shrinkage=k, policy=rule, prior=mu, tol=1e-12).value
    points = []
    bound = math.nan
    for size in sizes:
        matrix, b, mask = attach_region(
            honest, base, size, attack_links=g, internal_degree=internal_degree, sybil_base=value, seed=seed
        )
        points.append(
            measure_region(
                matrix, b, mask, damping=a, shrinkage=k, policy=rule, prior=mu, weight=w, baseline=baseline
            )
        )
        if math.isnan(bound):  # the same for every size: depends on the honest side only
            x = crossing_bound(matrix, mask, damping=a)
            d = _degree(matrix)[~mask]
            bound = float(POINTS_SCALE * w * (value - mu) * (d / (d + k) * x[~mask]).sum())
    return SybilCurve(
        points=tuple(points),
        bound=bound,
        honest_users=n,
        attack_links=g,
        damping=a,
        shrinkage=k,
        prior=mu,
        weight=w,
        sybil_base=value,
        policy=rule,
    )


# --------------------------------------------------------------------------- I/O


def plot_sybil_curve(curve: SybilCurve, path: str | Path) -> Path:
    """Draw the curve as a PNG: region size (log) against honest gain and per-sybil points.

    Examples
    --------
    >>> import tempfile
    >>> c = sybil_curve(honest_users=300, region_sizes=(10, 30), attack_links=2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     plot_sybil_curve(c, Path(tmp) / "s.png").stat().st_size > 1000
    True
    """
    from matplotlib.figure import Figure

    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ParameterError("path", str(target), "must end in .png")
    sizes = [p.region_size for p in curve.points]
    figure = Figure(figsize=(8.0, 5.0), dpi=100, layout="constrained")
    ax = figure.add_subplot()
    ax.plot(sizes, [p.honest_gain for p in curve.points], "o-", label="honest-side gain (total points)")
    ax.plot(sizes, [p.endpoint_gain for p in curve.points], "s--", label="gain of attack-link ends")
    ax.plot(sizes, [p.per_sybil for p in curve.points], "^-", label="points per sybil")
    ax.axhline(curve.bound, color="grey", linestyle=":", label="bound on honest gain (any size)")
    ax.set_xscale("log")
    ax.set_xlabel("sybil region size (accounts)")
    ax.set_ylabel("score points")
    ax.set_title(f"Sybil resistance: {curve.attack_links} attack links, {curve.honest_users} honest users")
    ax.legend()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, format="png")
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc}") from exc
    return target


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise ParameterError("sizes", text, "must be integers separated by commas") from None


@click.command("sybil-resistance")
@click.option(
    "--sizes",
    default=",".join(map(str, DEFAULT_SIZES)),
    show_default=True,
    help="Sybil region sizes, comma-separated.",
)
@click.option(
    "--attack-links", default=10, show_default=True, type=int, help="Links from the region to honest users."
)
@click.option(
    "--honest-users", default=20_000, show_default=True, type=int, help="Size of the honest population."
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--out", "out", default=None, type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG chart."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sybil_resistance(
    sizes: str, attack_links: int, honest_users: int, seed: int, out: Path | None, as_json: bool
) -> None:
    """Measure what a growing sybil region gains, for itself and for the honest side."""
    try:
        curve = sybil_curve(
            honest_users=honest_users, region_sizes=_parse_sizes(sizes), attack_links=attack_links, seed=seed
        )
        if out is not None:
            plot_sybil_curve(curve, out)
    except CredenceError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(curve.as_dict(), indent=2))
        return
    click.echo(curve.text())
    largest = max(p.region_size for p in curve.points)
    if any(p.region_size == 1000 for p in curve.points) and largest != 1000:
        click.echo(
            f"gain({largest}) / gain(1000) = {curve.flattening():.4f}; "
            f"limit 1/(1-rho) = {1.0 / (1.0 - curve.point(1000).escape):.4f}"
        )
    if out is not None:
        click.echo(f"wrote {out}")
