"""How far a signed network's own signals predict bad ratings after T, and how much of it is exposure.

An independent check of ``credence backtest`` (docs/backtest.md): pandas and scipy over
the raw rating file, no Credence code. The cut ``T`` is the median rating time, the
population every user who rated or was rated before ``T``, *bad* a rating <= -5
received at or after ``T``, as the backtest defines them. For each plain signal of the
ratings before ``T`` it prints the ROC AUC in the credit direction (higher = less risk;
0.5 is chance, below 0.5 means the signal works the other way round): in the whole
population, and among users rated at least 1, 3 and 5 times after ``T`` (so that
everyone had that many chances to be rated badly). Then the Spearman correlation,
among exposed users, between ratings received before ``T`` and the share of bad ones
among those received after: is volume a risk per trade, or only more chances?

    .venv/bin/python benchmarks/backtest_exposure.py ../shared/data/bitcoin-alpha.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats


def auc(signal: pd.Series, bad: pd.Series) -> float:
    """P(a good user's signal > a bad user's), ties half: the rank-sum statistic."""
    ranks = stats.rankdata(signal.to_numpy(dtype=np.float64))
    n_bad = int(bad.sum())
    n_good = len(bad) - n_bad
    if n_bad == 0 or n_good == 0:
        return float("nan")
    good_rank_sum = ranks[~bad.to_numpy()].sum()
    return float((good_rank_sum - n_good * (n_good + 1) / 2) / (n_good * n_bad))


def main() -> None:
    """Print the AUC table and the per-trade correlation for one signed rating file."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path, help="A SNAP signed CSV: source,target,weight,timestamp.")
    parser.add_argument("--bad-rating", type=float, default=-5.0)
    args = parser.parse_args()
    ratings = pd.read_csv(args.source)
    at = float(np.median(ratings["timestamp"]))
    before = ratings[ratings["timestamp"] < at]
    after = ratings[ratings["timestamp"] >= at]
    people = pd.Index(pd.unique(pd.concat([before["source"], before["target"]])))
    received = before.groupby("target")["weight"]
    signals = pd.DataFrame(
        {
            "received": received.size(),
            "given": before.groupby("source").size(),
            "mean rating received": received.mean(),
            "negatives received (fewer = better)": -received.apply(lambda w: (w < 0).sum()),
            "share negative (lower = better)": -received.apply(lambda w: (w < 0).mean()),
            "last active": pd.concat(
                [before.groupby("source")["timestamp"].max(), before.groupby("target")["timestamp"].max()],
                axis=1,
            ).max(axis=1),
        }
    ).reindex(people)
    # No rating received: neutral values, not missing ones.
    signals = signals.fillna(
        {"received": 0, "given": 0, "mean rating received": 0.0, "negatives received (fewer = better)": 0}
    ).fillna({"share negative (lower = better)": 0.0})
    later = after[after["target"].isin(people)].groupby("target")["weight"]
    exposure = later.size().reindex(people, fill_value=0)
    bad_later = later.apply(lambda w: (w <= args.bad_rating).sum()).reindex(people, fill_value=0)
    bad = bad_later > 0
    print(f"{args.source}: T = {at:.0f}, {len(people):,} users active before T, {int(bad.sum())} bad")
    strata = {
        "all": exposure >= 0,
        ">= 1 after T": exposure >= 1,
        ">= 3": exposure >= 3,
        ">= 5": exposure >= 5,
    }
    header = f"{'signal (credit direction)':<40}" + "".join(f"{name:>15}" for name in strata)
    print(header)
    print(
        f"{'users / bad':<40}"
        + "".join(f"{f'{int(m.sum())}/{int(bad[m].sum())}':>15}" for m in strata.values())
    )
    for name in signals.columns:
        cells = "".join(f"{auc(signals.loc[m, name], bad[m]):>15.3f}" for m in strata.values())
        print(f"{name:<40}{cells}")
    exposed = exposure >= 1
    rho = stats.spearmanr(signals.loc[exposed, "received"], (bad_later / exposure.clip(lower=1))[exposed])
    print(
        f"Spearman, exposed users: ratings received before T vs share of bad ratings after T = "
        f"{rho.statistic:.3f} (p = {rho.pvalue:.2g})"
    )


if __name__ == "__main__":
    main()
