"""Disparate impact of the benefit tiers across a protected attribute, and the network's part in it.

The question a fairness review asks of a credit score with a network component:
does a benefit reach one group less often than another, and does the network make
that worse? :func:`fairness_report` answers it for a recomputed
:class:`~credence.engine.ScoringEngine` and a user -> group mapping (Credence stores
no protected attribute; the synthetic populations keep it in ``labels["group"]``):

* **Disparate impact** of each benefit tier (the "80% rule"): the selection rate of
  each group (the share of its users whose score reaches the tier) divided by the
  rate of the most favoured group. A ratio below 0.8 is the conventional red flag.
* **The network's part**: the same rates with the ``connections`` component set to
  the neutral prior for everyone (scenario ``no_network``: the scores the
  individual components alone would give), and under each sharing rule
  (``bonus_only``, ``symmetric``). The difference between a sharing rule's gap and the
  ``no_network`` gap is the part of the gap the network component causes.
* **Homophily** of the friend graph: the fraction of link weight joining two users
  of the same group, against the fraction expected if links ignored groups (given
  each group's total weighted degree), and the assortativity coefficient
  ``(within - expected) / (1 - expected)`` (Newman's, with link weights). A
  homophilous graph is what lets a network component carry group differences.

The arithmetic is in pure functions of arrays (:func:`selection_rates`,
:func:`impact_ratios`, :func:`tier_impacts`, :func:`homophily`,
:func:`neutral_scores`), so it can be checked by hand.

Examples
--------
>>> from credence.graph.sqlite import SQLiteStore
>>> from credence.seeds.synthetic import generate_population
>>> from credence.engine import ScoringEngine
>>> population = generate_population(n_users=600, seed=1)
>>> store = SQLiteStore(":memory:")
>>> _ = store.load(population.dataset())
>>> engine = ScoringEngine(store, now=population.now)
>>> _ = engine.recompute(write=False)
>>> report = fairness_report(engine, population.labels)
>>> report.groups, report.scenarios
(('A', 'B'), ('bonus_only', 'symmetric', 'no_network'))
>>> impact = report.impact("bonus_only", "credit_line")
>>> bool(0.0 <= impact.min_ratio <= 1.0), bool(report.homophily.within > report.homophily.expected)
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from credence.core.errors import ParameterError
from credence.scoring.policy import COMPONENT_NAMES, assemble_scores

if TYPE_CHECKING:
    from credence.engine import ScoringEngine

__all__ = [
    "FOUR_FIFTHS",
    "NO_NETWORK",
    "FairnessReport",
    "Homophily",
    "TierImpact",
    "align_groups",
    "fairness_report",
    "homophily",
    "impact_ratios",
    "neutral_scores",
    "selection_rates",
    "tier_impacts",
]

#: The conventional threshold of the "80% rule" (four-fifths rule).
FOUR_FIFTHS = 0.8

#: Scenario name: the network component at the neutral prior for everyone.
NO_NETWORK = "no_network"

SHARING_MODES = ("bonus_only", "symmetric")


# --------------------------------------------------------------------------- pure maths


def selection_rates(selected: Any, groups: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share of each group that is selected.

    Parameters
    ----------
    selected : array of bool
        Whether each user is selected (e.g. reaches a benefit tier).
    groups : array
        Group label of each user; missing labels (None, NaN, pandas NA) are left out.

    Returns
    -------
    labels : ndarray of object
        The groups, sorted.
    rates : ndarray of float
        Selected users / users, per group.
    counts : ndarray of int
        Users per group.

    Examples
    --------
    >>> labels, rates, counts = selection_rates([1, 1, 0, 1, 0, 0], ["A", "A", "A", "B", "B", None])
    >>> labels.tolist(), rates.round(4).tolist(), counts.tolist()
    (['A', 'B'], [0.6667, 0.5], [3, 2])
    """
    chosen = np.asarray(selected, dtype=bool)
    labels_in = pd.Series(np.asarray(groups, dtype=object))
    if chosen.shape != (len(labels_in),):
        raise ParameterError("selected", chosen.shape, f"must have one entry per user ({len(labels_in)})")
    known = labels_in.notna().to_numpy()
    codes, labels = pd.factorize(labels_in[known].astype(str), sort=True)
    counts = np.bincount(codes, minlength=len(labels))
    hits = np.bincount(codes, weights=chosen[known].astype(np.float64), minlength=len(labels))
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    return np.asarray(labels, dtype=object), rates, counts.astype(np.int64)


def impact_ratios(rates: Any) -> np.ndarray:
    """Each rate divided by the largest (NaN for every group when no group is selected).

    Examples
    --------
    >>> impact_ratios([0.6, 0.4, 0.3]).round(4).tolist()
    [1.0, 0.6667, 0.5]
    >>> impact_ratios([0.0, 0.0]).tolist()
    [nan, nan]
    """
    values = np.asarray(rates, dtype=np.float64)
    top = np.nanmax(values) if values.size and not np.all(np.isnan(values)) else np.nan
    if not top > 0:
        return np.full(values.shape, np.nan)
    return values / top


@dataclass(frozen=True)
class TierImpact:
    """Selection rates and impact ratios of one benefit tier in one scenario.

    ``gap`` is the largest minus the smallest selection rate; ``min_ratio`` the
    least favoured group's impact ratio (NaN when nobody reaches the tier).
    """

    scenario: str
    tier: str
    min_score: int
    groups: tuple[str, ...]
    counts: tuple[int, ...]
    rates: tuple[float, ...]
    ratios: tuple[float, ...]

    @property
    def min_ratio(self) -> float:
        """The least favoured group's impact ratio, NaN when nobody reaches the tier (see :attr:`passes`).

        Examples
        --------
        >>> gold = tier_impacts([700, 650, 600, 550, 700, 500], list("AAABBB"), {"gold": 650})[0]
        >>> gold.min_ratio, gold.ratio_of("B"), round(gold.rate_of("A"), 3)
        (0.5, 0.5, 0.667)
        """
        values = [r for r in self.ratios if not math.isnan(r)]
        return min(values) if values else math.nan

    @property
    def gap(self) -> float:
        """The largest minus the smallest selection rate among the groups (NaN without any rate)."""
        values = [r for r in self.rates if not math.isnan(r)]
        return max(values) - min(values) if values else math.nan

    @property
    def passes(self) -> bool:
        """True unless some group's impact ratio is below :data:`FOUR_FIFTHS`."""
        return not self.min_ratio < FOUR_FIFTHS

    def rate_of(self, group: str) -> float:
        """The share of ``group`` that reaches the tier (ValueError for a group not in the tier)."""
        return self.rates[self.groups.index(group)]

    def ratio_of(self, group: str) -> float:
        """The impact ratio of ``group``: its rate over the highest (ValueError for a group not in the tier)."""
        return self.ratios[self.groups.index(group)]


def tier_impacts(
    scores: Any,
    groups: Any,
    tiers: Mapping[str, int] | Sequence[tuple[str, int]],
    *,
    scenario: str = "scores",
) -> list[TierImpact]:
    """Selection rate and impact ratio of every group for each tier (selected: ``score >= min``).

    Examples
    --------
    >>> impacts = tier_impacts([700, 650, 600, 550, 700, 500], list("AAABBB"), {"gold": 650, "silver": 600})
    >>> [(t.tier, [round(r, 3) for r in t.rates], [round(r, 3) for r in t.ratios]) for t in impacts]
    [('gold', [0.667, 0.333], [1.0, 0.5]), ('silver', [1.0, 0.333], [1.0, 0.333])]
    >>> impacts[0].passes, round(impacts[0].gap, 3)
    (False, 0.333)
    """
    values = np.asarray(scores)
    pairs = list(tiers.items()) if isinstance(tiers, Mapping) else list(tiers)
    out = []
    for name, minimum in pairs:
        labels, rates, counts = selection_rates(values >= minimum, groups)
        out.append(TierImpact(
            scenario=scenario, tier=str(name), min_score=int(minimum),
            groups=tuple(str(g) for g in labels.tolist()), counts=tuple(counts.tolist()),
            rates=tuple(rates.tolist()), ratios=tuple(impact_ratios(rates).tolist()),
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class Homophily:
    """How much of the link weight stays within groups.

    ``within``: fraction of link weight joining two users of the same group;
    ``expected``: that fraction if links ignored groups (``sum_g (vol_g / vol)^2``,
    ``vol_g`` the total weighted degree of group ``g``); ``assortativity``:
    ``(within - expected) / (1 - expected)``, 0 for random mixing, 1 when no link
    crosses groups. ``links`` counts the links whose both ends have a group.
    """

    within: float
    expected: float
    assortativity: float
    links: int


def homophily(adjacency: Any, groups: Any) -> Homophily:
    """Within-group share of link weight, its random-mixing expectation and the assortativity.

    Parameters
    ----------
    adjacency : sparse or dense matrix
        Symmetric weighted adjacency (each link stored both ways).
    groups : array
        Group label of each row; rows with a missing label and their links are left out.

    Examples
    --------
    Two groups, links a-b (weight 2, A-A), c-d (1, B-B) and b-c (1, A-B): 3 of 4
    weight units stay within groups; the volumes are A 5, B 3 of 8, so random mixing
    would keep (5/8)^2 + (3/8)^2 = 0.53125 within groups.

    >>> a = sp.csr_matrix(np.array([[0, 2, 0, 0], [2, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=float))
    >>> h = homophily(a, ["A", "A", "B", "B"])
    >>> h.within, h.expected, round(h.assortativity, 4), h.links
    (0.75, 0.53125, 0.4667, 3)
    """
    matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    labels = pd.Series(np.asarray(groups, dtype=object))
    if matrix.shape != (len(labels), len(labels)):
        raise ParameterError(
            "adjacency", matrix.shape, f"must be square with one row per user ({len(labels)})"
        )
    known = labels.notna().to_numpy()
    keep = np.flatnonzero(known)
    sub = matrix[keep][:, keep].tocoo()
    codes, _ = pd.factorize(labels[known].astype(str), sort=True)
    total = float(sub.data.sum())
    links = int(np.count_nonzero(sub.row < sub.col))
    if total <= 0:
        return Homophily(within=math.nan, expected=math.nan, assortativity=math.nan, links=links)
    same = codes[sub.row] == codes[sub.col]
    within = float(sub.data[same].sum()) / total
    volume = np.bincount(codes[sub.row], weights=sub.data)
    expected = float(np.sum((volume / total) ** 2))
    assortativity = (within - expected) / (1.0 - expected) if expected < 1.0 else math.nan
    return Homophily(within=within, expected=expected, assortativity=float(assortativity), links=links)


def neutral_scores(components: Any, weights: Any, prior: float) -> np.ndarray:
    """Scores with the last (network) component set to ``prior`` for everyone.

    Examples
    --------
    >>> neutral_scores([[1.0, 0.0], [0.5, 1.0]], [0.5, 0.5], 0.5).tolist()
    [800, 650]
    """
    values = np.array(components, dtype=np.float64, copy=True)
    if values.ndim != 2 or values.shape[1] < 1:
        raise ParameterError("components", values.shape, "must be (n, k) with k >= 1")
    if not 0.0 <= prior <= 1.0:
        raise ParameterError("prior", prior, "must be in [0, 1]")
    values[:, -1] = prior
    return assemble_scores(values, np.asarray(weights, dtype=np.float64))


def align_groups(ids: Any, groups: Any, *, column: str = "group") -> np.ndarray:
    """The group of each id (None where unknown) from a mapping, a Series or a frame.

    ``groups`` is a mapping user -> group, a Series indexed by user, or a frame with
    a ``user`` (or ``id``) column and a ``column`` column (e.g. a population's
    ``labels``).

    Examples
    --------
    >>> align_groups(["a", "b", "c"], {"a": "X", "c": "Y"}).tolist()
    ['X', None, 'Y']
    >>> align_groups(["b"], pd.DataFrame({"user": ["a", "b"], "group": ["X", "Y"]})).tolist()
    ['Y']
    """
    if isinstance(groups, pd.DataFrame):
        key = "user" if "user" in groups.columns else "id"
        if key not in groups.columns or column not in groups.columns:
            raise ParameterError(
                "groups", list(groups.columns), f"a frame needs 'user' (or 'id') and {column!r} columns"
            )
        series = pd.Series(
            groups[column].to_numpy(dtype=object), index=groups[key].astype(str).to_numpy(dtype=object)
        )
    elif isinstance(groups, pd.Series):
        series = pd.Series(groups.to_numpy(dtype=object), index=groups.index.astype(str))
    elif isinstance(groups, Mapping):
        series = pd.Series(dict(groups), dtype=object)
        series.index = series.index.astype(str)
    else:
        raise ParameterError("groups", type(groups).__name__, "must be a mapping, a Series or a DataFrame")
    if series.index.has_duplicates:
        raise ParameterError("groups", "duplicate users", "must give each user one group")
    keys = pd.Index(np.asarray(ids, dtype=object).astype(str))
    found = series.index.get_indexer(keys)
    values = series.to_numpy(dtype=object)
    out = np.array([None] * len(keys), dtype=object)
    hit = found >= 0
    out[hit] = values[found[hit]]
    missing = pd.isna(out)
    out[missing] = None
    out[~missing] = out[~missing].astype(str)
    return out


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class FairnessReport:
    """Disparate impact per tier and scenario, the network's part in it, and homophily.

    ``scenarios`` are the sharing rules asked for, then :data:`NO_NETWORK`;
    ``sharing`` is the engine's own sharing rule. ``mean_scores[scenario]`` holds
    each group's mean score in that scenario.
    """

    groups: tuple[str, ...]
    group_sizes: tuple[int, ...]
    unassigned: int
    sharing: str
    model_version: str
    prior: float
    scenarios: tuple[str, ...]
    impacts: tuple[TierImpact, ...]
    mean_scores: Mapping[str, tuple[float, ...]]
    homophily: Homophily

    def impact(self, scenario: str, tier: str) -> TierImpact:
        """The :class:`TierImpact` of one tier in one scenario."""
        for item in self.impacts:
            if item.scenario == scenario and item.tier == tier:
                return item
        raise ParameterError("scenario/tier", f"{scenario}/{tier}", "not in this report")

    @property
    def tiers(self) -> tuple[str, ...]:
        """The tiers of the report, in the order they were assessed."""
        return tuple(dict.fromkeys(item.tier for item in self.impacts))

    def network_gap(self, scenario: str, tier: str) -> float:
        """The part of a tier's selection-rate gap the network causes: gap(scenario) - gap(no_network)."""
        return self.impact(scenario, tier).gap - self.impact(NO_NETWORK, tier).gap

    def frame(self) -> pd.DataFrame:
        """One row per scenario, tier and group: users, rate, ratio."""
        rows = [
            {"scenario": t.scenario, "tier": t.tier, "min_score": t.min_score, "group": g, "users": n,
             "rate": r, "ratio": q}
            for t in self.impacts
            for g, n, r, q in zip(t.groups, t.counts, t.rates, t.ratios, strict=True)
        ]  # fmt: skip
        return pd.DataFrame(rows)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON)."""
        return {
            "groups": dict(zip(self.groups, self.group_sizes, strict=True)),
            "unassigned": self.unassigned, "sharing": self.sharing, "model_version": self.model_version,
            "prior": self.prior, "scenarios": list(self.scenarios),
            "homophily": self.homophily.__dict__.copy(),
            "mean_scores": {k: dict(zip(self.groups, v, strict=True)) for k, v in self.mean_scores.items()},
            "tiers": [
                {"scenario": t.scenario, "tier": t.tier, "min_score": t.min_score,
                 "rates": dict(zip(t.groups, t.rates, strict=True)),
                 "ratios": dict(zip(t.groups, t.ratios, strict=True)),
                 "min_ratio": t.min_ratio, "gap": t.gap, "passes": t.passes,
                 "network_gap": None if t.scenario == NO_NETWORK else self.network_gap(t.scenario, t.tier)}
                for t in self.impacts
            ],
        }  # fmt: skip

    def text(self) -> str:
        """A plain-text rendering for a terminal or a review document."""
        sizes = ", ".join(f"{g}: {n:,}" for g, n in zip(self.groups, self.group_sizes, strict=True))
        h = self.homophily
        lines = [
            f"Fairness across groups ({sizes} users; {self.unassigned:,} without a group left out)",
            f"Model {self.model_version}, sharing rule {self.sharing}, neutral prior {self.prior:.4f}",
            f"Homophily: {_pct(h.within)} of link weight within groups, {_pct(h.expected)} expected "
            f"under random mixing (assortativity {h.assortativity:.3f}, {h.links:,} links)",
            "",
            "Mean score: "
            + "; ".join(
                f"{s} "
                + " ".join(f"{g} {m:.1f}" for g, m in zip(self.groups, self.mean_scores[s], strict=True))
                for s in self.scenarios
            ),
            "",
            f"Selection rate (impact ratio = rate / most favoured group's rate; below {FOUR_FIFTHS:.2f} "
            "fails the 80% rule)",
        ]
        width = max(len(s) for s in self.scenarios)
        first = max([len("tier"), *(len(f"{t.tier} (>= {t.min_score})") for t in self.impacts)]) + 2
        header = f"  {'tier':<{first}}{'scenario':<{width + 2}}" + "".join(f"{g:>16}" for g in self.groups)
        lines.append(header + f"{'min ratio':>11}{'gap pp':>9}{'network pp':>12}  80% rule")
        for tier in self.tiers:
            for k, scenario in enumerate(self.scenarios):
                t = self.impact(scenario, tier)
                label = f"{tier} (>= {t.min_score})" if k == 0 else ""
                cells = "".join(f"{_pct(t.rate_of(g)):>8} {_ratio(t.ratio_of(g)):>7}" for g in self.groups)
                network = "" if scenario == NO_NETWORK else f"{100 * self.network_gap(scenario, tier):+.1f}"
                verdict = "pass" if t.passes else "FAIL"
                lines.append(
                    f"  {label:<{first}}{scenario:<{width + 2}}{cells}{_ratio(t.min_ratio):>11}"
                    f"{_pp(t.gap):>9}{network:>12}  {verdict}"
                )
        lines += [
            "",
            f"'network pp': the sharing rule's gap minus the {NO_NETWORK} gap (connections component at the "
            "neutral prior for everyone), in percentage points: the part of the gap the network causes.",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def _pp(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def _ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _scores_under(engine: ScoringEngine, sharing: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores) of every user under a sharing rule, from a second engine if needed."""
    if sharing == engine.policy.diffusion.sharing:
        table = engine.view()
        return np.asarray(table.ids, dtype=object), np.asarray(table.scores, dtype=np.int64)
    from credence.engine import ScoringEngine

    policy = replace(engine.policy, diffusion=replace(engine.policy.diffusion, sharing=sharing))
    other = ScoringEngine(engine.store, policy=policy, now=engine.computed_at, params=engine.params)
    other.recompute(write=False)
    table = other.view()
    return np.asarray(table.ids, dtype=object), np.asarray(table.scores, dtype=np.int64)


def fairness_report(
    engine: ScoringEngine,
    groups: Any,
    *,
    sharing: Sequence[str] = SHARING_MODES,
    column: str = "group",
) -> FairnessReport:
    """Disparate impact of every benefit tier across ``groups``, and the network's part in it.

    Parameters
    ----------
    engine : ScoringEngine
        A recomputed engine; its policy gives the benefit tiers, its store the graph.
        A sharing rule other than the engine's own is scored by a second engine on the same
        store and evaluation time (nothing is written).
    groups : mapping, Series or DataFrame
        The protected attribute of each user (see :func:`align_groups`); users
        without one are left out and counted in ``unassigned``.
    sharing : sequence of {"bonus_only", "symmetric"}
        Sharing rules to compare; :data:`NO_NETWORK` is always added.
    column : str
        The group column when ``groups`` is a frame.

    Raises
    ------
    NotFoundError
        If the engine has not recomputed yet.
    ParameterError
        For an unknown sharing rule, or when fewer than two groups have users.
    """
    names = tuple(dict.fromkeys(sharing))
    for name in names:
        if name not in SHARING_MODES:
            raise ParameterError("sharing", name, f"must be among {list(SHARING_MODES)}")
    table = engine.view()
    ids = np.asarray(table.ids, dtype=object)
    aligned = align_groups(ids, groups, column=column)
    known = pd.notna(aligned)
    labels, _, counts = selection_rates(np.zeros(ids.size, dtype=bool), aligned)
    if len(labels) < 2:
        raise ParameterError("groups", labels.tolist(), "need users in at least two groups")
    tiers = [(b.name, b.min) for b in sorted(engine.policy.benefits, key=lambda b: b.min)]
    if not tiers:
        raise ParameterError("policy.benefits", (), "the policy has no benefit tiers to assess")
    prior = engine.network(str(ids[0])).prior

    scenario_scores: dict[str, np.ndarray] = {}
    for name in names:
        other_ids, scores = _scores_under(engine, name)
        position = pd.Index(other_ids.astype(str)).get_indexer(ids.astype(str))
        if np.any(position < 0):  # pragma: no cover - the store changed between the two recomputes
            raise ParameterError("engine", name, "the store's users changed while scoring")
        scenario_scores[name] = scores[position]
    components = engine.scores()[list(COMPONENT_NAMES)].to_numpy(dtype=np.float64)
    scenario_scores[NO_NETWORK] = neutral_scores(
        components, engine.policy.weight_vector(), min(max(prior, 0.0), 1.0)
    )

    impacts: list[TierImpact] = []
    means: dict[str, tuple[float, ...]] = {}
    group_codes = pd.Categorical(aligned[known].astype(str), categories=labels.tolist())
    for scenario, scores in scenario_scores.items():
        impacts += tier_impacts(scores, aligned, tiers, scenario=scenario)
        frame = pd.DataFrame({"g": group_codes, "s": scores[known].astype(np.float64)})
        mean = frame.groupby("g", observed=False)["s"].mean()
        means[scenario] = tuple(float(mean[g]) for g in labels.tolist())

    from credence.analysis.data import load_network

    network = load_network(engine.store)
    graph_groups = align_groups(network.ids, pd.Series(aligned, index=ids.astype(str)))
    return FairnessReport(
        groups=tuple(str(g) for g in labels.tolist()),
        group_sizes=tuple(int(c) for c in counts.tolist()),
        unassigned=int((~known).sum()),
        sharing=engine.policy.diffusion.sharing,
        model_version=engine.model_version,
        prior=float(prior),
        scenarios=(*names, NO_NETWORK),
        impacts=tuple(impacts),
        mean_scores=means,
        homophily=homophily(network.adjacency, graph_groups),
    )
