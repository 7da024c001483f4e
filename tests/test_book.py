"""The book builder on a tiny temporary book: order, execution, failures, links."""

import os
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from supercm import book

URL = "https://github.com/example/tiny-book"


def write_notebook(path, cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def notebook_cells(name, body):
    image = "https://colab.research.google.com/assets/colab-badge.svg"
    badge = (f"[![Open in Colab]({image})]"
             f"({book.colab_url(URL, f'book/{name}.ipynb')})")
    parameters = new_code_cell('import os\nprofile = os.environ.get("SUPERCM_PROFILE", '
                               '"workshop")')
    parameters.metadata["tags"] = ["parameters"]
    return [
        new_markdown_cell(f"# {name}\n\n{badge}"),
        new_code_cell(f'# install with "git+{URL}" on Colab'),
        parameters,
        new_code_cell(body),
    ]


@pytest.fixture
def tiny_book(tmp_path):
    """intro (the root) reads the profile; chapter one prints it."""
    (tmp_path / "_config.yml").write_text(yaml.safe_dump({
        "title": "tiny", "execute": {"execute_notebooks": "force"},
        "repository": {"url": URL, "branch": "main"},
    }))
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "book/intro",
        "chapters": [{"file": "book/one"}, {"file": "book/notes"}],
    }))
    write_notebook(tmp_path / "book/intro.ipynb",
                   notebook_cells("intro", "print(profile)"))
    write_notebook(tmp_path / "book/one.ipynb",
                   notebook_cells("one", "print('profile is', profile)"))
    (tmp_path / "book/notes.md").write_text("# Notes\n\nA plain page.\n")
    return tmp_path


def test_toc_order_runs_the_root_page_last(tiny_book):
    assert book.toc_entries(tiny_book) == ["book/intro", "book/one", "book/notes"]
    assert book.toc_notebooks(tiny_book) == [Path("book/one.ipynb"),
                                             Path("book/intro.ipynb")]


def test_a_missing_toc_entry_is_named(tiny_book):
    (tiny_book / "book/one.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="book/one"):
        book.toc_notebooks(tiny_book)


def test_prepare_tree_copies_pages_and_switches_execution_off(tiny_book, tmp_path):
    (tiny_book / "_static").mkdir()
    (tiny_book / "_static/book.css").write_text("p { margin: 0; }\n")
    tree = tmp_path / "out" / "executed"
    book.prepare_tree(tiny_book, tree)
    assert (tree / "_static/book.css").read_text() == "p { margin: 0; }\n"
    config = yaml.safe_load((tree / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert (tree / "book/notes.md").read_text().startswith("# Notes")
    assert (tree / "_toc.yml").is_file()


def test_build_executes_copies_and_leaves_sources_untouched(tiny_book, tmp_path):
    before = (tiny_book / "book/one.ipynb").read_bytes()
    result = book.build(tiny_book, "smoke", tmp_path / "build", tmp_path / "runs",
                        html=False)

    assert result.ok
    order = [run.notebook for run in result.runs]
    assert order == ["book/one.ipynb", "book/intro.ipynb"]
    assert (tiny_book / "book/one.ipynb").read_bytes() == before
    executed = nbformat.read(tmp_path / "build/executed/book/one.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code"
                      for o in c.outputs)
    assert "profile is smoke" in printed
    (injected,) = [c for c in executed.cells
                   if "injected-parameters" in c.metadata.get("tags", [])]
    assert "remove-cell" in injected.metadata.tags  # the page shows no builder line
    timings = yaml.safe_load((tmp_path / "build/timings/smoke.json").read_text())
    assert [n["notebook"] for n in timings["notebooks"]] == ["book/one.ipynb",
                                                             "book/intro.ipynb"]
    assert "SUPERCM_RUNS" not in os.environ or os.environ["SUPERCM_RUNS"] != str(
        (tmp_path / "runs").resolve())


def test_a_failing_notebook_fails_the_build(tiny_book, tmp_path):
    write_notebook(tiny_book / "book/one.ipynb",
                   notebook_cells("one", "raise ValueError('labels_per_class=-1')"))
    code = book.main(["build", "--root", str(tiny_book), "--profile", "smoke",
                      "--build-dir", str(tmp_path / "build"), "--no-html"])
    result = yaml.safe_load((tmp_path / "build/timings/smoke.json").read_text())
    assert code == 1
    assert not result["ok"]
    failed = [n for n in result["notebooks"] if not n["ok"]]
    assert failed[0]["notebook"] == "book/one.ipynb"
    assert "ValueError" in failed[0]["error"]


def test_unknown_profile_is_refused(tiny_book, tmp_path):
    with pytest.raises(ValueError, match="profile='fast'"):
        book.build(tiny_book, "fast", tmp_path / "build")


def test_build_renders_html_with_warnings_as_errors(tiny_book, tmp_path):
    result = book.build(tiny_book, "smoke", tmp_path / "build", tmp_path / "runs")
    assert result.ok, result.render_error
    assert Path(result.index_html).is_file()
    page = (tmp_path / "build/_build/html/book/one.html").read_text()
    assert "profile is smoke" in page


def test_a_broken_page_fails_the_render(tiny_book, tmp_path):
    (tiny_book / "book/notes.md").write_text("# Notes\n\nSee {doc}`missing_page`.\n")
    result = book.build(tiny_book, "smoke", tmp_path / "build", tmp_path / "runs")
    assert not result.ok
    assert "missing_page" in result.render_error


def test_sync_links_rewrites_badges_and_install_urls(tiny_book):
    config = yaml.safe_load((tiny_book / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/someone-else/fork"
    (tiny_book / "_config.yml").write_text(yaml.safe_dump(config))
    assert len(book.link_problems(tiny_book)) == 4

    changed = book.sync_links(tiny_book)

    assert sorted(map(str, changed)) == ["book/intro.ipynb", "book/one.ipynb"]
    assert book.link_problems(tiny_book) == []
    text = (tiny_book / "book/one.ipynb").read_text()
    assert "github/someone-else/fork/blob/main/book/one.ipynb" in text
    assert "git+https://github.com/someone-else/fork" in text


def test_parameter_errors_stop_the_notebook_with_a_clear_message(tiny_book, tmp_path):
    body = ("from supercm import validation\n"
            "validation.check_notebook_parameters(profile=profile,\n"
            "                                     labels_per_class='abc')")
    write_notebook(tiny_book / "book/one.ipynb", notebook_cells("one", body))
    result = book.build(tiny_book, "smoke", tmp_path / "build", html=False)
    assert "labels_per_class='abc' is not allowed" in result.runs[0].error
