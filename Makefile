# Swordfish developer commands. Two matter most (see README.md):
#   make demo   create .venv, install the package, run the calculator demo over loopback
#   make test   install everything the tests need, run `make check`, then the whole test suite
# and
#   make check  lint, format check, strict type check, import layering contracts
#
# Everything runs inside .venv, created on first use with $(PYTHON) -m venv. Installs are
# remembered by stamp files inside .venv, so they rerun only when pyproject.toml changes or
# the venv is recreated (delete .venv to start over).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Inside the venv, so deleting .venv also forgets what was installed into it.
STAMPS := $(VENV)/.stamps

.DEFAULT_GOAL := help
.PHONY: help demo test check pytest thrift-compiler node-peer fuzz clean

help:
	@echo "make demo    run the calculator demo (server + client over loopback)"
	@echo "make test    install test dependencies, run 'make check', then the whole test suite"
	@echo "make check   ruff check, ruff format --check, mypy (strict), import contracts"
	@echo "make fuzz    fuzz the C codecs with atheris (FUZZ_SECONDS=300 by default)"
	@echo "make clean   remove .venv and caches"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMPS)/install: pyproject.toml setup.py | $(PY)
	$(PY) -m pip install --quiet -e .
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/install-test: pyproject.toml setup.py | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@mkdir -p $(STAMPS) && touch $@ $(STAMPS)/install

# The C accelerator (swordfish._speedups): pip builds it on install; this stamp rebuilds it in
# place whenever a C source, the header or setup.py changes, warnings as errors.
C_SOURCES := $(wildcard swordfish/_speedups/*.c swordfish/_speedups/*.h) setup.py

$(STAMPS)/ext: $(C_SOURCES) | $(PY)
	SWORDFISH_STRICT_BUILD=1 $(PY) setup.py --quiet build_ext --inplace
	@mkdir -p $(STAMPS) && touch $@

demo: $(STAMPS)/install $(STAMPS)/ext
	$(PY) -m examples.calc.demo

# The interop tests generate Apache Thrift code with Debian's `thrift` compiler. Install it
# when we can (root + apt); otherwise say so: those tests skip, and fail under CI=true.
thrift-compiler:
	@if command -v thrift >/dev/null 2>&1; then \
	    :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's thrift-compiler (for the interop tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq thrift-compiler; \
	else \
	    echo "warning: no 'thrift' compiler and cannot apt-get install thrift-compiler;" \
	         "Apache interop tests will skip (and fail under CI=true)" >&2; \
	fi

# The Node.js interop tests run the npm `thrift` package pinned in tests/interop/node/
# package-lock.json, installed into tests/interop/node/node_modules (git-ignored) with `npm ci`.
# Reinstall only when the lock file is newer than the install; without npm (or offline) say
# so: those tests skip, and fail under CI=true.
NODE_PEER := tests/interop/node
node-peer:
	@if [ -f $(NODE_PEER)/node_modules/.package-lock.json ] && \
	    [ $(NODE_PEER)/node_modules/.package-lock.json -nt $(NODE_PEER)/package-lock.json ]; then \
	    :; \
	elif command -v npm >/dev/null 2>&1; then \
	    echo "installing the pinned npm 'thrift' package (for the Node interop tests)"; \
	    npm ci --prefix $(NODE_PEER) --no-audit --no-fund --loglevel=error || \
	    echo "warning: 'npm ci' failed in $(NODE_PEER); Node interop tests will skip" \
	         "(and fail under CI=true)" >&2; \
	else \
	    echo "warning: no 'npm' (Node.js); Node interop tests will skip (and fail under CI=true)" >&2; \
	fi

check: $(STAMPS)/install-test $(STAMPS)/ext
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(PY) scripts/check_contracts.py

pytest: $(STAMPS)/install-test $(STAMPS)/ext thrift-compiler node-peer
	$(PY) -m pytest

test: $(STAMPS)/install-test $(STAMPS)/ext thrift-compiler node-peer
	$(MAKE) check
	$(PY) -m pytest

# Longer coverage-guided fuzzing of the C codecs than the bounded run inside `make test`.
FUZZ_SECONDS ?= 300
fuzz: $(STAMPS)/install-test $(STAMPS)/ext
	$(PY) tests/fuzz/atheris_codecs.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	rm -f swordfish/_speedups*.so
