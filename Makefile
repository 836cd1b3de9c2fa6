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

# Which PyTorch build the set-up installs. On Linux PyPI's torch is the CUDA build (with
# GBs of NVIDIA libraries), so by default pip also looks in PyTorch's CPU index, whose
# 2.13.0+cpu matches the pin torch==2.13.0 and, as a local version, sorts above PyPI's
# 2.13.0. Only torch itself is looked up there (--no-deps; its dependencies come with the
# rest), so an unreachable index costs seconds (--timeout/--retries), after which pip
# takes torch from its other sources. macOS needs nothing: PyPI's wheels there are CPU builds.
# TORCH=cuda installs PyPI's build (CUDA on Linux) on a fresh .venv (make distclean env TORCH=cuda).
# A .venv that already has a non-CPU build keeps that kind of build.
TORCH ?= cpu
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
ifeq ($(filter cpu cuda,$(TORCH)),)
$(error TORCH must be cpu or cuda, not '$(TORCH)')
endif

.DEFAULT_GOAL := help
.PHONY: help env book test test-unit test-notebooks test-portable test-portable-unit test-portable-notebooks test-build test-site test-a11y notebooks serve lab bench lock clean distclean

# The portability check runs the unit tests and nbval again on another CPU code path than the
# machine's native one, as different as any x86-64 allows: PyTorch's generic (non-SIMD) kernels,
# NumPy without its AVX2 and AVX-512 loops, OpenBLAS's Nehalem (SSE4.2) kernels, MKL and oneDNN
# held to SSE4. A stored output whose digits depend on the CPU fails here as it would on a
# reader's machine. Elsewhere (arm64) only PyTorch's knob applies.
NBVAL := XENT_NO_PROGRESS=1 $(BIN)/python -m pytest --nbval --nbval-current-env \
	--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -n 2 --dist loadfile -q chapters
ifeq ($(shell uname -m),x86_64)
PORTABLE_ENV := XENT_DISPATCH=portable ATEN_CPU_CAPABILITY=default \
	NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR" OPENBLAS_CORETYPE=Nehalem \
	MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41
else
PORTABLE_ENV := XENT_DISPATCH=portable ATEN_CPU_CAPABILITY=default
endif

help: ## list the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "  Options, given when .venv is set up (after make distclean to change an existing one):"
	@echo "    PYTHON=python3.12  the interpreter for .venv (3.11, 3.12 and 3.13 are checked)"
	@echo "    TORCH=cuda         PyPI's PyTorch, the CUDA build on Linux (default TORCH=cpu: the CPU build)"

$(STAMP): requirements/requirements.txt requirements/constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@index=; [ "$(TORCH)" = cpu ] && [ "$$(uname -s)" = Linux ] && index="$(TORCH_CPU_INDEX)"; \
	have=$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null); \
	if [ -n "$$index" ] && [ -n "$$have" ] && [ "$${have%+cpu}" = "$$have" ]; then index=; \
	    echo "note: .venv has torch $$have, not a CPU build: keeping that kind of build."; \
	    echo "      For the CPU build start afresh: make distclean env"; fi; \
	set -x; $(PIP) install --quiet --disable-pip-version-check $(PINS) --no-deps \
	    $${index:+--extra-index-url $$index --timeout 10 --retries 1} torch
	$(PIP) install --quiet --disable-pip-version-check $(PINS) -r requirements/requirements.txt
	$(PIP) install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

env: $(STAMP) ## create .venv and install the pinned dependencies and the xent package

book: $(STAMP) ## build the website into _build/html
	$(BIN)/jupyter-book build . --keep-going

test: $(STAMP) ## unit tests, nbval, both again on another CPU path, strict build, browser check
	@# The unit tests (native and portable) and the build each keep one core busy: run them together.
	$(MAKE) --no-print-directory -j3 --output-sync=target test-unit test-portable-unit test-build
	$(MAKE) --no-print-directory test-notebooks test-portable-notebooks test-site

test-unit: $(STAMP) ## package tests, notebook hygiene and ruff
	$(BIN)/python -m pytest tests --ignore=tests/site -q -p no:cacheprovider

test-notebooks: $(STAMP) ## re-run every notebook with nbval and compare with its stored outputs
	$(NBVAL)

test-portable: test-portable-unit test-portable-notebooks ## unit tests and nbval on a non-native CPU code path

test-portable-unit: $(STAMP)
	@echo "portability check, $$(uname -m): $(PORTABLE_ENV)"
	@test "$$(uname -m)" = x86_64 || echo "(NumPy, OpenBLAS, MKL and oneDNN knobs are x86-64 only: not applied)"
	$(PORTABLE_ENV) $(BIN)/python -m pytest tests --ignore=tests/site --ignore=tests/test_book.py \
		--ignore=tests/test_workflow.py -q -p no:cacheprovider  # (those two read files only)

test-portable-notebooks: $(STAMP)
	@echo "portability check, $$(uname -m): $(PORTABLE_ENV)"
	$(PORTABLE_ENV) $(NBVAL)

test-build: $(STAMP) ## build the whole site from scratch with warnings as errors
	rm -rf _build/html  # no page of an earlier build is left to be tested
	$(BIN)/jupyter-book build . --all -W -n --keep-going

test-site: $(STAMP) ## open every page of the built site in headless Chromium
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
		echo; echo "************************************************************************"; \
		echo "* Chromium is not installed: the browser check of the site is SKIPPED.  *"; \
		echo "* Install it with: apt-get install -y chromium   (.ci/run does this)    *"; \
		echo "************************************************************************"; echo; }
	$(BIN)/python -m pytest tests/site -q -rs -n 2 -m "not a11y"

test-a11y: $(STAMP) ## axe-core on every page, light and dark (about 5 minutes; run make book first)
	$(BIN)/python -m pytest tests/site -q -rs -n 2 -m a11y

notebooks: $(STAMP) ## re-execute every notebook in place, storing fresh outputs (after editing one)
	XENT_NO_PROGRESS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=120 chapters/*.ipynb
	@# A print can reach the kernel in two stream chunks (timing); stored as one, as the site shows it.
	$(BIN)/jupyter nbconvert --to notebook --inplace --coalesce-streams chapters/*.ipynb

serve: ## preview the built site at http://127.0.0.1:8000 (run `make book` first)
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first."; exit 1; }
	$(PYTHON) -m http.server $(PORT) --bind $(HOST) --directory _build/html

# The kernel is the venv's python: jupyter prefers the venv's kernelspec python3, whose
# command "python" jupyter_client runs as the server's own interpreter. Jupyter refuses
# to start as root unless told to, and root is how containers usually run.
lab: $(STAMP) ## open JupyterLab on the chapters with the course's environment as the kernel
	$(BIN)/jupyter lab --ServerApp.ip=$(HOST) --ServerApp.root_dir=chapters \
		$(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(STAMP) ## time the set-up, the build and every notebook; benchmark xent against PyTorch
	$(BIN)/python tools/bench_book.py
	$(BIN)/python tools/bench_xent.py
	XENT_NO_PROGRESS=1 $(BIN)/python tools/bench_scale.py

lock: $(STAMP) ## re-pin requirements/constraints.txt from the current environment
	{ echo "# Exact versions of every dependency (pip freeze of a working environment, Python 3.11, Linux x86_64)."; \
	  echo "# Regenerate with: make lock"; \
	  $(PIP) freeze --all --exclude-editable --disable-pip-version-check | grep -vE '^(xent|pip)==' \
	  | sed 's/^torch==\([0-9.]*\)+[a-z0-9.]*$$/torch==\1/'; } > requirements/constraints.txt

clean: ## remove the built site and caches (keeps .venv)
	rm -rf _build .pytest_cache .hypothesis .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
