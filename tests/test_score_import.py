"""``credence import-scores``: a score snapshot computed elsewhere, into either store, all or nothing.

The scores to import are the single-machine engine's own (``recompute(write=False)`` on
the same data), written in the layout of ``credence spark score``'s output (Parquet part
files and a ``_SUCCESS`` marker), so these tests need no Spark; ``tests/test_spark.py``
imports the real Spark output. Every test runs on SQLite and, with marker neo4j, on a
real Neo4j (the ``store`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from credence.cli.main import main
from credence.core.errors import ConflictError, UnknownReferenceError, ValidationError
from credence.engine import ScoringEngine
from credence.engine.snapshot_import import ImportConfig, import_scores
from credence.graph.model import COMPONENTS
from credence.graph.sqlite import SQLiteStore
from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
from credence.seeds.synthetic import generate_population

N_USERS = 600
POLICY = read_policy(DEFAULT_POLICY_PATH)


@dataclass(frozen=True)
class Computed:
    frame: pd.DataFrame  # the output rows, Spark's columns
    now: int
    prior: float
    population: Any


@pytest.fixture(scope="module")
def computed() -> Computed:
    """The engine's scores of a small population, with the columns the Spark job writes."""
    population = generate_population(n_users=N_USERS, seed=5)
    store = SQLiteStore(":memory:")
    store.load(population.dataset())
    engine = ScoringEngine(store, now=population.now)
    engine.recompute(write=False)
    scores = engine.scores()
    view = engine.view()
    frame = pd.DataFrame({"id": scores["user"].astype(str), "score": scores["score"].astype(np.int64),
                          "band": scores["band"].astype(str)})  # fmt: skip
    for name in COMPONENTS:
        frame[name] = scores[name].to_numpy(dtype=np.float64)
    frame["model_version"] = POLICY.version
    frame["computed_at"] = np.int64(population.now)
    frame["prior"] = float(view.prior)
    store.close()
    return Computed(frame, population.now, float(view.prior), population)


def _write(frame: pd.DataFrame, folder: Path, parts: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[chunk].reset_index(drop=True).to_parquet(folder / f"part-{k:05d}-x.snappy.parquet")
    (folder / "_SUCCESS").write_text("", encoding="utf-8")
    return folder


@pytest.fixture
def loaded(store: Any, computed: Computed) -> Any:
    """The population in the store under test, without any score."""
    store.load(computed.population.dataset())
    return store


def test_an_import_is_the_latest_snapshot_and_what_a_restart_serves(
    loaded: Any, computed: Computed, tmp_path: Path
) -> None:
    folder = _write(computed.frame, tmp_path / "scores")
    report = import_scores(loaded, folder, ImportConfig(policy=POLICY))
    assert report.written == N_USERS and report.not_covered == 0 and len(report.files) == 3
    latest = loaded.latest_scores().set_index("user")
    expected = computed.frame.set_index("id").loc[latest.index.astype(str)]
    assert (latest["score"].to_numpy() == expected["score"].to_numpy()).all()
    for name in COMPONENTS:
        assert np.array_equal(latest[name].to_numpy(dtype=np.float64), expected[name].to_numpy())
    assert set(latest["model_version"]) == {POLICY.version}
    assert set(latest["computed_at"]) == {computed.now}
    record = loaded.latest_recompute()
    assert (record.computed_at, record.model_version) == (computed.now, POLICY.version)
    assert record.prior == pytest.approx(computed.prior, abs=1e-15)
    assert loaded.model_weights()[POLICY.version] == {k: float(v) for k, v in POLICY.weights.items()}
    # a serving restart takes the imported snapshot as its scores
    engine = ScoringEngine(loaded)
    assert engine.restore() is not None
    user = str(expected.index[7])
    assert engine.explain(user).score == int(expected.loc[user, "score"])


def test_the_cli_imports_into_sqlite(computed: Computed, tmp_path: Path) -> None:
    db = tmp_path / "credence.db"
    with SQLiteStore(db) as store:
        store.load(computed.population.dataset())
    folder = _write(computed.frame, tmp_path / "scores")
    result = CliRunner().invoke(main, ["import-scores", str(folder), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"imported {N_USERS:,} scores of {POLICY.version} at {computed.now}" in result.output
    with SQLiteStore(db) as store:
        assert store.stats().score_snapshots == N_USERS
    again = CliRunner().invoke(main, ["import-scores", str(folder), "--db", str(db)])
    assert again.exit_code == 6, again.output  # the same snapshot twice is a conflict
    assert "already holds a full recompute" in again.output
    with SQLiteStore(db) as store:
        assert store.stats().score_snapshots == N_USERS


Change = Callable[[pd.DataFrame], pd.DataFrame]


def _set(column: str, row: int, value: Any) -> Change:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out[column] = out[column].astype(object) if isinstance(value, str) else out[column]
        out.loc[row, column] = value
        return out

    return change


# rows 0..199 land in part 0, 200..399 in part 1 (np.array_split of 600 in 3)
HOSTILE: list[tuple[str, Change, list[str]]] = [
    ("unknown-user", _set("id", 205, "nobody"), ["part-00001", "score row 6", "column 'id'", "'nobody'",
                                                  "no such user in the store"]),
    ("score-out-of-range", _set("score", 3, 990), ["part-00000", "score row 4", "column 'score'",
                                                   "must be an integer in [350, 950]"]),
    ("component-out-of-range", _set("behaviour", 410, 1.5), ["part-00002", "score row 11",
                                                             "column 'behaviour'", "must be in [0, 1]"]),
    ("score-not-from-components", lambda f: f.assign(score=np.where(f.index == 12, f["score"] + 1, f["score"])),
     ["part-00000", "score row 13", "column 'score'", "does not follow from the components"]),
    ("other-model", _set("model_version", 0, "someone-else-1"), ["part-00000", "score row 2",
                                                                 "column 'model_version'", "differs"]),
    ("whole-other-model", lambda f: f.assign(model_version="someone-else-1"),
     ["part-00000", "score row 1", "column 'model_version'", "pass the policy they were computed with"]),
    ("two-times", _set("computed_at", 450, 1), ["part-00002", "score row 51", "column 'computed_at'"]),
    ("duplicate-id", lambda f: f.assign(id=np.where(f.index == 300, f["id"].iloc[2], f["id"])),
     ["part-00001", "score row 101", "column 'id'", "duplicate user id"]),
    ("null-component", _set("identity", 7, np.nan), ["part-00000", "score row 8", "column 'identity'"]),
    ("missing-column", lambda f: f.drop(columns=["prior"]), ["column 'prior'", "missing required column"]),
    ("wrong-type", lambda f: f.assign(score=f["score"].astype(np.float64)),
     ["column 'score'", "has type double", "must be an integer"]),
    ("unknown-column", lambda f: f.assign(colour="red"), ["column 'colour'", "unknown column"]),
]  # fmt: skip


@pytest.mark.parametrize(("change", "expected"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_a_bad_row_is_named_and_nothing_is_written(
    loaded: Any, computed: Computed, tmp_path: Path, change: Change, expected: list[str]
) -> None:
    folder = _write(change(computed.frame), tmp_path / "scores")
    before = loaded.stats().score_snapshots
    with pytest.raises(ValidationError) as caught:
        import_scores(loaded, folder, ImportConfig(policy=POLICY))
    for words in expected:
        assert words in str(caught.value), str(caught.value)
    if "no such user in the store" in expected:
        assert isinstance(caught.value, UnknownReferenceError)
    assert loaded.stats().score_snapshots == before == 0
    assert loaded.latest_recompute() is None


def test_a_file_that_is_not_parquet_is_named(loaded: Any, computed: Computed, tmp_path: Path) -> None:
    folder = _write(computed.frame, tmp_path / "scores")
    (folder / "part-00001-x.snappy.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValidationError, match=r"part-00001-x\.snappy\.parquet.*cannot be read as Parquet"):
        import_scores(loaded, folder, ImportConfig(policy=POLICY))
    assert loaded.stats().score_snapshots == 0


def test_a_model_recorded_with_other_weights_is_a_conflict(
    loaded: Any, computed: Computed, tmp_path: Path
) -> None:
    other = dict(POLICY.weights)
    other["identity"], other["behaviour"] = other["behaviour"], other["identity"]
    row = computed.frame.iloc[0]
    loaded.write_scores(
        pd.DataFrame({"user": [row["id"]], "model_version": [POLICY.version], "computed_at": [1],
                      "score": [int(row["score"])], **{c: [float(row[c])] for c in COMPONENTS}}),
        model_weights=other,
    )  # fmt: skip
    folder = _write(computed.frame, tmp_path / "scores")
    with pytest.raises(ConflictError, match="recorded with other weights"):
        import_scores(loaded, folder, ImportConfig(policy=POLICY))
    assert loaded.stats().score_snapshots == 1
    assert loaded.latest_recompute() is None


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        main, ["import-scores", str(tmp_path / "empty"), "--db", str(tmp_path / "x.db")]
    )
    assert result.exit_code == 3, result.output
    assert "holds no .parquet files" in result.output
