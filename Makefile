# Two commands do all the set-up: `make test` and `make demo`. Each creates a virtual
# environment in .venv (unless one is active) and installs what it needs.
ifdef VIRTUAL_ENV
PYTHON := python
VENV_DEP :=
else
PYTHON := .venv/bin/python
VENV_DEP := .venv/bin/python
endif

.PHONY: install test demo benchmark docs image-check

.venv/bin/python:
	python3 -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip

install: $(VENV_DEP)
	$(PYTHON) -m pip install -q -e ".[test]"

# One test process a core (pytest-xdist; a file's tests stay in one process): half the
# suite is single-threaded compilation and Python, which then runs side by side.
test: install
	$(PYTHON) -m pytest -q -n auto --dist loadfile tests

# Multiscale FWI of the built-in faulted model; figures, model and metrics.json in out/.
demo: install
	$(PYTHON) -m keras_seismic demo --out out

benchmark: install
	$(PYTHON) benchmarks/benchmark.py

# The documentation (mkdocs.yml, docs/) into site/; fails on any warning.
docs: install
	$(PYTHON) -m mkdocs build --strict -d site

# The Docker image built from the Dockerfile by a real container engine (docker, or podman
# where no Docker daemon answers), then run as docs/container.md says (.ci/image-check).
# Needs root where podman or the stand-in base image must be installed or built.
image-check: install
	PYTHON=$(PYTHON) .ci/image-check
