"""PNG charts of a recomputed engine, drawn with matplotlib's Agg renderer (no display needed).

Each function draws one figure, writes it to ``path`` (parent folders created) and
returns the path written. pyplot is not used, so nothing touches matplotlib's global
backend or figure registry: the functions are safe in servers and threads.

* :func:`plot_score_distribution` -- histogram of the scores, coloured by band, with
  the benefit-tier thresholds;
* :func:`plot_network_vs_degree` -- the ``connections`` component against weighted
  degree (log x), with the neutral prior;
* :func:`plot_ego_network` -- one user, their friends and their top network
  contributors, coloured by how much each raised or lowered the user's network value.
* :func:`plot_sybil_curve` -- a sybil-resistance curve
  (:mod:`credence.analysis.sybil_resistance`): region size against the honest-side
  gain, its bound and the points per sybil.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from credence.graph.sqlite import SQLiteStore
>>> from credence.seeds.synthetic import generate_population
>>> from credence.engine import ScoringEngine
>>> population = generate_population(n_users=600, seed=1)
>>> store = SQLiteStore(":memory:")
>>> _ = store.load(population.dataset())
>>> engine = ScoringEngine(store, now=population.now)
>>> _ = engine.recompute(write=False)
>>> with tempfile.TemporaryDirectory() as tmp:
...     paths = [plot_score_distribution(engine, Path(tmp) / "scores.png"),
...              plot_network_vs_degree(engine, Path(tmp) / "network.png"),
...              plot_ego_network(engine, str(population.users["id"].iloc[0]), Path(tmp) / "ego.png")]
...     sizes = [p.stat().st_size for p in paths]
>>> all(size > 1000 for size in sizes)
True
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from credence.core.errors import InputError, ParameterError
from credence.scoring.policy import SCORE_MAX, SCORE_MIN

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from credence.analysis.sybil_resistance import SybilCurve
    from credence.engine import ScoringEngine

__all__ = ["plot_ego_network", "plot_network_vs_degree", "plot_score_distribution", "plot_sybil_curve"]

_BAND_COLOURS = ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850", "#006837", "#00441b")


def _figure(width: float = 8.0, height: float = 5.0) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ParameterError(
            "plots", "matplotlib", "needs matplotlib installed (pip install matplotlib)"
        ) from exc
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(figure: Figure, path: str | Path) -> Path:
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ParameterError("path", str(target), "must end in .png")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, format="png")
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc}") from exc
    return target


def plot_score_distribution(engine: ScoringEngine, path: str | Path, *, bin_width: int = 10) -> Path:
    """Histogram of every user's score, stacked by band, with the benefit thresholds.

    Parameters
    ----------
    engine : ScoringEngine
        A recomputed engine.
    path : str or Path
        The ``.png`` file to write.
    bin_width : int
        Score points per bar (> 0).
    """
    if bin_width <= 0:
        raise ParameterError("bin_width", bin_width, "must be > 0")
    table = engine.view()
    scores = np.asarray(table.scores)
    policy = engine.policy
    names = policy.band_names(scores)
    edges = np.arange(SCORE_MIN, SCORE_MAX + bin_width + 1, bin_width)
    figure = _figure()
    ax = figure.add_subplot()
    for k, band in enumerate(policy.bands):
        values = scores[names == band.name]
        ax.hist(
            values,
            bins=edges.tolist(),
            color=_BAND_COLOURS[k % len(_BAND_COLOURS)],
            label=f"{band.name} ({values.size:,})",
            edgecolor="white",
            linewidth=0.3,
        )
    for benefit in sorted(policy.benefits, key=lambda b: b.min):
        ax.axvline(benefit.min, color="black", linestyle="--", linewidth=0.8)
        ax.annotate(
            benefit.name,
            (benefit.min, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=7,
        )
    ax.set_xlim(SCORE_MIN, SCORE_MAX)
    ax.set_xlabel("score")
    ax.set_ylabel("users")
    ax.set_title(f"Scores of {scores.size:,} users (model {engine.model_version})")
    ax.legend(title="band", fontsize=8)
    return _save(figure, path)


def plot_network_vs_degree(engine: ScoringEngine, path: str | Path) -> Path:
    """The ``connections`` component of each user against their weighted degree (log x).

    Users without links (degree 0) get the neutral prior and are left out of the
    scatter; their count is in the title. Users not taking part in the network
    (no consent, or quarantined) are drawn in grey.
    """
    table = engine.view()
    frame = engine.scores()
    degree = np.asarray(table.degree, dtype=np.float64)
    value = frame["connections"].to_numpy(dtype=np.float64)
    participating = np.asarray(table.consent, dtype=bool) & ~np.asarray(table.quarantined, dtype=bool)
    linked = degree > 0
    figure = _figure()
    ax = figure.add_subplot()
    for mask, colour, label in ((linked & participating, "#2c7bb6", "taking part"),
                                (linked & ~participating, "#999999", "not taking part")):  # fmt: skip
        if mask.any():
            ax.scatter(
                degree[mask],
                value[mask],
                s=6,
                alpha=0.5,
                color=colour,
                label=f"{label} ({mask.sum():,})",
                linewidths=0,
            )
    if table.ids.size:
        prior = engine.network(str(table.ids[0])).prior
        ax.axhline(prior, color="#d7191c", linewidth=1.0, label=f"neutral prior {prior:.3f}")
    if linked.any():
        ax.set_xscale("log")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("weighted degree (log scale)")
    ax.set_ylabel("connections component")
    ax.set_title(f"Network component vs degree ({(~linked).sum():,} users without links not shown)")
    ax.legend(fontsize=8, loc="lower right")
    return _save(figure, path)


def plot_ego_network(engine: ScoringEngine, user: str, path: str | Path, *, contributors: int = 20) -> Path:
    """One user's ego network: friends and top contributors, coloured by contribution.

    The user is at the centre, friends on the inner ring, contributors further away
    (friends of friends) on the outer ring. Node colour is the contribution to the
    user's network value (red lowers it, blue raises it; grey: none found), link width
    the link weight. Links among the shown users are drawn.

    Parameters
    ----------
    engine : ScoringEngine
        A recomputed engine.
    user : str
        The user at the centre.
    path : str or Path
        The ``.png`` file to write.
    contributors : int
        How many top contributors to show (> 0).

    Raises
    ------
    NotFoundError
        For an unknown user.
    """
    if contributors <= 0:
        raise ParameterError("contributors", contributors, "must be > 0")
    explanation = engine.explain(user, contributors=contributors)
    centre = explanation.user
    friends = [f for f, _ in engine.friends(centre)]
    contribution = {c.user: c.contribution for c in explanation.contributors}
    if len(friends) > 4 * contributors:  # keep big egos readable: the friends that matter most
        friends = sorted(friends, key=lambda f: -abs(contribution.get(f, 0.0)))[: 4 * contributors]
    outer = [c.user for c in explanation.contributors if c.user != centre and c.user not in set(friends)]
    position: dict[str, tuple[float, float]] = {centre: (0.0, 0.0)}
    for ring, radius in ((friends, 1.0), (outer, 2.0)):
        for k, node in enumerate(ring):
            angle = 2 * math.pi * k / max(len(ring), 1) + (
                0.0 if radius == 1.0 else math.pi / max(len(ring), 1)
            )
            position[node] = (radius * math.cos(angle), radius * math.sin(angle))
    figure = _figure(7.0, 7.0)
    ax = figure.add_subplot()
    shown = set(position)
    drawn: set[tuple[str, str]] = set()
    for node in position:
        for other, weight in engine.friends(node):
            key = (min(node, other), max(node, other))
            if other in shown and key not in drawn:
                drawn.add(key)
                (x0, y0), (x1, y1) = position[node], position[other]
                ax.plot([x0, x1], [y0, y1], color="#bbbbbb", linewidth=0.4 + 1.2 * min(weight, 3.0), zorder=1)
    others = [n for n in position if n != centre]
    values = np.array([contribution.get(n, 0.0) for n in others], dtype=np.float64)
    limit = float(np.abs(values).max()) if values.size and np.abs(values).max() > 0 else 1.0
    if others:
        xy = np.array([position[n] for n in others])
        points = ax.scatter(
            xy[:, 0],
            xy[:, 1],
            c=values,
            cmap="RdBu",
            vmin=-limit,
            vmax=limit,
            s=90,
            edgecolors="black",
            linewidths=0.4,
            zorder=2,
        )
        figure.colorbar(points, ax=ax, shrink=0.7, label="contribution to network value")
        if len(others) <= 40:
            for n in others:
                ax.annotate(
                    n,
                    position[n],
                    fontsize=6,
                    ha="center",
                    va="bottom",
                    xytext=(0, 6),
                    textcoords="offset points",
                )
    ax.scatter([0.0], [0.0], s=220, color="#ffd92f", edgecolors="black", linewidths=0.8, zorder=3)
    ax.annotate(
        centre, (0.0, 0.0), fontsize=8, ha="center", va="top", xytext=(0, -10), textcoords="offset points"
    )
    ax.set_title(
        f"{centre}: score {explanation.score} ({explanation.band}), network value "
        f"{explanation.network_value:.3f} vs prior {explanation.prior:.3f}\n"
        f"{len(friends)} friends shown, {len(outer)} further contributors"
    )
    ax.set_aspect("equal")
    ax.set_axis_off()
    return _save(figure, path)


def plot_sybil_curve(curve: SybilCurve, path: str | Path) -> Path:
    """Draw a sybil-resistance curve: region size (log) against honest gain and per-sybil points.

    Parameters
    ----------
    curve : credence.analysis.sybil_resistance.SybilCurve
        The measured curve.
    path : str or Path
        Where to write the PNG (must end in ``.png``).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ParameterError
        ``path`` does not end in ``.png``.
    InputError
        The file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> from credence.analysis.sybil_resistance import sybil_curve
    >>> c = sybil_curve(honest_users=300, region_sizes=(10, 30), attack_links=2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     plot_sybil_curve(c, Path(tmp) / "s.png").stat().st_size > 1000
    True
    """
    sizes = [p.region_size for p in curve.points]
    figure = _figure()
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
    return _save(figure, path)
