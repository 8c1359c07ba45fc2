"""The engine's image (credence.engine.image): a restart maps it instead of recomputing, only when it is current.

Oracles: a twin engine that never saw an image (on a byte copy of the same store)
must give bit-identical states and the same answers to the same changes; a store
changed behind the image's back must be restored from the store (the change visible),
and every way an image can be unusable (stale, corrupt, another policy) falls back
without an error.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.graph.store import AuditDraft
from credence.scoring.factors import FactorParams
from credence.scoring.policy import COMPONENT_NAMES
from credence.seeds.synthetic import generate_population

DAY = 86_400
POPULATION = generate_population(n_users=700, seed=5, sybils_per_region=40, rings=2)
IDS = POPULATION.users["id"].astype(str).tolist()


def repayment(user: str, event: str, status: str = "defaulted") -> pd.DataFrame:
    due = POPULATION.now - 3 * DAY
    return pd.DataFrame({"id": [event], "user": [user], "due": [due], "paid": pd.array([None], dtype="Int64"),
                         "amount": [400.0], "status": [status]})  # fmt: skip


def scored_store(path: Path, image: Path) -> tuple[SQLiteStore, ScoringEngine]:
    store = SQLiteStore(path)
    store.load(POPULATION.dataset())
    engine = ScoringEngine(store, now=POPULATION.now, image=image)
    engine.recompute()
    return store, engine


def served(engine: ScoringEngine) -> pd.DataFrame:
    return engine.scores().set_index("user").sort_index()


def stored(store: Any) -> pd.DataFrame:
    latest = store.latest_scores()
    return latest.set_index(latest["user"].astype(str)).sort_index()


def twin(path: Path, copy: Path) -> None:
    """A byte copy of a closed SQLite store (its WAL folded in first)."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(path, copy)


def test_an_image_restores_the_exact_state_and_answers_changes_as_the_original(tmp_path: Path) -> None:
    image = tmp_path / "image"
    store, original = scored_store(tmp_path / "a.db", image)
    assert original.save_image() is not None
    store.close()
    twin(tmp_path / "a.db", tmp_path / "b.db")  # the same data, the same store token and version

    first, second = SQLiteStore(tmp_path / "a.db"), SQLiteStore(tmp_path / "b.db")
    from_store = ScoringEngine(first)
    assert from_store.restore() is not None
    mapped = ScoringEngine(second, image=image)
    report = mapped.restore(from_image=True)
    assert report is not None and list(report.seconds) == ["image"]

    # What is served equals what is stored, as after a restore from the store.
    pd.testing.assert_frame_equal(served(mapped), served(from_store))
    for frame in (served(mapped), stored(second)):
        np.testing.assert_array_equal(
            frame.loc[IDS, "score"].to_numpy(), stored(first).loc[IDS, "score"].to_numpy()
        )
    assert mapped.computed_at == from_store.computed_at
    assert mapped.view().prior == from_store.view().prior

    # The same changes on both: the same score changes, the same components, within the tolerance.
    tol = from_store.policy.diffusion.tol
    for engine in (from_store, mapped):
        engine.record_repayments(repayment(IDS[3], "img-1"))
        engine.add_link(IDS[10], IDS[20], weight=2.0)
        engine.set_consent(IDS[30], False)
    a, b = served(from_store), served(mapped)
    assert (a["score"] - b["score"]).abs().max() <= 1
    np.testing.assert_allclose(
        a[list(COMPONENT_NAMES)].to_numpy(), b[list(COMPONENT_NAMES)].to_numpy(), atol=4 * tol
    )
    explained = [mapped.explain(IDS[3]), from_store.explain(IDS[3])]
    assert explained[0].score == explained[1].score
    assert [r.code for r in explained[0].reasons] == [r.code for r in explained[1].reasons]
    first.close()
    second.close()


def test_a_mapped_state_is_bit_identical_to_the_state_written(tmp_path: Path) -> None:
    store, original = scored_store(tmp_path / "a.db", tmp_path / "image")
    original.save_image()
    mapped = ScoringEngine(store, image=tmp_path / "image")
    mapped.restore(from_image=True)
    left, right = original.view(adjacency="all"), mapped.view(adjacency="all")
    assert left.ids.tolist() == right.ids.tolist()
    for name in ("scores", "base", "degree", "consent", "quarantined"):
        np.testing.assert_array_equal(getattr(left, name), getattr(right, name), err_msg=name)
    assert left.prior == right.prior and left.computed_at == right.computed_at
    assert (left.graph() != right.graph()).nnz == 0
    pd.testing.assert_frame_equal(served(original), served(mapped))  # every component, exactly
    store.close()


def test_changes_made_by_the_engine_keep_its_image_current(tmp_path: Path) -> None:
    image = tmp_path / "image"
    store, engine = scored_store(tmp_path / "a.db", image)
    engine.save_image()
    engine.record_repayments(repayment(IDS[5], "own-1"))
    engine.remove_link(*next(iter_links(store)))
    store.record_audit([AuditDraft(actor="ana", role="analyst", action="read:network", subject=IDS[5])])
    written = engine.save_image()
    assert written is not None and written.name.startswith(f"image-{store.data_version().version}-")
    restarted = ScoringEngine(store, image=image)
    assert list(restarted.restore(from_image=True).seconds) == ["image"]
    pd.testing.assert_frame_equal(served(restarted), served(engine))
    np.testing.assert_array_equal(served(restarted).loc[IDS, "score"], stored(store).loc[IDS, "score"])
    store.close()


def iter_links(store: Any) -> Any:
    exported = store.export_graph()
    upper = exported.adjacency.tocoo()
    for u, v in zip(upper.row.tolist(), upper.col.tolist(), strict=True):
        if u < v:
            yield str(exported.ids[u]), str(exported.ids[v])


def test_a_store_changed_behind_the_images_back_is_restored_from_the_store(tmp_path: Path) -> None:
    image = tmp_path / "image"
    store, engine = scored_store(tmp_path / "a.db", image)
    engine.save_image()
    other = SQLiteStore(tmp_path / "a.db")  # another process's connection: a CLI update, say
    other.set_consent(IDS[7], False)
    assert engine.save_image() is None  # memory no longer is the store's data: nothing written
    restarted = ScoringEngine(store, image=image)
    report = restarted.restore(from_image=True)
    assert report is not None and "image" not in report.seconds
    assert bool(restarted.view().consent[restarted.view().ids.tolist().index(IDS[7])]) is False
    # ... and the restore wrote a current image for the next start.
    assert list(ScoringEngine(store, image=image).restore(from_image=True).seconds) == ["image"]
    other.close()
    store.close()


@pytest.mark.parametrize("damage", ["truncated array", "manifest", "missing ids", "dangling link"])
def test_a_damaged_image_is_ignored_with_a_warning(tmp_path: Path, damage: str, caplog: Any) -> None:
    image = tmp_path / "image"
    store, engine = scored_store(tmp_path / "a.db", image)
    target = engine.save_image()
    assert target is not None
    if damage == "truncated array":
        path = target / "diffusion.cols.npy"
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "manifest":
        (target / "manifest.json").write_text("{not json")
    elif damage == "missing ids":
        (target / "ids.txt").unlink()
    else:
        shutil.rmtree(target)
    with caplog.at_level(logging.INFO, logger="credence.engine.image"):
        restarted = ScoringEngine(store, image=image)
        report = restarted.restore(from_image=True)
    assert report is not None and "image" not in report.seconds
    assert caplog.records, "the reason is logged"
    np.testing.assert_array_equal(served(restarted).loc[IDS, "score"], stored(store).loc[IDS, "score"])
    store.close()


def test_an_image_of_other_factor_constants_is_not_used(tmp_path: Path) -> None:
    image = tmp_path / "image"
    store, engine = scored_store(tmp_path / "a.db", image)
    engine.save_image()
    other = ScoringEngine(store, image=image, params=FactorParams(ch_half_life_days=30.0))
    report = other.restore(from_image=True)
    assert report is not None and "image" not in report.seconds
    store.close()


def test_image_files_are_private(tmp_path: Path) -> None:
    store, engine = scored_store(tmp_path / "a.db", tmp_path / "image")
    target = engine.save_image()
    assert target is not None
    assert stat.S_IMODE((tmp_path / "image").stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in target.iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes
    store.close()


def test_the_data_version_counts_data_commits_not_audit_entries(store: Any) -> None:
    start = store.data_version()
    store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
    assert store.data_version().version == start.version + 1
    assert store.last_commit_version() == store.data_version()
    store.record_audit([AuditDraft(actor="ana", role="analyst", action="read:network", subject="a")])
    assert store.data_version().version == start.version + 1
    with store.transaction():
        store.set_consent("a", False)
        store.record_audit([AuditDraft(actor="ana", role="analyst", action="consent", subject="a")])
    assert store.data_version().version == start.version + 2
    with pytest.raises(Exception, match="not flagged"), store.transaction():
        store.unflag_user("a", analyst="ana", reason="x")
    assert store.data_version().version == start.version + 2  # a rolled-back unit counts nothing
    store.clear()
    after = store.data_version()
    assert after.store == start.store and after.version > start.version + 2  # a clear never goes back


def test_ids_with_line_breaks_round_trip(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    store.upsert_users(pd.DataFrame({"id": ["line\nbreak", "plain", "ünï"], "created": [0, 0, 0]}))
    store.upsert_links(pd.DataFrame({"source": ["plain"], "target": ["line\nbreak"], "weight": [1.0]}))
    engine = ScoringEngine(store, now=10 * DAY, image=tmp_path / "image")
    engine.recompute()
    assert engine.save_image() is not None
    mapped = ScoringEngine(store, image=tmp_path / "image")
    assert list(mapped.restore(from_image=True).seconds) == ["image"]
    assert sorted(mapped.view().ids.tolist()) == ["line\nbreak", "plain", "ünï"]
    assert mapped.score_of("line\nbreak") == engine.score_of("line\nbreak")
    store.close()
