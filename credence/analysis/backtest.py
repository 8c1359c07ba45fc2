"""Out-of-time backtests: score as of time ``T`` from data strictly before ``T``, then count outcomes after.

A score is worth what it says about the future. :func:`backtest_signed` and
:func:`backtest_dataset` rebuild the graph as it stood before ``T`` (ratings, links,
repayments and spending dated earlier), score it with the real engine at ``now = T``,
and measure the scores against what happened from ``T`` on:

* **signed trust networks** (``credence load --format signed``): a user *goes bad* when
  they receive a rating of ``bad_rating`` (default -5) or worse at or after ``T``; the
  population is every user who rated or was rated before ``T``;
* **synthetic populations** (a dataset folder from ``credence seed``): a user *goes bad*
  when a repayment due at or after ``T`` ends ``defaulted``; the population is every
  user created before ``T``.

Every signal is read in one orientation, fixed before looking at outcomes: **higher
means less risk** (a credit score's direction). Each is measured by

* ROC AUC, the probability that a randomly chosen good user ranks above a randomly
  chosen bad one (ties count half): :func:`roc_auc`, from the rank-sum
  (Mann-Whitney U) statistic;
* the Kolmogorov-Smirnov distance between the good and the bad users' signal
  distributions (:func:`ks_statistic`), and the Gini coefficient ``2 AUC - 1``;

and the score also by its bad rate per band and per decile. The baselines are computed
independently of the engine, in the same run: **degree** (ratings or links a user had
before ``T``), **PageRank** on the positive graph (:func:`pagerank`, power iteration,
damping 0.85) and **goodness** (:func:`credence.scoring.goodness.fairness_goodness` on
the ratings before ``T``). ``score_without_network`` is the same score with the
connections component held at the prior: the difference is the network's lift.
``trust`` is the fraud tools' per-user ranking as of ``T`` (:func:`fraud_trust`: SybilRank
from the default seeds, as ``credence trust`` ranks suspects).

A second population, **exposed**, keeps the users who had an outcome to observe (were
rated after ``T``; had a repayment due after ``T``): on a trade network a user who stops
trading cannot be rated badly, so activity alone predicts "bad" in the first population.

Examples
--------
AUC from ranks against a hand count: good users score 3, 5, 6, bad ones 1, 5; of the
six good-bad pairs the good user ranks higher in 4 ((3,1), (5,1), (6,1), (6,5)), ties in
1 ((5,5)) and ranks lower in 1 ((3,5)), so AUC = 4.5 / 6:

>>> roc_auc(np.array([3, 5, 6, 1, 5]), np.array([0, 0, 0, 1, 1], dtype=bool))
0.75
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata

from credence.core.checks import check_real
from credence.core.errors import InputError, ParameterError
from credence.core.types import BoolArray, FloatArray
from credence.scoring.goodness import fairness_goodness
from credence.scoring.policy import COMPONENT_NAMES, Policy, assemble_scores

__all__ = [
    "Backtest",
    "BacktestConfig",
    "SignalQuality",
    "backtest_dataset",
    "backtest_signed",
    "bad_rate_by_group",
    "fraud_trust",
    "ks_statistic",
    "pagerank",
    "roc_auc",
]

#: The baselines every backtest computes beside the score.
BASELINES: tuple[str, ...] = ("degree", "pagerank", "goodness")


@dataclass(frozen=True, kw_only=True)
class BacktestConfig:
    """When to cut and what counts as bad.

    Parameters
    ----------
    at : int or None
        The cut ``T``, epoch seconds; None: the ``split`` quantile of the event times.
    split : float
        Fraction of the events (ratings; repayments due) before the cut, in (0, 1)
        (default 0.5: the median time). Ignored when ``at`` is given.
    bad_rating : float
        A rating at or below this after ``T`` makes the rated user bad (signed networks;
        default -5, the middle of the negative half of -10..10).
    damping : float
        PageRank's continuation probability, in (0, 1) (default 0.85, Brin and Page's).

    Examples
    --------
    >>> BacktestConfig(split=1.5)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'split' = 1.5: must be in the open interval (0, 1)
    """

    at: int | None = None
    split: float = 0.5
    bad_rating: float = -5.0
    damping: float = 0.85

    def __post_init__(self) -> None:
        if self.at is not None and (isinstance(self.at, bool) or not isinstance(self.at, int | np.integer)):
            raise ParameterError("at", self.at, "must be an integer (epoch seconds)")
        check_real(self.split, "split", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        check_real(self.bad_rating, "bad_rating")
        check_real(self.damping, "damping", lo=0.0, hi=1.0, lo_open=True, hi_open=True)


# --------------------------------------------------------------------------- measures


def _check_pair(signal: Any, bad: Any) -> tuple[FloatArray, BoolArray]:
    x = np.asarray(signal, dtype=np.float64)
    y = np.asarray(bad)
    if x.ndim != 1 or y.shape != x.shape:
        raise ParameterError("bad", y.shape, f"must be a vector of the signal's shape {x.shape}")
    if y.dtype != np.bool_:
        raise ParameterError("bad", str(y.dtype), "must be boolean")
    if not np.isfinite(x).all():
        raise ParameterError("signal", "non-finite", "must be finite")
    return x, y


def roc_auc(signal: Any, bad: Any) -> float:
    """ROC AUC of a signal where higher means less risk: P(good ranks above bad), ties half.

    Computed from average ranks (the Mann-Whitney U statistic of the good users):
    ``(R_good - n_good (n_good + 1) / 2) / (n_good n_bad)``. NaN when either class is empty.

    Examples
    --------
    >>> roc_auc([1.0, 2.0, 3.0], np.array([True, False, False]))
    1.0
    >>> roc_auc([1.0, 1.0], np.array([True, False]))
    0.5
    """
    x, y = _check_pair(signal, bad)
    n_bad = int(y.sum())
    n_good = y.size - n_bad
    if n_bad == 0 or n_good == 0:
        return math.nan
    ranks = rankdata(x)
    u = float(ranks[~y].sum()) - n_good * (n_good + 1) / 2.0
    return u / (n_good * n_bad)


def ks_statistic(signal: Any, bad: Any) -> float:
    """Largest gap between the good and the bad users' empirical CDFs of the signal.

    Examples
    --------
    >>> ks_statistic([1.0, 2.0, 3.0, 4.0], np.array([True, True, False, False]))
    1.0
    """
    x, y = _check_pair(signal, bad)
    if y.all() or not y.any():
        return math.nan
    values = np.unique(x)
    bad_cdf = np.searchsorted(np.sort(x[y]), values, side="right") / y.sum()
    good_cdf = np.searchsorted(np.sort(x[~y]), values, side="right") / (~y).sum()
    return float(np.max(np.abs(bad_cdf - good_cdf)))


def bad_rate_by_group(labels: Any, bad: Any, order: Any) -> list[dict[str, Any]]:
    """Users, bad users and bad rate of each group, groups in ``order`` (empty ones kept).

    Examples
    --------
    >>> bad_rate_by_group(["a", "b", "a"], np.array([True, False, False]), ["a", "b", "c"])[0]
    {'group': 'a', 'users': 2, 'bad': 1, 'bad_rate': 0.5}
    """
    groups = np.asarray(labels, dtype=object)
    y = np.asarray(bad, dtype=bool)
    out = []
    for name in order:
        members = groups == name
        users = int(members.sum())
        count = int(y[members].sum())
        out.append(
            {"group": name, "users": users, "bad": count, "bad_rate": count / users if users else None}
        )
    return out


def deciles(signal: Any) -> np.ndarray:
    """Decile 1..10 of each value (1 lowest) from average ranks: equal values share a decile.

    Examples
    --------
    >>> deciles([5, 1, 1, 9]).tolist()
    [8, 4, 4, 10]
    """
    x = np.asarray(signal, dtype=np.float64)
    return np.maximum(1, np.ceil(10.0 * rankdata(x) / x.size)).astype(np.int64)


def pagerank(
    adjacency: Any, *, damping: float = 0.85, tol: float = 1e-10, max_iter: int = 1000
) -> FloatArray:
    """PageRank of a directed weighted graph (row ``u`` -> column ``v``), by power iteration.

    A walker follows an out-link with probability ``damping`` (proportionally to its
    weight) and otherwise jumps to a uniformly random node; a node without out-links
    jumps uniformly. The result adds up to 1.

    Examples
    --------
    A star whose leaves all point at the centre (which has no out-link): by hand, a leaf
    gets ``l = (0.85 c + 0.15) / 4`` and the centre ``c = 0.85 * 3 l + l``, so with
    ``c + 3 l = 1``, ``l = 1 / 6.55`` and ``c = 3.55 / 6.55``:

    >>> A = sp.csr_matrix(([1.0, 1.0, 1.0], ([1, 2, 3], [0, 0, 0])), shape=(4, 4))
    >>> pagerank(A).round(4).tolist(), round(3.55 / 6.55, 4)
    ([0.542, 0.1527, 0.1527, 0.1527], 0.542)
    """
    matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    n = matrix.shape[0]
    if n == 0:
        return np.zeros(0)
    out = np.asarray(matrix.sum(axis=1)).ravel()
    dangling = out <= 0
    inverse = np.divide(1.0, out, out=np.zeros(n), where=~dangling)
    transition = sp.diags(inverse) @ matrix
    rank = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        new = damping * (transition.T @ rank) + (damping * rank[dangling].sum() + 1.0 - damping) / n
        if np.abs(new - rank).sum() <= tol:
            return np.asarray(new, dtype=np.float64)
        rank = new
    return np.asarray(rank, dtype=np.float64)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SignalQuality:
    """AUC, KS and Gini of one signal on one population."""

    auc: float
    ks: float
    gini: float

    @classmethod
    def of(cls, signal: Any, bad: Any) -> SignalQuality:
        """The three measures of ``signal`` (higher = less risk) against ``bad``."""
        auc = roc_auc(signal, bad)
        return cls(auc=auc, ks=ks_statistic(signal, bad), gini=2.0 * auc - 1.0)


@dataclass(frozen=True)
class Backtest:
    """The result of a backtest (:meth:`to_dict` is the ``--json`` document).

    Attributes
    ----------
    source, kind : str
        What was backtested and how (``"signed"`` or ``"dataset"``).
    at : int
        The cut ``T`` (epoch seconds).
    outcome : str
        What "bad" means here.
    users : ndarray of object
        The population's user ids.
    bad, exposed : ndarray of bool
        Who went bad after ``T``; who had an outcome to observe.
    signals : dict of str to ndarray
        ``score``, ``score_without_network``, the baselines and (when seeds could be chosen)
        ``trust``, aligned with ``users``.
    bands : ndarray of object
        Each user's score band.
    band_order : tuple of str
        The policy's band names, lowest first.
    model_version : str
        The policy the score was made with.
    """

    source: str
    kind: str
    at: int
    outcome: str
    users: np.ndarray
    bad: BoolArray
    exposed: BoolArray
    signals: dict[str, FloatArray]
    bands: np.ndarray
    band_order: tuple[str, ...]
    model_version: str
    extra: dict[str, Any] = field(default_factory=dict)

    def quality(self, *, exposed_only: bool = False) -> dict[str, SignalQuality]:
        """AUC, KS and Gini of every signal (on the exposed users only, if asked)."""
        keep = self.exposed if exposed_only else np.ones(self.bad.size, dtype=bool)
        return {name: SignalQuality.of(x[keep], self.bad[keep]) for name, x in self.signals.items()}

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready values (NaN becomes None)."""

        def num(x: float) -> float | None:
            return None if math.isnan(x) else round(float(x), 6)

        everyone = self.quality()
        exposed = self.quality(exposed_only=True)
        score = self.signals["score"]
        return {
            "source": self.source,
            "kind": self.kind,
            "at": int(self.at),
            "outcome": self.outcome,
            "orientation": "every signal read as higher = less risk",
            "model_version": self.model_version,
            "users": int(self.bad.size),
            "bad": int(self.bad.sum()),
            "exposed": int(self.exposed.sum()),
            "bad_exposed": int((self.bad & self.exposed).sum()),
            "auc": {name: num(q.auc) for name, q in everyone.items()},
            "ks": {name: num(q.ks) for name, q in everyone.items()},
            "gini": {name: num(q.gini) for name, q in everyone.items()},
            "auc_exposed": {name: num(q.auc) for name, q in exposed.items()},
            "network_lift_auc": num(everyone["score"].auc - everyone["score_without_network"].auc),
            "bands": bad_rate_by_group(self.bands, self.bad, self.band_order),
            "deciles": bad_rate_by_group(deciles(score), self.bad, range(1, 11)),
            **self.extra,
        }


# --------------------------------------------------------------------------- scoring as of T


def _score(dataset: Any, policy: Policy, at: int) -> tuple[np.ndarray, FloatArray, FloatArray, Any]:
    """Ids, scores, scores with the network at the prior, and the engine, of ``dataset`` at ``at``."""
    from credence.engine import ScoringEngine
    from credence.graph.sqlite import SQLiteStore

    store = SQLiteStore(":memory:")
    store.load(dataset)
    engine = ScoringEngine(store, policy=policy, now=int(at))
    engine.recompute(write=False)
    view = engine.view()
    frame = engine.scores()
    components = frame[list(COMPONENT_NAMES)].to_numpy(dtype=np.float64, copy=True)
    ids = np.array(view.ids, dtype=object)
    held = components.copy()
    held[:, -1] = view.prior
    return (
        ids,
        np.asarray(view.scores, dtype=np.float64),
        assemble_scores(held, policy.weight_vector()).astype(np.float64),
        engine,
    )


def fraud_trust(engine: Any, ids: np.ndarray) -> tuple[FloatArray | None, dict[str, Any]]:
    """The fraud ranking of ``credence trust`` as a signal aligned with ``ids`` (higher = less risk).

    SybilRank trust per unit of degree from the default seeds
    (:func:`credence.analysis.investigate.sybil_suspects`: verified users, else the
    long-standing rule). A user the ranking holds no evidence on (isolated, unreached,
    not taking part) is neither suspect nor trusted: they get the median of the ranked
    values, so that the signal measures the ranking where it ranks. None (and
    ``seeds = 0``) when no seed can be chosen.

    Returns
    -------
    signal : ndarray of float64 or None
    facts : dict
        ``seeds``, ``seed_rule``, ``ranked`` and ``no_evidence`` (for the JSON).
    """
    from credence.analysis.investigate import sybil_suspects

    try:
        report = sybil_suspects(engine, first=max(int(ids.size), 1))
    except ParameterError:
        return None, {"seeds": 0, "seed_rule": None, "ranked": 0, "no_evidence": int(ids.size)}
    ranked = {user: value for user, value, _, _ in report.suspects}
    values = np.array([ranked.get(str(user), np.nan) for user in ids.tolist()], dtype=np.float64)
    missing = np.isnan(values)
    values[missing] = np.median(values[~missing]) if (~missing).any() else 0.0
    return values, {"seeds": report.seeds, "seed_rule": report.seed_rule, "ranked": len(ranked),
                    "no_evidence": int(missing.sum())}  # fmt: skip


def _cut(times: np.ndarray, config: BacktestConfig) -> int:
    if config.at is not None:
        return int(config.at)
    if times.size == 0:
        raise InputError("no dated events to split at")
    return int(np.quantile(times, config.split))


def _positions(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    index = {str(v): i for i, v in enumerate(ids.tolist())}
    return np.array([index.get(str(v), -1) for v in values.tolist()], dtype=np.int64)


def backtest_signed(path: str | Path, policy: Policy, config: BacktestConfig | None = None) -> Backtest:
    """Backtest the score on a signed rating file (``source,target,weight,timestamp``).

    Parameters
    ----------
    path : str or Path
        The CSV, as ``credence load --format signed`` reads it.
    policy : Policy
        The scoring policy (``credence/scoring/policies/trade.toml`` reads links as ratings).
    config : BacktestConfig, optional
        The cut and the bad-rating threshold.

    Returns
    -------
    Backtest

    Raises
    ------
    ValidationError
        On a malformed rating file.
    InputError
        If nothing is dated before the cut.
    """
    from credence.graph.model import Dataset
    from credence.seeds.snap import parse_signed_edges, read_signed_edges

    config = BacktestConfig() if config is None else config
    path = Path(path)
    read_signed_edges(path)  # validates the whole file, naming the bad row
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    source = raw["source"].astype(np.int64).to_numpy()
    target = raw["target"].astype(np.int64).to_numpy()
    rating = raw["weight"].astype(np.float64).to_numpy()
    when = np.floor(raw["timestamp"].astype(np.float64).to_numpy()).astype(np.int64)
    at = _cut(when, config)
    before = when < at
    if not before.any():
        raise InputError(f"{path}: no rating before {at}")
    graph = parse_signed_edges(raw[before].reset_index(drop=True), source_name=path.name)
    ids, score, held, engine = _score(
        Dataset(users=graph.users, links=graph.links, distrust=graph.distrust), policy, at
    )
    n = ids.size
    later = ~before
    rated_later = _positions(ids, target[later].astype(str))
    bad = np.zeros(n, dtype=bool)
    bad[rated_later[(rating[later] <= config.bad_rating) & (rated_later >= 0)]] = True
    exposed = np.zeros(n, dtype=bool)
    exposed[rated_later[rated_later >= 0]] = True

    # Baselines, from the raw ratings before T (not through the engine).
    u = _positions(ids, source[before].astype(str))
    v = _positions(ids, target[before].astype(str))
    r, t = rating[before], when[before]
    degree = np.bincount(u, minlength=n) + np.bincount(v, minlength=n)
    positive = r > 0
    links = sp.csr_matrix((r[positive], (u[positive], v[positive])), shape=(n, n))
    # The latest rating of each ordered pair, scaled to [-1, 1], for the goodness kernel.
    latest = pd.DataFrame({"u": u, "v": v, "r": r / 10.0, "t": t}).sort_values("t", kind="stable")
    latest = latest.drop_duplicates(["u", "v"], keep="last")
    signed = sp.csr_matrix((latest["r"], (latest["u"], latest["v"])), shape=(n, n))
    signals = {
        "score": score,
        "score_without_network": held,
        "degree": degree.astype(np.float64),
        "pagerank": pagerank(links, damping=config.damping),
        "goodness": fairness_goodness(signed).goodness,
    }
    trust, trust_facts = fraud_trust(engine, ids)
    if trust is not None:
        signals["trust"] = trust
    return Backtest(
        source=str(path),
        kind="signed",
        at=at,
        outcome=f"receives a rating <= {config.bad_rating:g} at or after T",
        users=ids,
        bad=bad,
        exposed=exposed,
        signals=signals,
        bands=np.asarray(policy.band_names(score.astype(np.int64)), dtype=object),
        band_order=tuple(b.name for b in policy.bands),
        model_version=policy.version,
        extra={"ratings_before": int(before.sum()), "ratings_after": int(later.sum()), "trust": trust_facts},
    )


def backtest_dataset(folder: str | Path, policy: Policy, config: BacktestConfig | None = None) -> Backtest:
    """Backtest the score on a dataset folder (``credence seed`` output): defaults after ``T``.

    Users created before ``T``, links created before ``T``, repayments due and spending
    dated before ``T`` make the graph as of ``T``; a user goes bad when a repayment due at
    or after ``T`` is ``defaulted``; a user is exposed when one is due then (and not pending).
    The baselines run on the friend links before ``T``: degree (link count), PageRank, and
    goodness reading each link as a positive rating ``weight / max weight`` both ways.

    Raises
    ------
    InputError
        If the folder holds no repayments, or nothing is dated before the cut.
    """
    from credence.graph.io import read_dataset
    from credence.graph.model import parse_dataset

    config = BacktestConfig() if config is None else config
    data = read_dataset(folder)
    repayments = data.repayments
    if repayments.empty:
        raise InputError(f"{folder}: no repayments: nothing to backtest against")
    due = repayments["due"].to_numpy(dtype=np.int64)
    at = _cut(due, config)
    users = data.users[data.users["created"].to_numpy(dtype=np.int64) < at]
    if users.empty:
        raise InputError(f"{folder}: no user created before {at}")
    known = set(users["id"].tolist())
    links = data.links[
        (data.links["created"].to_numpy(dtype=np.int64) < at)
        & data.links["source"].isin(known).to_numpy()
        & data.links["target"].isin(known).to_numpy()
    ]
    early = repayments[(due < at) & repayments["user"].isin(known).to_numpy()]
    spending = data.spending[
        (data.spending["at"].to_numpy(dtype=np.int64) < at) & data.spending["user"].isin(known).to_numpy()
    ]
    distrust = data.distrust[
        (data.distrust["created"].to_numpy(dtype=np.int64) < at)
        & data.distrust["rater"].isin(known).to_numpy()
        & data.distrust["rated"].isin(known).to_numpy()
    ]
    dataset = parse_dataset(users=users, links=links, repayments=early, spending=spending, distrust=distrust)
    ids, score, held, engine = _score(dataset, policy, at)
    n = ids.size
    late = repayments[due >= at]
    rows = _positions(ids, late["user"].to_numpy(dtype=object))
    status = late["status"].to_numpy(dtype=object)
    bad = np.zeros(n, dtype=bool)
    bad[rows[(status == "defaulted") & (rows >= 0)]] = True
    exposed = np.zeros(n, dtype=bool)
    exposed[rows[(status != "pending") & (rows >= 0)]] = True

    a = _positions(ids, links["source"].to_numpy(dtype=object))
    b = _positions(ids, links["target"].to_numpy(dtype=object))
    w = links["weight"].to_numpy(dtype=np.float64)
    both = sp.csr_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
    scaled = both.copy()
    if scaled.nnz:
        scaled.data = scaled.data / scaled.data.max()
    signals = {
        "score": score,
        "score_without_network": held,
        "degree": np.diff(both.indptr).astype(np.float64),
        "pagerank": pagerank(both, damping=config.damping),
        "goodness": fairness_goodness(scaled).goodness,
    }
    trust, trust_facts = fraud_trust(engine, ids)
    if trust is not None:
        signals["trust"] = trust
    return Backtest(
        source=str(folder),
        kind="dataset",
        at=at,
        outcome="a repayment due at or after T ends defaulted",
        users=ids,
        bad=bad,
        exposed=exposed,
        signals=signals,
        bands=np.asarray(engine.policy.band_names(score.astype(np.int64)), dtype=object),
        band_order=tuple(band.name for band in policy.bands),
        model_version=policy.version,
        extra={"repayments_before": len(early), "repayments_after": len(late), "trust": trust_facts},
    )


def plot_backtest(result: Backtest, path: str | Path) -> Path:
    """Draw the ROC curve of every signal and the score's bad rate per band into a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(figure)
    roc, bars = figure.subplots(1, 2)
    quality = result.quality()
    for name, signal in result.signals.items():
        order = np.argsort(signal, kind="stable")  # least trusted first: flagged first
        y = result.bad[order]
        tpr = np.r_[0.0, np.cumsum(y) / max(int(y.sum()), 1)]
        fpr = np.r_[0.0, np.cumsum(~y) / max(int((~y).sum()), 1)]
        roc.plot(fpr, tpr, label=f"{name} (AUC {quality[name].auc:.3f})")
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc.set_xlabel("good users flagged")
    roc.set_ylabel("bad users flagged")
    roc.set_title(f"ROC, T = {result.at}")
    roc.legend(fontsize=8)
    rows = bad_rate_by_group(result.bands, result.bad, result.band_order)
    bars.bar([r["group"] for r in rows], [r["bad_rate"] or 0.0 for r in rows])
    bars.set_ylabel("bad rate")
    bars.set_title("bad rate per score band")
    out = Path(path)
    figure.savefig(out, dpi=100)
    return out


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """The human-readable summary of :meth:`Backtest.to_dict`."""
    lines = [
        f"backtest {report['kind']} {report['source']} at T = {report['at']} ({report['model_version']})",
        f"  bad: {report['outcome']}; {report['bad']} of {report['users']} users "
        f"({report['bad_exposed']} of {report['exposed']} exposed)",
        "  signal                    AUC     KS    Gini   AUC(exposed)",
    ]
    for name, auc in report["auc"].items():

        def fmt(x: float | None) -> str:
            return "   nan" if x is None else f"{x:6.3f}"

        lines.append(
            f"  {name:<24}{fmt(auc)} {fmt(report['ks'][name])} {fmt(report['gini'][name])}"
            f"   {fmt(report['auc_exposed'][name])}"
        )
    lines.append(f"  network lift (AUC): {report['network_lift_auc']}")
    trust = report.get("trust")
    if trust:
        lines.append(
            f"  trust: SybilRank from {trust['seeds']} seeds ({trust['seed_rule'] or 'none could be chosen'}), "
            f"{trust['ranked']} ranked, {trust['no_evidence']} without evidence (given the median)"
        )
    lines.append("  band          users   bad  bad rate")
    for row in report["bands"]:
        rate = "-" if row["bad_rate"] is None else f"{row['bad_rate']:.3f}"
        lines.append(f"  {row['group']:<12}{row['users']:>7}{row['bad']:>6}  {rate}")
    return lines
