"""Shared fixtures: one store factory per backend, one real Neo4j per session.

With ``CI=true`` the Neo4j-backed tests must run: if the server cannot be built
or started, they fail instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _neo4j_or_skip(exc: BaseException) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and Neo4j could not start: {exc}", pytrace=False)
    pytest.skip(f"Neo4j unavailable here: {exc}")


@pytest.fixture(scope="session")
def neo4j_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bolt URI of a real Neo4j 5.26: $CREDENCE_NEO4J_URI if set, else one we start."""
    given = os.environ.get("CREDENCE_NEO4J_URI")
    if given:
        yield given
        return
    try:
        from credence.graph.neo4j_server import start_neo4j, stop_neo4j

        proc = start_neo4j(home=tmp_path_factory.mktemp("neo4j-home"))
    except Exception as exc:  # any failure to start is reported the same way
        _neo4j_or_skip(exc)
        return
    try:
        yield proc.bolt_uri
    finally:
        stop_neo4j(proc)


@pytest.fixture(params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh, empty store of each backend."""
    if request.param == "sqlite":
        from credence.graph.sqlite import SQLiteStore

        sqlite_store = SQLiteStore(tmp_path / "credence.db")
        yield sqlite_store
        sqlite_store.close()
        return
    uri = request.getfixturevalue("neo4j_uri")
    from credence.graph.neo4j_store import Neo4jStore

    neo = Neo4jStore(uri)
    neo.clear(forget_erasures=True)
    yield neo
    neo.clear(forget_erasures=True)
    neo.close()
