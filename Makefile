# The course's commands. `make help` lists them.
# Everything runs in .venv at the repository root, created and filled on first use
# from requirements/requirements.txt with the exact versions in requirements/constraints.txt.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
PINS   := -c requirements/constraints.txt
HOST   ?= 127.0.0.1
PORT   ?= 8000

.DEFAULT_GOAL := help
.PHONY: help env book test test-unit test-notebooks test-build test-site notebooks serve lab bench lock clean distclean

help: ## list the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements/requirements.txt requirements/constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check $(PINS) -r requirements/requirements.txt
	$(PIP) install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

env: $(STAMP) ## create .venv and install the pinned dependencies and the xent package

book: $(STAMP) ## build the website into _build/html
	$(BIN)/jupyter-book build . --keep-going

test: $(STAMP) ## unit tests, nbval on every notebook, strict build, browser check of the site
	$(MAKE) --no-print-directory test-unit test-notebooks test-build test-site

test-unit: $(STAMP) ## package tests, notebook hygiene and ruff
	$(BIN)/python -m pytest tests --ignore=tests/site -q

test-notebooks: $(STAMP) ## re-run every notebook with nbval and compare with its stored outputs
	XENT_NO_PROGRESS=1 $(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		-p no:cacheprovider -n 2 --dist loadfile -q chapters

test-build: $(STAMP) ## build the whole site from scratch with warnings as errors
	$(BIN)/jupyter-book build . --all -W -n --keep-going

test-site: $(STAMP) ## open every page of the built site in headless Chromium
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
		echo; echo "************************************************************************"; \
		echo "* Chromium is not installed: the browser check of the site is SKIPPED.  *"; \
		echo "* Install it with: apt-get install -y chromium   (.ci/run does this)    *"; \
		echo "************************************************************************"; echo; }
	$(BIN)/python -m pytest tests/site -q -rs

notebooks: $(STAMP) ## re-execute every notebook in place, storing fresh outputs (after editing one)
	XENT_NO_PROGRESS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=120 chapters/*.ipynb

serve: ## preview the built site at http://127.0.0.1:8000 (run `make book` first)
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first."; exit 1; }
	$(PYTHON) -m http.server $(PORT) --bind $(HOST) --directory _build/html

lab: $(STAMP) ## open JupyterLab on the chapters with the course's environment as the kernel
	$(BIN)/jupyter lab --ServerApp.ip=$(HOST) --ServerApp.root_dir=chapters

bench: $(STAMP) ## time the set-up, the build and every notebook; benchmark xent against PyTorch
	$(BIN)/python tools/bench_book.py
	$(BIN)/python tools/bench_xent.py

lock: $(STAMP) ## re-pin requirements/constraints.txt from the current environment
	{ echo "# Exact versions of every dependency (pip freeze of a working environment, Python 3.11, Linux x86_64)."; \
	  echo "# Regenerate with: make lock"; \
	  $(PIP) freeze --all --exclude-editable --disable-pip-version-check | grep -vE '^(xent|pip)==' \
	  | sed 's/^torch==\([0-9.]*\)+cpu/torch==\1/'; } > requirements/constraints.txt

clean: ## remove the built site and caches (keeps .venv)
	rm -rf _build .pytest_cache .hypothesis .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
