"""Domain adaptation on mnist5k -> ucidigits: target accuracy and Proxy-A distance.

    python benchmarks/uda.py --seeds 0 1 2 --steps 400 --methods source dann dann+cm

Each run uses ``supercm.uda.UDA_DEFAULTS``; target accuracy is the raw model
at its best SOURCE validation step (no target label chooses anything). The
table also shows the oracle (best target accuracy over all evaluations),
which does read target labels and is only a ceiling.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from supercm.config import TrainConfig
from supercm.train import Trainer
from supercm.uda import UDA_DEFAULTS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--methods", nargs="+",
                        default=["source", "dann", "dann+cm", "source+cm"])
    parser.add_argument("--out-dir", default=None,
                        help="where results records go (default: a temporary folder)")
    return parser.parse_args(argv)


def run_one(method: str, seed: int, steps: int, out_dir: str) -> dict:
    config = TrainConfig(**{
        **UDA_DEFAULTS, "method": method, "seed": seed, "steps": steps,
        "eval_every": max(1, steps // 4), "progress": False, "out_dir": out_dir,
    })
    start = time.perf_counter()
    record = Trainer(config).fit()
    record["wall_s"] = time.perf_counter() - start
    return record


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {std:.1f}"


def mean_std2(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


def table(results: dict[str, list[dict]]) -> str:
    lines = [
        "| method | target acc (%) | Proxy-A distance | source val acc (%) "
        "| oracle target acc (%) | s / run |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for method, records in results.items():
        metrics = [r["metrics"] for r in records]
        lines.append(
            f"| {method} "
            f"| {mean_std([m['test_acc'] for m in metrics])} "
            f"| {mean_std2([m['proxy_a_distance'] for m in metrics])} "
            f"| {mean_std([m['best_val_acc'] for m in metrics])} "
            f"| {mean_std([m['oracle_test_acc'] for m in metrics])} "
            f"| {mean_std([r['wall_s'] for r in records])} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="supercm-uda-")
    results: dict[str, list[dict]] = {}
    for method in args.methods:
        for seed in args.seeds:
            record = run_one(method, seed, args.steps, out_dir)
            results.setdefault(method, []).append(record)
            target = record["metrics"]["test_acc"]
            print(f"{method} seed {seed}: target {target:.1f} %, "
                  f"{record['wall_s']:.0f} s", flush=True)
    print(f"\nmnist5k -> ucidigits, {args.steps} steps, seeds {args.seeds}\n")
    print(table(results))


if __name__ == "__main__":
    main()
