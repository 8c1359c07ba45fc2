"""Data-science commands: ``fairness`` and ``plot`` (``credence export`` lives in ``credence.cli``).

They are plain click commands; ``credence.cli`` registers them on its group
(``main.add_command(command)`` for each of :data:`COMMANDS`). Each opens the store as
the other commands do, recomputes the scores in memory (nothing is written to the
store) and writes its output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from credence.cli.options import engine_options, recomputed
from credence.core.errors import InputError

__all__ = ["COMMANDS", "fairness", "plot"]


def _read_groups(path: Path, column: str) -> Any:
    """A user -> group frame from a CSV (e.g. ``labels.csv`` from ``credence seed``) or Parquet file."""
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read: {exc}") from exc
    else:
        from credence.graph.io import read_table

        frame = read_table(path)
    if column not in frame.columns or not ({"user", "id"} & set(frame.columns)):
        raise InputError(f"{path}: needs a 'user' (or 'id') column and a {column!r} column")
    return frame


@click.command()
@click.option(
    "--groups",
    "groups_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV or Parquet with a user column and the protected attribute (e.g. labels.csv).",
)
@click.option("--column", default="group", show_default=True, help="The protected-attribute column.")
@click.option(
    "--sharing",
    "--policies",  # its name in Credence 0.1
    "sharing",
    multiple=True,
    type=click.Choice(["bonus_only", "symmetric"]),
    help="Sharing rules of the network component to compare (repeatable; default both).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-group table as CSV here.",
)
@engine_options
def fairness(
    groups_path: Path,
    column: str,
    sharing: tuple[str, ...],
    as_json: bool,
    out: Path | None,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Disparate impact (80% rule) of each benefit tier across a protected attribute.

    Compares the sharing rules with the network component held at the neutral
    prior, and reports the graph's homophily.
    """
    from credence.analysis.fairness import fairness_report

    groups = _read_groups(groups_path, column)
    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        report = fairness_report(
            engine, groups, sharing=sharing or ("bonus_only", "symmetric"), column=column
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        report.frame().to_csv(out, index=False)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=float))
    else:
        click.echo(report.text())


@click.command()
@click.argument("kind", type=click.Choice(["scores", "network", "ego"]))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--user", default=None, help="With ego: the user at the centre.")
@click.option(
    "--contributors",
    "n_contributors",
    default=20,
    show_default=True,
    help="With ego: how many top contributors to show.",
)
@engine_options
def plot(
    kind: str,
    out: Path,
    user: str | None,
    n_contributors: int,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Write a PNG chart to OUT.

    KIND is scores (distribution by band), network (network component vs degree)
    or ego (one user's ego network coloured by contribution; needs --user).
    """
    from credence.analysis import plots

    if kind == "ego" and not user:
        raise click.UsageError("ego needs --user")
    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        if kind == "scores":
            path = plots.plot_score_distribution(engine, out)
        elif kind == "network":
            path = plots.plot_network_vs_degree(engine, out)
        else:
            assert user is not None
            path = plots.plot_ego_network(engine, user, out, contributors=n_contributors)
    click.echo(f"wrote {path}")


#: The commands for ``credence.cli`` to register.
COMMANDS: tuple[click.Command, ...] = (fairness, plot)
