"""Store selection: one small strict config object per backend, read once at the edge.

:class:`SQLiteConfig` and :class:`Neo4jConfig` are frozen, keyword-only and
validated on creation; neither ever prints a secret (``repr`` hides the password
and any credentials written into a URI). :func:`resolve_store` builds one from CLI
flags and the environment, with the precedence flag > environment > default:

* ``--neo4j-uri`` / ``CREDENCE_NEO4J_URI`` selects Neo4j over Bolt (credentials from
  ``CREDENCE_NEO4J_USER`` / ``CREDENCE_NEO4J_PASSWORD``, database from
  ``CREDENCE_NEO4J_DATABASE``);
* otherwise ``--db`` / ``CREDENCE_DB`` names the SQLite file, by default
  ``$CREDENCE_HOME/credence.db`` with ``CREDENCE_HOME`` defaulting to ``~/.credence``;
  ``CREDENCE_SQLITE_SYNC`` sets its durability (``full``, the default, or ``normal``:
  see :class:`SQLiteConfig`).

Examples
--------
>>> resolve_store(db="x.db", environ={}).describe()
'sqlite:x.db'
>>> config = resolve_store(environ={"CREDENCE_NEO4J_URI": "bolt://127.0.0.1:7687",
...                                 "CREDENCE_NEO4J_USER": "neo4j", "CREDENCE_NEO4J_PASSWORD": "s3cret"})
>>> config
Neo4jConfig(uri='bolt://127.0.0.1:7687', user='neo4j', password='***', database='neo4j')
>>> "s3cret" in repr(config) or "s3cret" in str(config)
False
>>> Neo4jConfig(uri="http://x")
Traceback (most recent call last):
...
credence.core.errors.ParameterError: parameter 'uri' = 'http://x': must be a bolt:// or neo4j:// URI
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from credence.core.errors import ParameterError

if TYPE_CHECKING:
    from credence.graph.store import GraphStore

__all__ = [
    "SYNCHRONOUS_MODES",
    "Neo4jConfig",
    "SQLiteConfig",
    "StoreConfig",
    "credence_home",
    "open_store",
    "resolve_store",
    "check_synchronous",
    "store_config_from_dict",
]

#: The accepted SQLite ``synchronous`` settings (see :class:`SQLiteConfig`).
SYNCHRONOUS_MODES: tuple[str, ...] = ("full", "normal")
_BOLT_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")
_USERINFO = re.compile(r"^([a-z0-9+]+://)[^/@]*@")


def credence_home(environ: Mapping[str, str] | None = None) -> Path:
    """Folder for Credence's local state (default ``~/.credence``; ``$CREDENCE_HOME`` overrides).

    Examples
    --------
    >>> credence_home({"CREDENCE_HOME": "/srv/credence"})
    PosixPath('/srv/credence')
    """
    env = os.environ if environ is None else environ
    return Path(env.get("CREDENCE_HOME") or Path.home() / ".credence")


def check_synchronous(value: object) -> str:
    """Validate a ``synchronous`` setting: ``"full"`` or ``"normal"`` (any case), lower-cased.

    Examples
    --------
    >>> check_synchronous("NORMAL")
    'normal'
    >>> check_synchronous("off")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'synchronous' = 'off': must be one of full, normal
    """
    if isinstance(value, str) and value.strip().lower() in SYNCHRONOUS_MODES:
        return value.strip().lower()
    raise ParameterError("synchronous", value, "must be one of " + ", ".join(SYNCHRONOUS_MODES))


def _without_userinfo(uri: str) -> str:
    """``uri`` with any ``user:password@`` part replaced by ``***@``."""
    return _USERINFO.sub(r"\1***@", uri)


@dataclass(frozen=True, kw_only=True)
class SQLiteConfig:
    """The embedded default store: one SQLite file.

    Parameters
    ----------
    path : Path
        The database file.
    synchronous : {"full", "normal"}
        Durability of a commit. ``"full"`` (the default): a commit that returned
        survives a power loss or an OS crash. ``"normal"``: fewer disk syncs; in WAL
        mode a process crash still loses nothing, but the last transactions before a
        power loss or OS crash may roll back.

    Examples
    --------
    >>> SQLiteConfig(path="a.db", synchronous="NORMAL")
    SQLiteConfig(path=PosixPath('a.db'), synchronous='normal')
    """

    path: Path
    synchronous: str = "full"

    def __post_init__(self) -> None:
        if not isinstance(self.path, str | os.PathLike):
            raise ParameterError("path", self.path, "must be a file path")
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "synchronous", check_synchronous(self.synchronous))

    def describe(self) -> str:
        """Where the data lives, for messages."""
        return f"sqlite:{self.path}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (to hand to worker processes); :func:`store_config_from_dict` reads it."""
        return {"kind": "sqlite", "path": str(self.path), "synchronous": self.synchronous}


@dataclass(frozen=True, kw_only=True)
class Neo4jConfig:
    """A Neo4j 5.26 server over Bolt.

    Parameters
    ----------
    uri : str
        ``bolt://``, ``neo4j://`` (or their ``+s``/``+ssc`` variants) URI, without
        credentials in it (``user:password@`` is refused: it would be printed).
    user, password : str, optional
        Credentials, given together; none for a server with auth off. The password
        is never printed, and is left out of :meth:`as_dict`.
    database : str
        Database name.
    """

    uri: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str = "neo4j"

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri.startswith(_BOLT_SCHEMES):
            shown = _without_userinfo(self.uri) if isinstance(self.uri, str) else self.uri
            raise ParameterError("uri", shown, "must be a bolt:// or neo4j:// URI")
        if _USERINFO.match(self.uri):
            raise ParameterError(
                "uri",
                _without_userinfo(self.uri),
                "must not carry credentials: give user and password instead",
            )
        if (self.user is None) != (self.password is None):
            raise ParameterError("user", self.user, "give user and password together")
        if not isinstance(self.database, str) or not self.database:
            raise ParameterError("database", self.database, "must be a non-empty name")

    def __repr__(self) -> str:
        hidden = None if self.password is None else "***"
        return (
            f"Neo4jConfig(uri={_without_userinfo(self.uri)!r}, user={self.user!r}, password={hidden!r}, "
            f"database={self.database!r})"
        )

    __str__ = __repr__

    def describe(self) -> str:
        """Where the data lives, for messages (no secrets)."""
        return f"neo4j:{_without_userinfo(self.uri)}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form without the credentials (workers read them from the environment)."""
        return {"kind": "neo4j", "uri": self.uri, "database": self.database}


#: Either backend's configuration.
StoreConfig: TypeAlias = SQLiteConfig | Neo4jConfig


def resolve_store(
    *,
    db: str | Path | None = None,
    neo4j_uri: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> StoreConfig:
    """The store that CLI flags, then the environment, then the defaults name.

    Examples
    --------
    >>> resolve_store(environ={"CREDENCE_HOME": "/tmp/h"})
    SQLiteConfig(path=PosixPath('/tmp/h/credence.db'), synchronous='full')
    >>> resolve_store(db="a.db", environ={"CREDENCE_SQLITE_SYNC": "normal"}).synchronous
    'normal'
    >>> resolve_store(db="a.db", environ={"CREDENCE_NEO4J_URI": "bolt://h:7687"}).describe()
    'sqlite:a.db'
    """
    env = os.environ if environ is None else environ
    uri = neo4j_uri or env.get("CREDENCE_NEO4J_URI")
    if uri and db is None:
        return Neo4jConfig(
            uri=uri,
            user=env.get("CREDENCE_NEO4J_USER"),
            password=env.get("CREDENCE_NEO4J_PASSWORD"),
            database=env.get("CREDENCE_NEO4J_DATABASE", "neo4j"),
        )
    return SQLiteConfig(
        path=Path(db or env.get("CREDENCE_DB") or credence_home(env) / "credence.db"),
        synchronous=env.get("CREDENCE_SQLITE_SYNC") or "full",
    )


def store_config_from_dict(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> StoreConfig:
    """The inverse of ``as_dict``; Neo4j credentials come from the environment.

    Examples
    --------
    >>> config = Neo4jConfig(uri="bolt://h:7687", user="u", password="p")
    >>> store_config_from_dict(config.as_dict(), {"CREDENCE_NEO4J_USER": "u", "CREDENCE_NEO4J_PASSWORD": "p"}) == config
    True
    """
    env = os.environ if environ is None else environ
    kind = data.get("kind")
    if kind == "sqlite":
        return SQLiteConfig(path=Path(data["path"]), synchronous=data.get("synchronous", "full"))
    if kind == "neo4j":
        return Neo4jConfig(
            uri=data["uri"],
            user=env.get("CREDENCE_NEO4J_USER"),
            password=env.get("CREDENCE_NEO4J_PASSWORD"),
            database=data.get("database", "neo4j"),
        )
    raise ParameterError("kind", kind, "must be 'sqlite' or 'neo4j'")


def open_store(config: StoreConfig) -> GraphStore:
    """Open the configured store."""
    if isinstance(config, SQLiteConfig):
        from credence.graph.sqlite import SQLiteStore

        return SQLiteStore(config.path, synchronous=config.synchronous)
    from credence.graph.neo4j_store import Neo4jStore

    auth = (config.user, config.password) if config.user is not None and config.password is not None else None
    return Neo4jStore(config.uri, auth=auth, database=config.database)
