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
* **Links** follow the degree-corrected stochastic block model of
  :mod:`credence.seeds.graphs` (the one link generator, shared with the diffusion
  benchmark and the sybil-resistance experiment): every real user has
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
  in the largest community (at most ``graphs.INTRA_ROOM`` of its members); users are
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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.checks import check_choice, check_int, check_real
from credence.core.errors import ParameterError
from credence.graph.model import Dataset
from credence.seeds.graphs import (
    block_model_links,
    block_model_nodes,
    cap_propensities,
    distinct_pairs,
    friend_weights,
    pair_keys,
    pareto_propensities,
    sorted_unique,
    uniform_pairs,
)

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
        check_int(self.n_users, "n_users", 20)
        avg = check_real(self.avg_degree, "avg_degree")
        if avg <= 0 or avg > self.n_users / 10:
            raise ParameterError(
                "avg_degree", self.avg_degree, f"must be in (0, n_users / 10 = {self.n_users / 10}]"
            )
        check_real(self.homophily, "homophily", lo=0.0, hi=1.0)
        g = check_real(self.degree_exponent, "degree_exponent")
        if g <= 2.0:
            raise ParameterError("degree_exponent", self.degree_exponent, "must be > 2 (finite mean degree)")
        check_int(self.sybil_regions, "sybil_regions", 0)
        check_int(self.rings, "rings", 0)
        check_int(self.sybils_per_region, "sybils_per_region", 10 if self.sybil_regions else 0)
        check_int(self.ring_size, "ring_size", 3 if self.rings else 0)
        check_int(self.attack_links_per_region, "attack_links_per_region", 0)
        check_choice(self.attack_model, "attack_model", ATTACK_MODELS)
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
            check_int(self.n_communities, "n_communities", 1, n_real)
        check_int(self.seed, "seed", 0)
        check_int(self.now, "now", MAX_ACCOUNT_AGE + YEAR, 2**40)

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
    """The people's per-user arrays: community, group, sybil or ring membership, age, income.

    ``attack_rng`` draws what the ``"mimic"`` attack model changes, so that ``rng``
    draws the same for every model.
    """
    n = cfg.n_users
    n_sybil = cfg.sybil_regions * cfg.sybils_per_region
    n_real = n - n_sybil
    order = rng.permutation(n)
    sybils, real = order[:n_sybil], order[n_sybil:]

    # real users: communities and degree propensities of the block model, the largest
    # expected degree capped at 20 sqrt(n) (see credence.seeds.graphs)
    community = np.full(n, -1, dtype=np.int64)
    theta = np.zeros(n, dtype=np.float64)
    community[real], theta[real] = block_model_nodes(
        rng,
        n_real,
        communities=cfg.communities,
        avg_degree=cfg.avg_degree,
        homophily=cfg.homophily,
        degree_exponent=cfg.degree_exponent,
        max_degree=20.0 * math.sqrt(n),
    )
    n_comm = cfg.communities

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
            cycle_keys = sorted_unique(pair_keys(cycle, np.roll(cycle, 1), n))
            inside = distinct_pairs(rng, m, uniform_pairs(rng, members, members), n, initial=cycle_keys)
            add(inside, _LINK_SYBIL)
        attack = distinct_pairs(rng, cfg.attack_links_per_region, uniform_pairs(rng, members, free), n)
        add(attack, _LINK_ATTACK)
    for r in range(cfg.rings):
        members = np.flatnonzero(p.ring == r)
        i, j = np.triu_indices(members.size, 1)
        add(pair_keys(members[i], members[j], n), _LINK_RING)
        n_out = rng.integers(1, 4, members.size)
        outsiders = rng.choice(free, int(n_out.sum()))
        add(sorted_unique(pair_keys(np.repeat(members, n_out), outsiders, n)), _LINK_OUTSIDER)
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
    theta = cap_propensities(pareto_propensities(rng, s, cfg.degree_exponent), max((s - 1) / 2.0 / avg, 1.0))
    cum = np.cumsum(theta)

    def draw(k: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], "right"), s - 1)
        b = np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], "right"), s - 1)
        return members[a], members[b]

    cycle = rng.permutation(members)
    cycle_keys = sorted_unique(pair_keys(cycle, np.roll(cycle, 1), n))
    return distinct_pairs(rng, round(s * avg / 2.0), draw, n, initial=cycle_keys)


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

        fresh.append(distinct_pairs(rng, cfg.attack_links_per_region, draw, n))
    return np.sort(np.concatenate([np.empty(0, dtype=np.int64), *fresh]))


def _links_frame(
    cfg: PopulationConfig,
    rng: np.random.Generator,
    p: _People,
    user_ids: pa.Array,
    attack_rng: np.random.Generator,
    id_verified: np.ndarray,
) -> pd.DataFrame:
    """The links frame: the planted ring and attack links among the honest block-model links.

    ``attack_rng`` draws what the attack model changes (``rng`` draws the same as
    for ``"random"`` up to the sybil regions' links).
    """
    n = cfg.n_users
    planted, planted_kind, regions = _planted_links(cfg, rng, p, attack_rng)
    target = round(n * cfg.avg_degree / 2)
    # the honest links: the block model among real users outside rings
    free = np.flatnonzero(~p.is_sybil & (p.ring < 0))
    background = block_model_links(
        rng,
        free,
        p.community,
        p.theta,
        target - planted.size,
        homophily=cfg.homophily,
        communities=cfg.communities,
    )
    pos = np.searchsorted(background, planted)
    keys = np.insert(background, pos, planted)
    kind = np.insert(np.zeros(background.size, dtype=np.int8), pos, planted_kind)
    src, dst = keys // n, keys % n

    weight = friend_weights(rng, keys.size)
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
