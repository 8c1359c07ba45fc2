"""Synthetic populations with planted fraud, for tests, demos and benchmarks.

:func:`generate_population` draws a reproducible population (users, friend links,
repayments, spending) in the frame schemas of ``docs/data-model.md``, together with
its ground truth (``labels``: community, protected group, latent creditworthiness,
planted sybils and collusion rings). Everything is vectorised with numpy: a million
users with ten million links take about ten to fifteen seconds.

The model
---------
* **Communities** of power-law sizes (density exponent 2.5, the largest capped at
  a quarter of the population) partition the real (non-sybil) users.
* **Links** follow a degree-corrected stochastic block model: every real user has
  a propensity drawn from a Pareto law with density exponent ``degree_exponent``;
  each link picks its source by propensity and a target by propensity, in the
  source's community for a fraction ``homophily`` of the links, in another
  community for the rest. Expected degrees are proportional to propensities.
  Self-links and repeated pairs are dropped and redrawn, so the population has
  exactly ``round(n_users * avg_degree / 2)`` links (unless the planted links alone
  exceed that) and, among real users outside rings, a fraction of
  within-community links equal to ``homophily`` (to about 0.01).
* **Hubs and communities** (as in the LFR benchmark): the largest expected degree
  is capped at ``20 * sqrt(n_users)`` and so that its within-community links fit
  in the largest community (at most ``INTRA_ROOM`` of its members); users are
  placed in communities big enough for their within-community links. Because
  repeated within-community pairs of hubs are redrawn elsewhere, the realised
  degree tail is a little steeper than ``degree_exponent`` (at 1M users and the
  default homophily, P(degree >= k) ~ k**-1.64 for a nominal k**-1.5), and the
  maximum degree is lower in small populations (about 20 times the mean at 10,000
  users, 300 times at 1,000,000).
* **Latent creditworthiness** in (0, 1): a Beta-distributed community mean plus
  individual noise on the logit scale, so it is homophilous. It drives repayment
  outcomes, income and assets, verification flags and bill punctuality.
* **Protected group** ``A``/``B``: each community has its own share of ``B``
  (Beta distributed, so the network carries the group), and ``B`` has a slightly
  lower latent on average.
* **Sybil regions**: recently created, unverified, thin-history accounts linked
  densely among themselves (average internal degree 8, a random cycle keeps each
  region connected) and by exactly ``attack_links_per_region`` light links to
  real users outside rings, placed by the ``attack_model`` (below).
* **Collusion rings**: real-looking but low-latent accounts forming a clique of
  heavy links, each member also linked to one to three outsiders, and to nobody
  else.

User ids are assigned in random order, so neither ids nor row order reveal the
planted accounts.

Attack models
-------------
``attack_model`` chooses how hard the sybil regions are to tell apart. Every
model keeps exactly ``attack_links_per_region`` distinct links from each region
to real users outside rings (sybil end uniform in the region) and the same
planted labels.

* ``"random"`` (the default): the regions above; each attack link lands on a
  uniformly random real user. Its output for a seed is the one this module has
  always produced.
* ``"hubs"``: each attack link lands on a real user drawn with probability
  proportional to their degree propensity (their expected degree), so the
  attack hides behind popular accounts.
* ``"mimic"``: the regions imitate honest structure, so that only the graph cut
  separates them. Per region: propensities drawn from the honest Pareto law
  (``degree_exponent``; capped so that the largest expected internal degree is
  at most half the region) and internal links drawn between members by
  propensity, as honest links are, around the connecting cycle, for an average
  internal degree of ``avg_degree`` (at most ``(sybils_per_region - 1) / 2``, at
  least the cycle's 2) instead of 8; attack links weighted like honest links (``1 + lognormal(0,
  0.75)``) instead of light ones. Per sybil: the account age of an honest user
  (so account ages, repayment counts and spending volumes look honest), a
  latent creditworthiness drawn from the real users outside rings below their
  median (repayment outcomes, income and paperwork like those of honest
  low-latent users), phone verification and declared income as likely as for an
  honest user of that latent, ID verification half as likely (and face
  verification, as for honest users, only with it). Education, employer,
  income and asset verification stay absent. Attack targets are uniform, as in
  ``"random"``.
* ``"seeded"``: attack links aim at SybilRank's seeds, which are verified
  users: each one picks a random ID-verified real user outside rings and lands
  on that user (probability 1/2) or on a random friend of theirs outside rings
  (that user if they have none). ID verification is common (about two thirds
  of real users), so the targets cover most of the population; what changes is
  their distribution: verified users and their (better connected) friends are
  over-represented. With no ID-verified candidate at all, targets are uniform.

For the same seed, every model draws the same people (communities, groups,
latents, propensities and account ages of real users; sybils and rings are the
same accounts) and the same flags for real users. ``"hubs"`` and ``"seeded"``
also keep every link but the attack links (links, weights and times) and the
events as in ``"random"``; ``"mimic"`` changes the number of sybil links, hence
the background links drawn around them, and its older sybils change the
repayment and spending draws.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.errors import ParameterError
from credence.graph.model import Dataset

__all__ = ["ATTACK_MODELS", "Population", "PopulationConfig", "generate_population"]

DAY = 86_400
YEAR = 365 * DAY
MONTH = 30.44 * DAY

#: Oldest generated account, in seconds before ``now``.
MAX_ACCOUNT_AGE = 8 * YEAR

#: Average internal degree of a sybil region (lower for tiny regions).
SYBIL_INTERNAL_DEGREE = 8.0

#: The values of ``PopulationConfig.attack_model`` (see the module notes).
ATTACK_MODELS = ("random", "hubs", "mimic", "seeded")

#: At most this fraction of a community is expected among one member's links inside it.
INTRA_ROOM = 0.3

#: Density exponent of the power law of community sizes (the largest holds at most a
#: quarter of the real users).
COMMUNITY_EXPONENT = 2.5

#: Repayments and spending events per user, on average.
REPAYMENTS_PER_USER = 4.0
BILLS_PER_USER = 2.0
PURCHASES_PER_USER = 1.0

_LINK_BACKGROUND, _LINK_SYBIL, _LINK_ATTACK, _LINK_RING, _LINK_OUTSIDER = range(5)

_STATUSES = pa.array(["pending", "on_time", "late", "missed", "defaulted"])
_PENDING, _ON_TIME, _LATE, _MISSED, _DEFAULTED = range(5)
_CATEGORIES = pa.array(["purchase", "bill"])
_GROUPS = pa.array(["A", "B"])


# --------------------------------------------------------------------------- config


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(name, value, "must be an integer")
    if int(value) < lo or (hi is not None and int(value) > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ParameterError(name, value, f"must be {rng}")


def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(name, value, "must be a real number")
    out = float(value)
    if not math.isfinite(out):
        raise ParameterError(name, value, "must be finite")
    return out


@dataclass(frozen=True, kw_only=True)
class PopulationConfig:
    """Parameters of a synthetic population.

    Parameters
    ----------
    n_users : int
        Number of users, sybils and ring members included (>= 20).
    avg_degree : float
        Target average degree, ``2 * links / users`` (> 0 and <= ``n_users / 10``).
    n_communities : int or None
        Number of communities of real users; ``None`` means about one per 200 real
        users. Sizes are power-law distributed.
    homophily : float
        Fraction of the links between real users (outside rings) that join two
        members of the same community, in [0, 1].
    degree_exponent : float
        Density exponent of the power law of degree propensities (> 2); see the
        module notes for the realised degree tail.
    sybil_regions : int
        Number of planted sybil regions (>= 0).
    sybils_per_region : int
        Accounts per sybil region (>= 10 when there are regions).
    attack_links_per_region : int
        Links between each region and real users (>= 0).
    attack_model : str
        How the sybil regions attack (see the module notes), one of:
        ``"random"`` (default: light, dense, recent, unverified regions whose
        attack links land on uniformly random real users), ``"hubs"`` (attack
        links land on real users in proportion to their expected degree),
        ``"mimic"`` (regions with honest-like degrees, link weights, account ages,
        some verification and low-latent honest-like repayments: only the cut
        separates them) or ``"seeded"`` (attack links land on ID-verified real
        users, SybilRank's seed pool, and on their friends).
    rings : int
        Number of planted collusion rings (>= 0).
    ring_size : int
        Members per ring (>= 3 when there are rings).
    seed : int
        Seed of the random generator (>= 0). Same seed, same population.
    now : int
        "Today" in epoch seconds: no generated time is later, except the due time
        of pending repayments. Must leave room for eight years of history.

    Raises
    ------
    ParameterError
        When a parameter is of the wrong type or out of its domain, or when the
        planted accounts would take more than half of the population.

    Examples
    --------
    >>> PopulationConfig(n_users=1_000, sybils_per_region=50).n_users
    1000
    >>> PopulationConfig(homophily=1.5)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'homophily' = 1.5: must be in [0, 1]
    >>> PopulationConfig(attack_model="hub")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'attack_model' = 'hub': must be one of 'random', 'hubs', 'mimic', 'seeded'
    """

    n_users: int = 10_000
    avg_degree: float = 20.0
    n_communities: int | None = None
    homophily: float = 0.85
    degree_exponent: float = 2.5
    sybil_regions: int = 1
    sybils_per_region: int = 200
    attack_links_per_region: int = 10
    attack_model: str = "random"
    rings: int = 5
    ring_size: int = 8
    seed: int = 0
    now: int = 1_767_225_600

    def __post_init__(self) -> None:
        _check_int("n_users", self.n_users, 20)
        avg = _check_real("avg_degree", self.avg_degree)
        if avg <= 0 or avg > self.n_users / 10:
            raise ParameterError(
                "avg_degree", self.avg_degree, f"must be in (0, n_users / 10 = {self.n_users / 10}]"
            )
        h = _check_real("homophily", self.homophily)
        if not 0.0 <= h <= 1.0:
            raise ParameterError("homophily", self.homophily, "must be in [0, 1]")
        g = _check_real("degree_exponent", self.degree_exponent)
        if g <= 2.0:
            raise ParameterError("degree_exponent", self.degree_exponent, "must be > 2 (finite mean degree)")
        _check_int("sybil_regions", self.sybil_regions, 0)
        _check_int("rings", self.rings, 0)
        _check_int("sybils_per_region", self.sybils_per_region, 10 if self.sybil_regions else 0)
        _check_int("ring_size", self.ring_size, 3 if self.rings else 0)
        _check_int("attack_links_per_region", self.attack_links_per_region, 0)
        if not isinstance(self.attack_model, str) or self.attack_model not in ATTACK_MODELS:
            raise ParameterError(
                "attack_model", self.attack_model, "must be one of " + ", ".join(map(repr, ATTACK_MODELS))
            )
        planted = self.sybil_regions * self.sybils_per_region + self.rings * self.ring_size
        if planted > self.n_users // 2:
            raise ParameterError(
                "n_users",
                self.n_users,
                f"the {planted} planted accounts (sybil_regions * sybils_per_region + "
                "rings * ring_size) must be at most half of the population",
            )
        n_real = self.n_users - self.sybil_regions * self.sybils_per_region
        n_free = n_real - self.rings * self.ring_size
        if self.sybil_regions and self.attack_links_per_region > self.sybils_per_region * n_free // 2:
            raise ParameterError(
                "attack_links_per_region",
                self.attack_links_per_region,
                f"must be at most half of the {self.sybils_per_region * n_free} possible sybil-to-real pairs",
            )
        if self.n_communities is not None:
            _check_int("n_communities", self.n_communities, 1, n_real)
        _check_int("seed", self.seed, 0)
        _check_int("now", self.now, MAX_ACCOUNT_AGE + YEAR, 2**40)

    @property
    def communities(self) -> int:
        """The number of communities, with the default resolved."""
        if self.n_communities is not None:
            return self.n_communities
        n_real = self.n_users - self.sybil_regions * self.sybils_per_region
        return max(1, round(n_real / 200))


@dataclass(frozen=True)
class Population:
    """A synthetic population: four input frames and the ground truth.

    Attributes
    ----------
    users, links, repayments, spending : pandas.DataFrame
        Frames in the schemas of ``docs/data-model.md``.
    now : int
        The generation time (epoch seconds); score the population at this time.
    labels : pandas.DataFrame
        Ground truth, one row per user in the order of ``users``: ``user``,
        ``community`` (int64, -1 for sybils), ``group`` (``A``/``B``), ``latent``
        (float64 in (0, 1)), ``is_sybil`` (bool), ``ring`` (int64, -1 outside rings).
    """

    users: pd.DataFrame
    links: pd.DataFrame
    repayments: pd.DataFrame
    spending: pd.DataFrame
    labels: pd.DataFrame
    now: int = 1_767_225_600

    def dataset(self) -> Dataset:
        """The four input frames as a :class:`credence.graph.model.Dataset`, ready for ``store.load``."""
        return Dataset(users=self.users, links=self.links, repayments=self.repayments, spending=self.spending)


# --------------------------------------------------------------------------- helpers


def _string_ids(prefix: str, n: int) -> pa.Array:
    """``prefix`` + 1-based numbers zero-padded to the width of ``n``."""
    width = len(str(max(n, 1)))
    numbers = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(numbers, width, "0"), "")


def _strings(values: pa.Array, index: np.ndarray | None = None) -> pd.arrays.ArrowStringArray:
    """A pandas ``string`` array from ``values`` (taken at ``index`` if given)."""
    if index is not None:
        values = pc.take(values, pa.array(index))
    return pd.arrays.ArrowStringArray(values)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    keys = np.sort(keys)
    if keys.size:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys


def _in_sorted(keys: np.ndarray, sorted_pool: np.ndarray) -> np.ndarray:
    if not sorted_pool.size:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_pool, keys), sorted_pool.size - 1)
    return sorted_pool[pos] == keys


def _distinct_pairs(
    rng: np.random.Generator,
    m: int,
    draw: Callable[[int], tuple[np.ndarray, np.ndarray]],
    n: int,
    initial: np.ndarray | None = None,
    max_rounds: int = 60,
) -> np.ndarray:
    """Sorted keys ``lo * n + hi`` of up to ``m`` distinct unordered pairs.

    ``draw(k)`` returns ``k`` candidate pairs; self-pairs and repeats are dropped and
    the shortfall is redrawn, inflated by the observed yield. ``initial`` (sorted,
    distinct keys) are included and count towards ``m``.
    """
    chunks: list[np.ndarray] = [] if initial is None else [initial]
    have = sum(c.size for c in chunks)
    batch = m - have
    empty_rounds = 0
    for _ in range(max_rounds):
        need = m - have
        if need <= 0 or empty_rounds >= 3:  # done, or (nearly) infeasible
            break
        a, b = draw(batch)
        keep = a != b
        a, b = a[keep], b[keep]
        keys = _sorted_unique(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
        for chunk in chunks:
            keys = keys[~_in_sorted(keys, chunk)]
        empty_rounds = 0 if keys.size else empty_rounds + 1
        yield_ = max(keys.size / batch, 0.02)
        if keys.size > need:
            keys = np.sort(rng.choice(keys, need, replace=False))
        chunks.append(keys)
        have += keys.size
        batch = min(math.ceil((m - have) / yield_ * 1.1) + 8, 4 * m + 1024)
    if not chunks:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(chunks))


def _pair_drawer(
    rng: np.random.Generator, left: np.ndarray, right: np.ndarray
) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
    """Draws of ``k`` pairs, uniform in ``left`` x ``right``."""

    def draw(k: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.choice(left, k), rng.choice(right, k)

    return draw


def _propensities(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Pareto propensities >= 1 with density ~ x**-exponent."""
    return (1.0 - rng.random(n)) ** (-1.0 / (exponent - 1.0))


def _cap(theta: np.ndarray, max_ratio: float) -> np.ndarray:
    """Cap ``theta`` so that ``max(theta) <= max_ratio * mean(theta)``."""
    if theta.size == 0:
        return theta
    cap = float(theta.max())
    for _ in range(50):
        new = max_ratio * float(np.minimum(theta, cap).mean())
        if new >= cap * (1 - 1e-9):
            break
        cap = new
    return np.minimum(theta, cap)


def _round2(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.round(x, 2), 0.01)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: int | np.ndarray) -> np.ndarray:
    """Integer times uniform in ``[lo, hi]``."""
    span = (np.asarray(hi, dtype=np.int64) - lo).astype(np.float64)
    return lo + np.floor(rng.random(lo.shape) * (span + 1)).astype(np.int64)


def _ranks_within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each count c, concatenated."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def _order_by_user_time(user: np.ndarray, t: np.ndarray) -> np.ndarray:
    if not user.size:
        return np.arange(0)
    base = int(t.min())
    return np.argsort(user.astype(np.int64) * (1 << 34) + (t - base), kind="stable")


# --------------------------------------------------------------------------- the model


@dataclass
class _People:
    """Per-user arrays of the population, indexed by final user index."""

    community: np.ndarray
    group_b: np.ndarray
    latent: np.ndarray
    is_sybil: np.ndarray
    ring: np.ndarray
    created: np.ndarray
    income: np.ndarray  # true monthly income (the capacity)
    theta: np.ndarray  # degree propensity (0 for sybils)


def _people(cfg: PopulationConfig, rng: np.random.Generator, attack_rng: np.random.Generator) -> _People:
    """The people; ``attack_rng`` draws what the ``"mimic"`` attack model changes, so
    that ``rng`` draws the same for every model."""
    n = cfg.n_users
    n_sybil = cfg.sybil_regions * cfg.sybils_per_region
    n_real = n - n_sybil
    order = rng.permutation(n)
    sybils, real = order[:n_sybil], order[n_sybil:]

    # communities of power-law sizes among real users (Pareto quantiles, so the
    # shape does not hang on the luck of the largest draw)
    n_comm = cfg.communities
    quantiles = (np.arange(n_comm) + 0.5) / n_comm
    weights = _cap((1.0 - quantiles) ** (-1.0 / (COMMUNITY_EXPONENT - 1.0)), max(1.0, n_comm / 4))
    sizes = 1 + rng.multinomial(n_real - n_comm, weights / weights.sum())

    # degree propensities, capped so the largest expected degree stays sane and
    # its within-community share fits in the largest community
    max_degree = min(20.0 * math.sqrt(n), (n_real - 1) / 2.0)
    if n_comm > 1 and cfg.homophily > 0:
        max_degree = min(max_degree, INTRA_ROOM * (sizes.max() - 1) / cfg.homophily)
    theta = np.zeros(n, dtype=np.float64)
    theta[real] = _cap(_propensities(rng, n_real, cfg.degree_exponent), max(max_degree / cfg.avg_degree, 1.0))

    # members in random order, in communities big enough for their within-community
    # links (as in the LFR benchmark)
    expected_intra = cfg.homophily * cfg.avg_degree * theta[real] / theta[real].mean()
    community = np.full(n, -1, dtype=np.int64)
    community[real] = _assign_communities(rng, sizes, 1 + expected_intra / INTRA_ROOM)

    # protected group: a community share of B, so the network carries it
    share_b = rng.beta(0.6, 0.9, n_comm)
    group_b = np.zeros(n, dtype=bool)
    group_b[real] = rng.random(n_real) < share_b[community[real]]
    group_b[sybils] = rng.random(n_sybil) < share_b.mean()

    # latent creditworthiness: community mean (Beta) + individual noise, logit scale
    comm_mean = _logit(np.clip(rng.beta(4.0, 2.5, n_comm), 1e-3, 1 - 1e-3))
    comm_mean -= 0.4 * (share_b - share_b.mean())
    latent = np.empty(n, dtype=np.float64)
    latent[real] = _sigmoid(
        comm_mean[community[real]] + 0.8 * rng.standard_normal(n_real) - 0.2 * group_b[real]
    )
    latent[sybils] = rng.beta(2.0, 6.0, n_sybil)

    is_sybil = np.zeros(n, dtype=bool)
    is_sybil[sybils] = True

    # rings: random real users, re-drawn with a low latent
    ring = np.full(n, -1, dtype=np.int64)
    n_ring = cfg.rings * cfg.ring_size
    members = rng.choice(real, n_ring, replace=False)
    ring[members] = np.repeat(np.arange(cfg.rings, dtype=np.int64), cfg.ring_size)
    latent[members] = rng.beta(2.0, 8.0, n_ring)
    latent = np.clip(latent, 1e-6, 1 - 1e-6)

    # account ages: real accounts up to 8 years, sybils within the last 90 days
    age = np.empty(n, dtype=np.float64)
    age[real] = np.minimum(DAY + rng.gamma(1.5, 700.0, n_real) * DAY, MAX_ACCOUNT_AGE)
    age[sybils] = rng.uniform(DAY, 90 * DAY, n_sybil)
    if cfg.attack_model == "mimic" and n_sybil:
        # honest-looking sybils: honest account ages, the latent of a low-latent
        # honest user (below the median of the real users outside rings)
        age[sybils] = np.minimum(DAY + attack_rng.gamma(1.5, 700.0, n_sybil) * DAY, MAX_ACCOUNT_AGE)
        honest = np.sort(latent[real[ring[real] < 0]])
        latent[sybils] = attack_rng.choice(honest[: max(1, honest.size // 2)], n_sybil)
    created = cfg.now - age.astype(np.int64)

    log_income = np.log(2500.0) + 1.5 * (latent - 0.5) + 0.5 * rng.standard_normal(n)
    income = np.exp(log_income)
    return _People(community, group_b, latent, is_sybil, ring, created, income, theta)


def _assign_communities(
    rng: np.random.Generator, sizes: np.ndarray, need: np.ndarray, rounds: int = 20
) -> np.ndarray:
    """Random community of each user, with ``sizes[c]`` members in community ``c``.

    Users are placed at random, then users in a community smaller than their
    ``need`` swap places with random users of a big enough community who fit
    where they came from. Users who need more than the largest community get it.
    """
    assign = rng.permutation(np.repeat(np.arange(sizes.size, dtype=np.int64), sizes))
    need = np.minimum(need, sizes.max())
    by_size = np.argsort(-sizes, kind="stable")  # communities, largest first
    rank = np.empty_like(by_size)
    rank[by_size] = np.arange(by_size.size)
    sorted_sizes = sizes[by_size]
    members_before = np.cumsum(sorted_sizes)
    for _ in range(rounds):
        misplaced = np.flatnonzero(sizes[assign] < need)
        if not misplaced.size:
            break
        # partners: random users of a community among the largest ones that fit
        eligible = np.searchsorted(-sorted_sizes, -need[misplaced], side="right")
        pool = np.argsort(rank[assign], kind="stable")  # users, largest community first
        upto = members_before[eligible - 1]
        partner = pool[np.floor(rng.random(misplaced.size) * upto).astype(np.int64)]
        ok = (need[partner] <= sizes[assign[misplaced]]) & (sizes[assign[partner]] >= need[partner])
        # each user swaps at most once per round
        _, first = np.unique(partner, return_index=True)
        once = np.zeros(misplaced.size, dtype=bool)
        once[first] = True
        ok &= once & ~np.isin(partner, misplaced)
        a, b = misplaced[ok], partner[ok]
        assign[a], assign[b] = assign[b], assign[a].copy()
    return assign


def _intra_shares(theta: np.ndarray, room: np.ndarray, h: float) -> np.ndarray:
    """Per-user shares of within-community links, averaging ``h`` weighted by ``theta``.

    A user's share is ``min(t, room)``: ``t = h`` when everyone has room, else the
    smallest ``t`` that restores the mean, up to ``h + (1 - h) / 2`` (beyond that the
    few users left with links outside their community would have to link mostly
    among themselves). ``h = 1`` keeps every link inside, room or not.
    """
    if h <= 0.0 or h >= 1.0:
        return np.full_like(theta, h)
    target = h * float(theta.sum())
    lo, hi = h, h + (1.0 - h) / 2.0
    if float(theta @ np.minimum(hi, room)) <= target:
        return np.minimum(hi, room)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(theta @ np.minimum(mid, room)) < target else (lo, mid)
    return np.minimum(hi, room)


class _Sampler:
    """Draws indices with probability proportional to weights, overall or in a group.

    ``group`` must be sorted; ``n_groups`` bounds its values.
    """

    def __init__(
        self, rng: np.random.Generator, weights: np.ndarray, group: np.ndarray, n_groups: int
    ) -> None:
        self.rng = rng
        self.cum = np.cumsum(weights)
        self.total = float(self.cum[-1]) if weights.size else 0.0
        self.last = weights.size - 1
        self.lo = np.searchsorted(group, np.arange(n_groups), side="left")
        self.hi = np.searchsorted(group, np.arange(n_groups), side="right")
        cum0 = np.concatenate(([0.0], self.cum))
        self.start = cum0[self.lo]
        self.mass = cum0[self.hi] - self.start

    def overall(self, k: int) -> np.ndarray:
        """``k`` draws, sorted (sorted queries keep searchsorted cache-friendly)."""
        u = np.sort(self.rng.random(k)) * self.total
        return np.minimum(np.searchsorted(self.cum, u, "right"), self.last)

    def within(self, groups: np.ndarray) -> np.ndarray:
        """One draw inside each of ``groups`` (which must have positive mass)."""
        q = self.start[groups] + self.rng.random(groups.size) * self.mass[groups]
        idx = np.searchsorted(self.cum, q, "right")
        return np.clip(idx, self.lo[groups], self.hi[groups] - 1)


def _background_links(cfg: PopulationConfig, rng: np.random.Generator, p: _People, m: int) -> np.ndarray:
    """Sorted keys of ``m`` distinct links among real users outside rings.

    A fraction ``homophily`` of them joins two users of the same community, the rest
    two users of different communities. Expected degrees are proportional to the
    propensities. A user's share of within-community links is ``homophily`` unless
    their community is too small to hold that many of their links (hubs of small
    communities): then it is lower, and the others' a little higher.
    """
    bg = np.flatnonzero(~p.is_sybil & (p.ring < 0))
    if m <= 0 or bg.size < 2:
        return np.empty(0, dtype=np.int64)
    n = cfg.n_users
    bg = bg[np.argsort(p.community[bg], kind="stable")]  # grouped by community
    comm = p.community[bg]
    n_comm = cfg.communities
    theta = p.theta[bg]
    avg = 2.0 * m / bg.size

    if n_comm == 1:
        share = np.ones_like(theta)
    else:
        expected_degree = avg * theta / theta.mean()
        size = np.bincount(comm, minlength=n_comm)[comm]
        room = INTRA_ROOM * (size - 1) / expected_degree
        share = _intra_shares(theta, room, cfg.homophily)
    intra_sampler = _Sampler(rng, theta * share, comm, n_comm)
    inter_sampler = _Sampler(rng, theta * (1.0 - share), comm, n_comm)

    def draw_intra(k: int) -> tuple[np.ndarray, np.ndarray]:
        src = intra_sampler.overall(k)
        return bg[src], bg[intra_sampler.within(comm[src])]

    def draw_inter(k: int) -> tuple[np.ndarray, np.ndarray]:
        src = inter_sampler.overall(k)
        tgt = rng.permutation(inter_sampler.overall(k))  # independent of src
        tgt = np.where(comm[src] == comm[tgt], src, tgt)  # same community: rejected
        return bg[src], bg[tgt]

    m_intra = round(m * float(theta @ share) / float(theta.sum()))
    intra = _distinct_pairs(rng, m_intra, draw_intra, n) if m_intra else np.empty(0, dtype=np.int64)
    # intra pairs that could not be placed (saturated communities) become inter pairs
    m_inter = m - intra.size
    inter = (
        _distinct_pairs(rng, m_inter, draw_inter, n)
        if m_inter and inter_sampler.total > 0
        else np.empty(0, dtype=np.int64)
    )
    return np.sort(np.concatenate([intra, inter]))  # disjoint by construction


def _planted_links(
    cfg: PopulationConfig, rng: np.random.Generator, p: _People, attack_rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Keys and kinds of the sybil, attack, ring and outsider links, and the sybil regions.

    Attack links are drawn as in the ``"random"`` model (see :func:`_retarget_attacks`);
    the regions of the ``"mimic"`` model are drawn with ``attack_rng``.
    """
    n = cfg.n_users
    keys: list[np.ndarray] = []
    kinds: list[np.ndarray] = []

    def add(k: np.ndarray, kind: int) -> None:
        keys.append(k)
        kinds.append(np.full(k.size, kind, dtype=np.int8))

    def pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)

    free = np.flatnonzero(~p.is_sybil & (p.ring < 0))
    sybil_members = np.flatnonzero(p.is_sybil)
    # sybils were drawn in random order: cut them into regions
    regions = np.array_split(rng.permutation(sybil_members), cfg.sybil_regions or 1)
    regions = regions[: cfg.sybil_regions]
    for members in regions:
        if cfg.attack_model == "mimic":
            add(_mimic_region(cfg, attack_rng, members), _LINK_SYBIL)
        else:
            s = members.size
            m = round(s * min(SYBIL_INTERNAL_DEGREE, (s - 1) / 2.0) / 2.0)
            cycle = rng.permutation(members)
            cycle_keys = _sorted_unique(pair_keys(cycle, np.roll(cycle, 1)))
            inside = _distinct_pairs(
                rng,
                m,
                _pair_drawer(rng, members, members),
                n,
                initial=cycle_keys,
            )
            add(inside, _LINK_SYBIL)
        attack = _distinct_pairs(
            rng,
            cfg.attack_links_per_region,
            _pair_drawer(rng, members, free),
            n,
        )
        add(attack, _LINK_ATTACK)
    for r in range(cfg.rings):
        members = np.flatnonzero(p.ring == r)
        i, j = np.triu_indices(members.size, 1)
        add(pair_keys(members[i], members[j]), _LINK_RING)
        n_out = rng.integers(1, 4, members.size)
        outsiders = rng.choice(free, int(n_out.sum()))
        add(_sorted_unique(pair_keys(np.repeat(members, n_out), outsiders)), _LINK_OUTSIDER)
    if not keys:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int8), regions
    all_keys = np.concatenate(keys)
    all_kinds = np.concatenate(kinds)
    order = np.argsort(all_keys, kind="stable")
    return all_keys[order], all_kinds[order], regions


def _mimic_region(cfg: PopulationConfig, rng: np.random.Generator, members: np.ndarray) -> np.ndarray:
    """Sorted keys of the internal links of a ``"mimic"`` sybil region.

    Honest-like: Pareto propensities (``degree_exponent``, the largest expected
    degree capped at half the region), links drawn between members by propensity
    around a random cycle (which keeps the region connected), average internal
    degree ``avg_degree`` (at most ``(size - 1) / 2``, at least the cycle's 2).
    """
    n = cfg.n_users
    s = members.size
    avg = min(cfg.avg_degree, (s - 1) / 2.0)
    theta = _cap(_propensities(rng, s, cfg.degree_exponent), max((s - 1) / 2.0 / avg, 1.0))
    cum = np.cumsum(theta)

    def draw(k: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], "right"), s - 1)
        b = np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], "right"), s - 1)
        return members[a], members[b]

    cycle = rng.permutation(members)
    cycle_keys = _sorted_unique(
        np.minimum(cycle, np.roll(cycle, 1)).astype(np.int64) * n + np.maximum(cycle, np.roll(cycle, 1))
    )
    return _distinct_pairs(rng, round(s * avg / 2.0), draw, n, initial=cycle_keys)


def _retarget_attacks(
    cfg: PopulationConfig,
    rng: np.random.Generator,
    p: _People,
    regions: list[np.ndarray],
    keys: np.ndarray,
    id_verified: np.ndarray,
) -> np.ndarray:
    """Sorted keys of the attack links of the ``"hubs"`` or ``"seeded"`` model.

    Each region gets ``attack_links_per_region`` distinct links from uniform
    members to real users outside rings, drawn by the model (see the module
    notes); ``keys`` (of every link) give the friends for ``"seeded"``.
    """
    n = cfg.n_users
    free = np.flatnonzero(~p.is_sybil & (p.ring < 0))
    if cfg.attack_model == "hubs":
        cum = np.cumsum(p.theta[free])

        def targets(k: int) -> np.ndarray:
            return free[np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], "right"), free.size - 1)]

    else:  # seeded: verified users outside rings, or their friends outside rings
        candidates = free[id_verified[free]]
        is_free = ~p.is_sybil & (p.ring < 0)
        src, dst = keys // n, keys % n
        friendly = is_free[src] & is_free[dst]
        ends = np.concatenate([src[friendly], dst[friendly]])
        others = np.concatenate([dst[friendly], src[friendly]])
        order = np.argsort(ends, kind="stable")
        friends = others[order]
        start = np.concatenate(([0], np.cumsum(np.bincount(ends, minlength=n))))

        def targets(k: int) -> np.ndarray:
            if not candidates.size:
                return rng.choice(free, k)
            v = rng.choice(candidates, k)
            degree = start[v + 1] - start[v]
            pick = start[v] + np.floor(rng.random(k) * degree).astype(np.int64)
            to_friend = (rng.random(k) < 0.5) & (degree > 0)
            if not friends.size:
                return v
            return np.where(to_friend, friends[np.minimum(pick, friends.size - 1)], v)

    fresh = []
    for members in regions:

        def draw(k: int, members: np.ndarray = members) -> tuple[np.ndarray, np.ndarray]:
            return rng.choice(members, k), targets(k)

        fresh.append(_distinct_pairs(rng, cfg.attack_links_per_region, draw, n))
    return np.sort(np.concatenate([np.empty(0, dtype=np.int64), *fresh]))


def _links_frame(
    cfg: PopulationConfig,
    rng: np.random.Generator,
    p: _People,
    user_ids: pa.Array,
    attack_rng: np.random.Generator,
    id_verified: np.ndarray,
) -> pd.DataFrame:
    """The links; ``attack_rng`` draws what the attack model changes (``rng`` draws
    the same as for ``"random"`` up to the sybil regions' links)."""
    n = cfg.n_users
    planted, planted_kind, regions = _planted_links(cfg, rng, p, attack_rng)
    target = round(n * cfg.avg_degree / 2)
    background = _background_links(cfg, rng, p, target - planted.size)
    pos = np.searchsorted(background, planted)
    keys = np.insert(background, pos, planted)
    kind = np.insert(np.zeros(background.size, dtype=np.int8), pos, planted_kind)
    src, dst = keys // n, keys % n

    weight = 1.0 + rng.lognormal(0.0, 0.75, keys.size)
    ring_links = kind == _LINK_RING
    weight[ring_links] = 1.0 + rng.lognormal(2.0, 0.25, int(ring_links.sum()))
    attack_links = kind == _LINK_ATTACK
    if cfg.attack_model != "mimic":  # mimic: attack links keep honest-like weights
        weight[attack_links] = 1.0 + rng.lognormal(-1.0, 0.5, int(attack_links.sum()))
    created = _uniform_between(rng, np.maximum(p.created[src], p.created[dst]), cfg.now)
    if cfg.attack_model in ("hubs", "seeded") and regions:
        # swap the attack links for the model's, leaving every other link as drawn
        new = _retarget_attacks(cfg, attack_rng, p, regions, keys, id_verified)
        new_src, new_dst = new // n, new % n
        keep = ~attack_links
        order = np.argsort(np.concatenate([keys[keep], new]), kind="stable")
        keys = np.concatenate([keys[keep], new])[order]
        src, dst = keys // n, keys % n
        weight = np.concatenate([weight[keep], 1.0 + attack_rng.lognormal(-1.0, 0.5, new.size)])[order]
        new_created = _uniform_between(
            attack_rng, np.maximum(p.created[new_src], p.created[new_dst]), cfg.now
        )
        created = np.concatenate([created[keep], new_created])[order]
    return pd.DataFrame(
        {
            "source": _strings(user_ids, src),
            "target": _strings(user_ids, dst),
            "weight": _round2(weight),
            "created": created,
        }
    )


def _users_frame(
    cfg: PopulationConfig, rng: np.random.Generator, p: _People, user_ids: pa.Array
) -> pd.DataFrame:
    n = cfg.n_users
    lat = p.latent
    real = ~p.is_sybil
    mimic = cfg.attack_model == "mimic"

    def flag(base: float, slope: float, sybil_factor: float = 0.0) -> np.ndarray:
        # sybils get the honest chance times sybil_factor (0: never); u < 0 is
        # never true, so the draws (and real users' flags) are the same in every model
        return rng.random(n) < (base + slope * lat) * np.where(real, 1.0, sybil_factor)

    id_verified = flag(0.30, 0.60, 0.5 if mimic else 0.0)
    face_verified = id_verified & (rng.random(n) < 0.4 + 0.5 * lat)
    declared = np.where(
        rng.random(n) < np.where(real | mimic, 0.90 - 0.25 * (1 - lat), 0.3),
        _round2(p.income * rng.lognormal(0.05, 0.15, n)),
        np.nan,
    )
    verified_income = np.where(real & (rng.random(n) < 0.15 + 0.60 * lat), _round2(p.income), np.nan)
    assets = p.income * rng.lognormal(np.log(6.0) + 2.0 * (lat - 0.5), 1.0, n)
    verified_assets = np.where(real & (rng.random(n) < 0.05 + 0.45 * lat), _round2(assets), np.nan)
    return pd.DataFrame(
        {
            "id": _strings(user_ids),
            "created": p.created,
            "phone_verified": flag(0.70, 0.28, 1.0 if mimic else 0.0),
            "id_verified": id_verified,
            "face_verified": face_verified,
            "education_verified": flag(0.05, 0.45),
            "employer_verified": flag(0.05, 0.50),
            "declared_income": declared,
            "verified_income": verified_income,
            "verified_assets": verified_assets,
            "consent_network": ~real | (rng.random(n) < 0.95),
        }
    )


def _repayments_frame(
    cfg: PopulationConfig, rng: np.random.Generator, p: _People, user_ids: pa.Array
) -> pd.DataFrame:
    now = cfg.now
    age = (now - p.created).astype(np.float64)
    counts = rng.poisson(REPAYMENTS_PER_USER * age / age.mean())
    user = np.repeat(np.arange(cfg.n_users), counts)
    k = user.size
    lat = p.latent[user]

    issued = _uniform_between(rng, p.created[user], now)
    term = rng.choice(np.array([30, 60, 90, 180]) * DAY, k, p=[0.4, 0.3, 0.2, 0.1])
    due = issued + term
    end_of_due_day = due - due % DAY + DAY - 1

    p_on = 0.25 + 0.73 * lat
    p_default = (1.0 - p_on) * 0.35 * (1.0 - lat)
    p_missed = (1.0 - p_on) * 0.25
    u = rng.random(k)
    status = np.full(k, _LATE, dtype=np.int8)
    status[u < p_on] = _ON_TIME
    status[(u >= p_on) & (u < p_on + p_default)] = _DEFAULTED
    status[(u >= p_on + p_default) & (u < p_on + p_default + p_missed)] = _MISSED
    paid = np.zeros(k, dtype=np.int64)
    on_time = status == _ON_TIME
    early = np.floor(rng.random(int(on_time.sum())) * 10 * DAY).astype(np.int64)
    paid[on_time] = due[on_time] - early
    late = status == _LATE
    delay = 1 + np.floor(rng.exponential(12 * DAY, int(late.sum()))).astype(np.int64)
    paid[late] = end_of_due_day[late] + delay
    # a late payment that has not happened yet is (so far) missed
    status[late & (paid > now)] = _MISSED
    # defaults are declared 90 days after the due time
    status[(status == _DEFAULTED) & (due > now - 90 * DAY)] = _MISSED
    status[due > now] = _PENDING
    has_paid = (status == _ON_TIME) | (status == _LATE)

    amount = _round2(np.maximum(p.income[user] * 0.6 * rng.lognormal(0.0, 0.7, k), 20.0))
    order = _order_by_user_time(user, due)
    return pd.DataFrame(
        {
            "id": _strings(_string_ids("r", k)),
            "user": _strings(user_ids, user[order]),
            "due": due[order],
            "paid": pd.arrays.IntegerArray(paid[order], ~has_paid[order]),
            "amount": amount[order],
            "status": _strings(_STATUSES, status[order]),
        }
    )


def _spending_frame(
    cfg: PopulationConfig, rng: np.random.Generator, p: _People, user_ids: pa.Array
) -> pd.DataFrame:
    now = cfg.now
    n = cfg.n_users
    window = np.minimum(now - p.created, YEAR).astype(np.float64)
    scale = window / window.mean()
    months = np.floor(window / MONTH).astype(np.int64)
    n_bills = np.minimum(rng.poisson(BILLS_PER_USER * scale), months)
    n_buys = rng.poisson(PURCHASES_PER_USER * scale)

    bill_user = np.repeat(np.arange(n), n_bills)
    nth = _ranks_within(n_bills)
    bill_at = now - np.floor((nth + rng.uniform(0.05, 0.95, nth.size)) * MONTH).astype(np.int64)
    bill_on_time = rng.random(nth.size) < 0.55 + 0.44 * p.latent[bill_user]
    bill_amount = p.income[bill_user] * 0.04 * rng.lognormal(0.0, 0.5, nth.size)

    buy_user = np.repeat(np.arange(n), n_buys)
    buy_at = _uniform_between(rng, np.maximum(p.created[buy_user], now - YEAR), now)
    buy_amount = p.income[buy_user] * 0.02 * rng.lognormal(0.0, 1.0, buy_user.size)

    user = np.concatenate([bill_user, buy_user])
    at = np.concatenate([bill_at, buy_at])
    amount = _round2(np.concatenate([bill_amount, buy_amount]))
    is_bill = np.concatenate([np.ones(bill_user.size, bool), np.zeros(buy_user.size, bool)])
    on_time = np.concatenate([bill_on_time, np.zeros(buy_user.size, bool)])
    order = _order_by_user_time(user, at)
    return pd.DataFrame(
        {
            "id": _strings(_string_ids("s", user.size)),
            "user": _strings(user_ids, user[order]),
            "at": at[order],
            "amount": amount[order],
            "category": _strings(_CATEGORIES, is_bill[order].astype(np.int8)),
            "on_time": pd.arrays.BooleanArray(on_time[order], ~is_bill[order]),
        }
    )


def _labels_frame(p: _People, user_ids: pa.Array) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": _strings(user_ids),
            "community": p.community,
            "group": _strings(_GROUPS, p.group_b.astype(np.int8)),
            "latent": p.latent,
            "is_sybil": p.is_sybil,
            "ring": p.ring,
        }
    )


def generate_population(config: PopulationConfig | None = None, **overrides: Any) -> Population:
    """Generate a reproducible synthetic population with planted fraud.

    Parameters
    ----------
    config : PopulationConfig or None
        The parameters; ``None`` means the defaults.
    **overrides
        Fields of :class:`PopulationConfig` to replace, e.g. ``n_users=1_000``.

    Returns
    -------
    Population
        ``users``, ``links``, ``repayments``, ``spending`` in the frame schemas of
        ``docs/data-model.md`` and the ground truth in ``labels``. Links are listed
        once per pair, ``source < target``, sorted. Events are sorted by user, then
        time.

    Raises
    ------
    ParameterError
        For a ``config`` that is not a :class:`PopulationConfig`, an unknown
        override or an invalid parameter.

    Examples
    --------
    >>> pop = generate_population(n_users=300, sybils_per_region=30, rings=2, ring_size=5)
    >>> len(pop.users), int(pop.labels["is_sybil"].sum()), int((pop.labels["ring"] >= 0).sum())
    (300, 30, 10)
    >>> pairs = set(zip(pop.links["source"], pop.links["target"]))
    >>> len(pairs) == len(pop.links), len(pop.links) == 300 * 20 // 2
    (True, True)
    >>> bool((pop.links["source"] != pop.links["target"]).all())
    True
    >>> pop.users["id"].iloc[0], pop.repayments["id"].iloc[0][0], pop.spending["id"].iloc[0][0]
    ('u001', 'r', 's')
    """
    if config is None:
        config = PopulationConfig()
    elif not isinstance(config, PopulationConfig):
        raise ParameterError("config", config, "must be a PopulationConfig or None")
    if overrides:
        names = {f.name for f in dataclasses.fields(PopulationConfig)}
        for name, value in overrides.items():
            if name not in names:
                raise ParameterError(name, value, "is not a field of PopulationConfig")
        config = dataclasses.replace(config, **overrides)

    # the sixth stream (attack models only) leaves the first five as they always were
    people_ss, links_ss, users_ss, repay_ss, spend_ss, attack_ss = np.random.SeedSequence(config.seed).spawn(
        6
    )
    people_attack_ss, links_attack_ss = attack_ss.spawn(2)
    people = _people(config, np.random.default_rng(people_ss), np.random.default_rng(people_attack_ss))
    user_ids = _string_ids("u", config.n_users)
    users = _users_frame(config, np.random.default_rng(users_ss), people, user_ids)
    links = _links_frame(
        config,
        np.random.default_rng(links_ss),
        people,
        user_ids,
        np.random.default_rng(links_attack_ss),
        users["id_verified"].to_numpy(dtype=bool),
    )
    return Population(
        users=users,
        links=links,
        repayments=_repayments_frame(config, np.random.default_rng(repay_ss), people, user_ids),
        spending=_spending_frame(config, np.random.default_rng(spend_ss), people, user_ids),
        labels=_labels_frame(people, user_ids),
        now=config.now,
    )
