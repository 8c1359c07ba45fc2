"""`credence rings` on a small generated SQLite population with planted rings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from credence.cli import CredenceGroup
from credence.commands_fraud import rings
from graph.sqlite import SQLiteStore
from seeds.synthetic import Population, generate_population


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(n_users=600, seed=3, sybils_per_region=30, rings=2, ring_size=6)


@pytest.fixture(scope="module")
def store_path(population: Population, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rings") / "c.db"
    with SQLiteStore(str(path)) as store:
        store.load(population.dataset())
    return path


@pytest.fixture
def group(monkeypatch: pytest.MonkeyPatch) -> CredenceGroup:
    monkeypatch.delenv("CREDENCE_NEO4J_URI", raising=False)
    out = CredenceGroup()
    out.add_command(rings)
    return out


def _planted(population: Population) -> list[set[str]]:
    labels = population.labels
    ring_ids = sorted(int(r) for r in set(labels["ring"].tolist()) if r >= 0)
    return [set(labels.loc[labels["ring"] == r, "user"].astype(str)) for r in ring_ids]


def test_rings_json_finds_the_planted_rings(population: Population, store_path: Path,
                                            group: CredenceGroup) -> None:
    result = CliRunner().invoke(group, ["rings", "--db", str(store_path), "--now", str(population.now), "--json",
                                        "--k", "10"], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    clusters = payload["clusters"]
    assert 1 <= len(clusters) <= 10 * 10  # split blocks may add components, never empty
    suspicion = [c["suspicion"] for c in clusters]
    assert suspicion == sorted(suspicion, reverse=True)
    assert [c["rank"] for c in clusters] == list(range(1, len(clusters) + 1))
    for cluster in clusters:
        assert cluster["size"] == len(cluster["users"]) >= 3
    planted = _planted(population)
    assert len(planted) == 2
    top = clusters[: 2 * len(planted) + 2]
    for ring in planted:
        best = max(len(ring & set(c["users"])) / len(ring) for c in top)
        assert best >= 0.8, (ring, top)


def test_rings_table(population: Population, store_path: Path, group: CredenceGroup) -> None:
    result = CliRunner().invoke(group, ["rings", "--db", str(store_path), "--now", str(population.now), "--k", "5"],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "most suspect first" in lines[0]
    assert lines[1].split()[:3] == ["rank", "size", "density"]
    assert lines[2].split()[0] == "1"
    members = set().union(*_planted(population))
    assert any(user in result.output for user in members)


def test_rings_rejects_bad_k(store_path: Path, group: CredenceGroup) -> None:
    result = CliRunner().invoke(group, ["rings", "--db", str(store_path), "--k", "0"])
    assert result.exit_code == 2
    assert "--k" in result.output
