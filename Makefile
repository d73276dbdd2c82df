# Two commands do all the set-up: `make test` and `make demo`. Each creates a virtual
# environment in .venv (unless one is active) and installs what it needs.
ifdef VIRTUAL_ENV
PYTHON := python
VENV_DEP :=
else
PYTHON := .venv/bin/python
VENV_DEP := .venv/bin/python
endif

.PHONY: install test demo benchmark docs

.venv/bin/python:
	python3 -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip

install: $(VENV_DEP)
	$(PYTHON) -m pip install -q -e ".[test]"

test: install
	$(PYTHON) -m pytest -q tests

# Multiscale FWI of the built-in faulted model; figures, model and metrics.json in out/.
demo: install
	$(PYTHON) -m keras_seismic demo --out out

benchmark: install
	$(PYTHON) benchmarks/benchmark.py

# The documentation (mkdocs.yml, docs/) into site/; fails on any warning.
docs: install
	$(PYTHON) -m mkdocs build --strict -d site
