"""Command line: ``python -m supercm train ...`` and ``python -m supercm download``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from .config import DEFAULT_SPLIT_SIZES, SPLIT_SIZES, TrainConfig
from .validation import ParameterError, parse_parameter

log = logging.getLogger("supercm")


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def rule_type(name: str):
    """An argparse ``type`` that parses and checks text with the shared rules."""

    def parse(text: str):
        try:
            return parse_parameter(name, text)
        except ParameterError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = name
    return parse


SIZE_HELP = {
    name: f"default: {DEFAULT_SPLIT_SIZES[i]}, "
    + ", ".join(f"{sizes[i]} for {data}" for data, sizes in SPLIT_SIZES.items())
    for i, name in enumerate(("val_size", "test_size"))
}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per TrainConfig field, named with dashes and checked with
    the rules of :mod:`supercm.validation`."""
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        if field.name in ("ssl_options", "resume", "download", "progress"):
            continue
        default = getattr(defaults, field.name)
        parser.add_argument(
            "--" + field.name.replace("_", "-"), dest=field.name,
            type=rule_type(field.name), default=default,
            help=SIZE_HELP.get(field.name, f"default: {default}"),
        )
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run's last checkpoint")
    parser.add_argument("--download", action="store_true",
                        help="download torchvision data sets into --data-root")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="switch the progress bar off")
    parser.add_argument("--ssl-option", dest="ssl_options", action="append",
                        default=[], metavar="KEY=VALUE",
                        help="method option, for example vat_eps=2.0 (repeatable)")


def _parse_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ParameterError("ssl_option", pair, "of the form KEY=VALUE")
        try:
            options[key] = float(value)
        except ValueError:
            raise ParameterError(f"ssl_option {key}", value, "a number") from None
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m supercm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one configuration")
    add_config_arguments(train)

    download = commands.add_parser("download", help="download a torchvision data set")
    download.add_argument("dataset", choices=["mnist", "usps", "svhn", "cifar10"])
    download.add_argument("--data-root", default=None)

    from . import grid as grid_module

    grid_module.add_arguments(commands)
    return parser


def run_train(args: argparse.Namespace) -> int:
    from . import distributed
    from .train import Trainer

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    values["ssl_options"] = _parse_options(values["ssl_options"])
    trainer = Trainer(TrainConfig(**values))
    if trainer.config.resume and not trainer.checkpoint_path.exists():
        print(f"no checkpoint for these settings at {trainer.checkpoint_path}; "
              "starting at step 0", file=sys.stderr)
    try:
        record = trainer.fit()
    except KeyboardInterrupt:
        if trainer.checkpoint_path.exists():
            how = "continue from its last checkpoint with --resume"
        elif trainer.config.checkpoint_every:
            how = ("no checkpoint was written yet (one every "
                   f"{trainer.config.checkpoint_every} steps); start again")
        else:
            how = "pass --checkpoint-every N to be able to resume"
        print(f"interrupted at step {trainer.step}; {how}", file=sys.stderr)
        return 130
    finally:
        distributed.teardown()
    if not trainer.dist.is_main:
        return 0
    metrics = record["metrics"]
    print(f"run {record['run_id']} ({record['timings']['total_s']:.1f} s)")
    for key, value in metrics.items():
        print(f"  {key:28s} {value:.2f}" if isinstance(value, float)
              else f"  {key:28s} {value}")
    print(f"results: {trainer.results_path}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from .data import data_root, load_torchvision

    root = data_root(args.data_root)
    source = load_torchvision(args.dataset, root, download=True)
    print(f"{args.dataset}: {len(source.x)} train, {len(source.test_x)} test in {root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a command; return 0 on success and 2 on bad input, with a one-line
    ``error: ...`` on stderr that names the parameter."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed
        return done.code if isinstance(done.code, int) else 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "train":
            return run_train(args)
        if args.command == "download":
            return run_download(args)
        return args.handler(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return 2
