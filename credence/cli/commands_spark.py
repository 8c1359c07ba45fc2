"""``credence spark score`` and ``spark trust`` on Apache Spark; ``credence import-scores``.

The jobs are :func:`credence.spark.score_export` and :func:`credence.spark.trust_export`
(see ``docs/spark.md``); this module only parses the options, opens the session and
prints the report. PySpark is imported when a ``spark`` command runs, so the rest of the
CLI works without it. ``import-scores`` (:func:`credence.engine.snapshot_import.import_scores`)
takes the score job's output into a store and needs no Spark. ``credence.cli`` registers
:data:`COMMANDS`.
"""

from __future__ import annotations

from pathlib import Path

import click

from credence.cli.options import store_config, store_options

__all__ = ["COMMANDS", "import_scores", "spark"]


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
@click.option(
    "--partition-by",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Graph-aware partitioning of the diffusion: a user,community CSV or Parquet "
    "(`credence communities --out`); default a hash of the user id.",
)
@click.option(
    "--driver-memory", default=None, metavar="SIZE", help="spark.driver.memory of a new session (e.g. 4g)."
)
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
    partition_by: Path | None,
    driver_memory: str | None,
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

    with spark_session(master, shuffle_partitions=partitions, driver_memory=driver_memory) as session:
        report = score_export(
            session,
            input_dir,
            output_dir,
            policy=policy_path,
            now=now,
            overwrite=overwrite,
            checkpoint_dir=checkpoint_dir,
            partition_by=partition_by,
            progress=say,
        )
    total = sum(report.seconds.values())
    click.echo(
        f"scored {report.users:,} users ({report.participants:,} in the network, {report.links:,} links) "
        f"at {report.now} with {report.model_version}: {report.iterations} diffusion iterations, "
        f"residual {report.residual:.2g}; wrote {report.output} in {total:.1f} s"
    )


@spark.command("trust")
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
    help="Parquet folder to write: one row per user (id, trust, normalized, degree, ...).",
)
@click.option("--master", default=None, metavar="URL", help="Spark master URL (default local[2]).")
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
@click.option(
    "--iterations", default=None, type=int, help="Steps of the walk (default ceil(log2 participants))."
)
@click.option("--random-state", default=0, show_default=True, help="Seed of the default seed draw.")
@click.option("--first", default=20, show_default=True, help="How many of the least trusted users to list.")
@click.option(
    "--checkpoint-dir", default=None, metavar="PATH", help="Reliable checkpoint folder (a cluster)."
)
@click.option("--partitions", default=None, type=int, help="spark.sql.shuffle.partitions of a new session.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --output folder.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def trust(
    input_dir: Path,
    output_dir: Path,
    master: str | None,
    seeds_path: Path | None,
    max_seeds: int,
    seed_groups: int,
    iterations: int | None,
    random_state: int,
    first: int,
    checkpoint_dir: str | None,
    partitions: int | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """SybilRank trust of every user of the export in --input, written as Parquet to --output.

    The walk of `credence trust`: trust spreads from the seeds for log2(participants)
    steps and users are ranked by trust per unit of degree (the median over seed groups).
    Seed groups are dealt from the seeds sorted by id. Keep the seed file secret.
    """
    from credence.core.errors import InputError

    try:
        from credence.spark import TrustConfig, spark_session, trust_export
    except ImportError as exc:
        raise click.ClickException(
            f"credence spark needs PySpark and Java 17 ({exc}); install the dev extra (scripts/setup)"
        ) from exc
    seeds = None
    if seeds_path is not None:
        try:
            text = seeds_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{seeds_path}: cannot read: {exc}") from exc
        seeds = [line.strip() for line in text.splitlines() if line.strip()]
        if not seeds:
            raise InputError(f"{seeds_path}: no seed ids")
    config = TrustConfig(
        seeds=seeds,
        max_seeds=max_seeds,
        seed_groups=seed_groups,
        iterations=iterations,
        random_state=random_state,
    )

    def say(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    with spark_session(master, shuffle_partitions=partitions) as session:
        report = trust_export(
            session, input_dir, output_dir, config, first=first, overwrite=overwrite,
            checkpoint_dir=checkpoint_dir, progress=say,
        )  # fmt: skip
    click.echo(
        f"SybilRank from {report.seeds} seeds in {report.seed_groups} groups, {report.iterations} steps, "
        f"{report.participants} participants ({report.no_evidence} isolated or unreached: no evidence, not "
        f"ranked); wrote {report.output} in {sum(report.seconds.values()):.1f} s; least trusted first"
    )
    click.echo(f"  {'user':<16}{'trust/degree':>14}{'degree':>9}")
    for user, value, degree in report.suspects:
        click.echo(f"  {user:<16}{value:>14.3e}{degree:>9.1f}")


@click.command("import-scores")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--policy",
    "policy_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The policy the scores were computed with (default: the bundled default policy).",
)
@store_options
def import_scores(source: Path, policy_path: Path | None, db: Path | None, neo4j_uri: str | None) -> None:
    """Append the scores `credence spark score` wrote to SOURCE to the store, as one snapshot.

    Every row is checked first (ids the store holds, scores in 350-950 that follow from
    their components under the policy, components in [0, 1], one model version, time
    and prior); a bad row is named by file, row and column (exit code 3) and nothing is
    written. The policy's weights are recorded under its version, with the evaluation
    state, as `credence score` records them: a restarted server serves these scores.
    """
    from credence.engine.snapshot_import import ImportConfig
    from credence.engine.snapshot_import import import_scores as run_import
    from credence.graph.config import open_store
    from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy

    policy = read_policy(policy_path if policy_path is not None else DEFAULT_POLICY_PATH)
    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        report = run_import(store, source, ImportConfig(policy=policy))
    missing = f"; {report.not_covered:,} stored users not in it" if report.not_covered else ""
    click.echo(
        f"imported {report.written:,} scores of {report.model_version} at {report.computed_at} "
        f"(prior {report.prior:.6f}) from {len(report.files)} file(s) into {config.describe()}{missing} "
        f"in {report.seconds:.1f} s"
    )


COMMANDS = (spark, import_scores)
