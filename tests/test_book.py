"""Checks of the book's sources: table of contents, notebook hygiene, lint.

These run without building the site; nbval (``make test-notebooks``) executes
the notebooks and tests/site/ checks the built site in a browser.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))
MACHINE_PATH = re.compile(r"(/root/|/home/[A-Za-z0-9_.-]+/|/tmp/|/work/|site-packages)")
IMPORTS_CODE = re.compile(r"^\s*(import\s+code\b|from\s+code\b)", re.MULTILINE)


def toc_files(node):
    """Every ``file:`` entry of a _toc.yml tree, in order."""
    if isinstance(node, dict):
        found = [node["file"]] if "file" in node else []
        for value in node.values():
            found += toc_files(value)
        return found
    if isinstance(node, list):
        return [f for item in node for f in toc_files(item)]
    return []


def load_toc():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + toc_files(toc)


def load_notebook(path):
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb):
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def test_the_book_has_chapters():
    assert NOTEBOOKS, "chapters/ holds no notebook"


def test_every_notebook_is_in_the_toc():
    listed = set(load_toc())
    missing = [nb.relative_to(ROOT).with_suffix("").as_posix() for nb in NOTEBOOKS]
    missing = [entry for entry in missing if entry not in listed]
    assert not missing, f"notebooks missing from _toc.yml (the site would not show them): {missing}"


def test_every_toc_entry_has_a_file():
    dangling = [
        entry
        for entry in load_toc()
        if not any((ROOT / f"{entry}{ext}").is_file() for ext in ("", ".md", ".ipynb"))
    ]
    assert not dangling, f"_toc.yml entries with no file: {dangling}"


def test_toc_has_no_duplicates():
    entries = load_toc()
    assert len(entries) == len(set(entries)), f"duplicate _toc.yml entries in {entries}"


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    return request.param, load_notebook(request.param)


def test_notebook_leaks_no_machine_path(notebook):
    path, nb = notebook
    for index, cell in enumerate(nb["cells"]):
        text = "".join(cell["source"]) + json.dumps(cell.get("outputs", []))
        match = MACHINE_PATH.search(text)
        assert not match, f"{path.name} cell {index} names a machine path: {match.group(0)!r}"


CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@pytest.mark.parametrize(
    "path", NOTEBOOKS + sorted(CHAPTERS.glob("*.md")) + [ROOT / "intro.md"], ids=lambda p: p.name
)
def test_sources_contain_no_control_characters(path):
    # A LaTeX command written in a non-raw Python string loses its backslash: "\frac" becomes a
    # form feed and "\big" a backspace, and the formula silently stops rendering.
    if path.suffix == ".ipynb":
        texts = ["".join(cell["source"]) for cell in load_notebook(path)["cells"]]
    else:
        texts = [path.read_text(encoding="utf-8")]
    for index, text in enumerate(texts):
        match = CONTROL_CHARACTER.search(text)
        assert not match, (
            f"{path.name} cell {index} contains the control character {match.group(0)!r} near "
            f"{text[max(0, match.start() - 30):match.start()]!r} (a lost backslash?)"
        )


def markdown_texts(path):
    if path.suffix == ".ipynb":
        cells = load_notebook(path)["cells"]
        return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    return [path.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(CHAPTERS.glob("*.md")), ids=lambda p: p.name)
def test_labelled_equations_start_a_new_paragraph(path):
    # MyST only registers the label of a `$$ ... $$ (label)` block that begins a paragraph: written
    # straight after a line of text, the block is typeset but {eq}`label` finds nothing.
    for text in markdown_texts(path):
        lines = text.split("\n")
        opening = None
        for number, line in enumerate(lines):
            if line.strip() == "$$" and opening is None:
                opening = number
            elif line.strip().startswith("$$") and opening is not None:
                label = re.fullmatch(r"\$\$\s*\(([^)]+)\)", line.strip())
                if label and opening > 0:
                    assert lines[opening - 1].strip() == "", (
                        f"{path.name}: the equation ({label.group(1)}) follows a line of text"
                        " without a blank line, so its label is not registered:"
                        f" {lines[opening - 1][-60:]!r}"
                    )
                opening = None


def test_notebook_does_not_import_code(notebook):
    path, nb = notebook
    for index, cell in enumerate(code_cells(nb)):
        assert not IMPORTS_CODE.search("".join(cell["source"])), (
            f"{path.name} code cell {index} imports `code`, which inside a Jupyter kernel is the"
            " standard-library module; import the course package as `xent`"
        )


def test_notebook_is_executed_and_error_free(notebook):
    path, nb = notebook
    cells = code_cells(nb)
    assert cells, f"{path.name} has no code cell"
    unexecuted = [i for i, cell in enumerate(cells) if cell.get("execution_count") is None]
    assert not unexecuted, (
        f"{path.name}: code cells {unexecuted} were never run (run `make notebooks`)"
    )
    counts = [cell["execution_count"] for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name} was not run top to bottom in one kernel: execution counts {counts}"
    )
    for i, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name} code cell {i} stores an error"
            if output.get("name") == "stderr":
                text = "".join(output["text"])
                pytest.fail(f"{path.name} code cell {i} writes to stderr: {text}")


def test_notebook_uses_the_project_kernel_and_seeds(notebook):
    path, nb = notebook
    assert nb["metadata"]["kernelspec"]["name"] == "python3", f"{path.name}: kernel is not python3"
    first = "".join(code_cells(nb)[0]["source"])
    assert "xent.setup_notebook(" in first, (
        f"{path.name}: the first code cell must call xent.setup_notebook(seed) (determinism, style)"
    )


def test_notebook_figures_have_alt_text(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        has_image = any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
        if not has_image:
            continue
        alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")
        assert alt.strip(), f"{path.name} code cell {i} draws a figure without alt text"
        for out in cell["outputs"]:
            assert "image/svg+xml" not in out.get("data", {}), (
                f"{path.name} code cell {i}: store figures as PNG (nbval compares SVG text)"
            )


def test_notebook_stores_no_figure_repr(notebook):
    path, nb = notebook
    pattern = re.compile(r"<(Figure|matplotlib\.[\w.]+|Axes\w*) .*at 0x|<Figure size")
    for i, cell in enumerate(code_cells(nb)):
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                continue  # a figure's own display carries "<Figure size ...>" as its text form
            text = "".join(out.get("data", {}).get("text/plain", []))
            assert not pattern.search(text), (
                f"{path.name} code cell {i} stores a matplotlib repr {text!r};"
                " end the cell with plt.show()"
            )


def test_ruff_passes():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed in the project environment"
    result = subprocess.run(
        [ruff, "check", "code", "tests", "tools", "_ext"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_glue_stores_what_myst_nb_glue_stores(monkeypatch):
    """xent.glue must produce the very output myst_nb.glue(display=False) produces."""
    import IPython.display
    import myst_nb.ext.glue
    import xent

    shown = []

    def record(*args, **kwargs):
        shown.append((args, kwargs))

    monkeypatch.setattr(IPython.display, "display", record)
    monkeypatch.setattr(myst_nb.ext.glue, "ipy_display", record)
    for value in (0.25, 7, "text", True):
        myst_nb.ext.glue.glue("v", value, display=False)
        xent.glue("v", value)
        assert shown[-1] == shown[-2], f"xent.glue differs from myst_nb.glue for {value!r}"
    assert len(shown) == 8
    assert shown[-1][0][0] == {"application/papermill.record/text/plain": "True"}


def test_glue_rounds_reals_and_keeps_other_values(monkeypatch):
    import IPython.display
    import xent

    stored = {}

    def record(bundle, raw, metadata):
        stored[metadata["scrapbook"]["name"]] = bundle["application/papermill.record/text/plain"]

    monkeypatch.setattr(IPython.display, "display", record)
    assert xent.glue("x", 0.1 + 0.2) is None  # nothing to display after a glue call
    assert stored["x"] == "0.3"  # 0.30000000000000004 rounded to 8 decimals
    xent.glue("n", np.int64(7))
    assert stored["n"] == "7"
    xent.glue("f", np.float32(1 / 3))
    assert stored["f"] == "0.33333334"
    xent.glue("tiny", 2.4873091234e-25)  # 8 decimals would store 0.0
    assert stored["tiny"] == "2.4873091e-25"
    xent.glue("count", 12.4, digits=0)
    assert stored["count"] == "12.0"
    with pytest.raises(TypeError, match="numbers and strings; got list"):
        xent.glue("bad", [1.0])


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(CHAPTERS.glob("*.md")), ids=lambda p: p.name)
def test_table_rows_keep_pipes_out_of_math(path):
    # A table row is split at every unescaped "|" before the math is parsed, so $|s|$ in a cell cuts
    # the formula in two and shifts the cells after it; inside tables write \lvert s \rvert.
    for text in markdown_texts(path):
        for line in text.split("\n"):
            if not line.lstrip().startswith("|"):
                continue
            for math in re.findall(r"(?<!\\)\$([^$]+)\$", line):
                assert not re.search(r"(?<!\\)\|", math), (
                    f"{path.name}: a table row has '|' inside the math ${math}$: {line[:80]!r}"
                )
