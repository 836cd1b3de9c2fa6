"""Checks of the book's sources: table of contents, notebook hygiene, lint.

These run without building the site; nbval (``make test-notebooks``) executes
the notebooks and tests/site/ checks the built site in a browser.
"""

import json
import math
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
        theirs, ours = shown[-2], shown[-1]
        ours[1]["metadata"].pop(xent.GLUE_DIGITS_KEY, None)  # our one addition
        assert ours == theirs, f"xent.glue differs from myst_nb.glue for {value!r}"
    assert len(shown) == 8
    assert shown[-1][0][0] == {"application/papermill.record/text/plain": "True"}


def test_glue_rounds_to_significant_digits_by_dtype(monkeypatch):
    import IPython.display
    import torch
    import xent

    stored = {}

    def record(bundle, raw, metadata):
        name = metadata["scrapbook"]["name"]
        stored[name] = (bundle["application/papermill.record/text/plain"],
                        metadata.get(xent.GLUE_DIGITS_KEY))

    monkeypatch.setattr(IPython.display, "display", record)
    assert xent.glue("x", 0.1 + 0.2) is None  # nothing to display after a glue call
    assert stored["x"] == ("0.3", 6)  # 0.30000000000000004 to 6 significant digits
    xent.glue("big", 2828509.0123)
    assert stored["big"] == ("2828510.0", 6)
    xent.glue("tiny", 2.4873091234e-25)
    assert stored["tiny"] == ("2.48731e-25", 6)
    xent.glue("f32", np.float32(1 / 3))  # the dtype sets the default
    assert stored["f32"] == ("0.3333", 4)
    xent.glue("t32", torch.tensor(2 / 3))
    assert stored["t32"] == ("0.6667", 4)
    xent.glue("t16", torch.tensor(2 / 3, dtype=torch.float16))
    assert stored["t16"] == ("0.67", 2)
    xent.glue("t64", torch.tensor(2 / 3, dtype=torch.float64))
    assert stored["t64"] == ("0.666667", 6)
    xent.glue("exact", 2.0**-52, sig=17)
    assert stored["exact"] == ("2.220446049250313e-16", 17)
    xent.glue("ratio", 20.45, sig=2)
    assert stored["ratio"] == ("20.0", 2)
    xent.glue("n", np.int64(7))
    assert stored["n"] == ("7", None)
    xent.glue("flag", np.bool_(True))
    assert stored["flag"] == ("True", None)
    for bad in (0, 18, 2.5):
        with pytest.raises(ValueError, match=r"sig must be an integer in \[1, 17\]"):
            xent.glue("bad", 1.0, sig=bad)
    with pytest.raises(TypeError, match="numbers and strings; got list"):
        xent.glue("bad", [1.0])


# {glue:text}`name:format` in the prose, with the format's precision and type.
GLUE_REFERENCE = re.compile(r"\{glue:text\}`([A-Za-z0-9_]+)(?::([^`]*))?`")


def stored_glue(nb):
    """name -> (stored text, significant digits kept) for every glue output of a notebook."""
    import xent

    found = {}
    for cell in code_cells(nb):
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                text = output["data"][xent.GLUE_PREFIX + "text/plain"]
                kept = output["metadata"].get(xent.GLUE_DIGITS_KEY)
                found[scrapbook["name"]] = ("".join(text), kept)
    return found


def significant_digits_shown(text):
    """Significant digits in a formatted number: '0.0310' -> 3, '1.2e-05' -> 2, '940' -> 3."""
    mantissa = re.split(r"[eE]", text.strip().lstrip("+-").rstrip("%"))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits)


def test_prose_never_shows_more_digits_than_glue_kept():
    """A number quoted in the prose carries no digit that its glue call rounded away.

    `xent.glue` keeps only the digits a computation fixes on every CPU (6 significant for float64
    by default); a format such as `.4f` applied to a value kept to 3 digits would print a digit
    that is not there.
    """
    problems = []
    for path in NOTEBOOKS:
        nb = load_notebook(path)
        stored = stored_glue(nb)
        for text in markdown_texts(path):
            for name, spec in GLUE_REFERENCE.findall(text):
                assert name in stored, f"{path.name}: the prose quotes {name!r}; no cell glues it"
                value, kept = stored[name]
                if kept is None or not spec:
                    continue
                shown = format(float(value), spec)
                if significant_digits_shown(shown) > kept:
                    problems.append(f"{path.name}: {name} = {value} (kept to {kept} digits) "
                                    f"shown as {shown!r} with {{glue:text}}`{name}:{spec}`")
                # a kept value that ends in a 5 just past the shown digits is a tie, which the
                # display breaks by the binary value: 1.4611502 kept as 1.46115 shows as 1.4611
                # (sig=17 keeps the float itself: nothing was rounded away)
                neighbours = (math.nextafter(float(value), d) for d in (-math.inf, math.inf))
                below, above = (format(v, spec) for v in neighbours)
                if below.lstrip("-") != above.lstrip("-") and kept < 17:
                    problems.append(f"{path.name}: {name} = {value} is a rounding tie for "
                                    f"{{glue:text}}`{name}:{spec}`: keep more digits (sig=)")
    assert not problems, "\n".join(problems)


def test_significant_digits_shown_counts_digits():
    assert [significant_digits_shown(t) for t in ("0.0310", "1.2e-05", "940", "-0.5", "12%")] == [
        3, 2, 3, 1, 2]


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(CHAPTERS.glob("*.md")), ids=lambda p: p.name)
def test_table_rows_keep_pipes_out_of_math(path):
    # A table row is split at every unescaped "|" before the math is parsed, so $|s|$ in a cell cuts
    # the formula in two and shifts the cells after it; inside tables write \lvert s \rvert.
    for text in markdown_texts(path):
        for line in text.split("\n"):
            if not line.lstrip().startswith("|"):
                continue
            for formula in re.findall(r"(?<!\\)\$([^$]+)\$", line):
                assert not re.search(r"(?<!\\)\|", formula), (
                    f"{path.name}: a table row has '|' inside the math ${formula}$: {line[:80]!r}"
                )


# The only cells whose stored output nbval does not compare, and why: their text depends on the
# machine by nature. Each must still assert the claim its prose makes.
OUTPUT_NOT_COMPARED = {
    ("05_numerical_stability.ipynb", "errors_ls"): "ulp errors of PyTorch's kernels vary by CPU",
    ("05_numerical_stability.ipynb", "timeit"): "timings",
}


def test_only_the_listed_cells_escape_output_comparison():
    found = set()
    for path in NOTEBOOKS:
        cells = code_cells(load_notebook(path))
        for index, cell in enumerate(cells):
            source = "".join(cell["source"])
            tags = cell["metadata"].get("tags", [])
            if "nbval-ignore-output" in tags or "NBVAL_IGNORE_OUTPUT" in source:
                keys = [k for k in OUTPUT_NOT_COMPARED if k[0] == path.name and k[1] in source]
                assert len(keys) == 1, f"{path.name}: a cell escapes nbval's comparison unlisted"
                # the claim is asserted by the cell itself or by the code cell right after it
                following = cells[index + 1]["source"] if index + 1 < len(cells) else []
                checked = source + "".join(following)
                assert re.search(r"^\s*assert\b", checked, re.MULTILINE), (
                    f"{path.name}: {keys[0][1]!r} cell: not compared, and no assert of its claim")
                found |= set(keys)
            assert "NBVAL_SKIP" not in source and "nbval-skip" not in tags, (
                f"{path.name}: a skipped cell would count as passing")
    missing = set(OUTPUT_NOT_COMPARED) - found
    assert not missing, f"listed but not found: {missing}"


def test_setup_notebook_seeds_and_fixes_algorithms():
    import random

    import torch
    import xent

    def draws(generator):  # one number from each generator setup_notebook seeds
        legacy = np.random.rand()  # noqa: NPY002
        return random.random(), legacy, torch.rand(1).item(), generator.random()

    try:
        first = draws(xent.setup_notebook(3))
        assert first == draws(xent.setup_notebook(3))
        assert first != draws(xent.setup_notebook(4))
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.get_num_threads() == 1
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(1)


def test_api_appendix_documents_every_public_function():
    """The API appendix lists each function of both backends and every other module's members."""
    import inspect

    import xent

    page = (CHAPTERS / "a4_api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. auto(?:function|class):: ([\w.]+)$", page, flags=re.M))
    modules = set(re.findall(r"^\.\. automodule:: ([\w.]+)$", page, flags=re.M))
    missing = []
    for backend in ("numpy", "torch"):
        module = getattr(xent, backend)
        for name, value in vars(module).items():
            if inspect.isfunction(value) and not name.startswith("_"):
                if f"xent.{backend}.{name}" not in documented:
                    missing.append(f"xent.{backend}.{name}")
    for name in ("grad", "precise", "data", "plots", "metrics", "training", "scale"):
        members = [f"xent.{name}.{member}" for member in getattr(xent, name).__all__]
        if f"xent.{name}" not in modules and not set(members) <= documented:
            missing.append(f"xent.{name} (automodule, or each member of __all__)")
        assert getattr(xent, name).__all__, f"xent.{name} needs __all__ for automodule :members:"
    for name in ("setup_notebook", "glue"):
        if f"xent.{name}" not in documented:
            missing.append(f"xent.{name}")
    assert not missing, f"chapters/a4_api.md does not document: {missing}"


def quick_answer_snippets():
    text = (CHAPTERS / "quick_answers.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.M | re.S)


def test_quick_answers_are_many_and_each_has_code_and_evidence():
    text = (CHAPTERS / "quick_answers.md").read_text(encoding="utf-8")
    questions = re.findall(r"^\*\*(.+?\?)\*\*", text, flags=re.M)
    assert len(questions) >= 25, f"only {len(questions)} quick answers"
    for block in re.split(r"^\*\*", text, flags=re.M)[1:]:
        question = block.split("**")[0]
        assert re.search(r"Evidence:\s\{(ref|doc)\}`", block), (
            f"the answer to {question!r} links no section")
        assert "```python" in block, f"the answer to {question!r} has no line of code"
    wide = [line for code in quick_answer_snippets() for line in code.splitlines()
            if len(line) > COLUMN]
    assert not wide, f"quick-answer code wider than {COLUMN} characters: {wide}"


def test_quick_answers_code_runs_and_says_what_the_prose_says():
    """Every snippet runs as written, and the values the answers quote are the ones it computes."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    snippets = quick_answer_snippets()
    assert len(snippets) >= 25
    spaces = []
    for code in snippets:
        torch.manual_seed(0)
        namespace = {"torch": torch, "nn": nn, "F": F}
        exec(compile(code, "quick_answers.md", "exec"), namespace)
        spaces.append(namespace)

    def space_with(name, where):
        return next(ns for ns, code in zip(spaces, snippets, strict=True)
                    if where in code and name in ns)

    guess = space_with("loss", "torch.zeros(1, C)")["loss"]
    assert round(guess.item(), 3) == 2.303 and round(math.log(1000), 3) == 6.908
    same = space_with("same", "F.one_hot(indices, 3)")
    assert torch.allclose(same["loss"], same["same"])
    seq = space_with("same", "logits.transpose(1, 2)")
    assert torch.allclose(seq["loss"], seq["same"])
    two = space_with("same", "torch.sigmoid(z[:, 1] - z[:, 0])")
    assert torch.allclose(two["p1"], two["same"])
    z = torch.tensor([0.0, -200.0])
    assert torch.log(torch.softmax(z, 0))[1] == -math.inf
    assert torch.log_softmax(z, 0)[1] == -200.0
    assert torch.log_softmax(torch.tensor([1000.0, 0.0]), 0).tolist() == [0.0, -1000.0]
    assert round(torch.logsumexp(torch.tensor([1000.0, 1000.0]), 0).item(), 3) == 1000.693
    assert torch.log(torch.exp(torch.tensor([1000.0, 1000.0])).sum()) == math.inf
    grad = space_with("p_minus_y", "p_minus_y")
    assert torch.allclose(grad["z"].grad, grad["p_minus_y"].float())
    mse = space_with("z", "confidently wrong")
    assert round(mse["z"].grad.item(), 4) == -0.0007
    kl = space_with("gap", "kl_div(log_p, q")
    q = kl["q"]
    assert torch.allclose(kl["gap"], -(q * q.log()).sum())
    assert space_with("best_epoch", "best_epoch")["best_epoch"] == 1
    empty = space_with("shares", "torch.tensor([[3.0, 3.0, -4.0]])")
    assert round(empty["shares"][0, 0].item(), 4) == 0.4998 < 0.5
    assert round(empty["probs"][0, 0].item(), 4) == 0.9526
    assert empty["predicted"].tolist() == [[True, True, False]]
    undone = space_with("probs", "torch.log(loss_fn.pos_weight)")
    assert undone["loss_fn"].pos_weight.shape == (3,)
    weighted = space_with("loss_fn", "inverse frequency")
    assert torch.allclose((weighted["weight"] * weighted["counts"]).sum(), weighted["counts"].sum())
    check_added_quick_answers(space_with)


def check_added_quick_answers(space_with):
    """The numbers and claims of the answers added after the outside reader's 18 questions."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    # calibration: the fitted temperature undoes the factor 3 ("about 3")
    cal = space_with("T", "val_logits / t")
    assert 2.7 < cal["T"].item() < 3.3
    # log_softmax output into cross_entropy: same loss and gradient; probabilities differ
    lsm = space_with("wrong", "log_p.exp(), target")
    assert torch.allclose(lsm["same"], lsm["loss"]) and not torch.isclose(lsm["wrong"], lsm["loss"])
    z = lsm["logits"].clone().requires_grad_()
    (g_logits,) = torch.autograd.grad(F.cross_entropy(z, lsm["target"]), z)
    (g_log_p,) = torch.autograd.grad(F.cross_entropy(F.log_softmax(z, 1), lsm["target"]), z)
    assert torch.allclose(g_logits, g_log_p, atol=1e-7)
    # at least one label per input
    top1 = space_with("predicted", "its top label")
    assert top1["predicted"].tolist() == [[True, False, True], [False, True, False]]
    # focal loss: cross-entropy at gamma 0; at p_y = 0.9 and gamma 2, 100 times less
    focal = space_with("focal_loss", "def focal_loss")["focal_loss"]
    z, t = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    assert torch.allclose(focal(z, t, gamma=0.0), F.cross_entropy(z, t))
    easy = torch.log(torch.tensor([[0.9, 0.1]]))
    ratio = focal(easy, torch.tensor([0])) / F.cross_entropy(easy, torch.tensor([0]))
    assert round(1 / ratio.item()) == 100
    # label smoothing: the floor H(q) = 0.500 for eps 0.1, C = 10, reached at logits log q
    ls = space_with("floor", "label_smoothing=0.1")
    assert round(ls["floor"].item(), 3) == 0.500
    assert torch.isclose(ls["loss_fn"](ls["q"].log()[None], torch.tensor([0])), ls["floor"])
    assert ls["loss_fn"](torch.randn(50, 10), torch.zeros(50, dtype=torch.long)) > ls["floor"]
    # 'mean': divides by the targets that count, by their summed weights with weight=,
    # by N for probability targets; the hand-made masked mean is ignore_index's
    red = space_with("masked_mean", "masked_mean")
    logits, target = red["logits"], red["target"]
    ignored = target.clone()
    ignored[2] = -100
    assert torch.isclose(red["masked_mean"], F.cross_entropy(logits, ignored))
    w = torch.tensor([1.0, 2.0, 5.0])
    by_weight = (w[target] * red["per_example"]).sum() / w[target].sum()
    assert torch.isclose(F.cross_entropy(logits, target, weight=w), by_weight)
    soft = F.softmax(torch.randn(4, 3), dim=1)
    per_row = F.cross_entropy(logits, soft, weight=w, reduction="none")
    assert torch.isclose(F.cross_entropy(logits, soft, weight=w), per_row.sum() / 4)
    # NaN: a hand-written softmax overflows past 88.7 (float32) and 709.8 (float64)
    nan = space_with("probs", "z - z.max()")
    assert nan["probs"].tolist() == [1.0, 0.0]
    assert round(float(np.log(np.finfo(np.float32).max)), 1) == 88.7
    assert round(float(np.log(np.finfo(np.float64).max)), 1) == 709.8
    with np.errstate(over="ignore", invalid="ignore"):
        z = nan["z"]
        assert np.isnan(np.exp(z) / np.exp(z).sum()).any()
        assert np.isfinite(np.exp(np.float32(88.7))) and np.isinf(np.exp(np.float32(88.8)))
    # the comment of the KL answer: log_softmax of log-probabilities gives them back
    kl = space_with("gap", "kl_div(log_p, q")
    assert torch.allclose(F.log_softmax(kl["log_p"], dim=1), kl["log_p"], atol=1e-6)
    # argument order: swapped index targets raise, swapped float targets do not
    order = space_with("wrong", "no error, another number")
    assert not torch.isclose(order["right"], order["wrong"])
    with pytest.raises((RuntimeError, ValueError)):
        F.cross_entropy(torch.tensor([0, 2, 1, 4]), order["logits"])
    # reading a loss of 0.1
    value = space_with("geo_mean", "p_true")
    assert round(value["at_01"].item(), 3) == 0.905
    assert round(value["mean_loss"].item(), 3) == 0.093
    assert round(value["geo_mean"].item(), 3) == 0.912
    # perplexity: over the 7 real tokens; e^nats = 2^bits; bits scale gradients by 1/ln 2
    ppl = space_with("perplexity", "perplexity")
    real = ppl["target"] != -100
    assert real.sum().item() == 7
    per_token = F.cross_entropy(ppl["logits"], ppl["target"], reduction="none")
    assert torch.isclose(ppl["nats"], per_token[real].mean())
    assert torch.isclose(ppl["perplexity"], 2 ** ppl["bits"])
    assert round(1 / math.log(2), 4) == 1.4427
    # Adam hardly notices the change of unit (it divides by the gradients' size)
    finals = []
    for scale in (1.0, 1 / math.log(2)):
        torch.manual_seed(1)
        net = nn.Linear(5, 3)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
        for _ in range(50):
            opt.zero_grad()
            (scale * F.cross_entropy(net(x), y)).backward()
            opt.step()
        finals.append(torch.cat([q.detach().flatten() for q in net.parameters()]))
    assert torch.allclose(finals[0], finals[1], atol=1e-4)
    # negative losses from wrong inputs
    neg = space_with("bad_bce", "bad_bce")
    assert round(neg["right"].item(), 2) == 0.84
    assert round(neg["swapped"].item(), 2) == -2.60
    assert round(neg["bad_kl"].item(), 2) == -1.39
    assert round(neg["bad_bce"].item(), 2) == -1.45
    assert F.nll_loss(neg["logits"], torch.tensor([0])) < 0  # nll_loss given logits
    density = F.gaussian_nll_loss(torch.zeros(1), torch.zeros(1), torch.full((1,), 0.01))
    assert density < 0  # legitimately negative
    # majority class: the baseline H(f), what a model of the frequencies alone scores
    maj = space_with("baseline", "class frequencies")
    f = maj["f"]
    assert round(maj["baseline"].item(), 3) == 0.375 and round(math.log(3), 3) == 1.099
    labels = torch.tensor([0] * 90 + [1] * 8 + [2] * 2)
    only_frequencies = F.cross_entropy(f.log().expand(100, 3), labels)
    assert torch.isclose(only_frequencies, maj["baseline"])
    assert maj["recall"] == [1.0, 0.5, 0.0]
    # huge vocabulary: 1.96 GiB; the chunked loss and gradients equal the plain ones
    big = space_with("gib", "linear_cross_entropy")
    assert round(big["gib"], 2) == 1.96
    h = big["h"].detach().clone().requires_grad_()
    W = big["W"].detach().clone().requires_grad_()
    plain = F.cross_entropy(F.linear(h, W), big["y"])
    plain.backward()
    assert torch.isclose(big["loss"], plain)
    assert torch.allclose(big["h"].grad, h.grad, atol=1e-6)
    assert torch.allclose(big["W"].grad, W.grad, atol=1e-6)
    # activations: Kaiming's std sqrt(2 / n); SiLU's gain about 1.68
    act = space_with("mlp", "kaiming_normal_")
    assert abs(act["layer"].weight.std().item() / math.sqrt(2 / 256) - 1) < 0.05
    grid = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    density = torch.exp(-grid**2 / 2) / math.sqrt(2 * math.pi)
    silu_gain = torch.trapezoid(F.silu(grid) ** 2 * density, grid) ** -0.5
    assert round(silu_gain.item(), 2) == 1.68
    # deep sigmoid: the gradient vanishes; ReLU and tanh with their gains keep it
    deep = space_with("sigmoid_ratio", "def grad_ratio")
    assert 1e-14 < deep["sigmoid_ratio"] < 1e-12
    assert 0.1 < deep["relu_ratio"] < 10
    torch.manual_seed(0)
    assert 0.1 < deep["grad_ratio"](nn.Tanh(), 5 / 3) < 100
    # outliers: Huber's pull is the residual clipped at delta; delta = 1.345 costs 5 % data
    hub = space_with("pull", "huber_loss")
    assert torch.equal(hub["pull"], hub["t"].clamp(-1.0, 1.0))
    k = 1.345
    cdf, pdf = 0.5 * (1 + math.erf(k / math.sqrt(2))), math.exp(-k * k / 2) / math.sqrt(2 * math.pi)
    efficiency = (2 * cdf - 1) ** 2 / ((2 * cdf - 1) - 2 * k * pdf + 2 * k * k * (1 - cdf))
    assert round(1 / efficiency - 1, 2) == 0.05
    check_quick_answers_of_the_second_reader(space_with)


def check_quick_answers_of_the_second_reader(space_with):
    """The numbers and claims of the answers added after the second reader's 12 questions."""
    import torch
    import torch.nn.functional as F

    # sampling temperature: T -> 0 samples the argmax, a large T is nearly uniform
    samp = space_with("greedy", "torch.multinomial")
    cold = torch.softmax(samp["logits"] / 1e-3, dim=-1)
    assert torch.multinomial(cold, 1).item() == samp["greedy"].item()
    hot = torch.softmax(samp["logits"] / 1e3, dim=-1)
    assert torch.allclose(hot, torch.full_like(hot, 1 / 50), atol=1e-4)
    # segmentation: int64 (N, H, W) target; ignore_index=255 averages the labelled pixels
    seg = space_with("seg_loss", "ignore_index=255")
    target = seg["seg_target"]
    assert target.dtype == torch.int64 and target.shape == (2, 8, 8)
    kept = target != 255
    per_pixel = F.cross_entropy(seg["seg_logits"], target.clamp(max=4), reduction="none")
    assert torch.isclose(seg["seg_loss"], per_pixel[kept].mean())
    # tokens or sequences: 'mean' is per real token; padding's 'none' entries are 0
    tok = space_with("per_sequence", "per_sequence")
    real = tok["target"] != tok["PAD"]
    assert tok["lengths"].tolist() == [2, 3] and torch.all(tok["tok"][~real] == 0)
    assert torch.isclose(tok["loss"], tok["tok"][real].mean())
    by_sequence = torch.stack([tok["tok"][n][real[n]].mean() for n in range(2)]).mean()
    assert torch.isclose(tok["per_sequence"], by_sequence)
    assert not torch.isclose(tok["per_sequence"], tok["loss"])
    # without ignore_index the padding counts as a class
    assert not torch.isclose(F.cross_entropy(tok["logits"], tok["target"]), tok["loss"])
    # two logits: sigmoid(z[:, 1]) is not the positive class's probability
    two = space_with("not_p1", "not_p1")
    assert not torch.allclose(two["not_p1"], two["p1"])
    # sigmoid + BCE for one label: argmax of the logits; 'mean' divides by N * C
    ovr = space_with("predicted", "one class per example")
    logits, one_hot = ovr["logits"], F.one_hot(ovr["y"], 10).float()
    assert torch.equal(torch.sigmoid(logits).argmax(dim=1), ovr["predicted"])
    total = F.binary_cross_entropy_with_logits(logits, one_hot, reduction="sum")
    assert torch.isclose(ovr["loss"], total / (8 * 10))
    # per-example weights: the weighted mean ignores the weights' scale, the mean over N
    # does not; weight= is per class in cross_entropy, per element in the BCE losses
    pw = space_with("loss_n", "one weight per example")
    w, per_example, lg, y = pw["w"], pw["per_example"], pw["logits"], pw["y"]
    assert torch.isclose((2 * w * per_example).sum() / (2 * w).sum(), pw["loss"])
    assert torch.isclose((2 * w * per_example).sum() / len(w), 2 * pw["loss_n"])
    with pytest.raises(RuntimeError):
        F.cross_entropy(lg, y, weight=w)  # 4 weights for 3 classes
    x, t = torch.randn(4), torch.tensor([1.0, 0.0, 1.0, 1.0])
    bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert torch.isclose(F.binary_cross_entropy_with_logits(x, t, weight=w), (w * bce).mean())
    assert len(list(pw["sampler"])) == 4
    # my_cross_entropy equals PyTorch's with each option
    mine = space_with("ours", "def my_cross_entropy")
    ours, z, y, w = mine["my_cross_entropy"], mine["z"], mine["y"], mine["w"]
    assert torch.isclose(mine["ours"], mine["theirs"])
    y_valid = torch.where(y < 0, 1, y)
    for options, y_used in [({}, y), ({"weight": w}, y), ({"eps": 0.3}, y),
                            ({"ignore_index": 3, "weight": w}, y_valid)]:
        torch_options = {("label_smoothing" if k == "eps" else k): v for k, v in options.items()}
        theirs = F.cross_entropy(z, y_used, **torch_options)
        assert torch.isclose(ours(z, y_used, **options), theirs)
    # distillation: soft's gradient is T (softmax(s / T) - q) / N, the same as with
    # cross-entropy on probability targets; the teacher has no gradient
    kd = space_with("soft", "alpha * soft")
    T, q = kd["T"], kd["q_teacher"]
    assert not kd["teacher"].requires_grad
    s = kd["student"].clone().requires_grad_()
    kl = F.kl_div(F.log_softmax(s / T, dim=1), q, reduction="batchmean") * T**2
    (g_kl,) = torch.autograd.grad(kl, s)
    (g_ce,) = torch.autograd.grad(T**2 * F.cross_entropy(s / T, q), s)
    assert torch.allclose(g_kl, T * (F.softmax(s / T, dim=1) - q) / 4, atol=1e-6)
    assert torch.allclose(g_kl, g_ce, atol=1e-6)
    # NaN: float16's exp overflows past log(65504) = 11.09
    assert round(math.log(65504), 2) == 11.09 and torch.finfo(torch.float16).max == 65504
    assert torch.isfinite(torch.exp(torch.tensor(11.08, dtype=torch.float16)))
    assert torch.isinf(torch.exp(torch.tensor(11.1, dtype=torch.float16)))
    # masking in the loss: finite loss, gradient 0 on masked classes; the failures named
    mk = space_with("smoothed", "allowed.sum(1, True)")
    allowed, masked, q, y = mk["allowed"], mk["masked"], mk["q"], mk["y"]
    assert torch.isfinite(mk["loss"]) and torch.isfinite(mk["smoothed"])
    assert torch.allclose(q.sum(dim=1), torch.ones(2)) and torch.all(q[~allowed] == 0)
    z = masked.clone().requires_grad_()
    (g,) = torch.autograd.grad(F.cross_entropy(z, y), z)
    terms = torch.where(allowed, q * F.log_softmax(z, dim=1), 0.0)
    (g_smooth,) = torch.autograd.grad(-terms.sum(dim=1).mean(), z)
    for grad in (g, g_smooth):
        assert torch.isfinite(grad).all() and torch.all(grad[~allowed] == 0)
    assert F.cross_entropy(masked, torch.tensor([2, 0])).isinf()  # class 2 masked
    assert F.cross_entropy(masked, y, label_smoothing=0.1).isinf()
    assert F.cross_entropy(masked, q).isnan()
    # float16 training: one inf logit makes cross_entropy NaN; 4,000 x 30 overflows
    fp = space_with("scaler", "GradScaler")
    assert fp["big"].isinf().tolist() == [[True, False]]
    for label in (0, 1):
        assert F.cross_entropy(fp["big"].float(), torch.tensor([label])).isnan()
    assert fp["total"].isinf() and 4000 * 30 > 65504
    assert torch.finfo(torch.bfloat16).max > 0.99 * torch.finfo(torch.float32).max
    # log(softmax) in float16: NaN gradient from a gap of 11.25 ("about 11"), inf loss from 17.5
    nan_grad, inf_loss = [], []
    for gap in torch.arange(0.0, 30.25, 0.25).tolist():
        z = torch.tensor([[0.0, gap]], dtype=torch.float16, requires_grad=True)
        loss = F.nll_loss(torch.softmax(z, dim=1).log(), torch.tensor([0]))
        loss.backward()
        if not torch.isfinite(z.grad).all():
            nan_grad.append(gap)
        if loss.isinf():
            inf_loss.append(gap)
    assert min(nan_grad) == 11.25 and min(inf_loss) == 17.5
    # validation loss up, accuracy up: the toy numbers, and chapter 3's printed ones
    up = space_with("nll", "one mistake became confident")
    assert [round(a, 2) for a in up["acc"]] == [0.33, 0.67]
    assert [round(v, 2) for v in up["nll"]] == [0.70, 2.51]
    chapter_3 = load_notebook(CHAPTERS / "03_maximum_likelihood.ipynb")
    printed = "".join(shown_text(output) for cell in code_cells(chapter_3)
                      for output in cell.get("outputs", []))
    assert "validation NLL 0.3167, accuracy 0.867" in printed
    assert "validation NLL 1.1264, accuracy 0.869" in printed
    # noisy labels: |p - e_y| < sqrt 2, close to it for a confident mistake on one class
    p = torch.softmax(3 * torch.randn(10_000, 5, dtype=torch.float64), dim=1)
    labels = torch.randint(0, 5, (10_000,))
    norms = (p - F.one_hot(labels, 5)).norm(dim=1)
    assert norms.max() < math.sqrt(2)
    confident = torch.softmax(torch.tensor([0.0, 30.0, 0.0], dtype=torch.float64), dim=0)
    assert math.sqrt(2) - (confident - F.one_hot(torch.tensor(0), 3)).norm() < 1e-12
    noisy = space_with("suspects", "suspects")
    worst = noisy["losses"].argsort(descending=True)[:5]
    assert set(noisy["suspects"].tolist()) == set(worst.tolist())

# --- Editorial rules: what a reader of the site sees -------------------------------------------

COLUMN = 79  # characters of code the content column shows without scrolling (desktop and print)
CHAPTER_NOTEBOOKS = sorted(CHAPTERS.glob("[0-9]*.ipynb"))
HIDDEN_TAGS = {"remove-cell", "remove-input"}
DIFFICULTY = re.compile(r"\*Difficulty: (routine|medium|hard)\.\*")
SOURCE_LABEL = re.compile(r"\bC(?:[1-9]|[1-3]\d)\b|[-_]c\d+\b")


def shown_text(output):
    """The text an output shows: printed text, or the plain repr of a value with no richer form."""
    if output["output_type"] == "stream":
        return "".join(output["text"])
    data = output.get("data", {})
    if "text/plain" in data and not set(data) & {"text/html", "image/png", "text/latex"}:
        return "".join(data["text/plain"])
    return ""


def test_code_and_printed_text_fit_the_column(notebook):
    """Code and printed text at most COLUMN characters wide: they show without a sideways scroll."""
    path, nb = notebook
    wide = []
    for i, cell in enumerate(code_cells(nb)):
        if set(cell["metadata"].get("tags", [])) & {"remove-cell"}:
            continue
        if "remove-input" not in cell["metadata"].get("tags", []):
            wide += [f"cell {i} code: {line!r}" for line in "".join(cell["source"]).splitlines()
                     if len(line) > COLUMN]
        for output in cell.get("outputs", []):
            wide += [f"cell {i} output: {line!r}" for line in shown_text(output).splitlines()
                     if len(line) > COLUMN]
    assert not wide, (
        f"{path.name}: {len(wide)} lines wider than {COLUMN} characters:\n" + "\n".join(wide[:20])
    )


def test_reader_sees_no_glue_calls(notebook):
    """Glue calls are book plumbing: they live in cells the site removes (notebooks run them)."""
    path, nb = notebook
    shown = [i for i, cell in enumerate(code_cells(nb))
             if re.search(r"\bglue\(", "".join(cell["source"]))
             and not set(cell["metadata"].get("tags", [])) & HIDDEN_TAGS]
    assert not shown, (
        f"{path.name}: code cells {shown} call glue in a cell the site shows (tag them"
        " remove-cell, or move the glue calls into a tagged cell)"
    )


@pytest.mark.parametrize("path", CHAPTER_NOTEBOOKS, ids=lambda p: p.name)
def test_main_path_fits_twenty_minutes(path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import main_path_words
    finally:
        sys.path.pop(0)
    words = main_path_words.count(path)
    assert words <= main_path_words.LIMIT, (
        f"{path.name}: the main path has {words} words, more than {main_path_words.LIMIT}; move"
        " depth into 'Going deeper' dropdowns, exercises or an appendix"
        " (python tools/main_path_words.py --sections shows where the words are)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(CHAPTERS.glob("*.md")), ids=lambda p: p.name)
def test_every_exercise_states_its_difficulty_the_same_way(path):
    """Each exercise opens with '*Difficulty: routine.*' (or medium, hard); titles stay clean."""
    for text in markdown_texts(path):
        for match in re.finditer(r"^(`{3,}|:{3,})\{exercise(?:-start)?\}([^\n]*)\n((?::[^\n]*\n)*)"
                                 r"\s*([^\n]*)", text, flags=re.M):
            title, first_line = match.group(2).strip(), match.group(4).strip()
            assert not re.search(r"\((routine|medium|hard)\)", title), (
                f"{path.name}: exercise '{title}' carries its difficulty in the title")
            assert DIFFICULTY.fullmatch(first_line), (
                f"{path.name}: exercise '{title}' must open with '*Difficulty: routine.*'"
                f" (or medium, hard), not {first_line[:60]!r}")


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(CHAPTERS.glob("*.md")), ids=lambda p: p.name)
def test_references_to_exercises_do_not_repeat_the_word(path):
    """sphinx-exercise renders {ref}`label` of an exercise as 'Exercise 4.6', so 'exercise
    {ref}`...`' reads 'exercise Exercise 4.6' on the site."""
    for text in markdown_texts(path):
        match = re.search(r"\b[Ee]xercises? \{ref\}`[^`]*`", text)
        assert not match, f"{path.name}: {match.group(0)!r} renders as 'exercise Exercise ...'"


@pytest.mark.parametrize("path", CHAPTER_NOTEBOOKS, ids=lambda p: p.name)
def test_chapters_do_not_show_source_material_labels(path):
    """'C9' means something only to the authors; chapters say the claim in words and link the
    misconceptions appendix, whose own numbering is the one place such labels appear."""
    nb = load_notebook(path)
    for i, cell in enumerate(nb["cells"]):
        text = "".join(cell["source"])
        text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$", " ", text, flags=re.S)  # C_2 etc. in math
        match = SOURCE_LABEL.search(text)
        assert not match, f"{path.name} cell {i}: source-material label {match.group(0)!r} near " \
            f"{text[max(0, match.start() - 40):match.end() + 20]!r}"


# One notation for the book (chapters/a3_notation.md): C classes; the target q comes first in
# H(q, p) and KL(q || p), the model p second. Only chapter 2's lesson on asymmetry writes the
# reversed order on purpose.
REVERSED_ORDER = re.compile(
    r"H\((?:\\mathbf\s*)?p\s*,\s*(?:\\mathbf\s*)?q\)|\\mathrm\{KL\}\((?:\\mathbf\s*)?p\s*\\,?\\\|")
K_CLASSES = re.compile(r"\$K\$ classes|\\sum_\{k\s*=\s*1\}\^\{?K\}?|k = 1, \\dots, K\b")


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(CHAPTERS.glob("*.md")), ids=lambda p: p.name)
def test_one_notation_for_classes_targets_and_models(path):
    for text in markdown_texts(path):
        match = K_CLASSES.search(text)
        assert not match, f"{path.name}: the number of classes is C, not K: {match.group(0)!r}"
        if path.name != "02_entropy.ipynb":
            match = REVERSED_ORDER.search(text)
            assert not match, (
                f"{path.name}: {match.group(0)!r} puts the model first; the book writes the target"
                " q first: H(q, p), KL(q || p)")
