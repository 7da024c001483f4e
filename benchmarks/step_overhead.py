"""Cost of a CE+CM training step relative to a plain CE step, and its accuracy.

The published centroid refresh spends an extra eval-mode forward pass of the
labeled batch every step (``centroid_source='extra_pass'``); the cheaper way
reuses the detached labeled features of the training pass
(``centroid_source='train_pass'``). Both are timed on the same backbone and
batch as a CE step (median of many steps after a warm-up, the three kinds
interleaved so that background load hits them alike), then trained with
three seeds to compare accuracy.

    python benchmarks/step_overhead.py [--timed-steps 60] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from supercm.config import TrainConfig
from supercm.grid import expand_grid, run_grid, summarise
from supercm.train import Trainer, prepare_data

KINDS = {
    "ce": {"method": "ce"},
    "ce+cm extra_pass": {"method": "ce+cm", "centroid_source": "extra_pass"},
    "ce+cm train_pass": {"method": "ce+cm", "centroid_source": "train_pass"},
}


def time_steps(base: TrainConfig, warmup: int, timed: int) -> dict[str, list[float]]:
    """Seconds per ``train_step`` of each kind, on one fixed batch."""
    data = prepare_data(base)
    trainers = {
        name: Trainer(TrainConfig(**{**base.to_dict(), **changes}), data=data)
        for name, changes in KINDS.items()
    }
    any_trainer = next(iter(trainers.values()))
    x_labeled = any_trainer._to_device(data.x_labeled[:base.batch_size])
    y_labeled = data.y_labeled[:base.batch_size].to(any_trainer.device)
    x_unlabeled = any_trainer._to_device(data.x_unlabeled[:base.unlabeled_batch_size])

    seconds = {name: [] for name in trainers}
    for round_ in range(warmup + timed):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            trainer.train_step(x_labeled, y_labeled, x_unlabeled)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            if round_ >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--backbone", default="auto")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--timed-steps", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--train-steps", type=int, default=400)
    parser.add_argument("--out-dir", default="runs/benchmarks/step_overhead")
    args = parser.parse_args(argv)

    base = TrainConfig(dataset=args.dataset, backbone=args.backbone,
                       labels_per_class=10, progress=False)
    seconds = time_steps(base, args.warmup, args.timed_steps)
    ce = statistics.median(seconds["ce"])
    print(f"step time on {args.dataset}, backbone {args.backbone}, batch "
          f"{base.batch_size}+{base.unlabeled_batch_size}, torch threads "
          f"{torch.get_num_threads()}, median of {args.timed_steps} steps")
    print("| step | median ms | overhead vs ce |")
    print("| --- | --- | --- |")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {1000 * median:.1f} | {100 * (median / ce - 1):+.1f} % |")

    if not args.seeds:
        return
    configs = expand_grid(
        TrainConfig(**{**base.to_dict(), "method": "ce+cm",
                       "steps": args.train_steps}),
        centroid_source=["extra_pass", "train_pass"], seed=args.seeds,
    )
    records = run_grid(configs, args.out_dir)
    print()
    print(f"accuracy, {args.dataset}, 10 labels per class, {args.train_steps} steps, "
          f"seeds {args.seeds}")
    print(summarise(records, by=["centroid_source"]).markdown)
    per_step = {}
    for record in records:
        source = record["config"]["centroid_source"]
        per_step.setdefault(source, []).append(record["timings"]["per_step_ms"])
    for source, values in per_step.items():
        print(f"{source}: {statistics.mean(values):.1f} ms a step in full runs")


if __name__ == "__main__":
    main()
