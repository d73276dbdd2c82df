"""The Python snippets of the documentation run.

Each page's ```python blocks run in order in one namespace (the pages say so), in a
temporary working directory.
"""
import os
import re

import pytest

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs")
PAGES = ["concepts.md", "layers.md", "segy.md", "getting-started.md", "field-data.md"]

# Files a page's snippets read, made small before the page runs.
PREAMBLE = {"segy.md": """
import keras_seismic as ks
grid, vp = ks.datasets.layered(shape=(60, 30), velocities=(1800.0, 2400.0))
survey = ks.datasets.surface_survey(grid, nshots=2, f0=8.0, duration=0.5)
ks.io.write_shots("shots.sgy", ks.AcousticPropagator(grid, survey).forward(vp), survey)
ks.io.write_velocity("start.sgy", ks.datasets.smooth(vp, 50.0, grid=grid), grid)
"""}
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page):
    with open(os.path.join(DOCS, page)) as handle:
        return BLOCK.findall(handle.read())


@pytest.mark.parametrize("page", PAGES)
def test_page_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code_blocks = blocks(page)
    assert code_blocks, f"{page} has no python snippet"
    if page in PREAMBLE:
        exec(PREAMBLE[page], {})
    namespace = {"__name__": f"docs_{page}"}
    for i, code in enumerate(code_blocks):
        try:
            exec(compile(code, f"{page}[block {i}]", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{page}, python block {i} failed: {err!r}\n{code}") from err
    if page == "getting-started.md":
        # What the page says of its run: the misfit falls by roughly an order of magnitude
        # and the inverted model is closer to the true one than the start.
        loss = namespace["history"].history["loss"]
        assert loss[0] / loss[-1] > 5, loss
        error, start, inverted = (namespace[k] for k in ("error", "start", "inverted"))
        assert error(inverted) < error(start)
        assert os.path.getsize("out/inverted.sgy") > 0
