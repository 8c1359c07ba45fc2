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

from credence.cli.demo_keys import demo_secret, ensure_demo_keys
from credence.cli.options import (
    engine_options,
    image_dir_for,
    image_options,
    make_engine,
    recomputed,
    store_config,
    store_options,
)
from credence.cli.progress import Progress, StageProgress
from credence.core.errors import (
    ConflictError,
    CredenceError,
    InputError,
    NotFoundError,
    StoreError,
)
from credence.graph.config import Neo4jConfig, StoreConfig, credence_home, open_store

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
    >>> from credence.core.errors import ValidationError
    >>> exit_code_for(ValidationError("bad", entity="user"))
    3
    """
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress]:
    with Progress(enabled=not quiet) as bars:
        yield bars


class CredenceGroup(click.Group):
    """Turns Credence errors into one clear line and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a Credence error becomes ``error [CODE]: message`` and its exit code."""
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
@click.option(
    "--attack-model",
    type=click.Choice(["random", "hubs", "mimic", "seeded"]),
    default="random",
    show_default=True,
    help="How sybil regions attack (see credence.seeds.synthetic and docs/fraud.md).",
)
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
    attack_model: str,
    quiet: bool,
) -> None:
    """Generate a synthetic population with planted fraud into folder OUT.

    Writes users.csv, links.csv, repayments.csv, spending.csv and the ground
    truth labels.csv (never loaded into a store).
    """
    from credence.graph.io import write_dataset, write_table
    from credence.graph.model import Dataset
    from credence.seeds.synthetic import PopulationConfig, generate_population

    config = PopulationConfig(
        n_users=n_users,
        avg_degree=avg_degree,
        seed=seed,
        sybil_regions=sybil_regions,
        sybils_per_region=sybils_per_region,
        attack_links_per_region=attack_links,
        rings=rings,
        attack_model=attack_model,
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
@click.option(
    "--offline",
    is_flag=True,
    help="Neo4j only: bulk-import into the EMPTY database of the server `credence neo4j start` runs, "
    "with Neo4j's offline importer (the server is stopped and restarted; for a first big load).",
)
@click.option("--quiet", is_flag=True, help="No progress output.")
@store_options
def load(
    source: Path, fmt: str, replace: bool, offline: bool, quiet: bool, db: Path | None, neo4j_uri: str | None
) -> None:
    """Validate SOURCE and load it into the store, all or nothing.

    A bad row stops the load before anything is written, naming the file, row,
    column and problem (exit code 3).

    With --offline the same checks run first; then the server `credence neo4j start`
    runs is stopped, the data imported offline, the server started again (same port)
    and the schema created. It refuses (exit code 6, nothing stopped) unless the store
    is that server and its database is empty; a failed import leaves it empty and
    running.
    """
    from credence.graph.io import read_dataset
    from credence.graph.model import Dataset

    config = store_config(db, neo4j_uri)
    if offline and replace:
        raise click.UsageError(
            "--offline loads only into an empty database; it does not combine with --replace"
        )
    if offline and not isinstance(config, Neo4jConfig):
        raise click.UsageError("--offline is for Neo4j: name it with --neo4j-uri or CREDENCE_NEO4J_URI")
    if fmt == "signed":
        from credence.seeds.snap import read_signed_edges

        signed = read_signed_edges(source)
        dataset = Dataset(users=signed.users, links=signed.links, distrust=signed.distrust)
    else:
        dataset = read_dataset(source)
    if offline:
        _load_offline(dataset, config, quiet)
        return
    with open_store(config) as store, _progress(quiet) as bars:
        if replace:
            store.clear()
        report = store.load(dataset, progress=bars)
    counts = ", ".join(f"{v:,} {k}" for k, v in report.written.items())
    click.echo(f"loaded {counts} into {config.describe()} in {report.seconds:.1f} s")


def _load_offline(dataset: Any, config: StoreConfig, quiet: bool) -> None:
    """``credence load --offline``: the launcher's server from the state file, then the store's offline load."""
    from credence.graph.neo4j_server import default_state_path, is_running, load_state, save_state
    from credence.graph.neo4j_store import Neo4jStore

    state = default_state_path()
    server = load_state(state)
    if server is None or not is_running(server):
        raise ConflictError(
            f"--offline needs the Neo4j that `credence neo4j start` runs, and none runs (state file {state}); "
            "a server started otherwise (Docker, a service) cannot be loaded offline by Credence"
        )
    with open_store(config) as store, _progress(quiet) as bars:
        assert isinstance(store, Neo4jStore)
        done = store.load_offline(
            dataset, server, progress=bars, on_restart=lambda proc: save_state(proc, state)
        )
    counts = ", ".join(f"{v:,} {k}" for k, v in done.report.written.items())
    click.echo(
        f"imported {counts} offline into {config.describe()} in {done.report.seconds:.1f} s "
        f"(Neo4j restarted: pid {done.server.pid})"
    )


# --------------------------------------------------------------------------- export


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv", "npz"]),
    default="parquet",
    show_default=True,
    help="parquet or csv: the users, links, repayments, spending, distrust and scores (with components) tables, "
    "loadable into any store with `credence load` (times as epoch seconds); npz: the friend graph and the "
    "directed distrust as scipy CSR matrices + users.csv.",
)
@click.option("--no-scores", is_flag=True, help="parquet/csv: skip scoring (the stored data only).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@engine_options
def export(
    out: Path,
    fmt: str,
    no_scores: bool,
    quiet: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Export the stored graph (and, for parquet/csv, freshly computed scores) to folder OUT.

    Scores are recomputed in memory, so they match the data exactly (nothing is written).
    """
    config = store_config(db, neo4j_uri)
    started = time.perf_counter()
    with open_store(config) as store, _progress(quiet) as bars:
        if fmt == "npz":
            from credence.graph.graph_npz import write_graph_npz

            exported = store.export_graph(progress=bars)
            paths = write_graph_npz(exported, out)
            what = (
                f"{exported.n_users:,} users, {exported.n_links:,} links and "
                f"{exported.n_distrust:,} distrust ratings"
            )
        else:
            from credence.analysis.data import export_tables

            engine = None
            if not no_scores:
                engine = make_engine(store, policy_path, now)
                engine.recompute(write=False)
            written = export_tables(store, engine, out, fmt=fmt)
            paths = list(written.values())
            what = ", ".join(written)
    names = ", ".join(p.name for p in paths)
    click.echo(f"exported {what} to {out} ({names}) in {time.perf_counter() - started:.1f} s")


# --------------------------------------------------------------------------- stats


@main.command()
@click.option("--graph", "with_graph", is_flag=True, help="Also degree statistics (exports the CSR).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@store_options
def stats(with_graph: bool, as_json: bool, db: Path | None, neo4j_uri: str | None) -> None:
    """Counts of what the store holds."""
    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        result: dict[str, Any] = {"store": config.describe(), **store.stats().as_dict()}
        if with_graph:
            from credence.graph.graph_npz import degree_summary

            result.update(degree_summary(store.export_graph()))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = (
            f"{value:,}"
            if isinstance(value, int)
            else (f"{value:.3f}" if isinstance(value, float) else str(value))
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
    from credence.graph.neo4j_server import (
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
    from credence.graph.neo4j_server import default_state_path, is_running, load_state, stop_neo4j

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
    from credence.graph.neo4j_server import default_state_path, is_running, load_state

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
@click.option(
    "--serve/--no-serve",
    default=False,
    show_default=True,
    help="Then serve the scored data over GraphQL (demo API keys are issued on first use).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="With --serve: TCP port.")
@store_options
def demo(
    n_users: int,
    seed: int,
    quiet: bool,
    serve: bool,
    host: str,
    port: int,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """The main job: generate a demo population, load it (replacing), score it and explain one score.

    With --serve the scored data is then served over GraphQL.
    """
    from credence.graph.graph_npz import degree_summary
    from credence.graph.model import Dataset
    from credence.seeds.synthetic import generate_population

    config = store_config(db, neo4j_uri)
    population = generate_population(n_users=n_users, seed=seed)
    dataset = Dataset(
        users=population.users,
        links=population.links,
        repayments=population.repayments,
        spending=population.spending,
    )
    store = open_store(config)
    try:
        with _progress(quiet) as bars:
            store.clear()
            report = store.load(dataset, progress=bars)
            summary = {**store.stats().as_dict(), **degree_summary(store.export_graph())}
            engine = make_engine(store, None, population.now)
            stages = StageProgress(enabled=not quiet)
            try:
                scored = engine.recompute(progress=stages)
            finally:
                stages.close()
            example = engine.explain(str(population.users["id"].iloc[0]), contributors=5)
        click.echo(f"demo population loaded into {config.describe()} in {report.seconds:.1f} s")
        for key, value in summary.items():
            click.echo(f"  {key:<16} {value:,.3f}" if isinstance(value, float) else f"  {key:<16} {value:,}")
        for line in _score_summary(scored, engine.policy):
            click.echo(line)
        click.echo("")
        _print_explanation(example)
    except BaseException:
        store.close()
        raise
    if not serve:
        store.close()
        return
    from credence.api.app import ServeSettings
    from credence.api.app import serve as run_server
    from credence.api.service import CredenceService

    keys_path, secrets_shown = ensure_demo_keys(credence_home())
    settings = ServeSettings(store=config, keys_path=keys_path, host=host, port=port)
    service = CredenceService(store=store, engine=engine)
    example_user = str(population.users["id"].iloc[0])

    def ready(url: str) -> None:
        click.echo("")
        click.echo(f"GraphQL API on {url} (GraphiQL: open it in a browser; send the key as a header)")
        click.echo(f"Analyst console on {_console_url(url)} (sign in with one of the keys below)")
        click.echo(f"API keys ({keys_path}; secrets in {secrets_shown}):")
        for line in secrets_shown.read_text(encoding="utf-8").splitlines():
            click.echo(f"  {line}")
        app_key = demo_secret(secrets_shown, "app")
        click.echo("try:")
        click.echo(
            f"  curl -s {url} -H 'Authorization: Bearer {app_key}' -H 'Content-Type: application/json' \\"
        )
        click.echo(
            f'    -d \'{{"query": "{{ user(id: \\"{example_user}\\") {{ score band reasons {{ code }} }} }}"}}\''
        )
        click.echo("stop with Ctrl-C")

    run_server(settings, service=service, ready=ready)


# --------------------------------------------------------------------------- serving


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="TCP port.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    help="Worker processes; with more than 1, one is the writer and the others follow its snapshots.",
)
@click.option("--read-only", is_flag=True, help="Refuse every mutation (READ_ONLY).")
@click.option("--allow-queries", "allow_queries", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Run only the queries of this persisted-query manifest (Apollo's format): production apps.")  # fmt: skip
@click.option("--cors-origin", "cors_origins", multiple=True,
              help="A browser origin allowed to call the API (CORS), e.g. https://console.example.org; repeatable.")  # fmt: skip
@click.option(
    "--keys",
    "keys_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="API key file (env CREDENCE_API_KEYS; default $CREDENCE_HOME/api-keys.toml).",
)
@click.option("--graphiql/--no-graphiql", default=True, show_default=True, help="Serve the GraphiQL IDE.")
@click.option(
    "--policy",
    "policy_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scoring policy TOML (default: the bundled one).",
)
@image_options
@store_options
def serve(
    host: str,
    port: int,
    workers: int,
    keys_path: Path | None,
    graphiql: bool,
    policy_path: Path | None,
    db: Path | None,
    neo4j_uri: str | None,
    read_only: bool,
    cors_origins: tuple[str, ...],
    allow_queries: Path | None,
    image_dir: Path | None,
    no_image: bool,
) -> None:
    """Serve scores, components and network evidence over GraphQL (uvicorn).

    The engine starts from its image (``--image-dir``) when the image is of the store's
    current data, and otherwise restores from the store and writes the image; the
    writer writes it again at a clean shutdown.
    """
    from credence.api.app import ServeSettings
    from credence.api.app import serve as run_server

    path = _keys_file(keys_path)
    if not path.exists():
        raise click.UsageError(
            f"no API key file at {path}: issue keys with 'credence api-key new NAME --role ROLE'"
        )
    config = store_config(db, neo4j_uri)
    settings = ServeSettings(
        store=config,
        image_dir=image_dir_for(config, image_dir, no_image),
        keys_path=path,
        host=host,
        port=port,
        workers=workers,
        graphiql=graphiql,
        policy_path=policy_path,
        read_only=read_only,
        cors_origins=tuple(cors_origins),
        allow_queries=allow_queries,
    )
    settings.config()  # a bad key file fails here, before the engine loads

    def ready(url: str) -> None:
        click.echo(f"GraphQL API on {url}" + (f" ({workers} workers, one writer)" if workers > 1 else ""))
        click.echo(f"Analyst console on {_console_url(url)}")

    click.echo("loading scores into memory ...", err=True)
    run_server(settings, ready=ready)


@main.group(name="api-key")
def api_key() -> None:
    """Issue, list, revoke and rotate API keys (the key file stores only their SHA-256).

    A running server reads the key file again when it changes: a key issued, revoked
    or rotated works (or stops working) within a second, without a restart.
    """


def _keys_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--keys",
        "keys_path",
        default=None,
        type=click.Path(dir_okay=False, path_type=Path),
        help="API key file (env CREDENCE_API_KEYS; default $CREDENCE_HOME/api-keys.toml).",
    )(command)


def _keys_file(keys_path: Path | None) -> Path:
    import os

    return keys_path or Path(os.environ.get("CREDENCE_API_KEYS") or credence_home() / "api-keys.toml")


@api_key.command(name="new")
@click.argument("name")
@click.option("--role", type=click.Choice(["app", "analyst", "admin"]), required=True)
@_keys_option
def api_key_new(name: str, role: str, keys_path: Path | None) -> None:
    """Issue a key for NAME with ROLE; prints the secret once."""
    from credence.api.keys import issue_api_key

    path = _keys_file(keys_path)
    secret = issue_api_key(path, name=name, role=role)
    click.echo(secret)
    click.echo(f"issued {name} ({role}) in {path}; the secret is shown only now", err=True)


@api_key.command(name="list")
@_keys_option
def api_key_list(keys_path: Path | None) -> None:
    """List the keys: name, role, created, status (never secrets or digests)."""
    from credence.api.keys import read_api_keys

    path = _keys_file(keys_path)
    if not path.exists():
        raise click.UsageError(
            f"no API key file at {path}: issue keys with 'credence api-key new NAME --role ROLE'"
        )
    now = time.time()
    click.echo("name\trole\tcreated\tstatus")
    for key in read_api_keys(path).keys:
        created = (
            "-" if key.created is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(key.created))
        )
        click.echo(f"{key.name}\t{key.role}\t{created}\t{key.status(now=now)}")


@api_key.command(name="revoke")
@click.argument("name")
@_keys_option
def api_key_revoke(name: str, keys_path: Path | None) -> None:
    """Revoke the key NAME: it stops working (a running server: within a second)."""
    from credence.api.keys import revoke_api_key

    path = _keys_file(keys_path)
    key = revoke_api_key(path, name=name)
    click.echo(f"revoked {key.name} ({key.role}) in {path}", err=True)


@api_key.command(name="rotate")
@click.argument("name")
@click.option("--grace", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seconds the old secret keeps working, for clients to switch.")  # fmt: skip
@_keys_option
def api_key_rotate(name: str, grace: int, keys_path: Path | None) -> None:
    """Give the key NAME a new secret (printed once); the old one stops working after --grace seconds."""
    from credence.api.keys import rotate_api_key

    path = _keys_file(keys_path)
    secret = rotate_api_key(path, name=name, grace=grace)
    click.echo(secret)
    click.echo(f"rotated {name} in {path}; the new secret is shown only now"
               + (f"; the old one works {grace} s more" if grace else "; the old one no longer works"), err=True)  # fmt: skip


@main.command(name="schema")
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the SDL here (default: print it).",
)
def schema_command(out: Path | None) -> None:
    """Print (or write) the GraphQL schema SDL."""
    from credence.api.app import schema_sdl

    text = schema_sdl()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")


# --------------------------------------------------------------------------- scoring


def _score_summary(report: Any, policy: Any) -> list[str]:
    import numpy as np

    scores = report.scores
    lines = [
        f"scored {report.users:,} users ({report.participants:,} in the network, {report.links:,} links) "
        f"with model {report.model_version}",
        "  timings   " + "  ".join(f"{k} {v:.2f}s" for k, v in report.seconds.items()),
        f"  warm start {'yes' if report.warm_start else 'no'}; snapshots written {report.written:,}",
    ]
    if scores.size:
        q = np.percentile(scores, [0, 10, 50, 90, 100]).round().astype(int).tolist()
        lines.append(
            f"  score     min {q[0]}  p10 {q[1]}  median {q[2]}  p90 {q[3]}  max {q[4]}  "
            f"mean {scores.mean():.1f}"
        )
    lines.append(f"  {'band':<12}{'users':>10}{'share':>9}")
    for name, count in report.band_counts(policy).items():
        share = count / max(report.users, 1)
        lines.append(f"  {name:<12}{count:>10,}{share:>9.1%}")
    return lines


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@image_options
@engine_options
def score(
    as_json: bool,
    quiet: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
    image_dir: Path | None,
    no_image: bool,
) -> None:
    """Score every user (full recompute) and append a score snapshot per user to the store.

    The engine's image (``--image-dir``) is written too, so that ``credence serve``
    starts from it instead of restoring from the store.
    """
    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        engine = make_engine(store, policy_path, now, image=image_dir_for(config, image_dir, no_image))
        stages = StageProgress(enabled=not quiet and not as_json)
        try:
            report = engine.recompute(progress=stages)
            clock = time.perf_counter()
            image = engine.save_image()
            if image is not None:
                report.seconds["image"] = time.perf_counter() - clock
        finally:
            stages.close()
    if as_json:
        payload = {
            "users": report.users,
            "links": report.links,
            "participants": report.participants,
            "model_version": report.model_version,
            "computed_at": report.computed_at,
            "written": report.written,
            "seconds": report.seconds,
            "bands": report.band_counts(engine.policy),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    for line in _score_summary(report, engine.policy):
        click.echo(line)


def _print_explanation(explanation: Any) -> None:
    e = explanation
    click.echo(f"{e.user}: {e.score} ({e.band})  model {e.model_version}")
    click.echo(f"  benefits: {', '.join(e.benefits) if e.benefits else 'none'}")
    click.echo(f"  {'component':<22}{'value':>8}{'weight':>8}{'points':>9}")
    for c in e.components:
        click.echo(f"  {c.name:<22}{c.value:>8.3f}{c.weight:>8.2f}{c.points:>9.1f}")
    click.echo(f"  {'350 + sum':<38}{350 + sum(c.points for c in e.components):>9.1f}  (score rounds this)")
    click.echo("  top reasons (points lost):")
    for r in e.reasons:
        click.echo(f"    {r.code:<26}{r.points:>6.1f}  {r.text}")
    rated = getattr(e, "ratings", None)
    if rated is not None:
        click.echo(
            f"  trade ratings received: {rated.positive:.2f} positive, {rated.negative:.2f} negative "
            f"(reliability-weighted), distrusted by {rated.distrust_received}; "
            f"value {rated.value:.3f} at weight {rated.weight:.3f} in credit history, "
            f"{rated.points:.1f} points lost"
        )
    if not e.participating:
        click.echo("  network: not taking part (no consent or quarantined): the neutral prior applies")
        return
    click.echo(
        f"  network: n = {e.network_value:.4f}, prior = {e.prior:.4f}, weighted degree {e.degree:.2f}, "
        f"shrink x{e.shrink:.3f}{' , floored at the prior (bonus_only)' if e.floored else ''}"
    )
    click.echo(
        f"  contributors add up to n - prior = {e.contributors_total:+.5f} "
        f"(exact within {e.network_bound:.0e}); largest:"
    )
    click.echo(f"    {'user':<16}{'share':>10}{'base':>8}{'points':>9}")
    for c in e.contributors:
        click.echo(f"    {c.user:<16}{c.contribution:>+10.5f}{c.base:>8.3f}{c.points:>+9.2f}")


@main.command()
@click.argument("user")
@click.option("--since", default=None, type=int, metavar="EPOCH",
              help="Compare with the latest snapshot evaluated at or before this time (default: the previous one).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@engine_options
def why(
    user: str,
    since: int | None,
    as_json: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Why USER's score changed: its latest stored snapshot against an earlier one, point by point.

    The change is split per component into what its value moved and what a model's weight
    moved, plus the score's rounding; the parts add up to the point change.
    """
    import dataclasses

    from credence.core.times import format_datetime

    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        change = make_engine(store, policy_path, now).explain_change(user, since=since)
    if as_json:
        click.echo(json.dumps({**dataclasses.asdict(change), "change": change.change}, indent=2))
        return
    click.echo(f"{user}: {change.before_score} -> {change.after_score} ({change.change:+d} points), snapshots "
               f"{change.before_position} ({format_datetime(change.before_at)}, {change.before_version}) -> "
               f"{change.after_position} ({format_datetime(change.after_at)}, {change.after_version})")  # fmt: skip
    click.echo(f"  {'component':<20} {'before':>7} {'after':>7} {'value':>7} {'weight':>7}")
    for c in change.components:
        click.echo(f"  {c.name:<20} {c.points_before:>7.2f} {c.points_after:>7.2f} {c.value_points:>+7.2f} "
                   f"{c.weight_points:>+7.2f}")  # fmt: skip
    click.echo(f"  {'rounding':<20} {'':>7} {'':>7} {change.rounding:>+7.2f}")
    for tier in change.tiers_lost:
        click.echo(f"  lost benefit: {tier}")
    for tier in change.tiers_gained:
        click.echo(f"  gained benefit: {tier}")
    kinds = {
        "model": "model version changed",
        "recompute": "full recompute (records aged)",
        "change": "a change",
    }
    for step in change.steps[-20:]:
        click.echo(f"  step to snapshot {step.position}: {step.change:+d} points, {kinds[step.kind]}"
                   f"{_step_cause(step.cause, user) if step.cause is not None else ''}")  # fmt: skip


def _step_cause(cause: Any, user: str) -> str:
    """``: <kind> of <whose> [records] by <actor>`` for ``credence why`` (a journal :class:`Change`)."""
    whose = "own" if cause.concerns(user) else f"network: {', '.join(cause.others(user)[:5])}"
    records = cause.records_of(user)
    labels = [f"{r} (corrected)" if r in cause.corrected else r for r in records[:5]]
    shown = f" [{', '.join(labels)}{', ...' if len(records) > 5 else ''}]" if records else ""
    by = f" by {cause.actor}" if cause.actor else ""
    return f": {cause.kind} ({whose}){shown}{by}"


@main.command()
@click.argument("user")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@store_options
def notices(user: str, as_json: bool, db: Path | None, neo4j_uri: str | None) -> None:
    """USER's adverse-action notices: each time a change took the score below a benefit tier."""
    import dataclasses

    from credence.core.times import format_datetime

    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        found = store.notices(user)
    if as_json:
        click.echo(
            json.dumps(
                [{**dataclasses.asdict(n), "restore_points": n.restore_points} for n in found], indent=2
            )
        )
        return
    if not found:
        click.echo(f"{user}: no adverse-action notices")
    for n in found:
        click.echo(f"{format_datetime(n.at)}  {n.tier} lost: {n.score_before} -> {n.score_after} "
                   f"({n.restore_points} points to restore it; model {n.model_version})")  # fmt: skip
        for code, text, points in n.reasons:
            click.echo(f"    {code:<22} -{points:5.1f}  {text}")


@main.command()
@click.argument("user")
@click.option("--yes", is_flag=True, help="Confirm: the erasure cannot be undone.")
@engine_options
def erase(
    user: str, yes: bool, policy_path: Path | None, now: int | None, db: Path | None, neo4j_uri: str | None
) -> None:
    """Erase USER: records, links, score history and the rest removed in one transaction, neighbours rescored.

    The audit log keeps a pseudonym in place of the id, and the id is refused if it is
    ever loaded again. Cannot be undone: needs --yes.
    """
    if not yes:
        raise click.UsageError("erasing cannot be undone: add --yes to confirm")
    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        engine = make_engine(store, policy_path, now)
        if engine.restore() is None:
            engine.recompute()
        erasure = engine.erase_user(user, actor="cli")
    moved = [c for c in erasure.changes if c.moved]
    click.echo(
        f"erased {user}: now {erasure.pseudonym} in the audit log; {len(moved)} neighbours' scores moved"
    )


@main.group()
def review() -> None:
    """Human review of automated outcomes: request, list the queue, resolve."""


def _print_review(found: Any) -> None:
    from credence.core.times import format_datetime

    state = "open" if found.open else f"{found.outcome} by {found.resolved_by}: {found.resolution}"
    click.echo(f"#{found.id}  {found.user}  {found.tier}  requested {format_datetime(found.requested_at)} by "
               f"{found.requested_by}, due {format_datetime(found.due)}  [{state}]  {found.reason}")  # fmt: skip


@review.command("request")
@click.argument("user")
@click.option("--tier", required=True, help="The benefit tier the score does not reach.")
@click.option("--reason", required=True, help="Why the person asks for a review.")
@engine_options
def review_request(
    user: str,
    tier: str,
    reason: str,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Record USER's request for human review of a benefit tier denied (due in 30 days)."""
    with recomputed(db, neo4j_uri, policy_path, now) as (_, engine):
        _print_review(engine.request_review(user, tier=tier, reason=reason, requested_by="cli"))


@review.command("list")
@click.option("--all", "everything", is_flag=True, help="Resolved reviews too (default: the open queue).")
@click.option("--user", default=None, help="One person's reviews.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@store_options
def review_list(
    everything: bool, user: str | None, as_json: bool, db: Path | None, neo4j_uri: str | None
) -> None:
    """The review queue, oldest first."""
    import dataclasses

    with open_store(store_config(db, neo4j_uri)) as store:
        found = store.reviews(user=user, open_only=not everything)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in found], indent=2))
        return
    for item in found:
        _print_review(item)
    if not found:
        click.echo("no reviews")


@review.command("resolve")
@click.argument("review_id", type=int)
@click.option("--outcome", required=True, type=click.Choice(["upheld", "overturned"]))
@click.option("--reason", required=True)
@click.option("--analyst", required=True)
@store_options
def review_resolve(
    review_id: int, outcome: str, reason: str, analyst: str, db: Path | None, neo4j_uri: str | None
) -> None:
    """Resolve review REVIEW_ID: upheld (the automated outcome stands) or overturned."""
    with open_store(store_config(db, neo4j_uri)) as store:
        _print_review(store.resolve_review(review_id, outcome=outcome, resolution=reason, analyst=analyst))


@main.command("subject-export")
@click.argument("user")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON here (0600, atomically) instead of printing it.")  # fmt: skip
@store_options
def subject_export(user: str, out: Path | None, db: Path | None, neo4j_uri: str | None) -> None:
    """Everything the store holds about USER, as one JSON document (a subject access export).

    The user record, links, repayments, spending, consent history, flags, score history
    and the audit entries about them; times in ISO-8601 UTC.
    """
    from credence.graph.subject import generate_subject_export, write_subject_export

    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        if out is None:
            click.echo(json.dumps(generate_subject_export(store, user), indent=2, ensure_ascii=False))
            return
        export = write_subject_export(store, user, out)
    click.echo(
        f"wrote {out}: {sum(len(v) for v in export.values() if isinstance(v, list))} records about {user}"
    )


@main.command()
@click.argument("user")
@click.option("--contributors", "n_contributors", default=10, show_default=True, help="How many to list.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@engine_options
def explain(
    user: str,
    n_contributors: int,
    as_json: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Explain USER's score: components, top reasons, and who in the network moved it.

    Scores are recomputed in memory (nothing is written) so the explanation matches
    the current data exactly.
    """
    import dataclasses

    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        engine = make_engine(store, policy_path, now)
        engine.recompute(write=False)
        explanation = engine.explain(user, contributors=n_contributors)
        under_dispute = store.disputes(user=explanation.user, open_only=True)
    if as_json:
        click.echo(json.dumps({**dataclasses.asdict(explanation),
                               "under_dispute": [dataclasses.asdict(d) for d in under_dispute]}, indent=2))  # fmt: skip
    else:
        _print_explanation(explanation)
        for found in under_dispute:
            left_out = (
                found.adverse
                and found.kind != "flag"
                and not engine.policy.disputes.adverse_counts_while_open
            )
            counted = "left out while open" if left_out else "still counts"
            click.echo(f"  under dispute: {found.kind} {found.record} (#{found.id}, {counted})")


def _console_url(graphql_url: str) -> str:
    """The console's address next to the GraphQL endpoint's.

    Examples
    --------
    >>> _console_url("http://127.0.0.1:8000/graphql")
    'http://127.0.0.1:8000/console'
    """
    from credence.api.console import CONSOLE_PATH

    return graphql_url.rsplit("/graphql", 1)[0] + CONSOLE_PATH


def _print_changes(changes: list[Any], what: str) -> None:
    moved = [c for c in changes if c.before != c.after]
    click.echo(f"{what}: {len(changes):,} users rescored, {len(moved):,} scores changed")
    for c in sorted(moved, key=lambda c: -abs(c.after - c.before))[:20]:
        click.echo(f"  {c.user:<16}{c.before:>5} -> {c.after:<5}({c.after - c.before:+d})")


@main.group()
def update() -> None:
    """Record events and changes, updating only the affected scores (local push)."""


def _run_update(
    db: Path | None,
    neo4j_uri: str | None,
    policy_path: Path | None,
    now: int | None,
    action: Callable[[Any], list[Any]],
    what: str,
) -> None:
    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        engine = make_engine(store, policy_path, now)
        # The stored scores at their stored time and prior (what a server serves), so that a
        # change is only the change; an explicit --now re-derives everything at that time.
        if now is not None or engine.restore() is None:
            engine.recompute(write=False)
        started = time.perf_counter()
        changes = action(engine)
        elapsed = time.perf_counter() - started
    _print_changes(changes, what)
    click.echo(f"  update took {elapsed * 1000:.1f} ms (store writes included)")


@update.command("repayments")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@engine_options
def update_repayments(
    path: Path, policy_path: Path | None, now: int | None, db: Path | None, neo4j_uri: str | None
) -> None:
    """Record repayment events from a CSV/Parquet file (the repayments schema)."""
    from credence.graph.io import read_table

    frame = read_table(path)
    _run_update(
        db, neo4j_uri, policy_path, now, lambda e: e.record_repayments(frame), f"{len(frame):,} repayments"
    )


@update.command("spending")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@engine_options
def update_spending(
    path: Path, policy_path: Path | None, now: int | None, db: Path | None, neo4j_uri: str | None
) -> None:
    """Record spending and bill events from a CSV/Parquet file (the spending schema)."""
    from credence.graph.io import read_table

    frame = read_table(path)
    _run_update(db, neo4j_uri, policy_path, now, lambda e: e.record_spending(frame), f"{len(frame):,} events")


@update.command("link")
@click.argument("a")
@click.argument("b")
@click.option("--weight", default=1.0, show_default=True, help="Interaction strength (> 0).")
@engine_options
def update_link(
    a: str,
    b: str,
    weight: float,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Add the friend link A - B (or change its weight)."""
    _run_update(db, neo4j_uri, policy_path, now, lambda e: e.add_link(a, b, weight=weight), f"link {a} - {b}")


@update.command("unlink")
@click.argument("a")
@click.argument("b")
@engine_options
def update_unlink(
    a: str, b: str, policy_path: Path | None, now: int | None, db: Path | None, neo4j_uri: str | None
) -> None:
    """Remove the friend link A - B."""
    _run_update(db, neo4j_uri, policy_path, now, lambda e: e.remove_link(a, b), f"unlink {a} - {b}")


@update.command("consent")
@click.argument("user")
@click.argument("value", type=click.Choice(["yes", "no"]))
@engine_options
def update_consent(
    user: str, value: str, policy_path: Path | None, now: int | None, db: Path | None, neo4j_uri: str | None
) -> None:
    """Give (yes) or withdraw (no) USER's consent to network scoring."""
    _run_update(
        db,
        neo4j_uri,
        policy_path,
        now,
        lambda e: e.set_consent(user, value == "yes", actor="cli"),
        f"consent {user} = {value}",
    )


@update.command("flag")
@click.argument("users", nargs=-1, required=True)
@click.option("--analyst", required=True)
@click.option("--reason", required=True)
@click.option("--clear", is_flag=True, help="Clear the active flags instead.")
@engine_options
def update_flag(
    users: tuple[str, ...],
    analyst: str,
    reason: str,
    clear: bool,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Quarantine USERS (e.g. a whole ring from `credence rings`; or --clear their flags).

    Every id is checked before the first flag is written; the scores they propped up are
    updated incrementally and listed.
    """
    what = f"{'unflag' if clear else 'flag'} {', '.join(users[:3])}{' ...' if len(users) > 3 else ''}"
    _run_update(
        db,
        neo4j_uri,
        policy_path,
        now,
        lambda e: e.flag_users(list(users), analyst=analyst, reason=reason, clear=clear),
        what,
    )


@main.command("what-if")
@click.option(
    "--add-link",
    "add_links",
    nargs=3,
    multiple=True,
    metavar="A B WEIGHT",
    type=(str, str, float),
    help="A hypothetical link (repeatable).",
)
@click.option(
    "--remove-link",
    "remove_links",
    nargs=2,
    multiple=True,
    metavar="A B",
    type=(str, str),
    help="A link to remove (repeatable).",
)
@click.option(
    "--remove-user",
    "remove_users",
    multiple=True,
    metavar="USER",
    help="An account to take out of everyone's network, as if quarantined (repeatable).",
)
@click.option(
    "--repayments",
    "repayments_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Hypothetical repayment events.",
)
@engine_options
def what_if(
    add_links: tuple[tuple[str, str, float], ...],
    remove_links: tuple[tuple[str, str], ...],
    remove_users: tuple[str, ...],
    repayments_path: Path | None,
    policy_path: Path | None,
    now: int | None,
    db: Path | None,
    neo4j_uri: str | None,
) -> None:
    """Scores after hypothetical links, events or account removals; nothing is stored."""
    from credence.graph.io import read_table

    repayments = read_table(repayments_path) if repayments_path is not None else None
    config = store_config(db, neo4j_uri)
    with open_store(config) as store:
        engine = make_engine(store, policy_path, now)
        engine.recompute(write=False)
        result = engine.what_if(
            add_links=list(add_links),
            remove_links=list(remove_links),
            remove_users=list(remove_users),
            repayments=repayments,
        )
    _print_changes(list(result.changes), "what-if (nothing stored)")


def _register_commands() -> None:
    """Commands that live in their own modules (imported here, after main exists)."""
    from credence.cli.commands_backtest import backtest
    from credence.cli.commands_disputes import COMMANDS as dispute_commands
    from credence.cli.commands_ds import COMMANDS as data_science_commands
    from credence.cli.commands_fraud import COMMANDS as fraud_commands
    from credence.cli.commands_paths import paths
    from credence.cli.commands_spark import COMMANDS as spark_commands
    from credence.cli.commands_sybil import sybil_resistance

    main.add_command(paths)
    main.add_command(backtest)
    for command in fraud_commands:
        main.add_command(command)
    main.add_command(sybil_resistance)
    for command in data_science_commands:
        main.add_command(command)
    for command in spark_commands:
        main.add_command(command)
    for command in dispute_commands:
        main.add_command(command)


_register_commands()
