"""`credence rings`: the most suspicious dense groups of accounts (fraud rings, sybil regions).

The command recomputes the scores in memory (nothing is written), takes the engine's
current friend graph, finds dense blocks among participants with
:func:`scoring.fraud.dense_subgraphs` and ranks them with :func:`scoring.fraud.rank_clusters`
(base creditworthiness from the engine). Register it on the main group with
``main.add_command(rings)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from credence.commands_paths import _options, state_adjacency
from credence.config import open_store

__all__ = ["rings"]

#: Member ids shown per cluster in the table (the JSON lists them all).
SHOWN = 4


@click.command("rings")
@click.option("--k", "k", default=10, show_default=True, help="How many dense blocks to look for.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (all member ids).")
@_options
def rings(k: int, as_json: bool, policy_path: Path | None, now: int | None, db: Path | None,
          neo4j_uri: str | None) -> None:
    """Dense, closed groups of accounts, most suspect first.

    Suspicion = relative density x inside share x (2 - mean base): denser than the
    graph, few links to outsiders and low-scored is suspect. Scores are recomputed in
    memory (nothing is written); flagged and non-consenting users take no part.
    """
    from credence.cli import _config, _engine
    from scoring.fraud import dense_subgraphs, rank_clusters

    if k < 1:
        raise click.BadParameter("must be >= 1", param_hint="--k")
    config = _config(db, neo4j_uri)
    with open_store(config) as store:
        engine = _engine(store, policy_path, now)
        engine.recompute(write=False)
        snap = engine._snap
        assert snap is not None
        state = snap.state
        ids = [str(user) for user in snap.ids.tolist()]
        adjacency = state_adjacency(state)
        participating = np.asarray(state.participating, dtype=bool)
        base = np.asarray(snap.base, dtype=np.float64)
    blocks = dense_subgraphs(adjacency, k=k, participating=participating)
    ranked = rank_clusters(adjacency, blocks, base=base)
    clusters: list[dict[str, Any]] = [
        {"rank": rank, "users": [ids[x] for x in c.members.tolist()], "size": c.size, "density": c.density,
         "relative_density": c.relative_density, "internal_links": c.internal_links,
         "attack_links": c.attack_links, "inside_share": c.inside_share, "mean_base": c.mean_base,
         "suspicion": c.suspicion}
        for rank, c in enumerate(ranked, 1)
    ]  # fmt: skip
    if as_json:
        click.echo(json.dumps({"participants": int(participating.sum()), "clusters": clusters}, indent=2))
        return
    if not clusters:
        click.echo("no dense groups found")
        return
    click.echo(f"{len(clusters)} dense groups among {int(participating.sum())} participants, most suspect first")
    click.echo(f"{'rank':>4}  {'size':>4}  {'density':>8}  {'x graph':>7}  {'attack':>6}  {'suspicion':>9}  users")
    for c in clusters:
        users = c["users"]
        shown = ", ".join(users[:SHOWN]) + (f", ... (+{len(users) - SHOWN})" if len(users) > SHOWN else "")
        click.echo(f"{c['rank']:>4}  {c['size']:>4}  {c['density']:>8.3f}  {c['relative_density']:>7.2f}  "
                   f"{c['attack_links']:>6}  {c['suspicion']:>9.3f}  {shown}")
