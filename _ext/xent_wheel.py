"""Serve the `xent` package with the site, so that a downloaded notebook can run.

After an HTML build, a wheel of the course's package and the exact versions of what the notebooks
import are written to ``_downloads/xent/`` in the output; the landing page links to both.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the notebooks import, besides xent; their exact versions come from the course's pins.
NOTEBOOK_NEEDS = ["torch", "numpy", "scipy", "matplotlib", "mpmath", "scikit-learn", "tqdm",
                  "ipywidgets", "jupyterlab"]


def pinned_requirements():
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = line.strip()
    missing = [name for name in NOTEBOOK_NEEDS if name not in pins]
    if missing:
        raise RuntimeError(f"requirements/constraints.txt pins none of {missing}")
    return [pins[name] for name in NOTEBOOK_NEEDS]


def write_downloads(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_downloads" / "xent"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("xent-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:  # setuptools writes build/ beside the sources
        source = Path(scratch) / "xent"
        shutil.copytree(ROOT / "code", source / "code",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, source / name)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
             "--disable-pip-version-check", "--wheel-dir", str(target), str(source)],
            check=True,
        )
    header = ("# What the course's notebooks need, at the versions the course is tested with.\n"
              "# pip install xent-*.whl -r requirements.txt   (Python 3.11 to 3.13)\n")
    (target / "requirements.txt").write_text(header + "\n".join(pinned_requirements()) + "\n")


def setup(app):
    app.connect("build-finished", write_downloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
