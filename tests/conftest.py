import os
import sys
import zlib

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the suite in one process a core (pytest -n): each solve then keeps
    # to one thread, since OpenMP slows 20-30x when two all-core solves share the cores.
    # Read by Devito when it is first imported, which comes later than this.
    os.environ["OMP_NUM_THREADS"] = "1"
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _seed_random_numbers(request):
    """Seed the shared generator ``RNG`` of helpers.py, and of the test's own module if it
    has one, from the test's name: a test draws the same numbers whether it runs alone,
    in its file or in the whole suite, in any order."""
    import helpers
    seed = zlib.crc32(request.node.nodeid.encode())
    for module in {helpers, request.module}:
        if isinstance(getattr(module, "RNG", None), np.random.Generator):
            module.RNG = np.random.default_rng(seed)
