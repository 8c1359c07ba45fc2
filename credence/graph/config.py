"""Store selection: one small strict config object, read once at the edge.

The precedence is flag > environment > default:

* ``--neo4j-uri`` / ``CREDENCE_NEO4J_URI`` selects Neo4j over Bolt;
* otherwise ``--db`` / ``CREDENCE_DB`` names the SQLite file, by default
  ``$CREDENCE_HOME/credence.db`` with ``CREDENCE_HOME`` defaulting to ``~/.credence``.

Examples
--------
>>> StoreConfig.resolve(db="x.db", environ={}).describe()
'sqlite:x.db'
>>> StoreConfig.resolve(environ={"CREDENCE_NEO4J_URI": "bolt://127.0.0.1:7687"}).kind
'neo4j'
>>> StoreConfig(kind="sqlite")
Traceback (most recent call last):
...
credence.core.errors.ParameterError: parameter 'sqlite_path' = None: required for kind 'sqlite'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from credence.core.errors import ParameterError

if TYPE_CHECKING:
    from credence.graph.store import GraphStore

__all__ = ["StoreConfig", "credence_home", "open_store"]


def credence_home(environ: Mapping[str, str] | None = None) -> Path:
    """Folder for Credence's local state (default ``~/.credence``)."""
    env = os.environ if environ is None else environ
    return Path(env.get("CREDENCE_HOME") or Path.home() / ".credence")


@dataclass(frozen=True, kw_only=True)
class StoreConfig:
    """Which store to open and how.

    Parameters
    ----------
    kind : {"sqlite", "neo4j"}
        The backend.
    sqlite_path : Path, optional
        The SQLite file (``kind="sqlite"``).
    neo4j_uri : str, optional
        Bolt URI (``kind="neo4j"``), e.g. ``bolt://127.0.0.1:7687``.
    neo4j_user, neo4j_password : str, optional
        Credentials; none for a server with auth off.
    neo4j_database : str
        Database name.
    """

    kind: Literal["sqlite", "neo4j"]
    sqlite_path: Path | None = None
    neo4j_uri: str | None = None
    neo4j_user: str | None = None
    neo4j_password: str | None = None
    neo4j_database: str = "neo4j"

    def __post_init__(self) -> None:
        if self.kind not in ("sqlite", "neo4j"):
            raise ParameterError("kind", self.kind, "must be 'sqlite' or 'neo4j'")
        if self.kind == "sqlite" and self.sqlite_path is None:
            raise ParameterError("sqlite_path", None, "required for kind 'sqlite'")
        if self.kind == "neo4j":
            uri = self.neo4j_uri or ""
            if not uri.startswith(
                ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")
            ):
                raise ParameterError("neo4j_uri", self.neo4j_uri, "must be a bolt:// or neo4j:// URI")
            if (self.neo4j_user is None) != (self.neo4j_password is None):
                raise ParameterError("neo4j_user", self.neo4j_user, "give user and password together")

    @classmethod
    def resolve(
        cls,
        *,
        db: str | Path | None = None,
        neo4j_uri: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> StoreConfig:
        """Build from CLI flags, falling back to the environment, then defaults."""
        env = os.environ if environ is None else environ
        uri = neo4j_uri or env.get("CREDENCE_NEO4J_URI")
        if uri and db is None:
            return cls(
                kind="neo4j",
                neo4j_uri=uri,
                neo4j_user=env.get("CREDENCE_NEO4J_USER"),
                neo4j_password=env.get("CREDENCE_NEO4J_PASSWORD"),
                neo4j_database=env.get("CREDENCE_NEO4J_DATABASE", "neo4j"),
            )
        path = db or env.get("CREDENCE_DB") or credence_home(env) / "credence.db"
        return cls(kind="sqlite", sqlite_path=Path(path))

    def describe(self) -> str:
        """Where the data lives, for messages (no secrets)."""
        return f"sqlite:{self.sqlite_path}" if self.kind == "sqlite" else f"neo4j:{self.neo4j_uri}"


def open_store(config: StoreConfig) -> GraphStore:
    """Open the configured store."""
    if config.kind == "sqlite":
        from credence.graph.sqlite import SQLiteStore

        assert config.sqlite_path is not None
        return SQLiteStore(config.sqlite_path)
    from credence.graph.neo4j_store import Neo4jStore

    assert config.neo4j_uri is not None
    auth = (
        (config.neo4j_user, config.neo4j_password)
        if config.neo4j_user is not None and config.neo4j_password is not None
        else None
    )
    return Neo4jStore(config.neo4j_uri, auth=auth, database=config.neo4j_database)
