"""Tests of the sybil-resistance experiment: the bounds (credence.scoring.sybil_bounds) and the
region's part against dense solves, the planted region (credence.seeds.sybil), the flattening
bound of the curve (credence.analysis.sybil_resistance), the chart and the command."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from credence.analysis.plots import plot_sybil_curve
from credence.analysis.sybil_resistance import measure_region, sybil_curve
from credence.cli.commands_sybil import sybil_resistance
from credence.core.errors import ParameterError
from credence.scoring.sybil_bounds import crossing_bound, region_contribution
from credence.seeds.sybil import attach_region


def _dense_pi(adj: np.ndarray, a: float) -> np.ndarray:
    """pi = (1-a) P (I - aP)^-1, rows = start nodes (no isolated nodes)."""
    p = adj / adj.sum(axis=1, keepdims=True)
    return (1 - a) * p @ np.linalg.inv(np.eye(len(adj)) - a * p)


def _toy() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # honest path 0-1-2-3, sybils 4-5 linked to each other, one attack link 3-4
    adj = np.zeros((6, 6))
    for i, j in [(0, 1), (1, 2), (2, 3), (4, 5), (3, 4)]:
        adj[i, j] = adj[j, i] = 1.0
    base = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    return adj, base, np.array([False] * 4 + [True] * 2)


def test_known_answer_dense_solve() -> None:
    adj, base, sybil = _toy()
    a, k, mu, w = 0.5, 2.0, 0.5, 0.05
    pi = _dense_pi(adj, a)
    part = pi[:, sybil] @ (base[sybil] - mu)
    np.testing.assert_allclose(region_contribution(adj, base, sybil, damping=a, prior=mu), part, atol=1e-10)
    d = adj.sum(axis=1)
    n = pi @ base
    c = np.maximum((d * n + k * mu) / (d + k), mu)
    point = measure_region(adj, base, sybil, damping=a, shrinkage=k, sharing="bonus_only", prior=mu, weight=w)
    assert point.honest_gain == pytest.approx(float((600 * w * d / (d + k) * part)[~sybil].sum()), abs=1e-8)
    assert point.endpoint_gain == pytest.approx(float(600 * w * d[3] / (d[3] + k) * part[3]), abs=1e-8)
    assert point.sybil_points == pytest.approx(float(600 * w * (c[sybil] - mu).sum()), abs=1e-8)
    assert point.escape == pytest.approx(0.5)  # a/(1-a) * 1/2 at sybil 4


def test_crossing_bound_dominates_region_mass() -> None:
    adj, _, sybil = _toy()
    x = crossing_bound(adj, sybil, damping=0.5)
    pi = _dense_pi(adj, 0.5)
    mass = pi[:, sybil].sum(axis=1)
    assert np.all(mass[~sybil] <= x[~sybil] + 1e-12)
    # the walk from the attack end 3: crosses first step with prob 1/2
    assert x[3] >= 0.5


def test_attach_region_shape_and_attack_links() -> None:
    honest = sp.csr_matrix(np.ones((50, 50)) - np.eye(50))
    adj, base, sybil = attach_region(honest, np.full(50, 0.5), 200, attack_links=7, seed=3)
    assert adj.shape == (250, 250) and sybil.sum() == 200 and base[sybil].min() == 1.0
    assert (adj != adj.T).nnz == 0
    cross = adj[np.flatnonzero(~sybil)][:, np.flatnonzero(sybil)]
    assert cross.nnz == 7 and cross.sum() == 7
    inner = np.asarray(adj[np.flatnonzero(sybil)][:, np.flatnonzero(sybil)].sum(axis=1)).ravel()
    assert inner.min() >= 2 and 8 <= inner.mean() <= 10


def test_flattening_within_derived_bound() -> None:
    curve = sybil_curve(honest_users=3000, region_sizes=(10, 100, 1000, 3000), attack_links=5, seed=1)
    ref = curve.point(1000)
    # (1 - rho) B <= gain(m) <= B for every m, so gain(m2)/gain(m1) <= 1/(1 - rho(m1)).
    for p in curve.points:
        assert p.honest_gain <= curve.bound * (1 + 1e-9)
        assert p.honest_gain >= (1 - p.escape) * curve.bound * (1 - 1e-9)
    limit = 1.0 / (1.0 - ref.escape)
    assert limit <= 1.5
    assert curve.flattening(3000, 1000) <= limit
    # while the sybils' own points grow with the region
    assert curve.point(3000).sybil_points > 2.5 * ref.sybil_points


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"region_sizes": ()}, "region_sizes"),
        ({"region_sizes": (0,)}, "region_sizes"),
        ({"attack_links": 0}, "attack_links"),
        ({"attack_links": 50, "region_sizes": (10,)}, "attack_links"),
        ({"damping": 1.0}, "damping"),
        ({"shrinkage": -1.0}, "shrinkage"),
        ({"sharing": "malus"}, "sharing"),
        ({"sybil_base": 1.5}, "sybil_base"),
        ({"honest_users": 1}, "honest_users"),
    ],
)
def test_parameter_errors(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"honest_users": 200, "region_sizes": (10,), "attack_links": 2}
    args.update(kwargs)
    with pytest.raises(ParameterError) as info:
        sybil_curve(**args)  # type: ignore[arg-type]
    assert info.value.name == name


def test_plot_written(tmp_path: Path) -> None:
    curve = sybil_curve(honest_users=300, region_sizes=(10, 30), attack_links=2)
    out = plot_sybil_curve(curve, tmp_path / "sub" / "curve.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError):
        plot_sybil_curve(curve, tmp_path / "curve.jpg")


def test_command(tmp_path: Path) -> None:
    group = click.Group()
    group.add_command(sybil_resistance)
    runner = CliRunner()
    png = tmp_path / "s.png"
    result = runner.invoke(
        group,
        [
            "sybil-resistance",
            "--sizes",
            "10,100,1000,3000",
            "--attack-links",
            "3",
            "--honest-users",
            "500",
            "--out",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "honest gain" in result.output and "gain(3000) / gain(1000)" in result.output and png.exists()
    result = runner.invoke(
        group,
        ["sybil-resistance", "--sizes", "10,30", "--honest-users", "300", "--attack-links", "2", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [p["region_size"] for p in data["points"]] == [10, 30]
    bad = runner.invoke(group, ["sybil-resistance", "--sizes", "x", "--honest-users", "300"])
    assert bad.exit_code != 0 and "sizes" in bad.output
