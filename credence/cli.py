"""The ``credence`` command line.

Exit codes: 0 success, 2 usage error, 3 bad input (nothing was written),
4 not found, 5 store or Neo4j unavailable, 6 conflict, 1 anything else.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from credence.config import StoreConfig, credence_home, open_store
from credence.errors import (
    ConflictError,
    CredenceError,
    InputError,
    NotFoundError,
    StoreError,
)

EXIT_CODES: dict[type[CredenceError], int] = {
    InputError: 3,
    NotFoundError: 4,
    StoreError: 5,
    ConflictError: 6,
}


def exit_code_for(error: CredenceError) -> int:
    """The process exit code for a Credence error (most specific class wins).

    Examples
    --------
    >>> from credence.errors import ValidationError
    >>> exit_code_for(ValidationError("bad", entity="user"))
    3
    """
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


class _Bars:
    """A :data:`graph.store.ProgressFn` drawing one tqdm bar per stage on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(
                total=total, desc=f"{stage:>12}", unit=" rows", unit_scale=True, leave=True,
                file=sys.stderr, dynamic_ncols=True,
            )
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@contextmanager
def _progress(quiet: bool) -> Iterator[_Bars]:
    bars = _Bars(enabled=not quiet)
    try:
        yield bars
    finally:
        bars.close()


def _store_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _config(db: Path | None, neo4j_uri: str | None) -> StoreConfig:
    return StoreConfig.resolve(db=db, neo4j_uri=neo4j_uri)


class CredenceGroup(click.Group):
    """Turns Credence errors into one clear line and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CredenceError as exc:
            click.echo(f"error [{exc.code}]: {exc}", err=True)
            ctx.exit(exit_code_for(exc))


@click.group(cls=CredenceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="credence")
def main() -> None:
    """Credence: open, explainable graph-based credit scores (350-950)."""


# --------------------------------------------------------------------------- seed


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--users", "n_users", default=10_000, show_default=True, help="Population size.")
@click.option("--avg-degree", default=20.0, show_default=True, help="Mean links per user x 2.")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same data).")
@click.option("--sybil-regions", default=1, show_default=True)
@click.option("--sybils-per-region", default=200, show_default=True)
@click.option("--attack-links", default=10, show_default=True, help="Attack links per region.")
@click.option("--rings", default=5, show_default=True, help="Planted collusion rings.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def seed(
    out: Path,
    n_users: int,
    avg_degree: float,
    seed: int,
    sybil_regions: int,
    sybils_per_region: int,
    attack_links: int,
    rings: int,
    quiet: bool,
) -> None:
    """Generate a synthetic population with planted fraud into folder OUT.

    Writes users.csv, links.csv, repayments.csv, spending.csv and the ground
    truth labels.csv (never loaded into a store).
    """
    from graph.io import write_dataset, write_table
    from graph.model import Dataset
    from seeds.synthetic import PopulationConfig, generate_population

    config = PopulationConfig(
        n_users=n_users,
        avg_degree=avg_degree,
        seed=seed,
        sybil_regions=sybil_regions,
        sybils_per_region=sybils_per_region,
        attack_links_per_region=attack_links,
        rings=rings,
    )
    started = time.perf_counter()
    with _progress(quiet) as bars:
        bars("generate", 0, 1)
        population = generate_population(config)
        bars("generate", 1, 1)
        dataset = Dataset(
            users=population.users,
            links=population.links,
            repayments=population.repayments,
            spending=population.spending,
        )
        bars("write", 0, 1)
        paths = write_dataset(dataset, out)
        paths.append(write_table(population.labels, out / "labels.csv"))
        bars("write", 1, 1)
    counts = ", ".join(f"{v:,} {k}" for k, v in dataset.counts().items())
    click.echo(f"wrote {counts} to {out} in {time.perf_counter() - started:.1f} s")


# --------------------------------------------------------------------------- load


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dataset", "signed"]),
    default="dataset",
    show_default=True,
    help="dataset: a folder of users/links/repayments/spending CSVs; "
    "signed: a SNAP signed trust CSV (source,target,weight,timestamp).",
)
@click.option("--replace", is_flag=True, help="Delete everything stored before loading.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_store_options
def load(
    source: Path, fmt: str, replace: bool, quiet: bool, db: Path | None, neo4j_uri: str | None
) -> None:
    """Validate SOURCE and load it into the store, all or nothing.

    A bad row stops the load before anything is written, naming the file, row,
    column and problem (exit code 3).
    """
    from graph.io import read_dataset
    from graph.model import Dataset

    if fmt == "signed":
        from seeds.snap import read_signed_edges

        signed = read_signed_edges(source)
        dataset = Dataset(users=signed.users, links=signed.links)
    else:
        dataset = read_dataset(source)
    config = _config(db, neo4j_uri)
    with open_store(config) as store, _progress(quiet) as bars:
        if replace:
            store.clear()
        report = store.load(dataset, progress=bars)
    counts = ", ".join(f"{v:,} {k}" for k, v in report.written.items())
    click.echo(f"loaded {counts} into {config.describe()} in {report.seconds:.1f} s")


# --------------------------------------------------------------------------- export


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["npz", "csv"]),
    default="npz",
    show_default=True,
    help="npz: the CSR snapshot (scipy) + users.csv; csv: the dataset files, "
    "loadable into any store with `credence load`.",
)
@click.option("--quiet", is_flag=True, help="No progress output.")
@_store_options
def export(out: Path, fmt: str, quiet: bool, db: Path | None, neo4j_uri: str | None) -> None:
    """Export the stored graph to OUT (a folder)."""
    config = _config(db, neo4j_uri)
    started = time.perf_counter()
    with open_store(config) as store, _progress(quiet) as bars:
        if fmt == "npz":
            from graph.snapshot_io import write_snapshot

            snapshot = store.export_snapshot(progress=bars)
            paths = write_snapshot(snapshot, out)
            what = f"{snapshot.n_users:,} users and {snapshot.n_links:,} links"
        else:
            from graph.io import write_dataset
            from graph.model import Dataset

            dataset = Dataset(
                users=store.get_all_users(),
                links=store.links(),
                repayments=store.repayments(),
                spending=store.spending(),
            )
            paths = write_dataset(dataset, out)
            what = ", ".join(f"{v:,} {k}" for k, v in dataset.counts().items())
    names = ", ".join(p.name for p in paths)
    click.echo(f"exported {what} to {out} ({names}) in {time.perf_counter() - started:.1f} s")


# --------------------------------------------------------------------------- stats


@main.command()
@click.option("--graph", "with_graph", is_flag=True, help="Also degree statistics (exports the CSR).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_store_options
def stats(with_graph: bool, as_json: bool, db: Path | None, neo4j_uri: str | None) -> None:
    """Counts of what the store holds."""
    config = _config(db, neo4j_uri)
    with open_store(config) as store:
        result: dict[str, Any] = {"store": config.describe(), **store.stats().as_dict()}
        if with_graph:
            from graph.snapshot_io import degree_summary

            result.update(degree_summary(store.export_snapshot()))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:,}" if isinstance(value, int) else (
            f"{value:.3f}" if isinstance(value, float) else str(value)
        )
        click.echo(f"{key:<{width}}  {shown}")


# --------------------------------------------------------------------------- neo4j


@main.group()
def neo4j() -> None:
    """Run a local Neo4j 5.26 (no Docker needed: Java 17 + Maven Central jars)."""


@neo4j.command("start")
@click.option("--port", type=int, default=None, help="Bolt port (default: a free one).")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data folder (default $CREDENCE_HOME/neo4j).",
)
@click.option("--heap", default="2g", show_default=True, help="Java heap size.")
def neo4j_start(port: int | None, home: Path | None, heap: str) -> None:
    """Build the launcher if needed and start Neo4j in the background."""
    from graph.neo4j_server import (
        default_state_path,
        is_running,
        load_state,
        save_state,
        start_neo4j,
    )

    state = default_state_path()
    running = load_state(state)
    if running is not None and is_running(running):
        click.echo(f"already running: {running.bolt_uri} (pid {running.pid})")
        return
    proc = start_neo4j(home=home or credence_home() / "neo4j", port=port, heap=heap)
    save_state(proc, state)
    click.echo(f"Neo4j running at {proc.bolt_uri} (pid {proc.pid}, data {proc.home})")
    click.echo(f"use it with: export CREDENCE_NEO4J_URI={proc.bolt_uri}")


@neo4j.command("stop")
def neo4j_stop() -> None:
    """Stop the Neo4j started by `credence neo4j start`."""
    from graph.neo4j_server import default_state_path, is_running, load_state, stop_neo4j

    state = default_state_path()
    running = load_state(state)
    if running is None or not is_running(running):
        click.echo("not running")
        state.unlink(missing_ok=True)
        return
    stop_neo4j(running)
    state.unlink(missing_ok=True)
    click.echo(f"stopped (pid {running.pid})")


@neo4j.command("status")
def neo4j_status() -> None:
    """Say whether the local Neo4j runs, and where (exit 1 if not)."""
    from graph.neo4j_server import default_state_path, is_running, load_state

    running = load_state(default_state_path())
    if running is None or not is_running(running):
        click.echo("not running")
        sys.exit(1)
    click.echo(f"running: {running.bolt_uri} (pid {running.pid}, data {running.home})")


# --------------------------------------------------------------------------- demo


@main.command()
@click.option("--users", "n_users", default=10_000, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--quiet", is_flag=True)
@_store_options
def demo(n_users: int, seed: int, quiet: bool, db: Path | None, neo4j_uri: str | None) -> None:
    """The main job: generate a demo population, load it (replacing), and summarise it."""
    from graph.model import Dataset
    from graph.snapshot_io import degree_summary
    from seeds.synthetic import generate_population

    config = _config(db, neo4j_uri)
    population = generate_population(n_users=n_users, seed=seed)
    dataset = Dataset(
        users=population.users,
        links=population.links,
        repayments=population.repayments,
        spending=population.spending,
    )
    with open_store(config) as store, _progress(quiet) as bars:
        store.clear()
        report = store.load(dataset, progress=bars)
        summary = {**store.stats().as_dict(), **degree_summary(store.export_snapshot())}
    click.echo(f"demo population loaded into {config.describe()} in {report.seconds:.1f} s")
    for key, value in summary.items():
        click.echo(f"  {key:<16} {value:,.3f}" if isinstance(value, float) else f"  {key:<16} {value:,}")


if __name__ == "__main__":  # pragma: no cover
    main()
