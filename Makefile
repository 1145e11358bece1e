# modelgates: `make demo` and `make test` are all a fresh machine needs (Python 3.11+, make).
# `make help` lists the targets.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The package and its runtime dependencies only: all that `make demo` needs.
RUNTIME := $(VENV)/.runtime-installed
# Build dependencies (hatchling) are pinned too: pip passes PIP_CONSTRAINT to the isolated build.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help install generate check-generated validate-spec lint format typecheck pytest test demo bench bench-quick clean docs test-matrix test-sdist

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

define make_venv
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "modelgates needs Python 3.11 or newer: set PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
endef

$(STAMP): pyproject.toml constraints.txt
	$(make_venv)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(RUNTIME)

$(RUNTIME): pyproject.toml constraints.txt
	$(make_venv)
	$(PY) -m pip install --quiet -e .
	@touch $@

install: $(STAMP) ## Create or refresh .venv with the package and the pinned dev tools

generate: $(STAMP) ## Regenerate generated/modelgates_api from openapi/ (the only writer of generated/)
	$(PY) tools/generate.py generated

check-generated: $(STAMP) ## Fail, printing the diff, when generated/ is not what make generate writes
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PY) tools/generate.py "$$tmp" && \
	if diff -ru generated/modelgates_api "$$tmp/modelgates_api"; then echo "generated/ is up to date"; \
	else echo "generated/ differs from what 'make generate' writes (diff above): run make generate" >&2; exit 1; fi

validate-spec: $(STAMP) ## Validate the published and the adapted OpenAPI documents
	$(VENV)/bin/openapi-spec-validator openapi/modelgates.yaml
	$(VENV)/bin/oas-patch validate openapi/overlay.yaml
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PY) tools/generate.py --adapt-only "$$tmp/adapted.yaml" && \
	$(VENV)/bin/openapi-spec-validator "$$tmp/adapted.yaml"

lint: $(STAMP) ## ruff: lint and format check
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --no-cache --check .

format: $(STAMP) ## ruff: fix what can be fixed and format
	$(VENV)/bin/ruff check --no-cache --fix .
	$(VENV)/bin/ruff format --no-cache .

typecheck: $(STAMP) ## mypy, strict on facade/ and tests/
	$(VENV)/bin/mypy --no-incremental --cache-dir=/dev/null

pytest: $(STAMP) ## The test suite alone
	$(VENV)/bin/pytest -p no:cacheprovider

test: lint typecheck validate-spec check-generated docs pytest ## Lint, types, spec, generated/, API reference, tests

docs: $(STAMP) ## The API reference from the docstrings, into build/api/ (pdoc; a warning fails it)
	@rm -rf build/api
	$(PY) -W error -m pdoc --output-directory build/api modelgates modelgates.webhooks modelgates.emulator modelgates.emulator.pytest_plugin
	@echo "API reference: build/api/index.html"

test-matrix: $(STAMP) ## The built wheel's tests on every Python 3.11+ pyenv has, and at the dependency floors
	$(PY) tools/test_dist.py matrix

test-sdist: $(STAMP) ## The sdist's own tests, run from the unpacked sdist
	$(PY) tools/test_dist.py sdist

clean: ## Remove the venv and build leftovers
	rm -rf $(VENV) build dist demo-output

demo: $(RUNTIME) ## Download the demo video from the bundled emulator into ./demo-output/ (no key, no network)
	@$(PY) tools/demo.py

bench: $(STAMP) ## Measure downloads against curl, wget and plain Python; write docs/benchmarks.md (+ .png); then the batch row and the links (docs/benchmarks-links.md)
	$(PY) tools/bench.py
	$(PY) tools/bench_batch.py
	$(PY) tools/bench_links.py

bench-quick: $(STAMP) ## The same in under a minute (64 MiB, tmpfs), to a temporary report
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PY) tools/bench.py --quick --out "$$tmp/benchmarks.md" --chart "$$tmp/benchmarks.png"
