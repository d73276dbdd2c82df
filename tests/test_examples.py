"""The examples run (small) and do what they say."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import born_dense  # noqa: E402
import extended_source_cnn  # noqa: E402
import fwi_model_fit  # noqa: E402


def test_born_dense_gradients_are_nonzero():
    norms = born_dense.main()
    assert set(norms) == {"W", "b", "x"} and min(norms.values()) > 0


def test_extended_source_cnn_gradients_are_nonzero():
    norms = extended_source_cnn.main()
    assert len(norms) == 3 and min(norms.values()) > 0


def test_fwi_model_fit_reduces_misfit_and_model_error():
    result = fwi_model_fit.main(shape=(80, 40), nshots=4, epochs=4)
    assert result["misfit_reduction"] > 1.5
    assert result["model_error_end"] < result["model_error_start"]


def test_fwi_3d_reduces_misfit_with_bounded_storage():
    import fwi_3d
    result = fwi_3d.main(n=20, nshots=2, epochs=3)
    assert result["misfit_reduction"] > 1.5
    assert result["model_error_end"] < result["model_error_start"]
    full = fwi_3d.main(n=20, nshots=2, epochs=1, storage="full")
    assert result["stored_wavefield_mb_per_shot"] < full["stored_wavefield_mb_per_shot"] / 2
