"""Compare the ten SSL methods on mnist5k and print a markdown table.

    python benchmarks/ssl_methods.py --seeds 0 1 2 --steps 400 --out runs/ssl

Every method runs with its default settings (``w_ssl`` None, no
``ssl_options``) unless ``--w-ssl`` or ``--options`` are given, which is how
the defaults were chosen: small sweeps on validation accuracy with one seed.
Test accuracy is the raw model at its best validation step. Seeds may run
in separate processes with separate ``--out`` folders; ``--merge A B C``
then prints one table from their ``summary.json`` files (a run of the same
method and seed in a later folder replaces an earlier one).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

from supercm.config import SSL_METHODS, TrainConfig
from supercm.train import Trainer, prepare_data

ALL_METHODS = [name for base in SSL_METHODS for name in (base, f"{base}+cm")]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--methods", nargs="+", default=ALL_METHODS,
                        choices=ALL_METHODS, metavar="METHOD")
    parser.add_argument("--out", default="runs/ssl_methods",
                        help="folder for the results records and summary.json")
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--labels-per-class", type=int, default=10)
    parser.add_argument("--w-ssl", type=float, default=None,
                        help="override every method's SSL weight (for sweeps)")
    parser.add_argument("--options", type=json.loads, default={},
                        help='ssl_options as JSON, e.g. \'{"vat_eps": 1.0}\'')
    parser.add_argument("--merge", nargs="+", default=None, metavar="FOLDER",
                        help="print one table from earlier --out folders; run nothing")
    return parser.parse_args(argv)


def run_one(method: str, seed: int, args, data) -> dict:
    """Train one method with one seed; return its accuracies and seconds."""
    base = method.removesuffix("+cm")
    config = TrainConfig(
        dataset=args.dataset, method=method, seed=seed, steps=args.steps,
        labels_per_class=args.labels_per_class,
        w_ssl=None if base == "ce" else args.w_ssl,
        ssl_options={} if base == "ce" else dict(args.options),
        out_dir=args.out, progress=False,
    )

    start = time.perf_counter()
    record = Trainer(config, data=data).fit()
    seconds = time.perf_counter() - start

    metrics = record["metrics"]
    return {
        "method": method, "seed": seed, "seconds": seconds,
        "test_acc": metrics["test_acc"], "val_acc": metrics["best_val_acc"],
        "per_step_ms": record["timings"]["per_step_ms"], "run_id": record["run_id"],
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), std


def table(rows: list[dict], methods: list[str]) -> str:
    """Markdown table: test and validation accuracy (mean and std) and s/run."""
    lines = [
        "| method | runs | test acc (%) | std | best val acc (%) | s / run "
        "| ms / step |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method in methods:
        runs = [r for r in rows if r["method"] == method]
        if not runs:
            continue
        test_mean, test_std = mean_std([r["test_acc"] for r in runs])
        val_mean, _ = mean_std([r["val_acc"] for r in runs])
        seconds = statistics.mean(r["seconds"] for r in runs)
        step_ms = statistics.mean(r["per_step_ms"] for r in runs)
        lines.append(
            f"| {method} | {len(runs)} | {test_mean:.1f} | {test_std:.1f} "
            f"| {val_mean:.1f} | {seconds:.0f} | {step_ms:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> str:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.merge:
        latest = {}
        for folder in args.merge:
            for row in json.loads((Path(folder) / "summary.json").read_text())["runs"]:
                latest[row["method"], row["seed"]] = row
        rows = list(latest.values())
        methods = [m for m in ALL_METHODS if any(r["method"] == m for r in rows)]
        summary = table(rows, methods)
        print(summary)
        return summary

    rows = []
    for seed in args.seeds:
        data = prepare_data(TrainConfig(
            dataset=args.dataset, seed=seed, labels_per_class=args.labels_per_class
        ))
        for method in args.methods:
            row = run_one(method, seed, args, data)
            rows.append(row)
            write_summary(args, rows)
            print(f"{method:8s} seed {seed}: test {row['test_acc']:.1f} "
                  f"val {row['val_acc']:.1f} ({row['seconds']:.0f} s)", flush=True)

    summary = write_summary(args, rows)
    print(summary)
    return summary


def write_summary(args, rows: list[dict]) -> str:
    """Write ``summary.json`` (every run so far and the table) into ``--out``."""
    summary = table(rows, args.methods)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(
        {"args": vars(args), "runs": rows, "table": summary}, indent=2
    ))
    return summary


if __name__ == "__main__":
    main()
