"""Benchmark community detection: Credence's Louvain against igraph and networkx on the same graph.

A population is drawn with :func:`credence.seeds.synthetic.generate_population` and its
friend graph (symmetric weighted CSR, as in ``bench_fraud.py``) is handed, in
one process, to:

* **credence louvain**: :func:`credence.scoring.communities.louvain` (numba, one core; the
  time includes validating the adjacency);
* **igraph multilevel**: ``Graph.community_multilevel`` (Louvain, C);
* **igraph leiden**: ``Graph.community_leiden(objective_function="modularity")``
  (C, igraph's default two iterations);
* **networkx louvain**: ``networkx.community.louvain_communities`` (pure Python;
  only up to ``--networkx-max-users`` users, and not with ``--skip-networkx``).

Every method uses the link weights, resolution 1 and ``--seed``. Reported per
method: the median wall time over ``--repeats`` runs, the peer's time over
Credence's, the modularity (all computed by :func:`credence.scoring.communities.modularity`),
the number of communities and the NMI (arithmetic normalisation) against the
planted communities of the real users (sybils, planted community -1, are left
out of the NMI but not of the graph). Building a peer's graph object from the
CSR is timed separately ("build s").

    .venv/bin/python benchmarks/bench_communities.py --users 100000
    .venv/bin/python benchmarks/bench_communities.py --users 1000000 --repeats 3 --skip-networkx
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from bench_fraud import adjacency_of

from credence.scoring.communities import louvain, modularity
from credence.seeds.synthetic import PopulationConfig, generate_population


def nmi(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information of two labellings, arithmetic-mean normalisation."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    keys, counts = np.unique(ia.astype(np.int64) * (int(ib.max()) + 1) + ib, return_counts=True)
    n = float(a.size)
    p = counts / n
    pa = np.bincount(ia) / n
    pb = np.bincount(ib) / n
    row, col = keys // (int(ib.max()) + 1), keys % (int(ib.max()) + 1)
    mutual = float((p * np.log(p / (pa[row] * pb[col]))).sum())
    ha = -float((pa * np.log(pa)).sum())
    hb = -float((pb * np.log(pb)).sum())
    return 1.0 if ha + hb == 0.0 else 2.0 * mutual / (ha + hb)


def timed(run: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """Median wall time of ``repeats`` runs, and the labels of the last."""
    times = []
    labels = np.empty(0, dtype=np.int64)
    for _ in range(repeats):
        start = time.perf_counter()
        labels = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), labels


def membership(groups: Any, n: int) -> np.ndarray:
    """Labels from a list of node sets."""
    labels = np.full(n, -1, dtype=np.int64)
    for c, members in enumerate(groups):
        labels[np.fromiter(members, dtype=np.int64, count=len(members))] = c
    return labels


def main() -> None:
    """Time each method on a drawn population's friend graph and print one row per method."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000, help="population size (default: %(default)s)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per method, median reported (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="population and algorithm seed (default: %(default)s)"
    )
    parser.add_argument("--skip-networkx", action="store_true", help="do not run networkx")
    parser.add_argument(
        "--networkx-max-users",
        type=int,
        default=100_000,
        help="run networkx up to this size (default: %(default)s)",
    )
    args = parser.parse_args()

    start = time.perf_counter()
    pop = generate_population(PopulationConfig(n_users=args.users, seed=args.seed))
    generated = time.perf_counter() - start
    start = time.perf_counter()
    adjacency = adjacency_of(pop)
    built = time.perf_counter() - start
    n = adjacency.shape[0]
    planted = pop.labels["community"].to_numpy()
    real = planted >= 0
    print(
        f"users {n:,}, links {adjacency.nnz // 2:,}, planted communities {np.unique(planted[real]).size:,}, "
        f"sybils {int((~real).sum()):,}; population {generated:.1f} s, CSR {built:.1f} s"
    )
    start = time.perf_counter()
    louvain(sp.csr_matrix(np.ones((3, 3)) - np.eye(3)))  # numba compile or cache load
    print(f"numba warm-up {time.perf_counter() - start:.2f} s; repeats {args.repeats}, seed {args.seed}")

    rows: list[dict[str, Any]] = []

    def record(method: str, build: float | None, run: Callable[[], np.ndarray]) -> None:
        seconds, labels = timed(run, args.repeats)
        rows.append(
            {
                "method": method,
                "build s": build,
                "median s": seconds,
                "modularity": modularity(adjacency, labels),
                "communities": int(np.unique(labels).size),
                "NMI (real users)": nmi(labels[real], planted[real]),
            }
        )
        print(f"  {method}: {seconds:.2f} s", flush=True)

    record("credence louvain", None, lambda: louvain(adjacency, seed=args.seed))

    import igraph as ig

    start = time.perf_counter()
    upper = sp.triu(adjacency, k=1).tocoo()
    graph = ig.Graph(n=n, edges=np.column_stack([upper.row, upper.col]).tolist())
    graph.es["weight"] = upper.data.tolist()
    ig_build = time.perf_counter() - start

    def igraph_run(method: Callable[..., Any], **kwargs: Any) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            random.seed(args.seed)  # python-igraph draws from Python's random module
            return np.asarray(method(weights="weight", **kwargs).membership, dtype=np.int64)

        return run

    record("igraph multilevel", ig_build, igraph_run(graph.community_multilevel))
    record("igraph leiden", ig_build, igraph_run(graph.community_leiden, objective_function="modularity"))
    del graph

    if not args.skip_networkx and n <= args.networkx_max_users:
        import networkx as nx

        start = time.perf_counter()
        nx_graph = nx.Graph()
        nx_graph.add_nodes_from(range(n))
        nx_graph.add_weighted_edges_from(
            zip(upper.row.tolist(), upper.col.tolist(), upper.data.tolist(), strict=True)
        )
        nx_build = time.perf_counter() - start

        def networkx_run() -> np.ndarray:
            groups = nx.community.louvain_communities(nx_graph, weight="weight", seed=args.seed)
            return membership(groups, n)

        record("networkx louvain", nx_build, networkx_run)

    table = pd.DataFrame(rows)
    table.insert(3, "x credence", table["median s"] / table["median s"].iloc[0])
    table["build s"] = ["-" if pd.isna(v) else f"{v:.2f}" for v in table["build s"]]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            table.to_string(
                index=False,
                formatters={
                    "median s": "{:.2f}".format,
                    "x credence": "{:.1f}".format,
                    "modularity": "{:.5f}".format,
                    "NMI (real users)": "{:.4f}".format,
                },
            )
        )


if __name__ == "__main__":
    main()
