# farmwatch — `make run` runs the whole pipeline with simulated farms; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
ARGS ?=

.PHONY: run test lint typecheck pytest venv native clean

run: native
	$(VENV)/bin/farmwatch up $(ARGS)

test: native
	@bash scripts/system-deps.sh test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(ARGS)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

pytest: native
	$(VENV)/bin/pytest $(ARGS)

venv: $(VENV)/.synced

# The analytics hot path compiled with mypyc (scripts/build_native.py); rebuilt only when a
# compiled module's source changed, pure Python if there is no C compiler.
native: $(VENV)/.synced
	$(VENV)/bin/python scripts/build_native.py

$(UV):
	@bash scripts/system-deps.sh venv
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard */pyproject.toml)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

clean:
	-$(VENV)/bin/python scripts/build_native.py --clean
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache var analytics/build
