"""`credence sybil-resistance`: what a growing sybil region gains, for itself and for the honest side.

The command runs :func:`credence.analysis.sybil_resistance.sybil_curve` on a seeded
honest population (no store is involved), prints its table (or JSON) and can draw
:func:`credence.analysis.plots.plot_sybil_curve`. ``credence.cli`` registers it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from credence.analysis.sybil_resistance import DEFAULT_SIZES, sybil_curve
from credence.core.errors import CredenceError, ParameterError

__all__ = ["sybil_resistance"]


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise ParameterError("sizes", text, "must be integers separated by commas") from None


@click.command("sybil-resistance")
@click.option(
    "--sizes",
    default=",".join(map(str, DEFAULT_SIZES)),
    show_default=True,
    help="Sybil region sizes, comma-separated.",
)
@click.option(
    "--attack-links", default=10, show_default=True, type=int, help="Links from the region to honest users."
)
@click.option(
    "--honest-users", default=20_000, show_default=True, type=int, help="Size of the honest population."
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--out", "out", default=None, type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG chart."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sybil_resistance(
    sizes: str, attack_links: int, honest_users: int, seed: int, out: Path | None, as_json: bool
) -> None:
    """Measure what a growing sybil region gains, for itself and for the honest side."""
    from credence.analysis.plots import plot_sybil_curve

    try:
        curve = sybil_curve(
            honest_users=honest_users, region_sizes=_parse_sizes(sizes), attack_links=attack_links, seed=seed
        )
        if out is not None:
            plot_sybil_curve(curve, out)
    except CredenceError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(curve.as_dict(), indent=2))
        return
    click.echo(curve.text())
    largest = max(p.region_size for p in curve.points)
    # the flattening ratio needs the reference size 1000 and a larger one
    if any(p.region_size == 1000 for p in curve.points) and largest != 1000:
        click.echo(
            f"gain({largest}) / gain(1000) = {curve.flattening():.4f}; "
            f"limit 1/(1-rho) = {1.0 / (1.0 - curve.point(1000).escape):.4f}"
        )
    if out is not None:
        click.echo(f"wrote {out}")
