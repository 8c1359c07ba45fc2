"""The offline bulk import into an empty Neo4j (``Neo4jStore.load_offline``), on a real launcher server.

Every test shares one server of its own (the import stops and restarts it, so the
session's ``neo4j_uri`` server is not used); :class:`Server` follows its pid across
restarts. The oracle of the imported graph is the transactional Cypher load of the same
dataset into the same database, compared through the store's public reads and through
the raw graph (labels, property types, relationship types and ends, constraints,
indexes); the users and links are also checked against the dataset's own frames.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from credence.cli import main
from credence.core.errors import ConflictError, StoreError, UnknownReferenceError
from credence.graph.io import write_dataset
from credence.graph.model import Dataset, parse_dataset
from credence.graph.neo4j_server import (
    Neo4jProcess,
    import_offline,
    is_running,
    load_state,
    save_state,
    start_neo4j,
    stop_neo4j,
)
from credence.graph.neo4j_store import Neo4jStore
from credence.graph.store import DataVersion, canonical_links
from credence.seeds.synthetic import generate_population

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


class Server:
    """The module's server: the process changes at every restart."""

    def __init__(self, proc: Neo4jProcess) -> None:
        self.proc = proc

    def restarted(self, proc: Neo4jProcess) -> None:
        self.proc = proc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    try:
        proc = start_neo4j(home=tmp_path_factory.mktemp("neo4j-import-home"), heap="1g", page_cache="256m")
    except Exception as exc:  # as the session's fixture: skip here, fail under CI=true
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true and Neo4j could not start: {exc}", pytrace=False)
        pytest.skip(f"Neo4j unavailable here: {exc}")
    holder = Server(proc)
    try:
        yield holder
    finally:
        stop_neo4j(holder.proc)


@pytest.fixture
def store(server: Server) -> Iterator[Neo4jStore]:
    """A store on the module's server, with no node at all before and after."""
    with Neo4jStore(server.proc.bolt_uri) as opened:
        _empty(server.proc.bolt_uri)
        yield opened
        _empty(server.proc.bolt_uri)


def _empty(uri: str) -> None:
    """Delete every node but the store's own token and data version, as a new database holds them.

    (``clear()`` keeps the audit-id counter too, which an offline load refuses.)
    """
    with neo4j.GraphDatabase.driver(uri, auth=None) as driver:
        driver.execute_query(
            "MATCH (n) WHERE NOT (n:Counter AND n.name IN ['store_id', 'data_version']) DETACH DELETE n"
        )


def _dataset(tricky: bool) -> Dataset:
    """A synthetic population with distrust; ``tricky`` adds ids with quotes, commas, Unicode and a line break."""
    population = generate_population(n_users=600, seed=11)
    users = population.users.copy()
    links = population.links.copy()
    repayments = population.repayments.copy()
    spending = population.spending.copy()
    if tricky:
        odd = ['say "hi"', "a,b", "ünïcødé ✓", "two\nlines", "  padded  "]
        extra = users.iloc[: len(odd)].copy()
        extra["id"] = odd
        extra["declared_income"] = [np.nan, 1.5e-3, 123456.789, np.nan, 0.1]
        users = pd.concat([users, extra], ignore_index=True)
        first = str(users["id"].iloc[0])
        links = pd.concat(
            [links, pd.DataFrame({"source": odd, "target": [first] * len(odd), "weight": [0.3, 1.0, 7.25, 2.0, 1e-6],
                                  "created": [0] * len(odd)})],
            ignore_index=True,
        )  # fmt: skip
        repayments = repayments.assign(id=repayments["id"].astype(str) + ',"x"')
    ids = users["id"].astype(str).tolist()
    distrust = pd.DataFrame(
        {
            "rater": [ids[1], ids[2], ids[3], ids[-1]],
            "rated": [ids[2], ids[1], ids[0], ids[5]],
            "weight": [1.0, 3.5, 10.0, 0.25],
            "created": [1_600_000_000, 1_600_000_001, 1_600_000_002, 1_600_000_003],
        }
    )
    return parse_dataset(
        users=users, links=links, repayments=repayments, spending=spending, distrust=distrust
    )


def _raw_graph(uri: str) -> dict[str, Any]:
    """What the database holds, read with the driver: shapes, property types, uids, counters, schema."""
    queries = {
        "nodes": "MATCH (n) UNWIND keys(n) AS k RETURN labels(n) AS labels, k, valueType(n[k]) AS type, count(*) AS n "
                 "ORDER BY labels, k, type",
        "labels": "MATCH (n) RETURN labels(n) AS labels, count(*) AS n ORDER BY labels",
        "relationships": "MATCH (a)-[r]->(b) UNWIND (CASE WHEN keys(r) = [] THEN [null] ELSE keys(r) END) AS k "
                         "RETURN labels(a) AS a, type(r) AS t, labels(b) AS b, k, valueType(r[k]) AS type, "
                         "count(*) AS n ORDER BY t, a, b, k",
        "uids": "MATCH (u:User) RETURN u.id AS id, u.uid AS uid ORDER BY id",
        "friends": "MATCH (a:User)-[f:FRIEND]->(b:User) RETURN a.uid AS a, b.uid AS b, f.weight AS w, "
                   "f.created AS c ORDER BY a, b",
        "counters": "MATCH (c:Counter) RETURN c.name AS name, c.value AS value ORDER BY name",
        "constraints": "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties "
                       "RETURN name, type, labelsOrTypes, properties ORDER BY name",
        "indexes": "SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, properties, state, owningConstraint "
                   "WHERE name STARTS WITH 'credence_' "
                   "RETURN name, type, entityType, labelsOrTypes, properties, state, owningConstraint ORDER BY name",
        "lookups": "SHOW INDEXES YIELD type, entityType, state WHERE type = 'LOOKUP' RETURN entityType, state "
                   "ORDER BY entityType",
    }  # fmt: skip
    with neo4j.GraphDatabase.driver(uri, auth=None) as driver:
        return {name: [r.data() for r in driver.execute_query(q)[0]] for name, q in queries.items()}


def _public(store: Neo4jStore) -> dict[str, Any]:
    """Everything the store's public reads return about a loaded dataset."""
    graph = store.export_graph()
    ids = store.get_all_users()["id"].tolist()
    return {
        "users": store.get_all_users(),
        "links": store.links(),
        "repayments": store.repayments(),
        "spending": store.spending(),
        "distrust": store.distrust(),
        "stats": store.stats(),
        "ids": graph.ids.tolist(),
        "csr": [graph.adjacency.indptr.tolist(), graph.adjacency.indices.tolist(), graph.adjacency.data.tolist()],
        "distrust_csr": [graph.distrust.indptr.tolist(), graph.distrust.indices.tolist(), graph.distrust.data.tolist()],
        "export_users": graph.users,
        "quarantined": graph.quarantined.tolist(),
        "neighbors": [store.neighbors(i) for i in ids[:3] + ids[-3:]],
        "events_of": store.events_of(ids[:5]),
    }  # fmt: skip


def _assert_same(left: Any, right: Any) -> None:
    if isinstance(left, pd.DataFrame):
        pd.testing.assert_frame_equal(left, right)
    elif isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            _assert_same(left[key], right[key])
    elif isinstance(left, list | tuple) and any(isinstance(x, pd.DataFrame | tuple) for x in left):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            _assert_same(a, b)
    elif hasattr(left, "__dataclass_fields__") and not isinstance(left, type):
        assert type(left) is type(right)
        _assert_same(vars(left), vars(right))
    else:
        assert left == right


@pytest.mark.parametrize("tricky", [False, True], ids=["plain", "quotes-commas-unicode-newline"])
def test_offline_import_equals_the_transactional_load(
    server: Server, store: Neo4jStore, tricky: bool
) -> None:
    dataset = _dataset(tricky)
    store.load(dataset)
    by_cypher = _public(store), _raw_graph(server.proc.bolt_uri)
    store.clear(forget_erasures=True)
    version = store.data_version()

    before = server.proc
    stages: list[tuple[str, int, int]] = []
    done = store.load_offline(
        dataset, before, progress=lambda *a: stages.append(a), on_restart=server.restarted
    )

    assert done.server == server.proc and done.server.pid != before.pid
    assert is_running(done.server) and not is_running(before)
    assert done.server.bolt_uri == before.bolt_uri and done.server.heap == before.heap
    assert done.report.written == dataset.counts()
    assert set(done.phases) == {"check", "files", "import", "schema"}
    assert [s for s, d, _ in stages if d == 0] == ["files", "import", "schema"]
    offline = _public(store), _raw_graph(server.proc.bolt_uri)
    _assert_same(offline[0], by_cypher[0])
    # Counter values differ (the data version moved on), the rest is the same database.
    assert {k: v for k, v in offline[1].items() if k != "counters"} == {
        k: v for k, v in by_cypher[1].items() if k != "counters"
    }
    assert [c["name"] for c in offline[1]["counters"]] == [c["name"] for c in by_cypher[1]["counters"]]
    # Independent of both loads: what went in is what comes out.
    expected_users = dataset.users.sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(offline[0]["users"], expected_users, check_dtype=False)
    pd.testing.assert_frame_equal(offline[0]["links"], canonical_links(dataset.links))
    counters = {c["name"]: c["value"] for c in offline[1]["counters"]}
    assert counters == {"user_uid": len(dataset.users), "store_id": None, "data_version": version.version + 1}
    # The same store (its token kept), at a version no engine image of the empty store has.
    assert store.data_version() == DataVersion(version.store, version.version + 1)
    assert {r["k"]: r["type"] for r in offline[1]["relationships"] if r["t"] == "FRIEND"} == {
        "weight": "FLOAT NOT NULL",
        "created": "INTEGER NOT NULL",
    }
    assert all(f["a"] < f["b"] for f in offline[1]["friends"])  # once per pair, low uid -> high uid
    if tricky:  # a missing income is no property, as after a Cypher SET to null
        typed = {(tuple(r["labels"]), r["k"]): r["n"] for r in offline[1]["nodes"]}
        assert typed[(("User",), "declared_income")] == int(dataset.users["declared_income"].notna().sum())
        assert "two\nlines" in offline[0]["ids"]
    # The store keeps working on the restarted server, and the next uid follows the imported ones.
    first = offline[0]["ids"][0]
    store.upsert_users(pd.DataFrame({"id": ["newcomer"], "created": [0]}))
    store.upsert_links(pd.DataFrame({"source": ["newcomer"], "target": [first], "weight": [2.0]}))
    assert store.neighbors("newcomer")["user"].tolist() == [first]
    uids = {r["id"]: r["uid"] for r in _raw_graph(server.proc.bolt_uri)["uids"]}
    assert uids["newcomer"] == len(dataset.users) + 1


def test_refuses_a_database_that_is_not_empty(server: Server, store: Neo4jStore) -> None:
    small = parse_dataset(users=pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
    store.load(small)
    before = server.proc
    with pytest.raises(ConflictError, match="needs an empty database"):
        store.load_offline(_dataset(False), before, on_restart=server.restarted)
    assert server.proc is before and is_running(before)  # never stopped
    assert store.stats().users == 2 and store.get_all_users()["id"].tolist() == ["a", "b"]


def test_refuses_when_only_an_audit_counter_is_stored(server: Server, store: Neo4jStore) -> None:
    from credence.graph.store import AuditDraft

    store.record_audit([AuditDraft(actor="ana", role="admin", action="load")])
    store.clear()  # keeps the audit id counter: audit ids are never reused
    with pytest.raises(ConflictError, match="needs an empty database"):
        store.load_offline(_dataset(False), server.proc, on_restart=server.restarted)
    assert is_running(server.proc)


def test_bad_input_stops_and_writes_nothing(server: Server, store: Neo4jStore) -> None:
    users = pd.DataFrame({"id": ["a", "b"], "created": [0, 0]})
    links = pd.DataFrame({"source": ["a", "a"], "target": ["b", "ghost"], "weight": [1.0, 1.0]})
    dataset = parse_dataset(users=users, links=links)
    before, raw = server.proc, _raw_graph(server.proc.bolt_uri)
    version = store.data_version()
    with pytest.raises(UnknownReferenceError, match="ghost"):
        store.load_offline(dataset, before, on_restart=server.restarted)
    assert server.proc is before and is_running(before)
    assert _raw_graph(before.bolt_uri) == raw and store.data_version() == version
    assert [label["labels"] for label in raw["labels"]] == [["Counter"]]  # only the store's own counters


def test_refuses_a_server_the_store_does_not_use(server: Server, store: Neo4jStore, tmp_path: Path) -> None:
    elsewhere = Neo4jProcess(
        pid=server.proc.pid,
        bolt_uri="bolt://127.0.0.1:1",
        home=server.proc.home,
        log_path=server.proc.log_path,
    )
    with pytest.raises(ConflictError, match=re.escape("not the launcher's bolt://127.0.0.1:1")):
        store.load_offline(_dataset(False), elsewhere)
    gone = Neo4jProcess(pid=2**22 + 7, bolt_uri=server.proc.bolt_uri, home=tmp_path, log_path=tmp_path / "x")
    with pytest.raises(ConflictError, match="running"):
        store.load_offline(_dataset(False), gone)
    assert is_running(server.proc) and store.stats().users == 0


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_failed_import_leaves_the_database_as_it_was_and_the_server_up(
    server: Server, store: Neo4jStore, tmp_path: Path
) -> None:
    users = [
        _csv(tmp_path / "u.header.csv", ":ID(User),id:string\n"),
        _csv(tmp_path / "u.csv", '1,"a"\n2,"b"\n'),
    ]
    dangling = [
        _csv(tmp_path / "f.header.csv", ":START_ID(User),:END_ID(User),weight:double\n"),
        _csv(tmp_path / "f.csv", "1,3,1.0\n"),  # no node 3: the importer fails
    ]
    was = _raw_graph(server.proc.bolt_uri)
    assert was["constraints"]  # the store made its constraints in this database
    with pytest.raises(StoreError, match="offline import failed"):
        import_offline(server.proc, nodes=[("User", users)], relationships=[("FRIEND", dangling)],
                       heap="512m", off_heap="512m", on_restart=server.restarted)  # fmt: skip
    assert is_running(server.proc)
    assert _raw_graph(server.proc.bolt_uri) == was  # the very database from before
    assert (server.proc.home / "logs" / "import.log").read_text().count("=== ") == 1

    # A verify that fails undoes an import that succeeded.
    seen: list[int] = []

    def verify(proc: Neo4jProcess) -> None:
        with neo4j.GraphDatabase.driver(proc.bolt_uri, auth=None) as driver:
            seen.append(driver.execute_query("MATCH (n:User) RETURN count(n) AS n")[0][0]["n"])
        raise RuntimeError("the counts did not match")

    with pytest.raises(RuntimeError, match="counts did not match"):
        import_offline(server.proc, nodes=[("User", users)], heap="512m", off_heap="512m", verify=verify,
                       on_restart=server.restarted)  # fmt: skip
    assert seen == [2]
    assert is_running(server.proc) and _raw_graph(server.proc.bolt_uri) == was
    assert not list(server.proc.home.glob("offline-import-*"))  # nothing left aside


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CREDENCE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDENCE_NEO4J_URI", raising=False)
    monkeypatch.delenv("CREDENCE_DB", raising=False)
    return CliRunner()


def test_cli_load_offline(server: Server, store: Neo4jStore, runner: CliRunner, tmp_path: Path) -> None:
    dataset = _dataset(False)
    data = tmp_path / "data"
    data.mkdir()
    write_dataset(dataset, data)
    uri = server.proc.bolt_uri

    refused = runner.invoke(main, ["load", str(data), "--offline", "--neo4j-uri", uri, "--quiet"])
    assert refused.exit_code == 6 and "none runs" in refused.output  # no state file yet
    both = runner.invoke(main, ["load", str(data), "--offline", "--replace", "--neo4j-uri", uri])
    assert both.exit_code == 2 and "--replace" in both.output
    sqlite = runner.invoke(main, ["load", str(data), "--offline", "--db", str(tmp_path / "x.db")])
    assert sqlite.exit_code == 2 and "for Neo4j" in sqlite.output

    state = tmp_path / "home" / "neo4j.json"
    save_state(server.proc, state)
    result = runner.invoke(main, ["load", str(data), "--offline", "--neo4j-uri", uri, "--quiet"])
    assert result.exit_code == 0, result.output
    saved = load_state(state)
    assert saved is not None
    server.restarted(saved)
    assert "imported 600 users" in result.output and f"pid {saved.pid}" in result.output
    assert is_running(saved)
    stats = json.loads(runner.invoke(main, ["stats", "--neo4j-uri", uri, "--json"]).output)
    assert stats["users"] == 600 and stats["links"] == dataset.counts()["links"]

    again = runner.invoke(main, ["load", str(data), "--offline", "--neo4j-uri", uri, "--quiet"])
    assert again.exit_code == 6 and "empty database" in again.output
