"""Sybil resistance of the network component: how much a fabricated region can buy.

An attacker creates ``m`` fake accounts (a *sybil region*), gives them the best
records they can fabricate (base ``b = 1``), links them densely among themselves
and persuades ``g`` real users to befriend them (the *attack links*). Two
questions (docs/design.md, "The network component"):

* **what the sybils gain**: the network points of the sybil accounts themselves.
  They vouch for each other, so each sybil's component is high whatever ``m`` is;
  this is why sybils must be caught by other means (trust mode, verification).
* **what the honest side gains**: the points honest users (the accomplices at the
  honest ends of the attack links, and everyone behind them) get *from* the sybil
  region. This is what the attacker can sell, and it must be bounded by the attack
  links, not grow with ``m``.

:func:`sybil_curve` plants regions of growing size behind the same attack links
(:func:`credence.seeds.sybil.honest_graph`, :func:`credence.seeds.sybil.attach_region`),
measures each (:func:`measure_region`) and computes the size-independent bound
``B`` of the honest gain; why ``(1 - rho) B <= gain(m) <= B`` for every size, so the
curve is flat, is derived in :mod:`credence.scoring.sybil_bounds`. The chart is
:func:`credence.analysis.plots.plot_sybil_curve`, the command ``credence
sybil-resistance`` (:mod:`credence.cli.commands_sybil`).

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

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from credence.core.checks import check_int, check_real
from credence.core.errors import ParameterError
from credence.core.scale import SCORE_RANGE
from credence.scoring.diffusion import check_damping, check_sharing, check_shrinkage, network_component
from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
from credence.scoring.sybil_bounds import crossing_bound, escape_bound, region_contribution
from credence.seeds.sybil import attach_region, honest_graph

__all__ = [
    "DEFAULT_SIZES",
    "SybilCurve",
    "SybilPoint",
    "connections_weight",
    "measure_region",
    "sybil_curve",
]

#: Region sizes of the default curve (and of ``credence sybil-resistance``).
DEFAULT_SIZES: tuple[int, ...] = (10, 30, 100, 300, 1000, 3000, 10000)


def connections_weight() -> float:
    """Weight of the ``connections`` component in the default policy.

    Examples
    --------
    >>> connections_weight()
    0.05
    """
    return float(read_policy(DEFAULT_POLICY_PATH).weights["connections"])


def _degree(adjacency: sp.csr_matrix) -> np.ndarray:
    return np.asarray(adjacency.sum(axis=1)).ravel()


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
        the points the region adds to the honest side (before the sharing rule's clipping).
    endpoint_gain : float
        The same, over the honest ends of the attack links only.
    honest_change : float
        Sum over honest users of the actual change of their points (sharing rule applied)
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
    sharing: str,
    prior: float,
    weight: float,
    baseline: np.ndarray | None = None,
) -> SybilPoint:
    """Measure one graph with a planted region (see :class:`SybilPoint`).

    Parameters
    ----------
    adjacency : array_like or sparse matrix, shape (n, n)
        Symmetric link weights of honest users and sybils.
    base : array_like, shape (n,)
        Every user's base.
    sybil : array_like of bool, shape (n,)
        The sybil mask.
    damping, shrinkage, prior : float
        The diffusion's ``a``, the degree shrinkage ``k`` and the neutral prior ``mu``.
    sharing : str
        How the component treats users below the prior.
    weight : float
        Weight of the ``connections`` component (points are ``600 * weight`` per unit).
    baseline : ndarray, optional
        The honest users' component without the region (default: not compared,
        ``honest_change = nan``).

    Returns
    -------
    SybilPoint

    Examples
    --------
    >>> A = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> p = measure_region(A, [0.5, 1.0], [False, True], damping=0.5, shrinkage=0.0,
    ...                    sharing="bonus_only", prior=0.5, weight=0.05)
    >>> round(p.honest_gain, 9), round(p.sybil_points, 9)  # 30 * (n_0 - mu) = 30/3, 30 * (2/3 - 1/2)
    (10.0, 5.0)
    """
    matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    mask = np.asarray(sybil, dtype=bool)
    k = check_shrinkage(shrinkage)
    scale = SCORE_RANGE * float(weight)
    nc = network_component(matrix, b, damping=damping, shrinkage=k, sharing=sharing, prior=prior, tol=1e-12)
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
    sharing : str
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
    sharing: str

    def point(self, size: int) -> SybilPoint:
        """The point measured at region size ``size``.

        Raises
        ------
        ParameterError
            No point was measured at that size.
        """
        for p in self.points:
            if p.region_size == size:
                return p
        raise ParameterError("size", size, f"not measured (sizes: {[p.region_size for p in self.points]})")

    def flattening(self, large: int | None = None, reference: int = 1000) -> float:
        """``honest_gain(large) / honest_gain(reference)``: how much the honest gain still grows.

        Parameters
        ----------
        large : int, optional
            A measured size; default the largest.
        reference : int
            A measured size.

        Returns
        -------
        float
            ``nan`` if the reference gain is 0. It is at most
            ``1 / (1 - rho(reference))`` (:mod:`credence.scoring.sybil_bounds`).
        """
        top = self.point(large if large is not None else max(p.region_size for p in self.points))
        ref = self.point(reference)
        return top.honest_gain / ref.honest_gain if ref.honest_gain else math.nan

    def as_dict(self) -> dict[str, Any]:
        """The curve as a JSON-ready dict (the points as a list of dicts)."""
        out = asdict(self)
        out["points"] = [asdict(p) for p in self.points]
        return out

    def text(self) -> str:
        """The curve as a fixed-width table (what ``credence sybil-resistance`` prints)."""
        head = (
            f"honest users {self.honest_users}, attack links {self.attack_links}, a={self.damping}, "
            f"k={self.shrinkage}, sharing {self.sharing}, mu={self.prior:.4f}, w={self.weight}\n"
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
    sharing: str = "bonus_only",
    sybil_base: float = 1.0,
    internal_degree: int = 10,
    weight: float | None = None,
    seed: int = 0,
) -> SybilCurve:
    """Plant sybil regions of growing size behind the same attack links and measure them.

    One honest graph (:func:`credence.seeds.sybil.honest_graph`, ``seed``), the same
    ``attack_links`` honest victims for every size
    (:func:`credence.seeds.sybil.attach_region`); the prior ``mu`` is the honest
    users' mean base (the attacker must not move it by adding accounts).

    Parameters
    ----------
    honest_users : int
        Size of the honest population (>= 2).
    region_sizes : sequence of int
        Sybil region sizes to plant, one at a time (each >= 1).
    attack_links : int
        Links between each region and honest users (>= 1, at most ``honest_users``
        and the smallest region).
    damping, shrinkage : float
        The diffusion's ``a`` and the degree shrinkage ``k``.
    sharing : str
        How the component treats users below the prior (see
        :data:`credence.scoring.diffusion.SHARING_MODES`).
    sybil_base : float
        Base of every sybil, in [0, 1].
    internal_degree : int
        Average number of sybil friends of a sybil.
    weight : float, optional
        Weight of the ``connections`` component, in [0, 1]; default the default
        policy's (:func:`connections_weight`).
    seed : int
        Seed of the honest graph and of the regions.

    Returns
    -------
    SybilCurve

    Raises
    ------
    ParameterError
        Bad sizes, counts, damping, shrinkage, sharing rule or ``sybil_base``.

    Examples
    --------
    >>> c = sybil_curve(honest_users=500, region_sizes=(20,), attack_links=2)
    >>> c.points[0].region_size, c.attack_links
    (20, 2)
    """
    n = check_int(honest_users, "honest_users", 2)
    g = check_int(attack_links, "attack_links", 1)
    a = check_damping(damping)
    k = check_shrinkage(shrinkage)
    rule = check_sharing(sharing)
    value = check_real(sybil_base, "sybil_base", lo=0.0, hi=1.0)
    if isinstance(region_sizes, str | bytes) or not isinstance(region_sizes, Sequence) or not region_sizes:
        raise ParameterError("region_sizes", region_sizes, "must be a non-empty sequence of integers")
    sizes = [check_int(s, "region_sizes", 1) for s in region_sizes]
    if g > n or g > min(sizes):
        raise ParameterError(
            "attack_links",
            attack_links,
            f"must be <= honest_users ({n}) and the smallest region ({min(sizes)})",
        )
    w = connections_weight() if weight is None else check_real(weight, "weight", lo=0.0, hi=1.0)
    honest, base = honest_graph(n, seed=seed)
    mu = float(base.mean())
    baseline = network_component(
        honest, base, damping=a, shrinkage=k, sharing=rule, prior=mu, tol=1e-12
    ).value
    points = []
    bound = math.nan
    for size in sizes:
        matrix, b, mask = attach_region(
            honest, base, size, attack_links=g, internal_degree=internal_degree, sybil_base=value, seed=seed
        )
        points.append(
            measure_region(
                matrix, b, mask, damping=a, shrinkage=k, sharing=rule, prior=mu, weight=w, baseline=baseline
            )
        )
        if math.isnan(bound):  # the same for every size: depends on the honest side only
            x = crossing_bound(matrix, mask, damping=a)
            d = _degree(matrix)[~mask]
            bound = float(SCORE_RANGE * w * (value - mu) * (d / (d + k) * x[~mask]).sum())
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
        sharing=rule,
    )
