"""Time ``make book`` per profile: notebook execution, rendering, wall clock.

Runs ``python -m supercm.book build --profile P`` for each profile given
(into ``<build-dir>/<profile>`` so profiles do not overwrite each other),
measures the wall time, and reads the per-notebook timings the builder
writes to ``timings/<profile>.json``. With ``--read`` nothing is built: the
timings of an earlier build are read and printed.

    python benchmarks/book_time.py --profiles smoke workshop
    python benchmarks/book_time.py --read --build-dir _build
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def build(profile: str, build_dir: Path, extra: list[str]) -> tuple[float, int]:
    """Run the book build of one profile; return its wall seconds and exit code."""
    command = [sys.executable, "-m", "supercm.book", "build", "--profile", profile,
               "--build-dir", str(build_dir), *extra]
    start = time.perf_counter()
    process = subprocess.run(command)
    return time.perf_counter() - start, process.returncode


def read_timings(build_dir: Path, profile: str) -> dict | None:
    path = build_dir / "timings" / f"{profile}.json"
    return json.loads(path.read_text()) if path.exists() else None


def report(profile: str, timings: dict | None, wall_s: float | None) -> list[str]:
    lines = [f"## {profile}"]
    if timings is None:
        lines.append("no timings written (the build did not get that far)")
    else:
        lines += ["| notebook | seconds | ok |", "| --- | --- | --- |"]
        for run in timings["notebooks"]:
            lines.append(f"| {run['notebook']} | {run['seconds']:.1f} "
                         f"| {'yes' if run['ok'] else 'no'} |")
        lines.append(f"| all notebooks | {timings['notebooks_s']:.1f} | "
                     f"{'yes' if timings['ok'] else 'no'} |")
        if timings.get("render_s") is not None:
            lines.append(f"| jupyter-book render | {timings['render_s']:.1f} | |")
    if wall_s is not None:
        lines.append(f"| wall clock of the build | {wall_s:.1f} | |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["smoke"],
                        choices=["smoke", "workshop", "paper"])
    parser.add_argument("--build-dir", default="_build/book_time")
    parser.add_argument("--read", action="store_true",
                        help="only read the timings of an earlier build")
    parser.add_argument("--no-html", action="store_true",
                        help="execute the notebooks but skip rendering")
    args = parser.parse_args(argv)

    failed = 0
    for profile in args.profiles:
        if args.read:
            build_dir, wall_s = Path(args.build_dir), None
        else:
            build_dir = Path(args.build_dir) / profile
            extra = ["--no-html"] if args.no_html else []
            wall_s, code = build(profile, build_dir, extra)
            failed += code != 0
        print("\n".join(report(profile, read_timings(build_dir, profile), wall_s)))
        print()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
