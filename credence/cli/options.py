"""Options and openers shared by every ``credence`` command.

A leaf module: ``credence.cli`` and the command modules kept outside it
(``commands_paths``, ``commands_fraud``, ``commands_ds``, ...) import it, so the
``--db`` / ``--neo4j-uri`` / ``--policy`` / ``--now`` options are declared once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from credence.graph.config import StoreConfig, open_store, resolve_store

__all__ = [
    "engine_options", "image_dir_for", "image_options", "make_engine", "recomputed", "store_config", "store_options",
]  # fmt: skip


def store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--db`` and ``--neo4j-uri`` (the store to open)."""
    func = click.option(
        "--neo4j-uri",
        default=None,
        metavar="URI",
        help="Use Neo4j over Bolt (env CREDENCE_NEO4J_URI) instead of SQLite.",
    )(func)
    func = click.option(
        "--db",
        default=None,
        type=click.Path(dir_okay=False, path_type=Path),
        help="SQLite file (env CREDENCE_DB; default $CREDENCE_HOME/credence.db).",
    )(func)
    return func


def image_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--image-dir`` and ``--no-image`` (where the engine's image lives: :mod:`credence.engine.image`)."""
    func = click.option(
        "--no-image", is_flag=True, help="Neither read nor write the engine image: restore from the store."
    )(func)
    func = click.option(
        "--image-dir",
        default=None,
        type=click.Path(file_okay=False, path_type=Path),
        help="The engine image's directory (default: beside a SQLite file, FILE.image; none for Neo4j).",
    )(func)
    return func


def image_dir_for(config: StoreConfig, image_dir: Path | None, no_image: bool) -> Path | None:
    """The image directory the options choose for ``config`` (None: no image)."""
    from credence.engine.image import default_image_dir

    if no_image:
        return None
    return image_dir if image_dir is not None else default_image_dir(config)


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--now`` and ``--policy`` (how to score) to :func:`store_options`."""
    func = click.option(
        "--now",
        default=None,
        type=int,
        metavar="EPOCH",
        help="Evaluation time in epoch seconds (default: now). Recency weights count back from it.",
    )(func)
    func = click.option(
        "--policy",
        "policy_path",
        default=None,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Scoring policy TOML (default: the bundled credence/scoring/policies/default.toml).",
    )(func)
    return store_options(func)


def store_config(db: Path | None, neo4j_uri: str | None) -> StoreConfig:
    """The store the options name (environment and defaults applied)."""
    return resolve_store(db=db, neo4j_uri=neo4j_uri)


def make_engine(store: Any, policy_path: Path | None, now: int | None, *, image: Path | None = None) -> Any:
    """A :class:`credence.engine.ScoringEngine` on ``store`` with the policy file, if any, and its image directory."""
    from credence.engine import ScoringEngine
    from credence.scoring.policy import read_policy

    policy = read_policy(policy_path) if policy_path is not None else None
    return ScoringEngine(store, policy=policy, now=now, image=image)


@contextmanager
def recomputed(
    db: Path | None, neo4j_uri: str | None, policy_path: Path | None, now: int | None
) -> Iterator[tuple[Any, Any]]:
    """``(store, engine)`` with every score recomputed in memory (nothing written); closes the store."""
    with open_store(store_config(db, neo4j_uri)) as store:
        engine = make_engine(store, policy_path, now)
        engine.recompute(write=False)
        yield store, engine
