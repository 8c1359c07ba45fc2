"""``credence spark score``: the full recompute of a Parquet export, on Apache Spark.

The job is :func:`credence.spark.score_export` (see ``docs/spark.md``); this module only
parses the options, opens the session and prints the report. PySpark is imported when the
command runs, so the rest of the CLI works without it. ``credence.cli`` registers it.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["COMMANDS", "spark"]


@click.group()
def spark() -> None:
    """Score on Apache Spark (PySpark, Java 17)."""


@spark.command("score")
@click.option(
    "--input",
    "input_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A `credence export DIR --format parquet` folder.",
)
@click.option(
    "--output",
    "output_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Parquet folder to write: one row per user (id, score, band, components, network, ...).",
)
@click.option(
    "--master",
    default=None,
    metavar="URL",
    help="Spark master URL (default local[2]; e.g. spark://host:7077).",
)
@click.option(
    "--policy",
    "policy_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scoring policy TOML (default: the bundled credence/scoring/policies/default.toml).",
)
@click.option(
    "--now",
    default=None,
    type=int,
    metavar="EPOCH",
    help="Evaluation time in epoch seconds (default: the export's scores.computed_at, else now).",
)
@click.option(
    "--checkpoint-dir",
    default=None,
    metavar="PATH",
    help="Reliable checkpoint folder for the diffusion (a cluster; default: local checkpoints).",
)
@click.option("--partitions", default=None, type=int, help="spark.sql.shuffle.partitions of a new session.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --output folder.")
@click.option("--quiet", is_flag=True, help="Only the closing line.")
def score(
    input_dir: Path,
    output_dir: Path,
    master: str | None,
    policy_path: Path | None,
    now: int | None,
    checkpoint_dir: str | None,
    partitions: int | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Score every user of the export in --input with Spark and write Parquet to --output.

    The same policy and the same formulas as `credence score`: the scores agree with the
    single-machine engine's on the same data. A bad export is reported naming the file and
    column (exit code 3), and nothing is written.
    """
    try:
        from credence.spark import score_export, spark_session
    except ImportError as exc:
        raise click.ClickException(
            f"credence spark needs PySpark and Java 17 ({exc}); install the dev extra (scripts/setup)"
        ) from exc

    def say(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    with spark_session(master, shuffle_partitions=partitions) as session:
        report = score_export(
            session,
            input_dir,
            output_dir,
            policy=policy_path,
            now=now,
            overwrite=overwrite,
            checkpoint_dir=checkpoint_dir,
            progress=say,
        )
    total = sum(report.seconds.values())
    click.echo(
        f"scored {report.users:,} users ({report.participants:,} in the network, {report.links:,} links) "
        f"at {report.now} with {report.model_version}: {report.iterations} diffusion iterations, "
        f"residual {report.residual:.2g}; wrote {report.output} in {total:.1f} s"
    )


COMMANDS = (spark,)
