"""`credence paths A B`: the strongest friend chains through which B's base reaches A's network value.

The command recomputes the scores in memory (nothing is written) and prints
:func:`credence.analysis.investigate.influence_path_report`.
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
    from credence.analysis.investigate import influence_path_report

    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        report = influence_path_report(engine, a, b, k=k, max_hops=max_hops)
    payload: dict[str, Any] = {
        "source": report.source,
        "target": report.target,
        "damping": report.damping,
        "participating": report.participating,
        "walk_mass": report.walk_mass,
        "influence": report.influence,
        "target_base": report.target_base,
        "prior": report.prior,
        "contribution": report.contribution,
        "covered_share": report.covered_share,
        "paths": [
            {
                "users": list(path.users),
                "transitions": list(path.transitions),
                "probability": path.probability,
                "share": path.share,
                "influence": path.influence,
            }
            for path in report.paths
        ],
    }
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    if not report.participating:
        click.echo(
            f"{a} -> {b}: no paths ({report.silent} is not taking part in the network: no consent or quarantined)"
        )
        return
    if not report.paths:
        click.echo(f"{a} -> {b}: no path of at most {max_hops} hops through participants")
        return
    click.echo(
        f"{a} -> {b}: d n_{a} / d b_{b} = {report.influence:.6f}; contribution to n - prior = "
        f"{report.contribution:+.6f} (base {report.target_base:.3f}, prior {report.prior:.3f})"
    )
    click.echo(
        f"  {len(report.paths)} strongest simple paths cover {report.covered_share:.1%} of the walk mass"
    )
    for rank, path in enumerate(report.paths, 1):
        chain = path.users[0] + "".join(
            f" -({t:.2f})-> {user}" for t, user in zip(path.transitions, path.users[1:], strict=True)
        )
        click.echo(f"  {rank:>2}. share {path.share:7.2%}  influence {path.influence:.6f}  {chain}")
