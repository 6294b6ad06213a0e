# edgesdk developer entry points. Heavy installs live in $(CACHE), keyed by the hash of what
# they are built from, so a fresh clone reuses them and a changed pin gets a new one.
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/edgesdk
PYTHON ?= python3
# Keyed by the locked pins only (comments aside): the project itself is reinstalled editable on
# every run, so pyproject edits need no new venv.
DEPS_HASH := $(shell grep -v '^\#' requirements/lock.txt | sha256sum | cut -c1-12)
VENV ?= $(CACHE)/venv-$(DEPS_HASH)
PY := $(VENV)/bin/python
export KOTLINC ?= $(CACHE)/kotlinc-2.4.20/node_modules/kotlin-compiler/bin/kotlinc
export EDGESDK_CACHE := $(CACHE)
# The venv is shared by every checkout (it is keyed by the pins), and its editable install points
# at whichever one ran `make` last: this checkout's code comes first for every command run here.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
PYTEST_ARGS ?=

.PHONY: setup venv system-deps native-deps reference-libs demo test test-matrix test-fast fuzz lint bench mutate clean
setup: venv system-deps native-deps reference-libs

# The venv holds the pinned dependencies; the project itself is installed editable from this
# clone every time, which is quick and keeps a shared venv pointing at the clone in use.
venv: $(VENV)/.deps-ok
	@$(PY) -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
	@ln -sfn $(VENV) .venv

# No file prerequisites: the hash in the venv's name already changes with the pins, and a fresh
# clone's new file times must not force a rebuild.
$(VENV)/.deps-ok:
	@echo "creating $(VENV)"
	@rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "setuptools==84.2.1" wheel
	$(PY) -m pip install -q -r requirements/lock.txt
	@touch $@

# torch + torchvision, timm and transformers in a venv of their own (the importer tests run each
# library's pipeline there: torchvision does not import beside the main venv's torch).
reference-libs:
	@bash scripts/reference_libs_venv.sh $(CACHE) $(PYTHON) >/dev/null

system-deps:
	@bash scripts/install_system_deps.sh

# Each runtime's backend knows where its C/C++ and Android packages come from.
native-deps: venv
	@$(PY) -m edgesdk.backends fetch-native --cache $(CACHE)
	@bash scripts/fetch_kotlinc.sh $(CACHE)/kotlinc-2.4.20
	@bash scripts/fetch_android_jar.sh $(CACHE)/android-23
	@# Swift 6 for the iOS bundles' Swift packages: natively if installed, else a Debian chroot (as root).
	@command -v swift >/dev/null || bash edgesdk/swift_host/setup_chroot.sh "$$($(PY) -c 'from edgesdk import hosttest_swift; print(hosttest_swift.chroot_dir())')"

demo: setup
	@bash scripts/demo.sh

# setup installed every toolchain, so a C++/Kotlin test that finds one missing fails, never skips.
# CMake builds go through ccache (installed by system-deps) with a cache beside the venv: paths are
# made relative (the tests keep their temporary folders under pytest's basetemp), so a re-run
# recompiles only the generated C++ that changed. A first run on a fresh machine compiles it all.
CCACHE := $(shell command -v ccache)
test: export CMAKE_CXX_COMPILER_LAUNCHER := $(CCACHE)
test: export CCACHE_DIR := $(CACHE)/ccache
test: export CCACHE_BASEDIR := /
test: export CCACHE_NOHASHDIR := 1
test: export CCACHE_MAXSIZE := 3G
test: setup lint
	EDGESDK_REQUIRE_TOOLCHAINS=1 $(PY) -m pytest --durations=40 -m "not matrix_full" $(PYTEST_ARGS)

# The example over every target, runtime and three precisions, on a local Ray cluster.
test-matrix: setup
	$(PY) -m pytest -m matrix_full $(PYTEST_ARGS)

test-fast: setup lint
	$(PY) -m pytest -m "not slow and not cpp and not kotlin" $(PYTEST_ARGS)

# libFuzzer over the C++ decoder + pre-processing (tests/fuzz), and Hypothesis over manifests,
# bundles and model files (tests/unit/test_*_fuzz.py); `make test` runs them for about a minute,
# derandomized. Here: FUZZ_SECONDS of libFuzzer and FUZZ_EXAMPLES fresh random cases per property.
FUZZ_SECONDS ?= 600
FUZZ_EXAMPLES ?= 5000
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) EDGESDK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -m fuzz -s $(PYTEST_ARGS)

# Lint, format check and type check: seconds, so every test run starts with them.
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Mutation testing (slow: about half an hour on 2 cores). mutmut mutates the Python numerics
# (pyproject [tool.mutmut]) and runs their fast tests on each mutant; then every curated C++ and
# Kotlin template mutant (tests/opcheck/mutants.py; `make test` runs those too) meets the op cases.
# Each prints its kill rate; the goals are 90% (Python) and 100% (curated templates).
mutate: setup
	rm -rf mutants
	$(PY) -m mutmut run --max-children 2
	$(PY) -m mutmut export-cicd-stats
	$(PY) scripts/mutation_score.py mutants/mutmut-cicd-stats.json --min 0.90
	cd tests && $(PY) -m opcheck.mutants

bench: setup
	$(PY) benchmarks/bench_sdk.py

clean:
	rm -rf dist build .pytest_cache .hypothesis .venv mutants
