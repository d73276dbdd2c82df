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

# The Dockerfile carried out without a Docker engine (none runs on CI's machines): its own
# steps in a Debian chroot, then its default command, the demo, as its non-root user with
# out-image/ mounted on /out. Needs root; installs debootstrap if it is missing.
image-check:
	command -v debootstrap >/dev/null || apt-get install -y -q debootstrap \
		|| (apt-get update -q && apt-get install -y -q debootstrap)
	rm -rf out-image
	python3 .ci/dockerfile_chroot.py --out out-image
	test -s out-image/metrics.json && test -s out-image/comparison.png
