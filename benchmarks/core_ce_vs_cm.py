"""CE against CE+CM on mnist5k with few labels, several seeds: mean and std.

Usage: python benchmarks/core_ce_vs_cm.py [--seeds 0 1 2] [--steps N] [--out DIR]
    [--augment on off]

Prints a markdown table of test accuracy (raw model at its best validation step,
and at the last step) and seconds per run, once with the data set's default
augmentation (random translation) and once without it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from supercm.config import TrainConfig
from supercm.train import Trainer


def run(method: str, seed: int, augment: bool, args) -> tuple[dict, float]:
    config = TrainConfig(
        dataset="mnist5k", method=method, labels_per_class=args.labels_per_class,
        seed=seed, augment=augment, progress=False, out_dir=args.out,
        **({"steps": args.steps} if args.steps else {}),
    )
    start = time.perf_counter()
    record = Trainer(config).fit()
    return record["metrics"], time.perf_counter() - start


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {spread:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["ce", "ce+cm"])
    parser.add_argument("--labels-per-class", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", default="runs/benchmarks")
    parser.add_argument("--augment", nargs="+", choices=["on", "off"],
                        default=["on", "off"])
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"mnist5k, {args.labels_per_class} labels per class, seeds {args.seeds}")
    print("| method | augmentation | test acc (best val) | test acc (last) "
          "| s per run |")
    print("| --- | --- | --- | --- | --- |")
    means = {}
    for augment in args.augment:
        for method in args.methods:
            results = [run(method, seed, augment == "on", args) for seed in args.seeds]
            best = [metrics["test_acc"] for metrics, _ in results]
            last = [metrics["test_acc_last"] for metrics, _ in results]
            seconds = [elapsed for _, elapsed in results]
            means[method, augment] = statistics.mean(best)
            print(f"| {method} | {augment} | {mean_std(best)} | {mean_std(last)} | "
                  f"{mean_std(seconds)} |", flush=True)
    print()
    for augment in args.augment:
        if ("ce", augment) in means and ("ce+cm", augment) in means:
            gain = means["ce+cm", augment] - means["ce", augment]
            print(f"CE+CM - CE, augmentation {augment}: {gain:+.1f} points")


if __name__ == "__main__":
    main()
