"""The fraud commands: ``credence rings``, ``influence``, ``trust`` and ``communities``.

``rings`` lists suspicious clusters, ``influence`` a user's blast radius, ``trust``
the SybilRank suspects and ``communities`` the Louvain communities. Each recomputes
the scores in memory (nothing is written) and reports through
:mod:`credence.analysis.investigate`, as the GraphQL API does. ``credence.cli``
registers :data:`COMMANDS` on its group.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from credence.cli.options import engine_options, recomputed

__all__ = ["COMMANDS", "communities", "influence", "rings", "trust"]

#: Member ids shown per cluster in the table (the JSON lists them all).
SHOWN = 4


@click.command("rings")
@click.option("--k", "k", default=10, show_default=True, help="How many dense blocks to look for.")
@click.option(
    "--no-inflation",
    "skip_inflation",
    is_flag=True,
    help="Skip measuring each cluster's score inflation (one in-memory what-if per cluster).",
)
@click.option(
    "--communities",
    "with_communities",
    is_flag=True,
    help="Also the Louvain community of each cluster's members.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (all member ids).")
@engine_options
def rings(
    k: int,
    skip_inflation: bool,
    with_communities: bool,
    as_json: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Dense, closed groups of accounts, most suspect first, with the score inflation they produced.

    Suspicion = relative density x inside share x (1 + thin share) x (2 - mean base):
    denser than the graph, few links to outsiders, members with thin repayment
    histories and low base is suspect. Inflation = the points everyone would lose if
    the cluster were quarantined (members' and outsiders'). Scores are recomputed in
    memory (nothing is written); flagged and non-consenting users take no part.
    """
    from credence.analysis.investigate import community_report, suspicious_clusters

    if k < 1:
        raise click.BadParameter("must be >= 1", param_hint="--k")
    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        participants = int(engine.view().participating.sum())
        labels = community_report(engine).labels if with_communities else None
        found = suspicious_clusters(engine, k=k, inflation=not skip_inflation, communities=labels)
    clusters = [c.as_dict() for c in found]
    if as_json:
        click.echo(json.dumps({"participants": participants, "clusters": clusters}, indent=2))
        return
    if not clusters:
        click.echo("no dense groups found")
        return
    click.echo(f"{len(clusters)} dense groups among {participants} participants, most suspect first")
    click.echo(
        f"{'rank':>4}  {'size':>4}  {'density':>8}  {'x graph':>7}  {'attack':>6}  {'thin':>5}  "
        f"{'suspicion':>9}  {'inflation':>13}  users"
    )
    for c in clusters:
        users = c["users"]
        shown = ", ".join(users[:SHOWN]) + (f", ... (+{len(users) - SHOWN})" if len(users) > SHOWN else "")
        thin = "-" if c["thin_fraction"] is None else f"{c['thin_fraction']:.0%}"
        inflated = c.get("inflation")
        points = (
            "-"
            if inflated is None
            else f"{inflated['raw_member_points']:.1f}+{inflated['raw_outsider_points']:.1f} pts"
        )
        where = ""
        if "communities" in c:
            where = (
                "  [community "
                + ", ".join(f"{x['community']}: {x['members']}" for x in c["communities"])
                + "]"
            )
        click.echo(
            f"{c['rank']:>4}  {c['size']:>4}  {c['density']:>8.3f}  {c['relative_density']:>7.2f}  "
            f"{c['attack_links']:>6}  {thin:>5}  {c['suspicion']:>9.3f}  {points:>13}  {shown}{where}"
        )
    if not skip_inflation:
        click.echo(
            "inflation: unrounded points members + outsiders would lose if the cluster were quarantined, "
            "counting drops above 0.01 points (`credence update flag USER ...` per member does it)"
        )


@click.command("influence")
@click.argument("user")
@click.option("--first", default=20, show_default=True, help="How many affected users to list.")
@click.option(
    "--default",
    "simulate_default",
    is_flag=True,
    help="Also simulate USER defaulting on one repayment: exact score changes, nothing stored.",
)
@click.option(
    "--amount",
    default=None,
    type=float,
    help="Amount of the simulated default (default: USER's median repayment, 1,000 without any).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@engine_options
def influence(
    user: str,
    first: int,
    simulate_default: bool,
    amount: float | None,
    as_json: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Blast radius of USER: whose network value leans on USER's base, and by how many points.

    ``weight`` is d n_v / d b_USER (the diffusion's sensitivity, from a backward push);
    ``points`` is what each would lose if USER's base fell to 0 (linear, before the
    bonus-only floor and rounding). With --default the exact score changes of one
    defaulted repayment are computed too. Scores are recomputed in memory (nothing is
    written).
    """
    from credence.analysis.investigate import default_impact

    if first < 0:
        raise click.BadParameter("must be >= 0", param_hint="--first")
    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        report = engine.influence(user, first=first)
        changes = default_impact(engine, user, amount=amount) if simulate_default else None
    payload: dict[str, Any] = {
        "user": report.user, "base": report.base, "bound": report.bound,
        "affected": [{"user": u, "weight": w, "points": p} for u, w, p in report.affected],
    }  # fmt: skip
    if changes is not None:
        payload["default"] = [{"user": c.user, "before": c.before, "after": c.after} for c in changes]
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(
        f"{report.user}: base {report.base:.3f}; {len(report.affected)} users lean on it "
        f"(weights below {report.bound:.0e} not listed)"
    )
    if report.affected:
        click.echo(f"  {'user':<16}{'weight':>10}{'points at stake':>17}")
        for u, w, p in report.affected:
            click.echo(f"  {u:<16}{w:>10.5f}{p:>17.2f}")
    if changes is not None:
        lost = sum(c.before - c.after for c in changes if c.user != report.user)
        click.echo(
            f"if {report.user} defaulted now: {len(changes)} scores change, others lose {lost} points "
            "(nothing stored)"
        )
        for c in changes[: max(first, 1)]:
            click.echo(f"  {c.user:<16}{c.before:>5} -> {c.after:<5}({c.after - c.before:+d})")


@click.command("trust")
@click.option("--first", default=20, show_default=True, help="How many of the least trusted users to list.")
@click.option(
    "--seeds",
    "seeds_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of seed user ids, one per line (default: a random draw of face-verified participants).",
)
@click.option("--max-seeds", default=1_000, show_default=True, help="Most seeds drawn by default.")
@click.option(
    "--seed-groups",
    default=10,
    show_default=True,
    help="Disjoint seed groups; users are ranked by the median over groups (1: plain SybilRank).",
)
@click.option("--random-state", default=0, show_default=True, help="Seed of the default seed draw.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@engine_options
def trust(
    first: int,
    seeds_path: Path | None,
    max_seeds: int,
    seed_groups: int,
    random_state: int,
    as_json: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """SybilRank: trust spread from verified seed users; the least trusted are the likeliest sybils.

    Trust spreads for log2(n) steps and users are ranked by their trust per unit of
    degree. Keep the seed file secret. Nothing is written.
    """
    from credence.analysis.investigate import sybil_suspects
    from credence.core.errors import InputError

    seeds = None
    if seeds_path is not None:
        try:
            seeds = [
                line.strip() for line in seeds_path.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{seeds_path}: cannot read: {exc}") from exc
        if not seeds:
            raise InputError(f"{seeds_path}: no seed ids")
    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        report = sybil_suspects(engine, first=first, seeds=seeds, max_seeds=max_seeds, seed_groups=seed_groups,
                                random_state=random_state)  # fmt: skip
    if as_json:
        click.echo(json.dumps({
            "seeds": report.seeds, "seed_groups": report.seed_groups, "iterations": report.iterations,
            "participants": report.participants, "no_evidence": report.no_evidence,
            "seed_rule": report.seed_rule,
            "suspects": [{"user": u, "trust_per_degree": t, "degree": d, "percentile": p}
                         for u, t, d, p in report.suspects],
        }, indent=2))  # fmt: skip
        return
    click.echo(
        f"SybilRank from {report.seeds} seeds ({report.seed_rule}) in {report.seed_groups} groups, "
        f"{report.iterations} steps, "
        f"{report.participants} participants ({report.no_evidence} isolated or unreached: no evidence, not "
        "ranked); least trusted first"
    )
    click.echo(f"  {'user':<16}{'trust/degree':>14}{'degree':>9}")
    for u, t, d, _ in report.suspects:
        click.echo(f"  {u:<16}{t:>14.3e}{d:>9.1f}")


@click.command("communities")
@click.option("--top", default=20, show_default=True, help="How many of the largest communities to list.")
@click.option(
    "--resolution",
    default=1.0,
    show_default=True,
    help="Modularity resolution: above 1 gives more, smaller communities.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of Louvain's node order.")
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every user's community as CSV (user,community; -1 = not taking part).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@engine_options
def communities(
    top: int,
    resolution: float,
    seed: int,
    out: Path | None,
    as_json: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Community structure of the participants' friend graph (Louvain modularity), largest first.

    Per community: members, density (share of member pairs linked), conductance (share of
    the members' link weight leaving it) and the members' scores. Nothing is written to
    the store.
    """
    import pandas as pd

    from credence.analysis.investigate import community_report

    if top < 0:
        raise click.BadParameter("must be >= 0", param_hint="--top")
    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        report = community_report(engine, resolution=resolution, seed=seed)
    table = report.frame().head(top)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"user": [str(u) for u in report.ids.tolist()], "community": report.labels}).to_csv(
            out, index=False
        )
    if as_json:
        click.echo(json.dumps({"communities": report.count, "modularity": report.modularity,
                               "resolution": report.resolution,
                               "largest": json.loads(table.to_json(orient="records"))}, indent=2))  # fmt: skip
        return
    click.echo(
        f"{report.count} communities, modularity {report.modularity:.4f} (resolution {report.resolution:g})"
    )
    click.echo(
        f"{'community':>9}  {'size':>7}  {'density':>8}  {'conductance':>11}  {'mean score':>10}  "
        f"{'min':>4}  {'max':>4}"
    )
    for row in table.itertuples(index=False):
        click.echo(
            f"{row.community:>9}  {row.size:>7}  {_metric(row.density, 8, 4)}  {_metric(row.conductance, 11, 3)}  "
            f"{row.mean_score:>10.1f}  {row.min_score:>4.0f}  {row.max_score:>4.0f}"
        )
    if out is not None:
        click.echo(f"wrote {out}")


def _metric(value: Any, width: int, digits: int) -> str:
    """A community metric, or ``-`` where it is undefined (density of one member, conductance without links)."""
    number = float(value)
    return f"{'-':>{width}}" if math.isnan(number) else f"{number:>{width}.{digits}f}"


#: The commands for ``credence.cli`` to register.
COMMANDS: tuple[click.Command, ...] = (rings, influence, trust, communities)
