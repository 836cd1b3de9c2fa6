"""Time the course's set-up, its builds and every notebook, on a fresh clone.

    .venv/bin/python tools/bench_book.py [--reuse-env] [--with-test]

Steps, each timed with a wall clock (this is a benchmark script, not a test):
1. clone the repository's HEAD into a temporary folder;
2. cold set-up: `make env` (create .venv, install the pinned dependencies; pip's
   download cache is whatever this machine has, which the report states);
   with --reuse-env the clone borrows this checkout's .venv instead, and its install stamp
   is touched so that make does not reinstall into it: a reinstall would point the
   editable `xent` install at the temporary clone, which is deleted afterwards;
3. cold build: `make book` with no _build folder;
4. warm build: `make book` again with nothing changed;
5. warm rebuild after editing one chapter (its notebook's mtime is bumped);
6. nbval time of every notebook, one pytest run per notebook;
7. with --with-test: the whole `make test`.
Prints a Markdown table.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(command, cwd, env=None):
    """Run a shell command, return its wall time in seconds; raise if it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, shell=True, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"`{command}` failed after {elapsed:.1f} s:\n{result.stdout[-3000:]}\n"
                 f"{result.stderr[-3000:]}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse-env", action="store_true",
                        help="borrow this checkout's .venv instead of a cold set-up")
    parser.add_argument("--with-test", action="store_true", help="also time the whole `make test`")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="xent-bench-") as tmp:
        clone = Path(tmp) / "course"
        run(f"git clone --quiet {ROOT} {clone}", cwd=tmp)
        if args.reuse_env:
            os.symlink(ROOT / ".venv", clone / ".venv")
            (ROOT / ".venv" / ".installed").touch()  # newer than the clone's requirements
            rows.append(("set-up", "skipped (--reuse-env)"))
        else:
            cache = Path.home() / ".cache" / "pip"
            warm = cache.is_dir() and any(cache.iterdir())
            state = "warm pip cache" if warm else "empty pip cache"
            rows.append((f"cold set-up: `make env` ({state})", run("make env", cwd=clone)))
        rows.append(("cold build: `make book`", run("make book", cwd=clone)))
        rows.append(("warm build, nothing changed", run("make book", cwd=clone)))
        notebooks = sorted((clone / "chapters").glob("*.ipynb"))
        if notebooks:
            notebooks[-1].touch()
            rows.append((f"warm rebuild after editing {notebooks[-1].name}",
                         run("make book", cwd=clone)))
        for notebook in notebooks:
            command = ("XENT_NO_PROGRESS=1 .venv/bin/python -m pytest --nbval -q "
                       "--nbval-current-env "
                       "--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider "
                       f"chapters/{notebook.name}")
            rows.append((f"nbval {notebook.name}", run(command, cwd=clone)))
        if args.with_test:
            env = dict(os.environ)
            rows.append(("whole `make test`", run("make test", cwd=clone, env=env)))
        if args.reuse_env:
            (clone / ".venv").unlink()
        shutil.rmtree(clone / "_build", ignore_errors=True)

    print("| step | wall time (s) |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value if isinstance(value, str) else f'{value:.1f}'} |")


if __name__ == "__main__":
    main()
