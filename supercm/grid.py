"""Grids of runs: every combination of a few settings, several seeds, one table.

``python -m supercm grid --method ce ce+cm --labels-per-class 1 10 --seed 0 1 2``
trains each combination once. A run whose results record already exists is
read instead of trained, and a run interrupted after a checkpoint continues
from it, so re-running the same command finishes an interrupted grid. The
grid writes ``<name>_runs.csv`` (one row a run), ``<name>_summary.csv`` and
``<name>_summary.md`` (mean and standard deviation over seeds).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from .centroids import CENTROID_MODES, CENTROID_UPDATES
from .config import CENTROID_SOURCES, TrainConfig
from .results import read_json, write_atomic
from .validation import ParameterError, check_choice

log = logging.getLogger(__name__)

# Settings a grid may vary; each takes one value or a list of values.
AXES = (
    "dataset", "method", "labels_per_class", "seed", "beta", "temperature",
    "centroid_mode", "centroid_update", "centroid_source",
)
# Settings read only by the clustering module's loss and centroids.
CM_ONLY_FIELDS = (
    "beta", "alpha", "centroid_mode", "centroid_update", "centroid_momentum",
    "centroid_source", "pseudo_threshold",
)
# Ready-made one-axis ablations for ``ce+cm``.
ABLATIONS = {
    "beta": (0.2, 1.0, 3.0, 10.0),
    "temperature": (0.5, 1.0, 2.0),
    "centroid_mode": CENTROID_MODES,
    "centroid_update": CENTROID_UPDATES,
    "centroid_source": CENTROID_SOURCES,
    "labels_per_class": (1, 5, 10, 50),
}
RUN_COLUMNS = (
    "test_acc", "test_acc_last", "ema_test_acc_at_best_val", "best_val_acc",
    "best_step",
)


class Summary(NamedTuple):
    """Mean and standard deviation per group: ``rows`` (list of dicts) and the
    same table as ``markdown``."""

    rows: list[dict]
    markdown: str


def expand_grid(
    base: TrainConfig | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    **axes,
) -> list[TrainConfig]:
    """Every combination of the ``axes`` values on top of ``base``.

    ``axes`` maps a name in :data:`AXES` to a value or a list of values;
    ``pairs`` lists ``(source, target)`` data sets for domain adaptation and
    replaces the ``dataset`` axis. For a method without ``+cm`` the settings
    of the clustering module are reset to ``base``'s, so a baseline is
    trained once rather than once per beta or centroid mode.

    >>> configs = expand_grid(method=["ce", "ce+cm"], seed=[0, 1, 2])
    >>> len(configs)
    6
    """
    base = base or TrainConfig()
    for name in axes:
        check_choice("grid axis", name, AXES)
    if pairs is not None:
        if "dataset" in axes:
            raise ParameterError("dataset", axes["dataset"],
                                 "no dataset axis next to pairs")
        axes = {"pair": [tuple(pair) for pair in pairs], **axes}
    names = list(axes)
    values = [_as_list(axes[name]) for name in names]

    configs, seen = [], set()
    for combination in itertools.product(*values):
        changes = dict(zip(names, combination, strict=True))
        if "pair" in changes:
            changes["dataset"], changes["target_dataset"] = changes.pop("pair")
        config = dataclasses.replace(base, **changes)
        if not config.use_cm:
            config = dataclasses.replace(
                config, **{name: getattr(base, name) for name in CM_ONLY_FIELDS}
            )
        config.validate()
        if config.run_id() not in seen:
            seen.add(config.run_id())
            configs.append(config)
    return configs


def ablation(
    name: str,
    base: TrainConfig | None = None,
    seeds: Iterable[int] = (0, 1, 2),
    values: Sequence | None = None,
) -> list[TrainConfig]:
    """A one-axis ablation of ``ce+cm`` (see :data:`ABLATIONS` for the values)."""
    check_choice("ablation", name, tuple(ABLATIONS))
    base = dataclasses.replace(base or TrainConfig(), method="ce+cm")
    return expand_grid(base, **{name: values or ABLATIONS[name], "seed": list(seeds)})


def results_path(config: TrainConfig, out_dir: str | Path) -> Path:
    return Path(out_dir) / f"{config.run_id()}.json"


def run_grid(
    configs: Iterable[TrainConfig],
    out_dir: str | Path = "runs/grid",
    callbacks: list | None = None,
    checkpoint_every: int | None = None,
) -> list[dict]:
    """Train every config not yet finished in ``out_dir``; return all records.

    Finished runs (their results JSON exists) are read, not retrained.
    Every run writes a checkpoint each ``checkpoint_every`` steps (default:
    its ``eval_every``) and starts from its checkpoint if one exists, so an
    interrupted grid continues where it stopped. A run whose loss diverges
    is logged and left out of the records.
    """
    from .train import NonFiniteLossError, Trainer

    records = []
    for config in configs:
        path = results_path(config, out_dir)
        if path.exists():
            log.info("skip %s: %s exists", config.run_id(), path)
            records.append(read_json(path))
            continue

        every = checkpoint_every or config.checkpoint_every or config.eval_every
        config = dataclasses.replace(
            config, out_dir=str(out_dir), resume=True, checkpoint_every=every,
        )
        log.info("train %s", config.run_id())
        try:
            records.append(Trainer(config, callbacks).fit())
        except NonFiniteLossError as error:
            log.warning("run %s diverged and is left out: %s", config.run_id(), error)
    return records


def summarise(
    records: Sequence[dict],
    by: Sequence[str] = ("method", "labels_per_class"),
    metric: str = "test_acc",
) -> Summary:
    """Mean and sample standard deviation of ``metric`` per group of ``by``.

    ``by`` names config fields; ``metric`` a key of the records' ``metrics``.
    Groups keep the order in which they first appear. The standard deviation
    of a single run is reported as NaN.
    """
    from .analysis import mean_std

    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if metric not in record["metrics"]:
            raise ParameterError("metric", metric,
                                 f"one of {sorted(record['metrics'])}")
        key = tuple(_config_value(record, name) for name in by)
        groups.setdefault(key, []).append(record)

    rows = []
    for key, members in groups.items():
        mean, std = mean_std([record["metrics"][metric] for record in members])
        rows.append({
            **dict(zip(by, key, strict=True)), "metric": metric, "mean": mean,
            "std": std if len(members) > 1 else math.nan, "n": len(members),
            "seeds": sorted(record["config"]["seed"] for record in members),
        })
    return Summary(rows, to_markdown(rows, by, metric))


def to_markdown(rows: Sequence[dict], by: Sequence[str], metric: str) -> str:
    """A markdown table: one column per ``by`` field, then ``mean ± std`` and n."""
    from .analysis import format_mean_std, markdown_table

    cells = [
        {**{name: str(row[name]) for name in by}, "n": str(row["n"]),
         "value": format_mean_std(row["mean"], row["std"], row["n"], digits=2)}
        for row in rows
    ]
    columns = {**{name: name for name in by}, "value": f"{metric} (mean ± std)",
               "n": "runs"}
    return markdown_table(cells, columns) + "\n"


def run_rows(records: Sequence[dict], fields: Sequence[str] = AXES) -> list[dict]:
    """One flat row per run: its id, the ``fields`` of its config, its metrics."""
    rows = []
    for record in records:
        row = {"run_id": record["run_id"]}
        row.update({name: _config_value(record, name) for name in fields})
        row.update({name: record["metrics"].get(name) for name in RUN_COLUMNS})
        row["train_s"] = record.get("timings", {}).get("train_s")
        rows.append(row)
    return rows


def write_tables(
    records: Sequence[dict],
    summary: Summary,
    out_dir: str | Path,
    name: str = "grid",
) -> list[Path]:
    """Write ``<name>_runs.csv``, ``<name>_summary.csv`` and ``<name>_summary.md``."""
    out_dir = Path(out_dir)
    summary_rows = [
        {**row, "seeds": " ".join(map(str, row["seeds"]))} for row in summary.rows
    ]
    return [
        write_atomic(out_dir / f"{name}_runs.csv", _csv(run_rows(records))),
        write_atomic(out_dir / f"{name}_summary.csv", _csv(summary_rows)),
        write_atomic(out_dir / f"{name}_summary.md", summary.markdown.encode()),
    ]


def _csv(rows: Sequence[dict]) -> bytes:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue().encode()


def _config_value(record: dict, name: str):
    if name == "pair":
        config = record["config"]
        return f"{config['dataset']}->{config['target_dataset']}"
    if name not in record["config"]:
        raise ParameterError("by", name, "a TrainConfig field or 'pair'")
    return record["config"][name]


def _as_list(value) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _pair(text: str) -> tuple[str, str]:
    source, sep, target = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected SOURCE:TARGET, got {text!r}")
    return source, target


def add_arguments(commands) -> None:
    """Register the ``grid`` sub-command: the ``train`` options, where each
    grid axis takes several values."""
    from .cli import add_config_arguments

    parser = commands.add_parser(
        "grid", help="train a grid of runs and tabulate mean and std over seeds",
        description=__doc__, conflict_handler="resolve",
    )
    add_config_arguments(parser)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    kinds = {"labels_per_class": int, "seed": int, "beta": float, "temperature": float}
    for name in AXES:
        parser.add_argument(
            "--" + name.replace("_", "-"), dest=name, nargs="+",
            type=kinds.get(name, str), help="one or more values",
        )
    parser.add_argument("--pairs", nargs="+", type=_pair, metavar="SOURCE:TARGET",
                        help="domain pairs, for example mnist5k:ucidigits")
    parser.add_argument("--ablation", choices=sorted(ABLATIONS),
                        help="vary this setting of ce+cm over its usual values")
    parser.add_argument("--profile", default=None,
                        help="start from this profile's settings "
                             "(default: $SUPERCM_PROFILE, else workshop)")
    parser.add_argument("--by", nargs="+", default=None,
                        help="group the summary by these settings "
                             "(default: the axes with several values)")
    parser.add_argument("--metric", default="test_acc")
    parser.add_argument("--table-name", default="grid")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the runs and whether they are done; train none")
    for action in parser._actions:  # settings not given come from the profile
        if action.dest in fields:
            action.default = argparse.SUPPRESS
            if action.help and action.help.startswith("default:"):
                action.help = action.help.replace(
                    "default:", "default: the profile's value, else", 1)
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from .cli import _parse_options
    from .profiles import get_profile

    given = vars(args)
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    settings = {name: given[name] for name in fields
                if name in given and name not in AXES}
    if "ssl_options" in settings:
        settings["ssl_options"] = _parse_options(settings["ssl_options"])
    settings.setdefault("out_dir", "runs/grid")
    settings.setdefault("progress", False)
    base = get_profile(args.profile).config(**settings)
    axes = {name: given[name] for name in AXES if name in given}
    if args.ablation:
        axes.setdefault("method", ["ce+cm"])
        axes.setdefault(args.ablation, list(ABLATIONS[args.ablation]))
    configs = expand_grid(base, pairs=args.pairs, **axes)

    by = args.by or [name for name, values in axes.items()
                     if len(values) > 1 and name != "seed"]
    if args.pairs:
        by = ["pair", *by] if args.by is None else by
    by = by or ["method"]

    from .train import METRICS

    check_choice("metric", args.metric, METRICS)
    for name in by:
        if name != "pair" and name not in fields:
            raise ParameterError("by", name, "a TrainConfig field or 'pair'")

    if args.dry_run:
        for config in configs:
            done = results_path(config, base.out_dir).exists()
            print(f"{'done' if done else 'todo'}  {config.run_id()}")
        return 0

    records = run_grid(configs, base.out_dir)
    summary = summarise(records, by, args.metric)
    paths = write_tables(records, summary, base.out_dir, args.table_name)
    print(summary.markdown)
    for path in paths:
        print(f"wrote {path}")
    return 0
