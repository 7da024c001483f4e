"""Training and inference samples per second of SmallCNN and WRN-28-2, and peak memory.

Each backbone is measured in a fresh process, so the peak resident memory
(``resource.getrusage``, also shown as the growth over the process after
its imports) belongs to that backbone alone; ``tracemalloc`` gives the peak
of Python-level allocations during one training step, and on CUDA the peak of
``torch.cuda.max_memory_allocated`` is reported as well. A training step is
a forward and backward pass of a CE+CM loss and an Adam update.

    python benchmarks/throughput.py [--device cpu] [--timed-steps 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

import torch
import torch.nn.functional as F

from supercm.backbones import Classifier, build_backbone
from supercm.cluster import clustering_loss

MODELS = {
    "smallcnn": {"input_shape": (1, 28, 28), "batch_size": 100},
    "wrn28-2": {"input_shape": (3, 32, 32), "batch_size": 64},
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, device_name: str, warmup: int, timed: int) -> dict:
    """Samples per second and peak memory of one backbone, in this process."""
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    device = torch.device(device_name)
    settings = MODELS[name]
    batch_size = settings["batch_size"]
    model = Classifier(build_backbone(name, settings["input_shape"]), 10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch_size, *settings["input_shape"], device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)

    def train_step():
        z, out = model.features_and_output(x)
        cm = clustering_loss(z, out.responsibilities, model.head.centroids)
        loss = F.cross_entropy(out.logits, y) + 0.2 * cm.total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def inference_step():
        model.eval()
        model(x)
        model.train()

    rates = {}
    for kind, step in (("train", train_step), ("inference", inference_step)):
        seconds = []
        for i in range(warmup + timed):
            start = time.perf_counter()
            step()
            synchronize(device)
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
        rates[f"{kind}_samples_per_s"] = batch_size / statistics.median(seconds)

    tracemalloc.start()
    train_step()
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "model": name, "device": device_name, "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        **rates,
        "peak_rss_mib": peak_rss,
        "added_rss_mib": peak_rss - baseline_rss,
        "python_peak_mib": python_peak / 2**20,
    }
    if device.type == "cuda":
        result["cuda_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--timed-steps", type=int, default=5)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(measure(args.models[0], args.device, args.warmup,
                                 args.timed_steps)))
        return

    print("| model | batch | parameters | train samples/s | inference samples/s "
          "| peak RSS MiB | added by the model MiB | Python peak of a step MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        command = [sys.executable, __file__, "--one", "--models", name,
                   "--device", args.device, "--warmup", str(args.warmup),
                   "--timed-steps", str(args.timed_steps)]
        output = subprocess.run(command, capture_output=True, text=True, check=True)
        r = json.loads(output.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['batch_size']} | {r['parameters']:,} "
              f"| {r['train_samples_per_s']:.0f} | {r['inference_samples_per_s']:.0f} "
              f"| {r['peak_rss_mib']:.0f} | {r['added_rss_mib']:.0f} "
              f"| {r['python_peak_mib']:.2f} |")
        if "cuda_peak_mib" in r:
            print(f"  CUDA peak allocated: {r['cuda_peak_mib']:.0f} MiB")
    print(f"(torch threads: {r['threads']}, device: {args.device})")


if __name__ == "__main__":
    main()
