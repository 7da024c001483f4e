"""Lints for the book's notebooks, table of contents and configuration."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from supercm import book
from supercm.validation import ParameterError, check_notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def read(path):
    return nbformat.read(path, as_version=4)


def tagged(nb, tag):
    cells = enumerate(nb.cells)
    return [i for i, cell in cells if tag in cell.metadata.get("tags", [])]


def test_toc_lists_nine_chapters_in_order():
    entries = book.toc_entries(ROOT)
    assert entries[0] == "book/intro"
    assert [Path(e).name[:2] for e in entries[1:]] == [f"0{i}" for i in range(1, 9)]


@pytest.mark.parametrize("entry", book.toc_entries(ROOT))
def test_every_toc_entry_exists(entry):
    assert book.entry_path(ROOT, entry).is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_is_in_the_toc(path):
    listed = {Path(entry).as_posix() for entry in book.toc_entries(ROOT)}
    assert path.relative_to(ROOT).with_suffix("").as_posix() in listed


def test_config_keeps_execution_off_and_the_repository_url():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert book.repository_url(ROOT).startswith("https://github.com/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_is_python3(path):
    assert read(path).metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_profile_from_the_environment(path):
    nb = read(path)
    cells = tagged(nb, "parameters")
    assert len(cells) == 1
    source = nb.cells[cells[0]].source
    assert re.search(r'^profile = os\.environ\.get\("SUPERCM_PROFILE", "workshop"\)$',
                     source, re.MULTILINE)
    following = [c for c in nb.cells[cells[0] + 1:] if c.cell_type == "code"][0]
    assert "check_notebook_parameters(" in following.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_title_badge_and_setup_come_first(path):
    nb = read(path)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith("# ")
    assert "colab-badge.svg" in nb.cells[0].source
    setup = tagged(nb, "setup")
    assert setup and setup[0] < tagged(nb, "parameters")[0]
    assert '"google.colab" in sys.modules' in nb.cells[setup[0]].source
    # the Colab install cell is folded away the same way on every page
    assert "hide-cell" in nb.cells[setup[0]].metadata.get("tags", [])
    assert any("plots.use_style()" in nb.cells[i].source for i in setup)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_and_install_url_match_the_config(path):
    assert book.notebook_link_problems(ROOT, path.relative_to(ROOT)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stray_outputs(path):
    for index, cell in enumerate(read(path).cells):
        if cell.cell_type != "code":
            continue
        checked = cell.source.lstrip().startswith(CHECK_MARK)
        assert checked or not cell.outputs, f"cell {index} carries outputs"
        assert checked or cell.execution_count is None, f"cell {index} was executed"
        if checked:
            assert cell.outputs, f"checked cell {index} has no reference output"
            assert cell.execution_count, f"checked cell {index} looks unrun to nbval"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_with_hidden_solutions(path):
    cells = read(path).cells
    heading = re.compile(r"^#+ Exercises?\b", re.MULTILINE)
    start = [i for i, c in enumerate(cells) if c.cell_type == "markdown"
             and heading.search(c.source)]
    assert start, "no Exercises heading"
    after = cells[start[0]:]
    dropdown = any(":class: dropdown" in c.source for c in after
                   if c.cell_type == "markdown")
    toggled = any({"hide-input", "hide-cell", "hide-output"}
                  & set(c.metadata.get("tags", [])) for c in after)
    assert dropdown or toggled, "solutions are not hidden behind a toggle"


def test_notebook_parameters_are_checked_and_coerced():
    values = check_notebook_parameters(profile="smoke", labels_per_class="3", seed=0)
    assert values == {"profile": "smoke", "labels_per_class": 3, "seed": 0}
    assert check_notebook_parameters(labels_per_class=None)["labels_per_class"] is None
    with pytest.raises(ParameterError, match="labels_per_class='abc'"):
        check_notebook_parameters(labels_per_class="abc")
    with pytest.raises(ParameterError, match="profile='fast'.*'smoke'"):
        check_notebook_parameters(profile="fast")
