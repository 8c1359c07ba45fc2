"""A real Neo4j 5.26 server started through credence.graph.neo4j_server (no Docker, no mocks).

The first run builds the launcher with Maven (downloads into ~/.m2); each server start
then takes about 10 s.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import neo4j
import pytest

from credence.core.errors import Neo4jUnavailableError, ParameterError
from credence.graph.neo4j_server import (
    Neo4jProcess,
    build_launcher,
    default_state_path,
    import_offline,
    is_running,
    launcher_dir,
    load_state,
    running_neo4j,
    save_state,
    start_neo4j,
    stop_neo4j,
)


def _pid_gone(pid: int) -> bool:
    """True if no process (or only a zombie) has this pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.neo4j
@pytest.mark.slow
def test_start_query_pagerank_stop(tmp_path: Path) -> None:
    proc = start_neo4j(home=tmp_path / "neo4j", heap="1g", page_cache="128m")
    try:
        assert is_running(proc)
        assert proc.bolt_uri.startswith("bolt://127.0.0.1:")
        assert proc.log_path == tmp_path / "neo4j" / "logs" / "launcher.log"
        assert (proc.home / "logs" / "debug.log").is_file()

        with neo4j.GraphDatabase.driver(proc.bolt_uri, auth=None) as driver:
            records, _, _ = driver.execute_query("RETURN 1 AS one")
            assert records[0]["one"] == 1

            records, _, _ = driver.execute_query("CALL dbms.components()")
            kernel = next(r for r in records if r["name"] == "Neo4j Kernel")
            assert kernel["versions"][0].startswith("5.26.")

            driver.execute_query(
                "CREATE (a:P {name: 'a'}), (b:P {name: 'b'}), (c:P {name: 'c'}),"
                " (a)-[:T]->(b), (b)-[:T]->(c), (c)-[:T]->(a), (a)-[:T]->(c)"
            )
            driver.execute_query("CALL gds.graph.project('g', 'P', 'T')")
            records, _, _ = driver.execute_query(
                "CALL gds.pageRank.stream('g', {dampingFactor: 0.85})"
                " YIELD nodeId, score"
                " RETURN gds.util.asNode(nodeId).name AS name, score ORDER BY name"
            )
            scores = {r["name"]: r["score"] for r in records}
            driver.execute_query("CALL gds.graph.drop('g')")
        assert set(scores) == {"a", "b", "c"}
        # c has two in-links (from a and b), b only half of a's rank: c > a > b.
        assert scores["c"] > scores["a"] > scores["b"] > 0
    finally:
        stop_neo4j(proc)
    assert not is_running(proc)
    assert _pid_gone(proc.pid)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", proc.port)) != 0
    stop_neo4j(proc)  # stopping a stopped server does nothing


@pytest.mark.neo4j
@pytest.mark.slow
def test_running_neo4j_removes_temporary_home(tmp_path: Path) -> None:
    state = tmp_path / "neo4j.json"
    with running_neo4j(heap="512m", page_cache="64m") as proc:
        home = proc.home
        with neo4j.GraphDatabase.driver(proc.bolt_uri, auth=None) as driver:
            driver.verify_connectivity()
        # A state file round-trips to a process that reads as running.
        save_state(proc, state)
        loaded = load_state(state)
        assert loaded == proc
        assert loaded is not None
        assert is_running(loaded)
    assert not is_running(proc)
    assert not home.exists()


def test_taken_port_is_refused_quickly(tmp_path: Path) -> None:
    build_launcher()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(Neo4jUnavailableError, match="already in use"):
            start_neo4j(home=tmp_path, port=port)
        assert time.monotonic() - t0 < 30


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"heap": "2 GB"}, "heap"),
        ({"page_cache": "-1m"}, "page_cache"),
        ({"port": 70000}, "port"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ParameterError) as info:
        start_neo4j(**kwargs)  # type: ignore[arg-type]
    assert info.value.name == name


def test_state_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "neo4j.json"
    assert load_state(path) is None
    proc = Neo4jProcess(pid=123, bolt_uri="bolt://127.0.0.1:7687", home=tmp_path, log_path=tmp_path / "l")
    save_state(proc, path)
    assert load_state(path) == proc
    # A pid that is not a launcher for that home is not "running".
    stale = Neo4jProcess(pid=os.getpid(), bolt_uri=proc.bolt_uri, home=tmp_path, log_path=proc.log_path)
    assert not is_running(stale)
    stop_neo4j(stale)  # must not signal this test process
    path.write_text("{not json")
    with pytest.raises(Neo4jUnavailableError, match="not a valid"):
        load_state(path)
    # The heap and page cache a restart reuses round-trip; a file from before them reads the defaults.
    sized = Neo4jProcess(pid=5, bolt_uri=proc.bolt_uri, home=tmp_path, log_path=proc.log_path, heap="8g",
                         page_cache="4g")  # fmt: skip
    save_state(sized, path)
    assert load_state(path) == sized
    path.write_text(json.dumps({"pid": 5, "bolt_uri": proc.bolt_uri, "home": str(tmp_path), "log_path": "l"}))
    old = load_state(path)
    assert old is not None and (old.heap, old.page_cache) == ("2g", "512m")


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"heap": "lots"}, "heap"),
        ({"off_heap": "0"}, "off_heap"),
        ({"threads": 0}, "threads"),
        ({"database": "no such/db"}, "database"),
        ({"nodes": [("User", [Path("/nonexistent/users.csv")])]}, "file"),
        ({"nodes": [("User:Admin", [])]}, "label"),
    ],
)
def test_import_offline_checks_its_arguments_before_stopping_anything(
    tmp_path: Path, options: dict[str, object], name: str
) -> None:
    header = tmp_path / "h.csv"
    header.write_text(":ID(User)\n")
    # pid 123 is no launcher: an argument error must come first, with nothing signalled.
    proc = Neo4jProcess(pid=123, bolt_uri="bolt://127.0.0.1:7687", home=tmp_path, log_path=tmp_path / "l")
    kwargs: dict[str, object] = {"nodes": [("User", [header])], **options}
    with pytest.raises(ParameterError) as info:
        import_offline(proc, **kwargs)  # type: ignore[arg-type]
    assert info.value.name == name


def test_import_offline_refuses_a_server_that_is_not_running(tmp_path: Path) -> None:
    header = tmp_path / "h.csv"
    header.write_text(":ID(User)\n")
    proc = Neo4jProcess(
        pid=os.getpid(), bolt_uri="bolt://127.0.0.1:7687", home=tmp_path, log_path=tmp_path / "l"
    )
    with pytest.raises(Neo4jUnavailableError, match="no launcher-owned Neo4j"):
        import_offline(proc, nodes=[("User", [header])])


def test_default_state_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDENCE_HOME", str(tmp_path))
    assert default_state_path() == tmp_path / "neo4j.json"
    monkeypatch.delenv("CREDENCE_HOME")
    assert default_state_path() == Path.home() / ".credence" / "neo4j.json"


def test_launcher_sources_are_present() -> None:
    assert (launcher_dir() / "pom.xml").is_file()
    assert (launcher_dir() / "src/main/java/org/credence/launcher/Launcher.java").is_file()
