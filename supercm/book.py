"""Build the book: papermill executes every notebook, jupyter-book renders the copies.

``python -m supercm.book build --profile smoke`` executes each notebook listed
in ``_toc.yml`` into ``_build/executed/`` (the committed sources are never
written), renders that copy to ``_build/_build/html`` with execution off and warnings
as errors, prints each notebook's run time and writes them to
``_build/timings/<profile>.json``. ``python -m supercm.book sync-links``
rewrites the Colab badges and install URLs from ``_config.yml``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .profiles import PROFILE_NAMES
from .validation import check_choice

log = logging.getLogger(__name__)

TOC_FILE = "_toc.yml"
CONFIG_FILE = "_config.yml"
KERNEL_NAME = "python3"
COLAB_PREFIX = "https://colab.research.google.com/github/"
BADGE_URL = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"']+")
INSTALL_URL = re.compile(r"git\+https?://[^\s\"'@]+")


def read_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text()) or {}


def toc_entries(root: Path) -> list[str]:
    """The files of ``_toc.yml`` in reading order (paths without suffix)."""
    toc = read_yaml(Path(root) / TOC_FILE)
    entries = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                entries.append(item["file"])
            walk(item.get("sections"))

    walk(toc.get("chapters"))
    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    return entries


def entry_path(root: Path, entry: str) -> Path:
    """The file behind a toc entry: ``entry``, ``entry.ipynb`` or ``entry.md``."""
    for suffix in ("", ".ipynb", ".md"):
        path = Path(root) / f"{entry}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"_toc.yml lists {entry!r} but none of {entry}.ipynb, {entry}.md exists "
        f"under {root}"
    )


def toc_notebooks(root: Path) -> list[Path]:
    """Notebooks of the toc, relative to ``root``, the toc's root page last.

    The root page (the introduction) glues numbers from the other chapters'
    run records, so it runs after them.
    """
    paths = [entry_path(root, entry).relative_to(root) for entry in toc_entries(root)]
    notebooks = [path for path in paths if path.suffix == ".ipynb"]
    return notebooks[1:] + notebooks[:1] if paths[0] in notebooks else notebooks


def repository_url(root: Path) -> str:
    """The repository URL kept in ``_config.yml`` (``repository: url:``)."""
    url = read_yaml(Path(root) / CONFIG_FILE).get("repository", {}).get("url")
    if not url:
        raise ValueError(f"{root / CONFIG_FILE} has no repository: url: entry")
    return url.rstrip("/").removesuffix(".git")


def colab_url(repo_url: str, notebook: Path | str, branch: str = "main") -> str:
    """Where Colab opens ``notebook`` (a path relative to the repository root)."""
    slug = repo_url.split("github.com/", 1)[-1]
    return f"{COLAB_PREFIX}{slug}/blob/{branch}/{Path(notebook).as_posix()}"


def notebook_link_problems(root: Path, notebook: Path) -> list[str]:
    """Where one notebook's badge or install URL disagrees with ``_config.yml``.

    ``notebook`` is relative to ``root``; it needs exactly one Colab badge
    pointing at itself and at least one ``git+<repository url>`` install.
    """
    import nbformat

    url = repository_url(root)
    nb = nbformat.read(Path(root) / notebook, as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    badges = BADGE_URL.findall(text)
    installs = INSTALL_URL.findall(text)
    problems = []
    if badges != [colab_url(url, notebook)]:
        problems.append(f"{notebook}: Colab badge {badges} should be "
                        f"[{colab_url(url, notebook)}]")
    if not installs or any(found != f"git+{url}" for found in installs):
        problems.append(f"{notebook}: install URL {installs} should be git+{url}")
    return problems


def link_problems(root: Path) -> list[str]:
    """Badges or install URLs in the toc's notebooks that disagree with _config.yml."""
    root = Path(root)
    problems = []
    for notebook in toc_notebooks(root):
        problems += notebook_link_problems(root, notebook)
    return problems


def sync_links(root: Path) -> list[Path]:
    """Rewrite badges and install URLs from ``_config.yml``; return changed files."""
    import nbformat

    root = Path(root)
    url = repository_url(root)
    changed = []
    for notebook in toc_notebooks(root):
        nb = nbformat.read(root / notebook, as_version=4)
        before = [cell.source for cell in nb.cells]
        for cell in nb.cells:
            cell.source = BADGE_URL.sub(colab_url(url, notebook), cell.source)
            cell.source = INSTALL_URL.sub(f"git+{url}", cell.source)
        if [cell.source for cell in nb.cells] != before:
            nbformat.write(nb, root / notebook)
            changed.append(notebook)
    return changed


def prepare_tree(root: Path, tree: Path) -> None:
    """Copy the book's configuration and non-notebook pages into ``tree``.

    The copied ``_config.yml`` has execution switched off: the notebooks are
    executed by papermill before rendering.
    """
    import yaml

    root, tree = Path(root), Path(tree)
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    shutil.copy2(root / TOC_FILE, tree / TOC_FILE)
    config = read_yaml(root / CONFIG_FILE)
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (tree / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    for entry in toc_entries(root):
        source = entry_path(root, entry)
        if source.suffix != ".ipynb":
            target = tree / source.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for name in ("references.bib", "book/references.bib", "book/images", "_static"):
        source = root / name
        if source.is_dir():
            shutil.copytree(source, tree / name, dirs_exist_ok=True)
        elif source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)


@contextlib.contextmanager
def notebook_environment(profile: str, runs_dir: Path):
    """Environment of the kernels: profile, run folder, no progress bars.

    Figures use matplotlib's inline backend, which needs no display and, unlike
    ``Agg``, stores every figure in the executed notebook.
    """
    values = {
        "SUPERCM_PROFILE": profile,
        "SUPERCM_RUNS": str(Path(runs_dir).resolve()),
        "SUPERCM_PROGRESS": "0",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONWARNINGS": os.environ.get(
            "PYTHONWARNINGS", "ignore::DeprecationWarning"
        ),
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class NotebookRun:
    """The outcome of executing one notebook."""

    notebook: str
    seconds: float
    ok: bool
    error: str | None = None


def execute_notebook(source: Path, target: Path, profile: str,
                     timeout: int | None = None) -> NotebookRun:
    """Execute ``source`` into ``target`` with papermill (``profile`` injected)."""
    import papermill

    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            str(source), str(target), parameters={"profile": profile},
            kernel_name=KERNEL_NAME, cwd=str(target.parent), progress_bar=False,
            log_output=False, execution_timeout=timeout,
        )
    except papermill.PapermillExecutionError as failure:
        error = f"cell {failure.exec_count}: {failure.ename}: {failure.evalue}"
    except Exception as failure:  # a kernel that dies or times out
        error = f"{type(failure).__name__}: {failure}"
    seconds = time.perf_counter() - start
    if target.exists():
        hide_injected_parameters(target)
    return NotebookRun(str(source), round(seconds, 2), error is None, error)


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's ``injected-parameters`` cell ``remove-cell``: the page
    shows the notebook's own parameters cell, not the builder's profile line."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
            changed = True
    if changed:
        nbformat.write(nb, path)


def jupyter_book_command() -> list[str]:
    """``jupyter-book`` of the running interpreter's environment."""
    script = Path(sys.executable).parent / "jupyter-book"
    if script.exists():
        return [str(script)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError("jupyter-book was not found; run `make install`")
    return [found]


def render(tree: Path, output: Path) -> subprocess.CompletedProcess:
    """Render the executed ``tree`` to ``output/_build/html``; warnings are errors."""
    command = jupyter_book_command() + [
        "build", str(tree), "--path-output", str(output), "--all", "-W", "-n",
        "--keep-going", "-q",
    ]
    return subprocess.run(command, capture_output=True, text=True)


@dataclass
class BuildResult:
    profile: str
    runs: list[NotebookRun]
    render_s: float | None
    index_html: str | None
    render_error: str | None = None

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs) and self.render_error is None


def build(root: Path, profile: str, build_dir: Path, runs_dir: Path | None = None,
          only: list[str] | None = None, html: bool = True,
          timeout: int | None = None) -> BuildResult:
    """Execute the toc's notebooks into ``build_dir/executed`` and render them.

    Stops before rendering when a notebook fails. ``only`` restricts the run
    to notebooks whose name contains one of the given strings (the others
    are copied unexecuted, for a quick look at one chapter).
    """
    check_choice("profile", profile, PROFILE_NAMES)
    root, build_dir = Path(root).resolve(), Path(build_dir).resolve()
    tree = build_dir / "executed"
    runs_dir = Path(runs_dir or os.environ.get("SUPERCM_RUNS", "runs")).resolve()
    prepare_tree(root, tree)

    runs = []
    with notebook_environment(profile, runs_dir):
        for notebook in toc_notebooks(root):
            target = tree / notebook
            if only and not any(part in notebook.name for part in only):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / notebook, target)
                continue
            run = execute_notebook(root / notebook, target, profile, timeout)
            run.notebook = notebook.as_posix()
            log.info("%s %.1f s %s", run.notebook, run.seconds, run.error or "")
            runs.append(run)

    result = BuildResult(profile, runs, None, None)
    if html and result.ok:
        start = time.perf_counter()
        process = render(tree, build_dir)
        result.render_s = round(time.perf_counter() - start, 2)
        index = build_dir / "_build" / "html" / "index.html"
        if process.returncode != 0 or not index.exists():
            result.render_error = (process.stdout + process.stderr).strip()[-4000:]
        else:
            result.index_html = str(index)
    write_timings(build_dir / "timings" / f"{profile}.json", result)
    return result


def write_timings(path: Path, result: BuildResult) -> None:
    from .results import write_json

    record = {
        "profile": result.profile,
        "notebooks": [asdict(run) for run in result.runs],
        "notebooks_s": round(sum(run.seconds for run in result.runs), 2),
        "render_s": result.render_s,
        "index_html": result.index_html,
        "ok": result.ok,
    }
    write_json(path, record)


def report(result: BuildResult) -> str:
    """The lines ``build`` prints: one per notebook, the total and the index."""
    lines = [f"profile {result.profile}"]
    for run in result.runs:
        status = "ok" if run.ok else f"FAILED  {run.error}"
        lines.append(f"  {run.notebook:40s} {run.seconds:7.1f} s  {status}")
    total = sum(run.seconds for run in result.runs)
    lines.append(f"  {'all notebooks':40s} {total:7.1f} s")
    if result.render_s is not None:
        lines.append(f"  {'jupyter-book render':40s} {result.render_s:7.1f} s")
    if result.render_error:
        lines.append("jupyter-book failed:\n" + result.render_error)
    if result.index_html:
        lines.append(f"book: {result.index_html}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m supercm.book", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="execute and render the book")
    build_command.add_argument(
        "--profile", default=os.environ.get("SUPERCM_PROFILE", "workshop"),
        help="smoke, workshop or paper (default: $SUPERCM_PROFILE or workshop)")
    build_command.add_argument("--root", default=".", help="folder holding _toc.yml")
    build_command.add_argument("--build-dir", default="_build")
    build_command.add_argument(
        "--runs", default=None, help="run records (default: $SUPERCM_RUNS or runs)"
    )
    build_command.add_argument("--only", action="append", default=None,
                               help="execute only notebooks whose name contains this")
    build_command.add_argument("--no-html", dest="html", action="store_false")
    build_command.add_argument("--timeout", type=int, default=None,
                               help="seconds allowed per cell")
    links = commands.add_parser("sync-links", help="rewrite Colab badges and install "
                                "URLs from _config.yml")
    links.add_argument("--root", default=".")
    links.add_argument("--check", action="store_true",
                       help="only report notebooks whose links disagree")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.command == "sync-links":
            if args.check:
                problems = link_problems(Path(args.root))
                print("\n".join(problems) or "links agree with _config.yml")
                return 1 if problems else 0
            changed = sync_links(Path(args.root))
            print("\n".join(map(str, changed)) or "links already agree")
            return 0
        result = build(Path(args.root), args.profile, Path(args.build_dir),
                       args.runs, args.only, args.html, args.timeout)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
