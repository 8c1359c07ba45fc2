"""Benchmark the diffusion y = (1 - a) b + a P y: Credence's solver against its peers.

Every method solves the same seeded graph in one process and is held to the same
guaranteed max-abs error; see benchmarks/diffusion_peers.py for the method.

    .venv/bin/python benchmarks/bench_diffusion.py --sizes 100k,1m,4m --damping 0.85 --tol 1e-6

`--peers scipy` prints, per graph, `diffuse()` (its first call on a new matrix, and
repeated calls on the cached matrix) beside the plain scipy float32 power iteration as
ratios, with the per-phase times.
"""

from __future__ import annotations

import argparse

from diffusion_peers import PEERS, run_diffusion_benchmark


def main() -> None:
    """Parse the arguments and run :func:`diffusion_peers.run_diffusion_benchmark` on the chosen peers."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="100k,1m,4m", help="user counts, ~10 links each (default: %(default)s)"
    )
    parser.add_argument(
        "--damping", type=float, default=0.85, help="continue probability a (default: %(default)s)"
    )
    parser.add_argument(
        "--tol", type=float, default=1e-6, help="guaranteed max-abs error (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per method, median reported (default: %(default)s)"
    )
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="graph seed (default: %(default)s)")
    args = parser.parse_args()
    peers = [peer for peer in args.peers.split(",") if peer]
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        parser.error(f"--peers: unknown peers {unknown}; choose from {', '.join(PEERS)}")
    run_diffusion_benchmark(
        sizes=[size for size in args.sizes.split(",") if size],
        damping=args.damping,
        tol=args.tol,
        repeats=args.repeats,
        peers=peers,
        seed=args.seed,
    )


if __name__ == "__main__":
    main()
