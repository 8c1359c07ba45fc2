"""`credence paths A B`: the strongest friend chains through which B's base reaches A's network value.

The command recomputes the scores in memory (nothing is written), takes the engine's
diffusion graph (participants only) and lists :func:`credence.scoring.paths.influence_paths` with
user ids. Register it on the main group with ``main.add_command(paths)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from credence.cli.options import engine_options, recomputed

__all__ = ["paths"]


@click.command("paths")
@click.argument("a")
@click.argument("b")
@click.option("--k", "k", default=5, show_default=True, help="How many paths.")
@click.option("--max-hops", default=6, show_default=True, help="Longest path considered.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@engine_options
def paths(
    a: str,
    b: str,
    k: int,
    max_hops: int,
    as_json: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """The K strongest friend chains from A to B: how B's base reaches A's network value.

    Each chain A -> ... -> B has probability prod(a * w/d) per hop; (1 - a)/a times it is
    the chain's part of d n_A / d b_B, and its share is its fraction of all walks from A
    to B. Scores are recomputed in memory (nothing is written).
    """
    from credence.scoring.paths import influence_paths

    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        source, target = engine._index(a), engine._index(b)
        snap = engine._snap
        state = snap.state
        ids = [str(user) for user in snap.ids.tolist()]
        found = influence_paths(
            state.adjacency(),
            source,
            target,
            damping=state.damping,
            k=k,
            max_hops=max_hops,
            participating=state.participating,
        )
        participating = bool(state.participating[source] and state.participating[target])
        base, mu = float(state.base[target]), float(state.mu)
    total = found[0].total if found else 0.0
    weight = (1.0 - state.damping) / state.damping * total
    payload: dict[str, Any] = {
        "source": a,
        "target": b,
        "damping": state.damping,
        "participating": participating,
        "walk_mass": total,
        "influence": weight,
        "target_base": base,
        "prior": mu,
        "contribution": weight * (base - mu),
        "covered_share": sum(p.share for p in found),
        "paths": [
            {
                "users": [ids[x] for x in p.nodes],
                "transitions": list(p.transitions),
                "probability": p.probability,
                "share": p.share,
                "influence": p.influence,
            }
            for p in found
        ],
    }
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    if not participating:
        click.echo(
            f"{a} -> {b}: no paths ({a if not state.participating[source] else b} is not taking part "
            "in the network: no consent or quarantined)"
        )
        return
    if not found:
        click.echo(f"{a} -> {b}: no path of at most {max_hops} hops through participants")
        return
    click.echo(
        f"{a} -> {b}: d n_{a} / d b_{b} = {weight:.6f}; contribution to n - prior = "
        f"{weight * (base - mu):+.6f} (base {base:.3f}, prior {mu:.3f})"
    )
    click.echo(f"  {len(found)} strongest simple paths cover {payload['covered_share']:.1%} of the walk mass")
    for rank, p in enumerate(found, 1):
        chain = ids[p.nodes[0]] + "".join(
            f" -({t:.2f})-> {ids[x]}" for t, x in zip(p.transitions, p.nodes[1:], strict=True)
        )
        click.echo(f"  {rank:>2}. share {p.share:7.2%}  influence {p.influence:.6f}  {chain}")
