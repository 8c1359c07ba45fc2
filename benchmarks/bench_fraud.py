"""Benchmark fraud detection on synthetic populations with planted rings and sybil regions.

For each scenario (attack links per sybil region, number of collusion rings, sybil
attack model) a population is drawn with :func:`credence.seeds.synthetic.generate_population`
(``--attack-models``: ``random``, ``hubs``, ``mimic``, ``seeded``; see
``PopulationConfig.attack_model``) and:

* **rings**: :func:`credence.scoring.fraud.dense_subgraphs` for each ``--weightings``
  (``k`` = planted rings + 5, members removed after each block) then :func:`credence.scoring.fraud.rank_clusters`
  (history length = repayment records); the top ``R`` ranked blocks, ``R`` the
  number of planted rings, are the reported rings. *Precision* is the share of
  reported members that are planted ring members, *recall* the share of planted
  ring members reported, *exact* the number of planted rings reported exactly.
* **sybils**: :func:`credence.scoring.trust.sybil_trust` from ``--seeds`` random verified
  (``id_verified``) users, default iterations, once per ``--seed-groups`` value
  ``G`` (``seed_groups=G``: the seeds in ``G`` disjoint groups, ranked by the
  median over the groups; 1 is plain SybilRank); *AUC g=G* is the probability
  that a random honest user ranks above a random sybil by the ranking score
  (trust / degree, or its median over the groups; ties half), *trust s g=G* the
  seconds of that call. The seeds are the same for every attack model (the
  models share the honest users and their flags).

The table has one row per scenario; ``attack/sybil`` is the number of attack
links per sybil (the product target: sybil AUC >= 0.9 up to 0.1).

    .venv/bin/python benchmarks/bench_fraud.py --users 20000 --attacks 5,20,50 --rings 5,20 --weightings log,sqrt
    .venv/bin/python benchmarks/bench_fraud.py --attack-models random,hubs,mimic,seeded
    .venv/bin/python benchmarks/bench_fraud.py --attack-models random,seeded --seed-groups 1,10
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata

from credence.scoring.fraud import dense_subgraphs, rank_clusters
from credence.scoring.trust import sybil_trust
from credence.seeds.synthetic import ATTACK_MODELS, Population, generate_population


def adjacency_of(pop: Population) -> sp.csr_matrix:
    """The symmetric weighted adjacency, nodes in the order of ``pop.users``."""
    index = pd.Index(pop.users["id"].astype(str))
    src = index.get_indexer(pd.Index(pop.links["source"].astype(str)))
    dst = index.get_indexer(pd.Index(pop.links["target"].astype(str)))
    w = pop.links["weight"].to_numpy(dtype=np.float64)
    n = len(index)
    coo = sp.coo_matrix((np.r_[w, w], (np.r_[src, dst], np.r_[dst, src])), shape=(n, n))
    return sp.csr_matrix(coo)


def history_of(pop: Population) -> np.ndarray:
    """Repayment records per user, in the order of ``pop.users``."""
    counts = pop.repayments["user"].astype(str).value_counts()
    return counts.reindex(pop.users["id"].astype(str), fill_value=0).to_numpy(dtype=np.float64)


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting half."""
    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ring_metrics(
    adjacency: sp.csr_matrix, ring: np.ndarray, history: np.ndarray, rings: int, weighting: str
) -> dict:
    """Precision, recall and exact hits of the top ``rings`` ranked blocks."""
    start = time.perf_counter()
    blocks = dense_subgraphs(adjacency, k=rings + 5, weighting=weighting)
    seconds = time.perf_counter() - start
    top = rank_clusters(adjacency, blocks, history_length=history)[:rings]
    reported = np.concatenate([e.members for e in top]) if top else np.empty(0, dtype=np.int64)
    planted = ring >= 0
    precision = float(planted[reported].mean()) if reported.size else float("nan")
    recall = float(np.isin(np.flatnonzero(planted), reported).mean()) if planted.any() else float("nan")
    exact = sum(
        1
        for e in top
        if ring[e.members[0]] >= 0 and np.array_equal(np.flatnonzero(ring == ring[e.members[0]]), e.members)
    )
    return {
        f"P@top {weighting}": round(precision, 3),
        f"recall {weighting}": round(recall, 3),
        f"exact {weighting}": exact,
        f"peel s {weighting}": round(seconds, 2),
    }


def run(
    users: int,
    attack: int,
    rings: int,
    ring_size: int,
    sybils: int,
    regions: int,
    n_seeds: int,
    seed: int,
    weightings: list[str],
    attack_model: str = "random",
    seed_groups: tuple[int, ...] = (1,),
) -> dict:
    """One scenario: draw its population, find its rings and rank its sybils; the table row.

    Parameters
    ----------
    users, rings, ring_size, sybils, regions, attack, attack_model, seed
        The population: size, planted rings and their size, sybils per region,
        sybil regions, attack links per region, the attack model and the seed.
    n_seeds : int
        Trust seeds, drawn among the honest ``id_verified`` users (the same for
        every attack model).
    weightings : list of str
        Link weightings of the ring search, one set of ring columns each.
    seed_groups : tuple of int
        SybilRank is run once per value, with the seeds in that many groups.

    Returns
    -------
    dict
        The scenario, then precision, recall, exact hits and seconds per weighting,
        then AUC and seconds per seed-group count (NaN without sybil regions).
    """
    pop = generate_population(
        n_users=users,
        sybil_regions=regions,
        sybils_per_region=sybils,
        attack_links_per_region=attack,
        attack_model=attack_model,
        rings=rings,
        ring_size=ring_size,
        seed=seed,
    )
    adjacency = adjacency_of(pop)
    ring = pop.labels["ring"].to_numpy()
    is_sybil = pop.labels["is_sybil"].to_numpy()
    history = history_of(pop)

    row: dict = {
        "users": users,
        "links": adjacency.nnz // 2,
        "rings": rings,
        "sybils/region": sybils,
        "attack/region": attack,
        "attack/sybil": round(attack / sybils, 3) if sybils else float("nan"),
        "model": attack_model,
    }
    for weighting in weightings:
        row.update(ring_metrics(adjacency, ring, history, rings, weighting))

    rng = np.random.default_rng(seed)
    verified = np.flatnonzero(pop.users["id_verified"].to_numpy(dtype=bool) & ~is_sybil)
    seeds = rng.choice(verified, min(n_seeds, verified.size), replace=False)
    for groups in seed_groups:
        start = time.perf_counter()
        trust = sybil_trust(adjacency, seeds, seed_groups=groups)
        row[f"trust s g={groups}"] = round(time.perf_counter() - start, 2)
        row[f"AUC g={groups}"] = round(auc(trust.normalized, ~is_sybil), 4) if regions else float("nan")
    return row


def main() -> None:
    """Parse the arguments and run every scenario (attack links x rings x attack model); print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000, help="population size (default: %(default)s)")
    parser.add_argument(
        "--attacks", default="5,20,50", help="attack links per sybil region (default: %(default)s)"
    )
    parser.add_argument("--rings", default="5,20", help="planted ring counts (default: %(default)s)")
    parser.add_argument("--ring-size", type=int, default=8, help="members per ring (default: %(default)s)")
    parser.add_argument("--sybils", type=int, default=200, help="sybils per region (default: %(default)s)")
    parser.add_argument("--regions", type=int, default=2, help="sybil regions (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=100, help="trust seeds (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="population seed (default: %(default)s)")
    parser.add_argument(
        "--weightings", default="log,sqrt", help="peeling weightings to compare (default: %(default)s)"
    )
    parser.add_argument(
        "--attack-models",
        default="random",
        help=f"sybil attack models, some of {','.join(ATTACK_MODELS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--seed-groups",
        default="1",
        help="sybil_trust seed_groups values to compare, e.g. 1,10 (default: %(default)s)",
    )
    args = parser.parse_args()
    models = [m for m in args.attack_models.split(",") if m]
    unknown = [m for m in models if m not in ATTACK_MODELS]
    if unknown or not models:
        parser.error(f"--attack-models: unknown {unknown}; choose among {','.join(ATTACK_MODELS)}")
    try:
        seed_groups = tuple(int(g) for g in args.seed_groups.split(",") if g)
    except ValueError:
        parser.error(f"--seed-groups: {args.seed_groups!r} is not a comma list of integers")
    if not seed_groups or not all(1 <= g <= args.seeds for g in seed_groups):
        parser.error(f"--seed-groups: each value must be in [1, --seeds = {args.seeds}]")
    rows = [
        run(
            args.users,
            attack,
            rings,
            args.ring_size,
            args.sybils,
            args.regions,
            args.seeds,
            args.seed,
            [w for w in args.weightings.split(",") if w],
            model,
            seed_groups,
        )
        for rings in (int(r) for r in args.rings.split(",") if r)
        for attack in (int(a) for a in args.attacks.split(",") if a)
        for model in models
    ]
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
