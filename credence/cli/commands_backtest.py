"""``credence backtest``: score as of a time ``T`` from the data before it, measure against outcomes after.

A plain click command; ``credence.cli`` registers it. Nothing is read from or written to
a store: the source file or folder is scored in an in-memory store
(:mod:`credence.analysis.backtest`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["COMMANDS", "backtest"]


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["signed", "dataset"]),
    default=None,
    help="signed: a SNAP signed trust CSV (bad = receives a rating <= -5 after T); "
    "dataset: a folder from `credence seed` (bad = a default after T). "
    "Default: dataset for a folder, signed for a file.",
)
@click.option("--at", "at", type=int, default=None, help="The cut T, epoch seconds.")
@click.option(
    "--split",
    type=float,
    default=None,
    help="Cut at this quantile of the event times (ratings; repayments due), in (0, 1). "
    "Default 0.5 (the median) when --at is not given.",
)
@click.option("--bad-rating", type=float, default=-5.0, show_default=True, help="Signed: the bad threshold.")
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Scoring policy TOML (default: the bundled default.toml; policies/trade.toml reads links as trade ratings).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the figures here.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a PNG here.",
)
def backtest(
    source: Path,
    fmt: str | None,
    at: int | None,
    split: float | None,
    bad_rating: float,
    policy_path: Path | None,
    json_path: Path | None,
    plot_path: Path | None,
) -> None:
    """Backtest the score on SOURCE: AUC, KS, Gini, bad rate per band and decile, baselines.

    Scores every user active before T from data strictly before T (through the engine,
    in memory) and compares with what happened from T on; degree, PageRank and goodness
    baselines are computed independently in the same run. See docs/backtest.md.
    """
    from credence.analysis.backtest import (
        BacktestConfig,
        backtest_dataset,
        backtest_signed,
        plot_backtest,
        summary_lines,
    )
    from credence.core.errors import ParameterError
    from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy

    if at is not None and split is not None:
        raise ParameterError("split", split, "give --at or --split, not both")
    kind = fmt if fmt is not None else ("dataset" if source.is_dir() else "signed")
    # The default policy for both kinds: trade.toml (links read as ratings) measured worse on
    # Bitcoin Alpha (docs/backtest.md), so it is an option, not the default.
    policy = read_policy(policy_path if policy_path is not None else DEFAULT_POLICY_PATH)
    config = BacktestConfig(at=at, split=0.5 if split is None else split, bad_rating=bad_rating)
    run = backtest_signed if kind == "signed" else backtest_dataset
    result = run(source, policy, config)
    report = result.to_dict()
    for line in summary_lines(report):
        click.echo(line)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {json_path}")
    if plot_path is not None:
        click.echo(f"wrote {plot_backtest(result, plot_path)}")


COMMANDS = (backtest,)
